/* Template of depthwise conv2d (depth multiplier 1), included twice by fp_depthwise_conv2d.c (see fp_common.h).
 * Direct loops (a depthwise layer is C independent single-channel convolutions: no matmul to share), FP32
 * accumulation, one rounding per output element. */

static odl_status FP_JOIN2(fp_dw_check, FP_TY)(const odl_conv_f_params *p, const void *a, const void *b,
                                               const void *c) {
    odl_status s = odl_fp_check_conv(p);
    if (s != ODL_OK) return s;
    if (!a || !b || !c) return ODL_ERR_ARG;
    if (p->out_c != p->in.c) return ODL_ERR_UNSUPPORTED; /* depth multiplier 1 only */
    return ODL_OK;
}

odl_status FP_NAME(odl_depthwise_conv2d, forward)(const odl_conv_f_params *p, const FP_T *x, const FP_T *w,
                                                  const FP_T *bias, FP_T *y) {
    odl_status s = FP_JOIN2(fp_dw_check, FP_TY)(p, x, w, y);
    if (s != ODL_OK) return s;
    FP_DW_SIMD_HOOK(forward, (p, x, w, bias, y));
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t n = 0; n < p->in.n; ++n) {
        const FP_T *xi = x + (size_t)n * H * W * C;
        for (int32_t oh = 0; oh < win->out_h; ++oh)
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                FP_T *yo = y + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C;
                for (int32_t c = 0; c < C; ++c) {
                    float acc = bias ? (float)bias[c] : 0.0f;
                    for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
                        const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                        if (ih < 0 || ih >= H) continue;
                        for (int32_t kw = 0; kw < win->kernel_w; ++kw) {
                            const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                            if (iw < 0 || iw >= W) continue;
                            acc += (float)xi[((size_t)ih * W + iw) * C + c] *
                                   (float)w[((size_t)kh * win->kernel_w + kw) * C + c];
                        }
                    }
                    yo[c] = (FP_T)acc;
                }
            }
    }
    return ODL_OK;
}

odl_status FP_NAME(odl_depthwise_conv2d, weight_grad)(const odl_conv_f_params *p, const FP_T *x, const FP_T *dy,
                                                      FP_T *dw, FP_T *db) {
    odl_status s = FP_JOIN2(fp_dw_check, FP_TY)(p, x, dy, dw);
    if (s != ODL_OK) return s;
    FP_DW_SIMD_HOOK(weight_grad, (p, x, dy, dw, db));
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t kh = 0; kh < win->kernel_h; ++kh)
        for (int32_t kw = 0; kw < win->kernel_w; ++kw)
            for (int32_t c = 0; c < C; ++c) {
                float acc = 0.0f;
                for (int32_t n = 0; n < p->in.n; ++n)
                    for (int32_t oh = 0; oh < win->out_h; ++oh) {
                        const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                        if (ih < 0 || ih >= H) continue;
                        for (int32_t ow = 0; ow < win->out_w; ++ow) {
                            const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                            if (iw < 0 || iw >= W) continue;
                            acc += (float)dy[(((size_t)n * win->out_h + oh) * win->out_w + ow) * C + c] *
                                   (float)x[(((size_t)n * H + ih) * W + iw) * C + c];
                        }
                    }
                dw[((size_t)kh * win->kernel_w + kw) * C + c] = (FP_T)acc;
            }
    if (db) {
        const size_t total = (size_t)p->in.n * win->out_h * win->out_w;
        for (int32_t c = 0; c < C; ++c) {
            float acc = 0.0f;
            for (size_t i = 0; i < total; ++i) acc += (float)dy[i * C + c];
            db[c] = (FP_T)acc;
        }
    }
    return ODL_OK;
}

odl_status FP_NAME(odl_depthwise_conv2d, input_grad)(const odl_conv_f_params *p, const FP_T *dy, const FP_T *w,
                                                     FP_T *dx) {
    odl_status s = FP_JOIN2(fp_dw_check, FP_TY)(p, dy, w, dx);
    if (s != ODL_OK) return s;
    FP_DW_SIMD_HOOK(input_grad, (p, dy, w, dx));
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    /* Gather: dx[ih, iw] collects every (oh, kh) with oh*stride - pad + kh*dilation == ih (same for w). */
    for (int32_t n = 0; n < p->in.n; ++n)
        for (int32_t ih = 0; ih < H; ++ih)
            for (int32_t iw = 0; iw < W; ++iw)
                for (int32_t c = 0; c < C; ++c) {
                    float acc = 0.0f;
                    for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
                        const int32_t th = ih + win->pad_top - kh * win->dilation_h;
                        if (th < 0 || th % win->stride_h) continue;
                        const int32_t oh = th / win->stride_h;
                        if (oh >= win->out_h) continue;
                        for (int32_t kw = 0; kw < win->kernel_w; ++kw) {
                            const int32_t tw = iw + win->pad_left - kw * win->dilation_w;
                            if (tw < 0 || tw % win->stride_w) continue;
                            const int32_t ow = tw / win->stride_w;
                            if (ow >= win->out_w) continue;
                            acc += (float)dy[(((size_t)n * win->out_h + oh) * win->out_w + ow) * C + c] *
                                   (float)w[((size_t)kh * win->kernel_w + kw) * C + c];
                        }
                    }
                    dx[(((size_t)n * H + ih) * W + iw) * C + c] = (FP_T)acc;
                }
    return ODL_OK;
}
