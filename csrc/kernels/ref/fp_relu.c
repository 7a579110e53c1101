/* FP32 and FP16 relu / relu6: forward, backward from the forward output, and the 1-bit packed-mask variant
 * (the mask is all the backward needs: 1 bit per element instead of 16 or 32, "Few-Bit Backward"). */
#include "fp_common.h"

int32_t odl_relu_mask_size(int32_t n) { return n > 0 ? (n + 7) / 8 : 0; }

#define FP_T float
#define FP_TY f32
#include "fp_relu_impl.h"
#undef FP_T
#undef FP_TY

#define FP_T odl_f16
#define FP_TY f16
#include "fp_relu_impl.h"
#undef FP_T
#undef FP_TY
