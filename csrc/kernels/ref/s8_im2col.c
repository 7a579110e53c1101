/* odl_im2col_s8: NHWC image -> rows of kernel_h*kernel_w*in_c taps, padding filled with the input zero point. */
#include <stdint.h>

#include "odl/layer_paths.h"
#include "s8_internal.h"

/* Taps are short runs (in_c bytes), so a libc memcpy/memset call per tap costs more than the copy itself. The runs
 * are copied inline: whole 32-bit words when source, destination and in_c allow it (GNU C may_alias word type),
 * bytes otherwise, two words / four bytes per iteration. ODL_IM2COL_OPAQUE hides the destination pointer from the
 * optimizer (an empty asm, no instruction) so compilers do not turn the loops back into memcpy/memset calls. */
#if defined(__GNUC__)
typedef uint32_t odl_im2col_word __attribute__((may_alias));
#define ODL_IM2COL_WORDS 1
#define ODL_IM2COL_OPAQUE(ptr) __asm__("" : "+r"(ptr))
#else
#define ODL_IM2COL_WORDS 0
#define ODL_IM2COL_OPAQUE(ptr) ((void)0)
#endif

static inline void odl_im2col_copy(int8_t *d, const int8_t *s, int32_t n, int words) {
#if ODL_IM2COL_WORDS
    if (words) { /* n % 4 == 0, d and s word-aligned */
        odl_im2col_word *dw = (odl_im2col_word *)(void *)d;
        const odl_im2col_word *sw = (const odl_im2col_word *)(const void *)s;
        for (; n >= 8; n -= 8, dw += 2, sw += 2) {
            ODL_IM2COL_OPAQUE(dw);
            const odl_im2col_word a = sw[0], b = sw[1];
            dw[0] = a;
            dw[1] = b;
        }
        if (n) dw[0] = sw[0];
        return;
    }
#else
    (void)words;
#endif
    for (; n >= 4; n -= 4, d += 4, s += 4) {
        ODL_IM2COL_OPAQUE(d);
        const int8_t a = s[0], b = s[1], c = s[2], e = s[3];
        d[0] = a;
        d[1] = b;
        d[2] = c;
        d[3] = e;
    }
    if (n & 2) {
        const int8_t a = s[0], b = s[1];
        d[0] = a;
        d[1] = b;
        d += 2;
        s += 2;
    }
    if (n & 1) d[0] = s[0];
}

static inline void odl_im2col_fill(int8_t *d, int8_t v, int32_t n, int words) {
#if ODL_IM2COL_WORDS
    if (words) {
        odl_im2col_word *dw = (odl_im2col_word *)(void *)d;
        const odl_im2col_word w = (uint32_t)(uint8_t)v * 0x01010101u;
        for (; n >= 8; n -= 8, dw += 2) {
            ODL_IM2COL_OPAQUE(dw);
            dw[0] = w;
            dw[1] = w;
        }
        if (n) dw[0] = w;
        return;
    }
#else
    (void)words;
#endif
    for (; n >= 4; n -= 4, d += 4) {
        ODL_IM2COL_OPAQUE(d);
        d[0] = v;
        d[1] = v;
        d[2] = v;
        d[3] = v;
    }
    if (n & 2) {
        d[0] = v;
        d[1] = v;
        d += 2;
    }
    if (n & 1) d[0] = v;
}

int32_t odl_im2col_s8_scratch_size(int32_t rows, int32_t kernel_h, int32_t kernel_w, int32_t in_c) {
    if (rows <= 0 || kernel_h <= 0 || kernel_w <= 0 || in_c <= 0) return 0;
    const int64_t bytes = (int64_t)rows * kernel_h * kernel_w * in_c;
    return bytes > INT32_MAX ? 0 : (int32_t)bytes; /* 0: not representable, no scratch can be big enough */
}

