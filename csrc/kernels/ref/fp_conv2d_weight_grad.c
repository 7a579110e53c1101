/* FP32 and FP16 conv2d weight grad (im2col + one matmul per row block). */
#include "fp_common.h"

#define FP_T float
#define FP_TY f32
#include "fp_conv2d_weight_grad_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_conv2d_weight_grad_impl.h"
#undef FP_T
#undef FP_TY
