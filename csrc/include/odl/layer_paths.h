/* odl/layer_paths.h - SIMD overrides for layer kernels that are not a matmul (depthwise convolutions, int8 im2col).
 *
 * Matmul-based layers are accelerated through the matmul path table (odl/matmul.h). Depthwise convolutions are
 * direct loops, so a SIMD path may replace them whole: each path exports one `const odl_layer_path
 * odl_layers_<path>` (NULL entries = keep the reference loop). The public kernels (odl_depthwise_conv2d_*,
 * odl_im2col_s8) ask odl_layer_path_active() first; it follows the path chosen with odl_path_select().
 */
#ifndef ODL_LAYER_PATHS_H
#define ODL_LAYER_PATHS_H

#include "odl/common.h"
#include "odl/kernels_fp.h"
#include "odl/kernels_s8.h"
#include "odl/matmul.h"

typedef odl_status (*odl_depthwise_s8_fn)(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                          int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                          const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                                          const odl_output_s8 *o, const odl_dims *out_dims, int8_t *output);
typedef odl_status (*odl_depthwise_f16_forward_fn)(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w,
                                                   const odl_f16 *bias, odl_f16 *y);
typedef odl_status (*odl_depthwise_f16_weight_grad_fn)(const odl_conv_f_params *p, const odl_f16 *x,
                                                       const odl_f16 *dy, odl_f16 *dw, odl_f16 *db);
typedef odl_status (*odl_depthwise_f16_input_grad_fn)(const odl_conv_f_params *p, const odl_f16 *dy,
                                                      const odl_f16 *w, odl_f16 *dx);

/* im2col of output pixels [row_start, row_start + row_count) of one NHWC image (in_dims->n ignored) into rows of
 * win->kernel_h * win->kernel_w * in_dims->c bytes, padding taps = pad; called by odl_im2col_s8 after it has
 * checked every argument and the scratch size. */
typedef odl_status (*odl_im2col_s8_fn)(const int8_t *input, const odl_dims *in_dims, const odl_window *win,
                                       int8_t pad, int32_t row_start, int32_t row_count, int8_t *rows);

typedef struct {
    const char *name;
    odl_depthwise_s8_fn depthwise_conv2d_s8_forward;
    odl_depthwise_f16_forward_fn depthwise_conv2d_f16_forward;
    odl_depthwise_f16_weight_grad_fn depthwise_conv2d_f16_weight_grad;
    odl_depthwise_f16_input_grad_fn depthwise_conv2d_f16_input_grad;
    odl_im2col_s8_fn im2col_s8;
} odl_layer_path;

/* The layer overrides of the active path (never NULL; its entries may be). */
const odl_layer_path *odl_layer_path_active(void);

#endif /* ODL_LAYER_PATHS_H */
