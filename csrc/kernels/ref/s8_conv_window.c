/* odl_conv2d_s8_forward_window / odl_depthwise_conv2d_s8_forward_window: int8 convolutions with an explicit
 * (asymmetric) window, TFLite per-channel arithmetic, direct loops. The two share the window checks and the
 * requantization, so they live in one file. */
#include "odl/train_step.h"
#include "s8_internal.h"

static int window_ok(const odl_dims *in, const odl_window *w) {
    return odl_s8_dims_ok(in) && w && w->kernel_h > 0 && w->kernel_w > 0 && w->stride_h > 0 && w->stride_w > 0 &&
           w->dilation_h > 0 && w->dilation_w > 0 && w->pad_top >= 0 && w->pad_left >= 0 && w->out_h > 0 &&
           w->out_w > 0;
}

static int args_ok(const int8_t *input, const odl_dims *in, const int8_t *filter, const odl_window *win,
                   int32_t input_offset, const odl_requant *q, const odl_output_s8 *o, const int8_t *output) {
    return input && filter && output && window_ok(in, win) && odl_s8_requant_ok(q) && odl_s8_output_ok(o) &&
           input_offset >= -127 && input_offset <= 128;
}

odl_status odl_conv2d_s8_forward_window(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                        int32_t out_c, const int32_t *bias, const odl_window *win,
                                        int32_t input_offset, const odl_requant *q, const odl_output_s8 *o,
                                        int8_t *output) {
    if (!args_ok(input, in_dims, filter, win, input_offset, q, o, output) || out_c <= 0) return ODL_ERR_ARG;
    const int32_t cin = in_dims->c, kh = win->kernel_h, kw = win->kernel_w;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < win->out_h; ++oy) {
            const int32_t y0 = oy * win->stride_h - win->pad_top;
            for (int32_t ox = 0; ox < win->out_w; ++ox) {
                const int32_t x0 = ox * win->stride_w - win->pad_left;
                int8_t *dst = output + (((size_t)b * win->out_h + oy) * win->out_w + ox) * out_c;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + (size_t)oc * kh * kw * cin;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * win->dilation_h;
                        if (y < 0 || y >= in_dims->h) continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int32_t x = x0 + kx * win->dilation_w;
                            if (x < 0 || x >= in_dims->w) continue;
                            const int8_t *px = img + ((size_t)y * in_dims->w + x) * cin;
                            const int8_t *pw = f + ((size_t)ky * kw + kx) * cin;
                            for (int32_t c = 0; c < cin; ++c) acc += (int32_t)pw[c] * ((int32_t)px[c] + input_offset);
                        }
                    }
                    if (bias) acc += bias[oc];
                    dst[oc] = odl_requant_s8(acc, q, oc, o);
                }
            }
        }
    }
    return ODL_OK;
}

odl_status odl_depthwise_conv2d_s8_forward_window(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                                  int32_t depth_multiplier, const int32_t *bias,
                                                  const odl_window *win, int32_t input_offset, const odl_requant *q,
                                                  const odl_output_s8 *o, int8_t *output) {
    if (!args_ok(input, in_dims, filter, win, input_offset, q, o, output) || depth_multiplier <= 0)
        return ODL_ERR_ARG;
    const int32_t cin = in_dims->c, cout = cin * depth_multiplier, kh = win->kernel_h, kw = win->kernel_w;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < win->out_h; ++oy) {
            const int32_t y0 = oy * win->stride_h - win->pad_top;
            for (int32_t ox = 0; ox < win->out_w; ++ox) {
                const int32_t x0 = ox * win->stride_w - win->pad_left;
                int8_t *dst = output + (((size_t)b * win->out_h + oy) * win->out_w + ox) * cout;
                for (int32_t c = 0; c < cin; ++c) {
                    for (int32_t m = 0; m < depth_multiplier; ++m) {
                        const int32_t oc = c * depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < kh; ++ky) {
                            const int32_t y = y0 + ky * win->dilation_h;
                            if (y < 0 || y >= in_dims->h) continue;
                            for (int32_t kx = 0; kx < kw; ++kx) {
                                const int32_t x = x0 + kx * win->dilation_w;
                                if (x < 0 || x >= in_dims->w) continue;
                                const int32_t v = img[((size_t)y * in_dims->w + x) * cin + c];
                                acc += (int32_t)filter[((size_t)ky * kw + kx) * cout + oc] * (v + input_offset);
                            }
                        }
                        if (bias) acc += bias[oc];
                        dst[oc] = odl_requant_s8(acc, q, oc, o);
                    }
                }
            }
        }
    }
    return ODL_OK;
}
