/* Helium (MVE) path for Cortex-M55: the matmul table and the depthwise overrides.
 * Each kernel lives in its own file in this folder; this file only fills the tables. */
#ifdef ODL_WITH_ARM_MVE
#include "odl/layer_paths.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_mve(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *); /* matmul_s8_mve.c */
odl_status odl_matmul_f32_mve(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f32_mve.c */
odl_status odl_matmul_f16_mve(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f16_mve.c */
odl_status odl_depthwise_conv2d_s8_forward_mve(const int8_t *, const odl_dims *, const int8_t *, int32_t, int32_t,
                                               int32_t, const int32_t *, const odl_conv_s8_params *,
                                               const odl_requant *, const odl_output_s8 *, const odl_dims *,
                                               int8_t *); /* depthwise_s8_mve.c */
odl_status odl_depthwise_conv2d_f16_forward_mve(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                const odl_f16 *, odl_f16 *); /* depthwise_f16_mve.c */
odl_status odl_depthwise_conv2d_f16_weight_grad_mve(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                    odl_f16 *, odl_f16 *); /* depthwise_f16_mve.c */
odl_status odl_depthwise_conv2d_f16_input_grad_mve(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                   odl_f16 *); /* depthwise_f16_mve.c */

const odl_matmul_path odl_path_arm_mve = {
    "arm_mve",
    odl_matmul_s8_mve,  /* matmul_s8 */
    odl_matmul_f32_mve, /* matmul_f32 */
    odl_matmul_f16_mve, /* matmul_f16 */
};

odl_status odl_im2col_s8_mve(const int8_t *, const odl_dims *, const odl_window *, int8_t, int32_t, int32_t,
                             int8_t *); /* im2col_s8_mve.c */

const odl_layer_path odl_layers_arm_mve = {
    "arm_mve",
    odl_depthwise_conv2d_s8_forward_mve,      /* depthwise_conv2d_s8_forward */
    odl_depthwise_conv2d_f16_forward_mve,     /* depthwise_conv2d_f16_forward */
    odl_depthwise_conv2d_f16_weight_grad_mve, /* depthwise_conv2d_f16_weight_grad */
    odl_depthwise_conv2d_f16_input_grad_mve,  /* depthwise_conv2d_f16_input_grad */
    odl_im2col_s8_mve,                        /* im2col_s8 */
};
#endif /* ODL_WITH_ARM_MVE */
