/* odl_im2col_s8: NHWC image -> rows of kernel_h*kernel_w*in_c taps, padding filled with the input zero point. */
#include <string.h>

#include "s8_internal.h"

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
    const int32_t row_len = kernel_h * kernel_w * cin;
    if (rows_bytes < row_count * row_len) return ODL_ERR_SCRATCH;
    const int8_t pad = (int8_t)(-p->input_offset);
    for (int32_t r = 0; r < row_count; ++r) {
        const int32_t pix = row_start + r;
        const int32_t oy = pix / win.out_w, ox = pix % win.out_w;
        const int32_t y0 = oy * win.stride_h - win.pad_top;
        const int32_t x0 = ox * win.stride_w - win.pad_left;
        int8_t *dst = rows + (size_t)r * row_len;
        for (int32_t ky = 0; ky < kernel_h; ++ky) {
            const int32_t y = y0 + ky * win.dilation_h;
            for (int32_t kx = 0; kx < kernel_w; ++kx) {
                const int32_t x = x0 + kx * win.dilation_w;
                if (y < 0 || y >= in_dims->h || x < 0 || x >= in_dims->w)
                    memset(dst, pad, (size_t)cin);
                else
                    memcpy(dst, input + ((size_t)y * in_dims->w + x) * cin, (size_t)cin);
                dst += cin;
            }
        }
    }
    return ODL_OK;
}
