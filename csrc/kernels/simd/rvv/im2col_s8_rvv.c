/* odl_im2col_s8_rvv: the RVV override of odl_im2col_s8 (odl/layer_paths.h): vector copies of the in-image runs of
 * each kernel row (one run of valid_taps * in_c bytes when dilation_w == 1) and vector fills of the padding taps
 * with the zero point; e8 LMUL 8, so one instruction pair moves up to VLEN bytes. Byte-exact with the reference. */
#ifdef ODL_WITH_RVV
#include <riscv_vector.h>
#include <stddef.h>

#include "odl/layer_paths.h"

static inline void rvv_copy(int8_t *d, const int8_t *s, size_t n) {
    while (n) {
        const size_t vl = __riscv_vsetvl_e8m8(n);
        __riscv_vse8_v_i8m8(d, __riscv_vle8_v_i8m8(s, vl), vl);
        d += vl;
        s += vl;
        n -= vl;
    }
}

static inline void rvv_fill(int8_t *d, vint8m8_t pv, size_t n) {
    while (n) {
        const size_t vl = __riscv_vsetvl_e8m8(n);
        __riscv_vse8_v_i8m8(d, pv, vl);
        d += vl;
        n -= vl;
    }
}

odl_status odl_im2col_s8_rvv(const int8_t *input, const odl_dims *in_dims, const odl_window *win, int8_t pad,
                             int32_t row_start, int32_t row_count, int8_t *rows) {
    const int32_t H = in_dims->h, W = in_dims->w, cin = in_dims->c;
    const int32_t kh = win->kernel_h, kw = win->kernel_w, dh = win->dilation_h, dw = win->dilation_w;
    const size_t run = (size_t)kw * cin; /* bytes of one kernel row */
    const vint8m8_t pv = __riscv_vmv_v_x_i8m8(pad, __riscv_vsetvlmax_e8m8());
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
        const size_t left = (size_t)lo * cin, mid = (size_t)(hi - lo) * cin, right = run - left - mid;
        if (dw == 1 && lo == 0 && hi == kw && y0 >= 0 && y0 + (kh - 1) * dh < H) {
            /* the whole window is inside the image (most pixels): kh runs of kernel_w * in_c bytes */
            const int8_t *src = input + ((size_t)y0 * W + x0) * cin;
            const size_t step = (size_t)dh * W * cin;
            for (int32_t ky = 0; ky < kh; ++ky, src += step, dst += run) rvv_copy(dst, src, run);
        } else {
            for (int32_t ky = 0; ky < kh; ++ky, dst += run) {
                const int32_t y = y0 + ky * dh;
                if (y < 0 || y >= H || mid == 0) {
                    rvv_fill(dst, pv, run);
                    continue;
                }
                const int8_t *src = input + ((size_t)y * W + (x0 + lo * dw)) * cin;
                if (left) rvv_fill(dst, pv, left);
                if (dw == 1) {
                    rvv_copy(dst + left, src, mid);
                } else {
                    for (int32_t kx = lo; kx < hi; ++kx, src += (size_t)dw * cin)
                        rvv_copy(dst + (size_t)kx * cin, src, (size_t)cin);
                }
                if (right) rvv_fill(dst + left + mid, pv, right);
            }
        }
        if (++ox == win->out_w) {
            ox = 0;
            ++oy;
        }
    }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
