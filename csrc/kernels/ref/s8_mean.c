/* odl_mean_s8: TFLite Micro int8 MEAN over H and W (keepdims): QuantizedMeanOrSum, or older TFLM's truncating
 * sum / count for equal quantization. */
#include "s8_internal.h"

static int32_t odl_floor_log2_u64(uint64_t v) {
    int32_t r = -1;
    while (v) {
        v >>= 1;
        ++r;
    }
    return r;
}

odl_status odl_mean_s8(const int8_t *input, const odl_dims *in_dims, const odl_mean_s8_params *p, int8_t *output) {
    if (!input || !output || !p || !odl_s8_dims_ok(in_dims) || p->input_zp < -128 || p->input_zp > 127 ||
        p->output_zp < -128 || p->output_zp > 127 || p->shift < -31 || p->shift > 31)
        return ODL_ERR_ARG;
    const int32_t c = in_dims->c;
    const int64_t count = (int64_t)in_dims->h * in_dims->w;
    int32_t multiplier = p->multiplier, shift = p->shift;
    if (!p->truncating_mean) {
        /* QuantizedMeanOrSum: fold 1/count into the multiplier, keeping shift <= 32 and the final shift >= -31. */
        int32_t s = odl_floor_log2_u64((uint64_t)count);
        s = ODL_MIN(s, 32);
        s = ODL_MIN(s, 31 + shift);
        multiplier = (int32_t)(((int64_t)multiplier << s) / count);
        shift -= s;
    }
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * count * c;
        for (int32_t ch = 0; ch < c; ++ch) {
            int32_t sum = 0;
            for (int64_t i = 0; i < count; ++i) sum += img[(size_t)i * c + ch];
            int32_t v;
            if (p->truncating_mean) {
                v = (int32_t)(sum / count); /* older TFLM, reference_ops::Mean: C division, truncation toward zero */
            } else {
                const int32_t shifted = (int32_t)(sum - (int64_t)p->input_zp * count);
                v = odl_mbqm(shifted, multiplier, shift) + p->output_zp;
                v = ODL_CLAMP(v, -128, 127);
            }
            output[(size_t)b * c + ch] = (int8_t)v;
        }
    }
    return ODL_OK;
}
