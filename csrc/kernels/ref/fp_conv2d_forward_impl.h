/* Template of conv2d forward, included twice by fp_conv2d_forward.c (see fp_common.h).
 * Per image and per block of im2col rows: Y[rows, Cout] = bias + col[rows, K] * W[Cout, K]^T (ODL_MM_NT). */

size_t FP_NAME(odl_conv2d, forward_scratch_size)(const odl_conv_f_params *p) {
    return odl_fp_conv_scratch_size(p, sizeof(FP_T));
}

odl_status FP_NAME(odl_conv2d, forward)(const odl_conv_f_params *p, const FP_T *x, const FP_T *w, const FP_T *bias,
                                        FP_T *y, void *scratch, size_t scratch_bytes) {
    odl_status s = odl_fp_check_conv(p);
    if (s != ODL_OK) return s;
    if (!x || !w || !y) return ODL_ERR_ARG;
    const int32_t K = odl_fp_conv_k(p), P = odl_fp_conv_p(p), Cout = p->out_c;
    const int ident = odl_fp_conv_identity(p);
    const int32_t rows = ident ? P : odl_fp_conv_block_rows(p, scratch_bytes, sizeof(FP_T));
    if (!ident && (!scratch || rows < 1)) return ODL_ERR_SCRATCH;
    FP_T *col_buf = (FP_T *)scratch;
    for (int32_t n = 0; n < p->in.n; ++n) {
        const FP_T *xi = x + (size_t)n * p->in.h * p->in.w * p->in.c;
        FP_T *yi = y + (size_t)n * P * Cout;
        for (int32_t r0 = 0; r0 < P; r0 += rows) {
            const int32_t nr = P - r0 < rows ? P - r0 : rows;
            const FP_T *col = xi + (size_t)r0 * K;
            if (!ident) {
                s = FP_JOIN2(odl_im2col, FP_TY)(xi, &p->in, &p->win, r0, nr, col_buf);
                if (s != ODL_OK) return s;
                col = col_buf;
            }
            FP_T *yb = yi + (size_t)r0 * Cout;
            if (bias)
                for (int32_t r = 0; r < nr; ++r)
                    for (int32_t c = 0; c < Cout; ++c) yb[(size_t)r * Cout + c] = bias[c];
            s = FP_MATMUL(ODL_MM_NT, col, w, yb, nr, Cout, K, bias ? 1 : 0);
            if (s != ODL_OK) return s;
        }
    }
    return ODL_OK;
}
