/* FP32 and FP16 softmax + cross-entropy loss and its gradient w.r.t. the logits, for one sample. */
#include <math.h>

#include "fp_common.h"

#define FP_T float
#define FP_TY f32
#include "fp_softmax_cross_entropy_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_softmax_cross_entropy_impl.h"
#undef FP_T
#undef FP_TY
