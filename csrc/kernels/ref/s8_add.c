/* odl_add_s8: TFLite int8 ADD (reference_integer_ops::Add, same shapes). */
#include "s8_internal.h"

odl_status odl_add_s8(const int8_t *a, const int8_t *b, int32_t size, const odl_add_s8_params *p, int8_t *out) {
    if (!a || !b || !out || !p || size <= 0 || !odl_s8_clamp_ok(p->act_min, p->act_max)) return ODL_ERR_ARG;
    /* MultiplyByQuantizedMultiplierSmallerThanOneExp: every shift must be <= 0; left_shift keeps x << s in int32. */
    if (p->input1_shift > 0 || p->input2_shift > 0 || p->output_shift > 0 || p->left_shift < 0 ||
        p->left_shift > 22)
        return ODL_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t x1 = (p->input1_offset + a[i]) * (1 << p->left_shift);
        const int32_t x2 = (p->input2_offset + b[i]) * (1 << p->left_shift);
        const int32_t s1 = odl_mbqm(x1, p->input1_multiplier, p->input1_shift);
        const int32_t s2 = odl_mbqm(x2, p->input2_multiplier, p->input2_shift);
        int32_t v = odl_mbqm(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
        out[i] = (int8_t)ODL_CLAMP(v, p->act_min, p->act_max);
    }
    return ODL_OK;
}
