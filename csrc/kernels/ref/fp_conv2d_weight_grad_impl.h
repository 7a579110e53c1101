/* Template of conv2d weight grad, included twice by fp_conv2d_weight_grad.c (see fp_common.h).
 * Per image and per block of im2col rows: dW[Cout, K] += dY[rows, Cout]^T * col[rows, K] (ODL_MM_TN). */

size_t FP_NAME(odl_conv2d, weight_grad_scratch_size)(const odl_conv_f_params *p) {
    return odl_fp_conv_scratch_size(p, sizeof(FP_T));
}

odl_status FP_NAME(odl_conv2d, weight_grad)(const odl_conv_f_params *p, const FP_T *x, const FP_T *dy, FP_T *dw,
                                            FP_T *db, void *scratch, size_t scratch_bytes) {
    odl_status s = odl_fp_check_conv(p);
    if (s != ODL_OK) return s;
    if (!x || !dy || !dw) return ODL_ERR_ARG;
    const int32_t K = odl_fp_conv_k(p), P = odl_fp_conv_p(p), Cout = p->out_c;
    const int ident = odl_fp_conv_identity(p);
    const int32_t rows = ident ? P : odl_fp_conv_block_rows(p, scratch_bytes, sizeof(FP_T));
    if (!ident && (!scratch || rows < 1)) return ODL_ERR_SCRATCH;
    FP_T *col_buf = (FP_T *)scratch;
    int first = 1;
    for (int32_t n = 0; n < p->in.n; ++n) {
        const FP_T *xi = x + (size_t)n * p->in.h * p->in.w * p->in.c;
        const FP_T *dyi = dy + (size_t)n * P * Cout;
        for (int32_t r0 = 0; r0 < P; r0 += rows) {
            const int32_t nr = P - r0 < rows ? P - r0 : rows;
            const FP_T *col = xi + (size_t)r0 * K;
            if (!ident) {
                s = FP_JOIN2(odl_im2col, FP_TY)(xi, &p->in, &p->win, r0, nr, col_buf);
                if (s != ODL_OK) return s;
                col = col_buf;
            }
            s = FP_MATMUL(ODL_MM_TN, dyi + (size_t)r0 * Cout, col, dw, Cout, K, nr, first ? 0 : 1);
            if (s != ODL_OK) return s;
            first = 0;
        }
    }
    if (db) {
        const size_t total = (size_t)p->in.n * P;
        for (int32_t c = 0; c < Cout; ++c) {
            float acc = 0.0f;
            for (size_t i = 0; i < total; ++i) acc += (float)dy[i * Cout + c];
            db[c] = (FP_T)acc;
        }
    }
    return ODL_OK;
}
