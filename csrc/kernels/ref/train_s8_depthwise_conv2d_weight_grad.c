/* odl_depthwise_conv2d_s8_weight_grad_f32: gradient w.r.t. the int8 depthwise weights (multiplier 1) and int32 bias
 * of selected channels, direct loop. */
#include "odl/train_s8.h"

odl_status odl_depthwise_conv2d_s8_weight_grad_f32(const float *dy, const int8_t *x_q, float x_scale,
                                                   int32_t x_zero_point, const odl_dims *in, const odl_window *win,
                                                   const float *w_scale, const int32_t *channels, int32_t count,
                                                   float *dw_q, float *db_q) {
    if (!dy || !x_q || !w_scale || !dw_q || !in || !win || in->n != 1 || in->h <= 0 || in->w <= 0 || in->c <= 0 ||
        count <= 0 || count > in->c || win->kernel_h <= 0 || win->kernel_w <= 0 || win->stride_h <= 0 ||
        win->stride_w <= 0 || win->dilation_h <= 0 || win->dilation_w <= 0 || win->pad_top < 0 ||
        win->pad_left < 0 || win->out_h <= 0 || win->out_w <= 0)
        return ODL_ERR_ARG;
    const int32_t C = in->c;
    if (channels)
        for (int32_t j = 0; j < count; ++j)
            if (channels[j] < 0 || channels[j] >= C) return ODL_ERR_ARG;
    const int32_t kk = win->kernel_h * win->kernel_w;
    for (int32_t j = 0; j < count; ++j) {
        const int32_t c = channels ? channels[j] : j;
        const float s = w_scale[c] * x_scale;
        for (int32_t ky = 0; ky < win->kernel_h; ++ky) {
            for (int32_t kx = 0; kx < win->kernel_w; ++kx) {
                float acc = 0.0f;
                for (int32_t oh = 0; oh < win->out_h; ++oh) {
                    const int32_t ih = oh * win->stride_h - win->pad_top + ky * win->dilation_h;
                    if (ih < 0 || ih >= in->h) continue;
                    for (int32_t ow = 0; ow < win->out_w; ++ow) {
                        const int32_t iw = ow * win->stride_w - win->pad_left + kx * win->dilation_w;
                        if (iw < 0 || iw >= in->w) continue;
                        const float xv = (float)((int32_t)x_q[((size_t)ih * in->w + iw) * C + c] - x_zero_point);
                        acc += dy[((size_t)oh * win->out_w + ow) * C + c] * xv;
                    }
                }
                dw_q[(size_t)j * kk + ky * win->kernel_w + kx] = acc * s;
            }
        }
        if (db_q) {
            float acc = 0.0f;
            for (size_t p = 0; p < (size_t)win->out_h * win->out_w; ++p) acc += dy[p * C + c];
            db_q[j] = acc * s;
        }
    }
    return ODL_OK;
}
