/* ARM DSP path (Cortex-M4/M7/M33: SMLAD dual 16-bit MACs, single-precision FPU). Entries left NULL fall back to
 * the reference. Each kernel lives in its own file in this folder; this file only fills the tables. */
#ifdef ODL_WITH_ARM_DSP
#include "odl/layer_paths.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_dsp(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *); /* matmul_s8_dsp.c */
odl_status odl_matmul_f32_dsp(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f32_dsp.c */
odl_status odl_matmul_f16_dsp(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f16_dsp.c */

const odl_matmul_path odl_path_arm_dsp = {
    "arm_dsp",
    odl_matmul_s8_dsp,  /* matmul_s8 */
    odl_matmul_f32_dsp, /* matmul_f32 */
    odl_matmul_f16_dsp, /* matmul_f16: fp16 storage, fp32 arithmetic */
};

odl_status odl_depthwise_conv2d_s8_forward_dsp(const int8_t *, const odl_dims *, const int8_t *, int32_t, int32_t,
                                               int32_t, const int32_t *, const odl_conv_s8_params *,
                                               const odl_requant *, const odl_output_s8 *, const odl_dims *,
                                               int8_t *); /* depthwise_s8_dsp.c */

const odl_layer_path odl_layers_arm_dsp = {
    "arm_dsp",
    odl_depthwise_conv2d_s8_forward_dsp, /* depthwise_conv2d_s8_forward */
    0,                                   /* depthwise_conv2d_f16_forward: reference loop */
    0,                                   /* depthwise_conv2d_f16_weight_grad */
    0,                                   /* depthwise_conv2d_f16_input_grad */
    0,                                   /* im2col_s8: the reference's inline word copies */
};
#endif
