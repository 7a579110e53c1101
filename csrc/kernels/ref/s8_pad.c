/* odl_pad_s8: explicit (possibly asymmetric) padding of an int8 NHWC image with a constant (the zero point). */
#include <string.h>

#include "odl/train_step.h"

odl_status odl_pad_s8(const int8_t *input, const odl_dims *in_dims, int32_t pad_top, int32_t pad_bottom,
                      int32_t pad_left, int32_t pad_right, int32_t pad_value, int8_t *output) {
    if (!input || !in_dims || !output || in_dims->n <= 0 || in_dims->h <= 0 || in_dims->w <= 0 || in_dims->c <= 0 ||
        pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0 || pad_value < -128 || pad_value > 127)
        return ODL_ERR_ARG;
    const int32_t c = in_dims->c, oh = in_dims->h + pad_top + pad_bottom, ow = in_dims->w + pad_left + pad_right;
    const size_t row = (size_t)ow * c;
    for (int32_t n = 0; n < in_dims->n; ++n) {
        int8_t *o = output + (size_t)n * oh * row;
        const int8_t *x = input + (size_t)n * in_dims->h * in_dims->w * c;
        memset(o, pad_value, (size_t)oh * row);
        for (int32_t y = 0; y < in_dims->h; ++y)
            memcpy(o + (size_t)(y + pad_top) * row + (size_t)pad_left * c, x + (size_t)y * in_dims->w * c,
                   (size_t)in_dims->w * c);
    }
    return ODL_OK;
}
