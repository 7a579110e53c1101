/* FP32 and FP16 pointwise (1x1, stride 1) conv2d forward, weight grad and input grad: direct matmuls. */
#include "fp_common.h"

#define FP_DENSE_OP odl_pointwise_conv2d

#define FP_T float
#define FP_TY f32
#include "fp_dense_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_dense_impl.h"
#undef FP_T
#undef FP_TY
