/* odl/softmax_s8.h - int8 softmax with TFLite Micro's fixed-point arithmetic (bit-exact). */
#ifndef ODL_SOFTMAX_S8_H
#define ODL_SOFTMAX_S8_H

#include "odl/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* int8 softmax over the last axis of x[rows][depth] -> y (scale 1/256, zero point -128) as TFLM's
 * reference_ops::Softmax: exp of the (x - row max) differences rescaled by (input_multiplier, input_left_shift) in
 * gemmlowp Q5.26, a Q12.19 sum, its Newton-Raphson reciprocal; differences below diff_min give -128. TFLM's
 * CalculateSoftmaxParams give the three parameters (toolkit.tflite.softmax_ref.softmax_params). x and y may alias. */
odl_status odl_softmax_s8(const int8_t *x, int32_t rows, int32_t depth, int32_t input_multiplier,
                          int32_t input_left_shift, int32_t diff_min, int8_t *y);

#ifdef __cplusplus
}
#endif

#endif /* ODL_SOFTMAX_S8_H */
