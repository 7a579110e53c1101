/* odl_depthwise_conv2d_s8_forward: TFLite int8 DepthwiseConvPerChannel (direct loops, depth multiplier >= 1). */
#include "odl/layer_paths.h"
#include "s8_internal.h"

odl_status odl_depthwise_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                           int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                           const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                                           const odl_output_s8 *o, const odl_dims *out_dims, int8_t *output) {
    if (!input || !filter || !output || !odl_s8_dims_ok(in_dims) || !odl_s8_dims_ok(out_dims) ||
        depth_multiplier <= 0 || !p || !odl_s8_requant_ok(q) || !odl_s8_output_ok(o))
        return ODL_ERR_ARG;
    if (p->input_offset < -127 || p->input_offset > 128) return ODL_ERR_ARG;
    {
        /* A SIMD path may replace the whole loop (odl/layer_paths.h); its arguments are checked above. */
        const odl_layer_path *lp = odl_layer_path_active();
        if (lp->depthwise_conv2d_s8_forward)
            return lp->depthwise_conv2d_s8_forward(input, in_dims, filter, kernel_h, kernel_w, depth_multiplier, bias,
                                                   p, q, o, out_dims, output);
    }
    odl_window win;
    odl_status st = odl_s8_window(in_dims, kernel_h, kernel_w, p, &win);
    if (st != ODL_OK) return st;
    const int32_t cin = in_dims->c, cout = cin * depth_multiplier;
    if (out_dims->n != in_dims->n || out_dims->h != win.out_h || out_dims->w != win.out_w || out_dims->c != cout)
        return ODL_ERR_SHAPE;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < win.out_h; ++oy) {
            const int32_t y0 = oy * win.stride_h - win.pad_top;
            for (int32_t ox = 0; ox < win.out_w; ++ox) {
                const int32_t x0 = ox * win.stride_w - win.pad_left;
                int8_t *dst = output + (((size_t)b * win.out_h + oy) * win.out_w + ox) * cout;
                for (int32_t c = 0; c < cin; ++c) {
                    for (int32_t m = 0; m < depth_multiplier; ++m) {
                        const int32_t oc = c * depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < kernel_h; ++ky) {
                            const int32_t y = y0 + ky * win.dilation_h;
                            if (y < 0 || y >= in_dims->h) continue;
                            for (int32_t kx = 0; kx < kernel_w; ++kx) {
                                const int32_t x = x0 + kx * win.dilation_w;
                                if (x < 0 || x >= in_dims->w) continue;
                                const int32_t v = img[((size_t)y * in_dims->w + x) * cin + c];
                                const int32_t w = filter[((size_t)ky * kernel_w + kx) * cout + oc];
                                acc += w * (v + p->input_offset);
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
