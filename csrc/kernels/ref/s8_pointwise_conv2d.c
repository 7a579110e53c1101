/* odl_pointwise_conv2d_s8_forward: 1x1 stride-1 int8 conv as one matmul (NHWC pixels are already im2col rows). */
#include "odl/matmul.h"
#include "s8_internal.h"

odl_status odl_pointwise_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                           int32_t out_c, const int32_t *bias, int32_t input_offset,
                                           const odl_requant *q, const odl_output_s8 *o, int8_t *output) {
    if (!input || !filter || !output || !odl_s8_dims_ok(in_dims) || out_c <= 0 || !odl_s8_requant_ok(q) ||
        !odl_s8_output_ok(o) || input_offset < -127 || input_offset > 128)
        return ODL_ERR_ARG;
    const int32_t m = in_dims->n * in_dims->h * in_dims->w;
    return odl_matmul_s8(input, filter, bias, m, out_c, in_dims->c, input_offset, q, o, output);
}
