/* odl_softmax_s8: TFLite Micro's int8 SOFTMAX (reference_ops::Softmax with gemmlowp fixed point), bit-exact. */
#include "odl/softmax_s8.h"

#include "internal/odl_math.h"

#define SCALED_DIFF_INTEGER_BITS 5  /* Q5.26 differences */
#define ACCUMULATION_INTEGER_BITS 12 /* Q12.19 sum of exponentials */

static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* gemmlowp RoundingDivideByPOT for any exponent in [0, 62] (64-bit so exponents >= 32 are defined). */
static inline int32_t rdbpot64(int32_t x, int32_t exponent) {
    const int64_t mask = ((int64_t)1 << exponent) - 1;
    const int64_t remainder = (int64_t)x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent>. */
static inline int32_t sat_mul_pot(int32_t x, int32_t exponent) {
    if (exponent < 0) return rdbpot64(x, -exponent);
    if (exponent == 0) return x;
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = wrap_add(a, 1 << 28);
    const int32_t x2 = odl_srdhm(x, x);
    const int32_t x3 = odl_srdhm(x2, x);
    const int32_t x4 = odl_srdhm(x2, x2);
    const int32_t x4_over_4 = sat_mul_pot(x4, -2);
    const int32_t poly = sat_mul_pot(wrap_add(odl_srdhm(wrap_add(x4_over_4, x3), constant_1_over_3), x2), -1);
    return wrap_add(constant_term, odl_srdhm(constant_term, wrap_add(x, poly)));
}

/* gemmlowp exp_on_negative_values: a <= 0 in Q5.26 -> exp(a) in Q0.31. */
static int32_t exp_on_negative_values(int32_t a) {
    const int32_t frac = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (frac - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = wrap_add(a & mask, -one_quarter);
    int32_t result = exp_quarter(sat_mul_pot(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = wrap_add(a_mod_quarter_minus_one_quarter, (int32_t)(0u - (uint32_t)a));
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int32_t k = 0; k < 7; ++k) {
        const int32_t exponent = k - 2;
        if (SCALED_DIFF_INTEGER_BITS > exponent && (remainder & (1 << (frac + exponent))))
            result = odl_srdhm(result, multipliers[k]);
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, three iterations). */
static int32_t one_over_one_plus_x(int32_t a) {
    const int64_t s = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = wrap_add(1515870810, odl_srdhm(half_denominator, -1010580540)); /* Q2.29: 48/17 - 32/17 d */
    const int32_t one_f2 = 1 << 29;
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = odl_srdhm(half_denominator, x);
        const int32_t one_minus = wrap_add(one_f2, (int32_t)(0u - (uint32_t)half_denominator_times_x));
        x = wrap_add(x, sat_mul_pot(odl_srdhm(x, one_minus), 2));
    }
    return sat_mul_pot(x, 1);
}

static inline int32_t clz32(uint32_t v) {
    int32_t n = 0;
    if (v == 0) return 32;
    while (!(v & 0x80000000u)) {
        v <<= 1;
        ++n;
    }
    return n;
}

odl_status odl_softmax_s8(const int8_t *x, int32_t rows, int32_t depth, int32_t input_multiplier,
                          int32_t input_left_shift, int32_t diff_min, int8_t *y) {
    if (!x || !y || rows <= 0 || depth <= 0 || input_left_shift < 0 || input_left_shift > 31 || diff_min > 0)
        return ODL_ERR_ARG;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *in = x + (size_t)r * (size_t)depth;
        int8_t *out = y + (size_t)r * (size_t)depth;
        int32_t mx = -128;
        for (int32_t c = 0; c < depth; ++c) mx = in[c] > mx ? in[c] : mx;
        int32_t sum = 0; /* Q12.19 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = in[c] - mx;
            if (diff >= diff_min) {
                const int32_t e = exp_on_negative_values(
                    odl_srdhm((int32_t)((uint32_t)diff << input_left_shift), input_multiplier));
                sum = wrap_add(sum, rdbpot64(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        /* GetReciprocal */
        const int32_t headroom_plus_one = clz32((uint32_t)sum);
        const int32_t num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)((uint32_t)((uint64_t)(uint32_t)sum << headroom_plus_one) - 0x80000000u);
        const int32_t scale = one_over_one_plus_x(shifted_sum_minus_one);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = in[c] - mx;
            if (diff >= diff_min) {
                const int32_t e = exp_on_negative_values(
                    odl_srdhm((int32_t)((uint32_t)diff << input_left_shift), input_multiplier));
                const int32_t unsat = rdbpot64(odl_srdhm(scale, e), num_bits_over_unit + 31 - 8);
                const int32_t v = unsat - 128;
                out[c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
            } else {
                out[c] = -128;
            }
        }
    }
    return ODL_OK;
}
