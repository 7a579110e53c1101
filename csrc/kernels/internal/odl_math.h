/* Private inline arithmetic shared by kernel implementations (not part of the cdef'd public API). */
#ifndef ODL_INTERNAL_MATH_H
#define ODL_INTERNAL_MATH_H

#include <stdint.h>

#include "odl/quant.h"

#define ODL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ODL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ODL_CLAMP(x, lo, hi) ODL_MIN(ODL_MAX((x), (lo)), (hi))

static inline int32_t odl_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
}

static inline int32_t odl_rdbpot(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier. */
static inline int32_t odl_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
#ifdef ODL_SINGLE_ROUNDING
    const int64_t total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    int64_t result = (int64_t)x * (int64_t)multiplier + round;
    return (int32_t)(result >> total_shift);
#else
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return odl_rdbpot(odl_srdhm((int32_t)((uint32_t)x << left_shift), multiplier), right_shift);
#endif
}

/* Requantize an int32 accumulator of output channel `ch` to int8 with offset and clamp. */
static inline int8_t odl_requant_s8(int32_t acc, const odl_requant *q, int32_t ch, const odl_output_s8 *o) {
    const int32_t i = q->per_channel ? ch : 0;
    int32_t v = odl_mbqm(acc, q->multiplier[i], q->shift[i]) + o->output_offset;
    v = ODL_CLAMP(v, o->act_min, o->act_max);
    return (int8_t)v;
}

#endif
