/* RISC-V V path (rv32 + Zve32f + Zvfh, clang-19 intrinsics): fills odl_path_rvv (matmuls) and odl_layers_rvv
 * (depthwise overrides). Each kernel lives in its own file in this folder; this file only fills the tables. */
#ifdef ODL_WITH_RVV
#include "odl/layer_paths.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_rvv(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *); /* matmul_s8_rvv.c */
odl_status odl_matmul_f32_rvv(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f32_rvv.c */
odl_status odl_matmul_f16_rvv(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t); /* matmul_f16_rvv.c */
odl_status odl_depthwise_conv2d_s8_forward_rvv(const int8_t *, const odl_dims *, const int8_t *, int32_t, int32_t,
                                               int32_t, const int32_t *, const odl_conv_s8_params *,
                                               const odl_requant *, const odl_output_s8 *, const odl_dims *,
                                               int8_t *); /* depthwise_s8_rvv.c */
odl_status odl_depthwise_conv2d_f16_forward_rvv(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                const odl_f16 *, odl_f16 *); /* depthwise_f16_rvv.c */
odl_status odl_depthwise_conv2d_f16_weight_grad_rvv(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                    odl_f16 *, odl_f16 *); /* depthwise_f16_rvv.c */
odl_status odl_depthwise_conv2d_f16_input_grad_rvv(const odl_conv_f_params *, const odl_f16 *, const odl_f16 *,
                                                   odl_f16 *); /* depthwise_f16_rvv.c */

const odl_matmul_path odl_path_rvv = {
    "rvv",
    odl_matmul_s8_rvv,  /* matmul_s8 */
    odl_matmul_f32_rvv, /* matmul_f32 */
    odl_matmul_f16_rvv, /* matmul_f16 */
};

odl_status odl_im2col_s8_rvv(const int8_t *, const odl_dims *, const odl_window *, int8_t, int32_t, int32_t,
                             int8_t *); /* im2col_s8_rvv.c */

const odl_layer_path odl_layers_rvv = {
    "rvv",
    odl_depthwise_conv2d_s8_forward_rvv,      /* depthwise_conv2d_s8_forward */
    odl_depthwise_conv2d_f16_forward_rvv,     /* depthwise_conv2d_f16_forward */
    odl_depthwise_conv2d_f16_weight_grad_rvv, /* depthwise_conv2d_f16_weight_grad */
    odl_depthwise_conv2d_f16_input_grad_rvv,  /* depthwise_conv2d_f16_input_grad */
    odl_im2col_s8_rvv,                        /* im2col_s8 */
};
#endif /* ODL_WITH_RVV */
