/* Template of im2col / col2im, included twice by fp_im2col.c (see fp_common.h). */

static odl_status FP_JOIN2(fp_im2col_check, FP_TY)(const void *x, const odl_dims *in, const odl_window *win,
                                                   int32_t row0, int32_t rows, const void *col) {
    if (!x || !in || !win || !col || rows <= 0 || row0 < 0) return ODL_ERR_ARG;
    odl_conv_f_params p;
    p.in = *in;
    p.in.n = 1;
    p.out_c = 1;
    p.win = *win;
    odl_status s = odl_fp_check_conv(&p);
    if (s != ODL_OK) return s;
    if ((int64_t)row0 + rows > (int64_t)win->out_h * win->out_w) return ODL_ERR_SHAPE;
    return ODL_OK;
}

odl_status FP_JOIN2(odl_im2col, FP_TY)(const FP_T *x, const odl_dims *in, const odl_window *win, int32_t row0,
                                       int32_t rows, FP_T *col) {
    odl_status s = FP_JOIN2(fp_im2col_check, FP_TY)(x, in, win, row0, rows, col);
    if (s != ODL_OK) return s;
    const int32_t H = in->h, W = in->w, C = in->c;
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t oh = (row0 + r) / win->out_w, ow = (row0 + r) % win->out_w;
        FP_T *dst = col + (size_t)r * win->kernel_h * win->kernel_w * C;
        for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
            const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
            for (int32_t kw = 0; kw < win->kernel_w; ++kw, dst += C) {
                const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
                    for (int32_t c = 0; c < C; ++c) dst[c] = (FP_T)0.0f;
                } else {
                    const FP_T *src = x + ((size_t)ih * W + iw) * C;
                    for (int32_t c = 0; c < C; ++c) dst[c] = src[c];
                }
            }
        }
    }
    return ODL_OK;
}

odl_status FP_JOIN2(odl_col2im, FP_TY)(const FP_T *col, const odl_dims *in, const odl_window *win, int32_t row0,
                                       int32_t rows, FP_T *x) {
    odl_status s = FP_JOIN2(fp_im2col_check, FP_TY)(x, in, win, row0, rows, col);
    if (s != ODL_OK) return s;
    const int32_t H = in->h, W = in->w, C = in->c;
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t oh = (row0 + r) / win->out_w, ow = (row0 + r) % win->out_w;
        const FP_T *src = col + (size_t)r * win->kernel_h * win->kernel_w * C;
        for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
            const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
            for (int32_t kw = 0; kw < win->kernel_w; ++kw, src += C) {
                const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                FP_T *dst = x + ((size_t)ih * W + iw) * C;
                for (int32_t c = 0; c < C; ++c) dst[c] = (FP_T)((float)dst[c] + (float)src[c]);
            }
        }
    }
    return ODL_OK;
}
