/* Template of the dense layers (pointwise conv2d over pixels, fully connected over the batch): direct matmuls,
 * included twice per name by fp_pointwise_conv2d.c and fp_fully_connected.c with FP_DENSE_OP set (fp_common.h).
 *   forward      y[R, O]  = bias + x[R, I] * w[O, I]^T   (ODL_MM_NT)
 *   weight grad  dw[O, I] = dy[R, O]^T * x[R, I]         (ODL_MM_TN), db = column sums of dy
 *   input grad   dx[R, I] = dy[R, O] * w[O, I]           (ODL_MM_NN) */

odl_status FP_NAME(FP_DENSE_OP, forward)(const FP_T *x, const FP_T *w, const FP_T *bias, FP_T *y, int32_t rows,
                                         int32_t in_n, int32_t out_n) {
    if (!x || !w || !y || rows <= 0 || in_n <= 0 || out_n <= 0) return ODL_ERR_ARG;
    if (bias)
        for (int32_t r = 0; r < rows; ++r)
            for (int32_t o = 0; o < out_n; ++o) y[(size_t)r * out_n + o] = bias[o];
    return FP_MATMUL(ODL_MM_NT, x, w, y, rows, out_n, in_n, bias ? 1 : 0);
}

odl_status FP_NAME(FP_DENSE_OP, weight_grad)(const FP_T *x, const FP_T *dy, FP_T *dw, FP_T *db, int32_t rows,
                                             int32_t in_n, int32_t out_n) {
    if (!x || !dy || !dw || rows <= 0 || in_n <= 0 || out_n <= 0) return ODL_ERR_ARG;
    odl_status s = FP_MATMUL(ODL_MM_TN, dy, x, dw, out_n, in_n, rows, 0);
    if (s != ODL_OK) return s;
    if (db)
        for (int32_t o = 0; o < out_n; ++o) {
            float acc = 0.0f;
            for (int32_t r = 0; r < rows; ++r) acc += (float)dy[(size_t)r * out_n + o];
            db[o] = (FP_T)acc;
        }
    return ODL_OK;
}

odl_status FP_NAME(FP_DENSE_OP, input_grad)(const FP_T *dy, const FP_T *w, FP_T *dx, int32_t rows, int32_t in_n,
                                            int32_t out_n) {
    if (!dy || !w || !dx || rows <= 0 || in_n <= 0 || out_n <= 0) return ODL_ERR_ARG;
    return FP_MATMUL(ODL_MM_NN, dy, w, dx, rows, in_n, out_n, 0);
}
