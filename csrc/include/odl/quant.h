/* odl/quant.h - TFLite's fixed-point arithmetic, exactly.
 *
 * Default build: gemmlowp double rounding (SaturatingRoundingDoublingHighMul then RoundingDivideByPOT), which is
 * what TFLite's and TFLite Micro's reference kernels use. Build with -DODL_SINGLE_ROUNDING for TFLite's
 * TFLITE_SINGLE_ROUNDING variant (one 64-bit multiply, one rounding shift).
 */
#ifndef ODL_QUANT_H
#define ODL_QUANT_H

#include "odl/common.h"

/* Per-output-channel requantization: real_scale[c] = in_scale * w_scale[c] / out_scale == multiplier[c] * 2^(shift[c]-31). */
typedef struct {
    const int32_t *multiplier; /* Q0.31 multipliers, one per output channel (or one, when per_channel == 0) */
    const int32_t *shift;      /* left shift if > 0, right shift if < 0 (TFLite convention) */
    int32_t per_channel;       /* 1: multiplier/shift hold one entry per output channel; 0: a single entry */
} odl_requant;

/* Output side of an int8 op: output zero point and the fused activation as a clamp. */
typedef struct {
    int32_t output_offset; /* output zero point, added after requantization */
    int32_t act_min;       /* clamp, in the output's int8 domain (e.g. zero point for ReLU) */
    int32_t act_max;
} odl_output_s8;

/* TFLite QuantizeMultiplier(): real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) or 0. */
void odl_quantize_multiplier(double real_multiplier, int32_t *multiplier, int32_t *shift);

/* TFLite MultiplyByQuantizedMultiplier(x, multiplier, shift) (double or single rounding per build flag). */
int32_t odl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);

/* gemmlowp primitives, exported for tests. */
int32_t odl_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
int32_t odl_rounding_divide_by_pot(int32_t x, int32_t exponent);

/* 1 when the library was built with single rounding, 0 for double rounding. */
int32_t odl_single_rounding(void);

#endif /* ODL_QUANT_H */
