/* Template of avg / max / global average pooling forward and backward, included twice by fp_pool.c.
 * Windows follow TFLite: padded taps are skipped (avg divides by the in-bounds count, max ignores them). */

/* In-bounds tap range of output (oh, ow): rows [h0, h1), cols [w0, w1). */
static void FP_JOIN2(fp_pool_range, FP_TY)(const odl_dims *in, const odl_window *win, int32_t oh, int32_t ow,
                                           int32_t *h0, int32_t *h1, int32_t *w0, int32_t *w1) {
    const int32_t sh = oh * win->stride_h - win->pad_top, sw = ow * win->stride_w - win->pad_left;
    *h0 = sh < 0 ? 0 : sh;
    *w0 = sw < 0 ? 0 : sw;
    *h1 = sh + win->kernel_h > in->h ? in->h : sh + win->kernel_h;
    *w1 = sw + win->kernel_w > in->w ? in->w : sw + win->kernel_w;
}

odl_status FP_NAME(odl_avg_pool2d, forward)(const odl_dims *in, const odl_window *win, const FP_T *x, FP_T *y) {
    odl_status s = odl_fp_check_pool(in, win);
    if (s != ODL_OK) return s;
    if (!x || !y) return ODL_ERR_ARG;
    const int32_t H = in->h, W = in->w, C = in->c;
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t oh = 0; oh < win->out_h; ++oh)
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                int32_t h0, h1, w0, w1;
                FP_JOIN2(fp_pool_range, FP_TY)(in, win, oh, ow, &h0, &h1, &w0, &w1);
                const float count = (float)((h1 - h0) * (w1 - w0));
                FP_T *yo = y + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C;
                for (int32_t c = 0; c < C; ++c) {
                    float acc = 0.0f;
                    for (int32_t ih = h0; ih < h1; ++ih)
                        for (int32_t iw = w0; iw < w1; ++iw) acc += (float)x[(((size_t)n * H + ih) * W + iw) * C + c];
                    yo[c] = (FP_T)(count > 0.0f ? acc / count : 0.0f);
                }
            }
    return ODL_OK;
}

odl_status FP_NAME(odl_avg_pool2d, backward)(const odl_dims *in, const odl_window *win, const FP_T *dy, FP_T *dx) {
    odl_status s = odl_fp_check_pool(in, win);
    if (s != ODL_OK) return s;
    if (!dy || !dx) return ODL_ERR_ARG;
    const int32_t H = in->h, W = in->w, C = in->c;
    /* Gather form: dx[ih, iw] = sum over windows containing it of dy / count (FP32, one rounding). */
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t ih = 0; ih < H; ++ih)
            for (int32_t iw = 0; iw < W; ++iw) {
                /* windows oh with oh*s - pad <= ih < oh*s - pad + k */
                int32_t oh0 = ih + win->pad_top - win->kernel_h + 1, ow0 = iw + win->pad_left - win->kernel_w + 1;
                oh0 = oh0 <= 0 ? 0 : (oh0 + win->stride_h - 1) / win->stride_h;
                ow0 = ow0 <= 0 ? 0 : (ow0 + win->stride_w - 1) / win->stride_w;
                int32_t oh1 = (ih + win->pad_top) / win->stride_h + 1, ow1 = (iw + win->pad_left) / win->stride_w + 1;
                if (oh1 > win->out_h) oh1 = win->out_h;
                if (ow1 > win->out_w) ow1 = win->out_w;
                FP_T *dxo = dx + (((size_t)n * H + ih) * W + iw) * C;
                for (int32_t c = 0; c < C; ++c) {
                    float acc = 0.0f;
                    for (int32_t oh = oh0; oh < oh1; ++oh)
                        for (int32_t ow = ow0; ow < ow1; ++ow) {
                            int32_t h0, h1, w0, w1;
                            FP_JOIN2(fp_pool_range, FP_TY)(in, win, oh, ow, &h0, &h1, &w0, &w1);
                            acc += (float)dy[(((size_t)n * win->out_h + oh) * win->out_w + ow) * C + c] /
                                   (float)((h1 - h0) * (w1 - w0));
                        }
                    dxo[c] = (FP_T)acc;
                }
            }
    return ODL_OK;
}

