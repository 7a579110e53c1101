/* odl_im2col_s8_mve: the Helium override of odl_im2col_s8 (odl/layer_paths.h): tail-predicated 16-byte vector
 * copies of the in-image runs of each kernel row (one run of valid_taps * in_c bytes when dilation_w == 1) and
 * predicated vector stores of the zero point for padding taps. Byte-exact with the reference. */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>
#include <stddef.h>

#include "odl/layer_paths.h"

static inline void mve_copy(int8_t *d, const int8_t *s, int32_t n) {
    for (; n >= 16; n -= 16, d += 16, s += 16) vst1q_s8(d, vld1q_s8(s));
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(d, vldrbq_z_s8(s, p), p);
    }
}

static inline void mve_fill(int8_t *d, int8x16_t pv, int32_t n) {
    for (; n >= 16; n -= 16, d += 16) vst1q_s8(d, pv);
    if (n > 0) vstrbq_p_s8(d, pv, vctp8q((uint32_t)n));
}

odl_status odl_im2col_s8_mve(const int8_t *input, const odl_dims *in_dims, const odl_window *win, int8_t pad,
                             int32_t row_start, int32_t row_count, int8_t *rows) {
    const int32_t H = in_dims->h, W = in_dims->w, cin = in_dims->c;
    const int32_t kh = win->kernel_h, kw = win->kernel_w, dh = win->dilation_h, dw = win->dilation_w;
    const int32_t run = kw * cin; /* bytes of one kernel row */
    const int8x16_t pv = vdupq_n_s8(pad);
    int8_t *dst = rows;
    int32_t oy = row_start / win->out_w, ox = row_start % win->out_w;
    for (int32_t r = 0; r < row_count; ++r) {
        const int32_t y0 = oy * win->stride_h - win->pad_top;
        const int32_t x0 = ox * win->stride_w - win->pad_left;
        /* taps kx in [lo, hi) fall inside the image columns */
        int32_t lo = x0 >= 0 ? 0 : (-x0 + dw - 1) / dw;
        int32_t hi = W - x0 <= 0 ? 0 : (W - x0 + dw - 1) / dw;
        if (hi > kw) hi = kw;
        if (lo > hi) lo = hi;
        const int32_t left = lo * cin, mid = (hi - lo) * cin, right = run - left - mid;
        if (dw == 1 && lo == 0 && hi == kw && y0 >= 0 && y0 + (kh - 1) * dh < H) {
            /* the whole window is inside the image (most pixels): kh runs of kernel_w * in_c bytes */
            const int8_t *src = input + ((size_t)y0 * W + x0) * cin;
            const size_t step = (size_t)dh * W * cin;
            for (int32_t ky = 0; ky < kh; ++ky, src += step, dst += run) mve_copy(dst, src, run);
        } else {
            for (int32_t ky = 0; ky < kh; ++ky, dst += run) {
                const int32_t y = y0 + ky * dh;
                if (y < 0 || y >= H || mid == 0) {
                    mve_fill(dst, pv, run);
                    continue;
                }
                const int8_t *src = input + ((size_t)y * W + (x0 + lo * dw)) * cin;
                if (left) mve_fill(dst, pv, left);
                if (dw == 1) {
                    mve_copy(dst + left, src, mid);
                } else {
                    for (int32_t kx = lo; kx < hi; ++kx, src += (size_t)dw * cin)
                        mve_copy(dst + (size_t)kx * cin, src, cin);
                }
                if (right) mve_fill(dst + left + mid, pv, right);
            }
        }
        if (++ox == win->out_w) {
            ox = 0;
            ++oy;
        }
    }
    return ODL_OK;
}
#endif /* ODL_WITH_ARM_MVE */
