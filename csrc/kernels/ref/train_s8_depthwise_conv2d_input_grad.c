/* odl_depthwise_conv2d_s8_input_grad_f32: dX of an int8 depthwise conv2d (multiplier 1) in FP32, direct loop. */
#include "odl/train_s8.h"

odl_status odl_depthwise_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale,
                                                  const odl_dims *in, const odl_window *win, float *dx) {
    if (!dy || !w_q || !w_scale || !dx || !in || !win || in->n != 1 || in->h <= 0 || in->w <= 0 || in->c <= 0 ||
        win->kernel_h <= 0 || win->kernel_w <= 0 || win->stride_h <= 0 || win->stride_w <= 0 ||
        win->dilation_h <= 0 || win->dilation_w <= 0 || win->pad_top < 0 || win->pad_left < 0 || win->out_h <= 0 ||
        win->out_w <= 0)
        return ODL_ERR_ARG;
    const int32_t C = in->c;
    for (size_t i = 0; i < (size_t)in->h * in->w * C; ++i) dx[i] = 0.0f;
    for (int32_t oh = 0; oh < win->out_h; ++oh) {
        for (int32_t ow = 0; ow < win->out_w; ++ow) {
            const float *g = dy + ((size_t)oh * win->out_w + ow) * C;
            for (int32_t ky = 0; ky < win->kernel_h; ++ky) {
                const int32_t ih = oh * win->stride_h - win->pad_top + ky * win->dilation_h;
                if (ih < 0 || ih >= in->h) continue;
                for (int32_t kx = 0; kx < win->kernel_w; ++kx) {
                    const int32_t iw = ow * win->stride_w - win->pad_left + kx * win->dilation_w;
                    if (iw < 0 || iw >= in->w) continue;
                    const int8_t *w = w_q + ((size_t)ky * win->kernel_w + kx) * C;
                    float *d = dx + ((size_t)ih * in->w + iw) * C;
                    for (int32_t c = 0; c < C; ++c) d[c] += g[c] * ((float)w[c] * w_scale[c]);
                }
            }
        }
    }
    return ODL_OK;
}
