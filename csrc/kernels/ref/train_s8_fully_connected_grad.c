/* Fully connected backward for int8 layers: x [batch, in_c] is a [1, batch, 1, in_c] image under a 1x1 conv. */
#include "odl/train_s8.h"

static int fc_shape(int32_t batch, int32_t in_c, odl_dims *in, odl_window *win) {
    if (batch <= 0 || in_c <= 0) return 0;
    *in = (odl_dims){1, batch, 1, in_c};
    *win = (odl_window){1, 1, 1, 1, 1, 1, 0, 0, batch, 1};
    return 1;
}

size_t odl_fully_connected_s8_input_grad_f32_scratch_size(int32_t batch, int32_t in_c, int32_t out_c) {
    odl_dims in;
    odl_window win;
    return fc_shape(batch, in_c, &in, &win) ? odl_conv2d_s8_input_grad_f32_scratch_size(&in, out_c, &win) : 0;
}

size_t odl_fully_connected_s8_input_grad_f32_scratch_size_min(int32_t batch, int32_t in_c, int32_t out_c) {
    odl_dims in;
    odl_window win;
    return fc_shape(batch, in_c, &in, &win) ? odl_conv2d_s8_input_grad_f32_scratch_size_min(&in, out_c, &win) : 0;
}

odl_status odl_fully_connected_s8_input_grad_f32(const float *dy, int32_t batch, const int8_t *w_q,
                                                 const float *w_scale, int32_t in_c, int32_t out_c, float *dx,
                                                 void *scratch, size_t scratch_size) {
    odl_dims in;
    odl_window win;
    if (!fc_shape(batch, in_c, &in, &win)) return ODL_ERR_ARG;
    return odl_conv2d_s8_input_grad_f32(dy, w_q, w_scale, out_c, &in, &win, dx, scratch, scratch_size);
}

size_t odl_fully_connected_s8_weight_grad_f32_scratch_size(int32_t batch, int32_t in_c, int32_t count) {
    odl_dims in;
    odl_window win;
    return fc_shape(batch, in_c, &in, &win) ? odl_conv2d_s8_weight_grad_f32_scratch_size(&in, &win, count) : 0;
}

size_t odl_fully_connected_s8_weight_grad_f32_scratch_size_min(int32_t batch, int32_t in_c, int32_t count) {
    odl_dims in;
    odl_window win;
    return fc_shape(batch, in_c, &in, &win) ? odl_conv2d_s8_weight_grad_f32_scratch_size_min(&in, &win, count) : 0;
}

odl_status odl_fully_connected_s8_weight_grad_f32(const float *dy, int32_t batch, int32_t out_c, const int8_t *x_q,
                                                  float x_scale, int32_t x_zero_point, int32_t in_c,
                                                  const float *w_scale, const int32_t *channels, int32_t count,
                                                  float *dw_q, float *db_q, void *scratch, size_t scratch_size) {
    odl_dims in;
    odl_window win;
    if (!fc_shape(batch, in_c, &in, &win)) return ODL_ERR_ARG;
    return odl_conv2d_s8_weight_grad_f32(dy, out_c, x_q, x_scale, x_zero_point, &in, &win, w_scale, channels, count,
                                         dw_q, db_q, scratch, scratch_size);
}
