/* odl_avg_pool_s8: TFLite int8 AveragePool: sum of the valid taps / their count, rounded half away from zero. */
#include "s8_internal.h"

odl_status odl_avg_pool_s8(const int8_t *input, const odl_dims *in_dims, const odl_pool_s8_params *p,
                           const odl_dims *out_dims, int8_t *output) {
    odl_window win;
    const odl_status st = odl_s8_pool_window(input, in_dims, p, out_dims, output, &win);
    if (st != ODL_OK) return st;
    const int32_t c = in_dims->c;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_dims->h * in_dims->w * c;
        for (int32_t oy = 0; oy < win.out_h; ++oy) {
            const int32_t y0 = oy * win.stride_h - win.pad_top;
            const int32_t ky0 = ODL_MAX(0, -y0), ky1 = ODL_MIN(p->pool_h, in_dims->h - y0);
            for (int32_t ox = 0; ox < win.out_w; ++ox) {
                const int32_t x0 = ox * win.stride_w - win.pad_left;
                const int32_t kx0 = ODL_MAX(0, -x0), kx1 = ODL_MIN(p->pool_w, in_dims->w - x0);
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                int8_t *dst = output + (((size_t)b * win.out_h + oy) * win.out_w + ox) * c;
                for (int32_t ch = 0; ch < c; ++ch) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky)
                        for (int32_t kx = kx0; kx < kx1; ++kx)
                            acc += img[((size_t)(y0 + ky) * in_dims->w + (x0 + kx)) * c + ch];
                    if (count <= 0) return ODL_ERR_SHAPE; /* a window entirely in the padding */
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    dst[ch] = (int8_t)ODL_CLAMP(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return ODL_OK;
}
