/* Template of conv2d input grad, included twice by fp_conv2d_input_grad.c (see fp_common.h).
 * Per image and per block of rows: dcol[rows, K] = dY[rows, Cout] * W[Cout, K] (ODL_MM_NN), then col2im adds
 * dcol into dX (for an identity im2col the matmul writes dX directly). */

size_t FP_NAME(odl_conv2d, input_grad_scratch_size)(const odl_conv_f_params *p) {
    return odl_fp_conv_scratch_size(p, sizeof(FP_T));
}

odl_status FP_NAME(odl_conv2d, input_grad)(const odl_conv_f_params *p, const FP_T *dy, const FP_T *w, FP_T *dx,
                                           void *scratch, size_t scratch_bytes) {
    odl_status s = odl_fp_check_conv(p);
    if (s != ODL_OK) return s;
    if (!dy || !w || !dx) return ODL_ERR_ARG;
    const int32_t K = odl_fp_conv_k(p), P = odl_fp_conv_p(p), Cout = p->out_c;
    const int ident = odl_fp_conv_identity(p);
    const int32_t rows = ident ? P : odl_fp_conv_block_rows(p, scratch_bytes, sizeof(FP_T));
    if (!ident && (!scratch || rows < 1)) return ODL_ERR_SCRATCH;
    FP_T *dcol_buf = (FP_T *)scratch;
    const size_t image = (size_t)p->in.h * p->in.w * p->in.c;
    if (!ident)
        for (size_t i = 0; i < (size_t)p->in.n * image; ++i) dx[i] = (FP_T)0.0f;
    for (int32_t n = 0; n < p->in.n; ++n) {
        FP_T *dxi = dx + (size_t)n * image;
        const FP_T *dyi = dy + (size_t)n * P * Cout;
        for (int32_t r0 = 0; r0 < P; r0 += rows) {
            const int32_t nr = P - r0 < rows ? P - r0 : rows;
            FP_T *dcol = ident ? dxi + (size_t)r0 * K : dcol_buf;
            s = FP_MATMUL(ODL_MM_NN, dyi + (size_t)r0 * Cout, w, dcol, nr, K, Cout, 0);
            if (s != ODL_OK) return s;
            if (!ident) {
                s = FP_JOIN2(odl_col2im, FP_TY)(dcol, &p->in, &p->win, r0, nr, dxi);
                if (s != ODL_OK) return s;
            }
        }
    }
    return ODL_OK;
}
