/* FP32 and FP16 depthwise conv2d forward, weight grad and input grad (depth multiplier 1). */
#include "fp_common.h"

#define FP_T float
#define FP_TY f32
#include "fp_depthwise_conv2d_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_depthwise_conv2d_impl.h"
#undef FP_T
#undef FP_TY
