/* TFLite fixed-point helpers (reference, exported). */
#include <math.h>

#include "internal/odl_math.h"

void odl_quantize_multiplier(double real_multiplier, int32_t *multiplier, int32_t *shift) {
    if (real_multiplier == 0.0) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    int exp = 0;
    const double q = frexp(real_multiplier, &exp);
    int64_t q_fixed = (int64_t)round(q * (double)(1LL << 31));
    if (q_fixed == (1LL << 31)) {
        q_fixed /= 2;
        ++exp;
    }
    if (exp < -31) {
        exp = 0;
        q_fixed = 0;
    }
#ifdef ODL_SINGLE_ROUNDING
    if (exp > 30) {
        exp = 30;
        q_fixed = (1LL << 31) - 1;
    }
#endif
    *multiplier = (int32_t)q_fixed;
    *shift = exp;
}

int32_t odl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
    return odl_mbqm(x, multiplier, shift);
}

int32_t odl_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) { return odl_srdhm(a, b); }

int32_t odl_rounding_divide_by_pot(int32_t x, int32_t exponent) { return odl_rdbpot(x, exponent); }

int32_t odl_single_rounding(void) {
#ifdef ODL_SINGLE_ROUNDING
    return 1;
#else
    return 0;
#endif
}