odl_status odl_im2col_s8(const int8_t *input, const odl_dims *in_dims, int32_t kernel_h, int32_t kernel_w,
                         const odl_conv_s8_params *p, int32_t row_start, int32_t row_count, int8_t *rows,
                         int32_t rows_bytes) {
    if (!input || !odl_s8_dims_ok(in_dims) || !p) return ODL_ERR_ARG;
    odl_window win;
    odl_status st = odl_s8_window(in_dims, kernel_h, kernel_w, p, &win);
    if (st != ODL_OK) return st;
    if (p->input_offset < -127 || p->input_offset > 128) return ODL_ERR_ARG;
    const int32_t npix = win.out_h * win.out_w;
    if (row_start < 0 || row_count <= 0 || row_start + row_count > npix) return ODL_ERR_SHAPE;
    if (!rows) return ODL_ERR_SCRATCH;
    const int32_t cin = in_dims->c;
    const int64_t row_len = (int64_t)kernel_h * kernel_w * cin;
    if ((int64_t)rows_bytes < (int64_t)row_count * row_len) return ODL_ERR_SCRATCH;
    const int8_t pad = (int8_t)(-p->input_offset);
    {
        /* A SIMD path may replace the copy loop (odl/layer_paths.h); its arguments are checked above. */
        const odl_layer_path *lp = odl_layer_path_active();
        if (lp->im2col_s8) return lp->im2col_s8(input, in_dims, &win, pad, row_start, row_count, rows);
    }
    const int words = ((((uintptr_t)input | (uintptr_t)rows) & 3u) == 0) && (cin & 3) == 0;
    const int32_t run = kernel_w * cin; /* bytes of one kernel row */
    const int32_t dw = win.dilation_w;
    int8_t *dst = rows;
    int32_t oy = row_start / win.out_w, ox = row_start % win.out_w;
    for (int32_t r = 0; r < row_count; ++r) {
        const int32_t y0 = oy * win.stride_h - win.pad_top;
        const int32_t x0 = ox * win.stride_w - win.pad_left;
        /* taps kx in [lo, hi) fall inside the image columns; with dilation_w == 1 they are one contiguous run */
        int32_t lo = x0 >= 0 ? 0 : (-x0 + dw - 1) / dw;
        int32_t hi = in_dims->w - x0 <= 0 ? 0 : (in_dims->w - x0 + dw - 1) / dw;
        if (hi > kernel_w) hi = kernel_w;
        if (lo > hi) lo = hi;
        const int32_t left = lo * cin, mid = (hi - lo) * cin, right = run - left - mid;
        if (dw == 1 && lo == 0 && hi == kernel_w && y0 >= 0 && y0 + (kernel_h - 1) * win.dilation_h < in_dims->h) {
            /* the whole window is inside the image (most pixels): kernel_h runs of kernel_w * in_c bytes */
            const int8_t *src = input + ((size_t)y0 * in_dims->w + x0) * cin;
            const size_t step = (size_t)win.dilation_h * in_dims->w * cin;
            for (int32_t ky = 0; ky < kernel_h; ++ky, src += step, dst += run) odl_im2col_copy(dst, src, run, words);
        } else {
            for (int32_t ky = 0; ky < kernel_h; ++ky, dst += run) {
                const int32_t y = y0 + ky * win.dilation_h;
                if (y < 0 || y >= in_dims->h || mid == 0) {
                    odl_im2col_fill(dst, pad, run, words);
                    continue;
                }
                const int8_t *src = input + ((size_t)y * in_dims->w + (x0 + lo * dw)) * cin;
                odl_im2col_fill(dst, pad, left, words);
                if (dw == 1) {
                    odl_im2col_copy(dst + left, src, mid, words);
                } else {
                    for (int32_t kx = lo; kx < hi; ++kx, src += (size_t)dw * cin)
                        odl_im2col_copy(dst + (size_t)kx * cin, src, cin, words);
                }
                odl_im2col_fill(dst + left + mid, pad, right, words);
            }
        }
        if (++ox == win.out_w) {
            ox = 0;
            ++oy;
        }
    }
    return ODL_OK;
}
