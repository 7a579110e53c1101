/* Pointwise (1x1, stride 1, unpadded) conv2d backward for int8 layers: the conv2d kernels on a 1x1 window. */
#include "odl/train_s8.h"

static int pw_window(const odl_dims *in, odl_window *win) {
    if (!in || in->h <= 0 || in->w <= 0) return 0;
    *win = (odl_window){1, 1, 1, 1, 1, 1, 0, 0, in->h, in->w};
    return 1;
}

size_t odl_pointwise_conv2d_s8_input_grad_f32_scratch_size(const odl_dims *in, int32_t out_c) {
    odl_window win;
    return pw_window(in, &win) ? odl_conv2d_s8_input_grad_f32_scratch_size(in, out_c, &win) : 0;
}

size_t odl_pointwise_conv2d_s8_input_grad_f32_scratch_size_min(const odl_dims *in, int32_t out_c) {
    odl_window win;
    return pw_window(in, &win) ? odl_conv2d_s8_input_grad_f32_scratch_size_min(in, out_c, &win) : 0;
}

odl_status odl_pointwise_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale,
                                                  int32_t out_c, const odl_dims *in, float *dx, void *scratch,
                                                  size_t scratch_size) {
    odl_window win;
    if (!pw_window(in, &win)) return ODL_ERR_ARG;
    return odl_conv2d_s8_input_grad_f32(dy, w_q, w_scale, out_c, in, &win, dx, scratch, scratch_size);
}

size_t odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size(const odl_dims *in, int32_t count) {
    odl_window win;
    return pw_window(in, &win) ? odl_conv2d_s8_weight_grad_f32_scratch_size(in, &win, count) : 0;
}

size_t odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size_min(const odl_dims *in, int32_t count) {
    odl_window win;
    return pw_window(in, &win) ? odl_conv2d_s8_weight_grad_f32_scratch_size_min(in, &win, count) : 0;
}

odl_status odl_pointwise_conv2d_s8_weight_grad_f32(const float *dy, int32_t out_c, const int8_t *x_q, float x_scale,
                                                   int32_t x_zero_point, const odl_dims *in, const float *w_scale,
                                                   const int32_t *channels, int32_t count, float *dw_q, float *db_q,
                                                   void *scratch, size_t scratch_size) {
    odl_window win;
    if (!pw_window(in, &win)) return ODL_ERR_ARG;
    return odl_conv2d_s8_weight_grad_f32(dy, out_c, x_q, x_scale, x_zero_point, in, &win, w_scale, channels, count,
                                         dw_q, db_q, scratch, scratch_size);
}
