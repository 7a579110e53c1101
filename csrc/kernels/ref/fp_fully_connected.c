/* FP32 and FP16 fully connected forward, weight grad and input grad: direct matmuls. */
#include "fp_common.h"

#define FP_DENSE_OP odl_fully_connected

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
