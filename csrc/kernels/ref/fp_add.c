/* FP32 and FP16 elementwise add, forward and backward. */
#include "fp_common.h"

#define FP_T float
#define FP_TY f32
#include "fp_add_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_add_impl.h"
#undef FP_T
#undef FP_TY
