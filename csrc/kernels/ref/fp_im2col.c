/* FP32 and FP16 im2col / col2im: the shape transforms every conv2d pass reduces to. */
#include "fp_common.h"

#define FP_T float
#define FP_TY f32
#include "fp_im2col_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_im2col_impl.h"
#undef FP_T
#undef FP_TY
