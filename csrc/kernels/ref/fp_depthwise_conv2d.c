/* FP32 and FP16 depthwise conv2d forward, weight grad and input grad (depth multiplier 1). */
#include "fp_common.h"
#include "odl/layer_paths.h"

/* FP32: no SIMD override. FP16: a SIMD path may replace the whole loop (odl/layer_paths.h). */
#define FP_DW_SIMD_HOOK(pass, args) ((void)0)
#define FP_T float
#define FP_TY f32
#include "fp_depthwise_conv2d_impl.h"
#undef FP_T
#undef FP_TY
#undef FP_DW_SIMD_HOOK

#define FP_DW_SIMD_HOOK(pass, args)                                                       \
    do {                                                                                  \
        const odl_layer_path *lp_ = odl_layer_path_active();                              \
        if (lp_->depthwise_conv2d_f16_##pass) return lp_->depthwise_conv2d_f16_##pass args; \
    } while (0)

#define FP_T odl_f16
#define FP_TY f16
#include "fp_depthwise_conv2d_impl.h"
#undef FP_T
#undef FP_TY
