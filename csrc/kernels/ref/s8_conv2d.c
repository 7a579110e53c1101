/* odl_conv2d_s8_forward: TFLite int8 ConvPerChannel as im2col row blocks + the dispatched int8 matmul. */
#include "odl/matmul.h"
#include "s8_internal.h"

int32_t odl_conv2d_s8_scratch_size(int32_t block_rows, int32_t kernel_h, int32_t kernel_w, int32_t in_c) {
    return odl_im2col_s8_scratch_size(block_rows, kernel_h, kernel_w, in_c);
}

odl_status odl_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter, int32_t out_c,
                                 int32_t kernel_h, int32_t kernel_w, const int32_t *bias, const odl_conv_s8_params *p,
                                 const odl_requant *q, const odl_output_s8 *o, const odl_dims *out_dims,
                                 int8_t *output, int8_t *scratch, int32_t scratch_bytes) {
    if (!input || !filter || !output || !odl_s8_dims_ok(in_dims) || !odl_s8_dims_ok(out_dims) || out_c <= 0 ||
        !p || !odl_s8_requant_ok(q) || !odl_s8_output_ok(o))
        return ODL_ERR_ARG;
    if (p->input_offset < -127 || p->input_offset > 128) return ODL_ERR_ARG;
    odl_window win;
    odl_status st = odl_s8_window(in_dims, kernel_h, kernel_w, p, &win);
    if (st != ODL_OK) return st;
    if (out_dims->n != in_dims->n || out_dims->h != win.out_h || out_dims->w != win.out_w || out_dims->c != out_c)
        return ODL_ERR_SHAPE;
    const int32_t row_len = kernel_h * kernel_w * in_dims->c;
    const int32_t npix = win.out_h * win.out_w;
    if (!scratch || scratch_bytes < row_len) return ODL_ERR_SCRATCH;
    int32_t block = scratch_bytes / row_len;
    if (block > npix) block = npix;
    const size_t in_image = (size_t)in_dims->h * in_dims->w * in_dims->c;
    const size_t out_image = (size_t)npix * out_c;
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_image;
        int8_t *dst = output + (size_t)b * out_image;
        for (int32_t r0 = 0; r0 < npix; r0 += block) {
            const int32_t rows = ODL_MIN(block, npix - r0);
            st = odl_im2col_s8(img, in_dims, kernel_h, kernel_w, p, r0, rows, scratch, scratch_bytes);
            if (st != ODL_OK) return st;
            st = odl_matmul_s8(scratch, filter, bias, rows, out_c, row_len, p->input_offset, q, o,
                               dst + (size_t)r0 * out_c);
            if (st != ODL_OK) return st;
        }
    }
    return ODL_OK;
}
