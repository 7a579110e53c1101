/* odl_requantize_s8: TFLite QUANTIZE int8 -> int8 (reference_ops::Requantize). */
#include "s8_internal.h"

odl_status odl_requantize_s8(const int8_t *input, int32_t size, int32_t input_zp, int32_t output_zp,
                             int32_t multiplier, int32_t shift, int8_t *output) {
    if (!input || !output || size <= 0 || input_zp < -128 || input_zp > 127 || output_zp < -128 ||
        output_zp > 127 || shift < -31 || shift > 31)
        return ODL_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        int32_t v = odl_mbqm((int32_t)input[i] - input_zp, multiplier, shift) + output_zp;
        output[i] = (int8_t)ODL_CLAMP(v, -128, 127);
    }
    return ODL_OK;
}