odl_status FP_NAME(odl_max_pool2d, forward)(const odl_dims *in, const odl_window *win, const FP_T *x, FP_T *y) {
    odl_status s = odl_fp_check_pool(in, win);
    if (s != ODL_OK) return s;
    if (!x || !y) return ODL_ERR_ARG;
    const int32_t H = in->h, W = in->w, C = in->c;
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t oh = 0; oh < win->out_h; ++oh)
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                int32_t h0, h1, w0, w1;
                FP_JOIN2(fp_pool_range, FP_TY)(in, win, oh, ow, &h0, &h1, &w0, &w1);
                FP_T *yo = y + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C;
                for (int32_t c = 0; c < C; ++c) {
                    FP_T best = x[(((size_t)n * H + h0) * W + w0) * C + c];
                    for (int32_t ih = h0; ih < h1; ++ih)
                        for (int32_t iw = w0; iw < w1; ++iw) {
                            const FP_T v = x[(((size_t)n * H + ih) * W + iw) * C + c];
                            if ((float)v > (float)best) best = v;
                        }
                    yo[c] = best;
                }
            }
    return ODL_OK;
}

odl_status FP_NAME(odl_max_pool2d, backward)(const odl_dims *in, const odl_window *win, const FP_T *x, const FP_T *dy,
                                             FP_T *dx) {
    odl_status s = odl_fp_check_pool(in, win);
    if (s != ODL_OK) return s;
    if (!x || !dy || !dx) return ODL_ERR_ARG;
    const int32_t H = in->h, W = in->w, C = in->c;
    const size_t total = (size_t)in->n * H * W * C;
    /* Scatter-add dy into the first maximal tap of each window. FP16: when windows overlap, each addition is
     * rounded (at most ceil(kh/sh)*ceil(kw/sw) additions per element). */
    for (size_t i = 0; i < total; ++i) dx[i] = (FP_T)0.0f;
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t oh = 0; oh < win->out_h; ++oh)
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                int32_t h0, h1, w0, w1;
                FP_JOIN2(fp_pool_range, FP_TY)(in, win, oh, ow, &h0, &h1, &w0, &w1);
                for (int32_t c = 0; c < C; ++c) {
                    size_t arg = (((size_t)n * H + h0) * W + w0) * C + c;
                    for (int32_t ih = h0; ih < h1; ++ih)
                        for (int32_t iw = w0; iw < w1; ++iw) {
                            const size_t i = (((size_t)n * H + ih) * W + iw) * C + c;
                            if ((float)x[i] > (float)x[arg]) arg = i;
                        }
                    dx[arg] = (FP_T)((float)dx[arg] + (float)dy[(((size_t)n * win->out_h + oh) * win->out_w + ow) * C + c]);
                }
            }
    return ODL_OK;
}

odl_status FP_NAME(odl_global_avg_pool, forward)(const odl_dims *in, const FP_T *x, FP_T *y) {
    if (!in || !x || !y || in->n <= 0 || in->h <= 0 || in->w <= 0 || in->c <= 0) return ODL_ERR_ARG;
    const int32_t HW = in->h * in->w, C = in->c;
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t c = 0; c < C; ++c) {
            float acc = 0.0f;
            for (int32_t i = 0; i < HW; ++i) acc += (float)x[((size_t)n * HW + i) * C + c];
            y[(size_t)n * C + c] = (FP_T)(acc / (float)HW);
        }
    return ODL_OK;
}

odl_status FP_NAME(odl_global_avg_pool, backward)(const odl_dims *in, const FP_T *dy, FP_T *dx) {
    if (!in || !dy || !dx || in->n <= 0 || in->h <= 0 || in->w <= 0 || in->c <= 0) return ODL_ERR_ARG;
    const int32_t HW = in->h * in->w, C = in->c;
    for (int32_t n = 0; n < in->n; ++n)
        for (int32_t c = 0; c < C; ++c) {
            const FP_T g = (FP_T)((float)dy[(size_t)n * C + c] / (float)HW);
            for (int32_t i = 0; i < HW; ++i) dx[((size_t)n * HW + i) * C + c] = g;
        }
    return ODL_OK;
}
