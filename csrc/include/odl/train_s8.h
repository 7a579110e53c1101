/* odl/train_s8.h - training an int8 graph: FP32 backward of int8 layers and QAS updates of int8/int32 slices.
 *
 * The forward graph is int8 (TFLite arithmetic); the backward runs in FP32 from the stored integers and their
 * scales (Lin et al., "On-Device Training Under 256KB Memory"). Conventions of every kernel here (see
 * docs/int8-training.md for the arithmetic):
 *   - weights:     W = s_w[c] * W_q, symmetric per output channel (OHWI for conv/pointwise/FC, 1HWC for depthwise);
 *   - activations: x = s_x * (x_q - zp_x);   int32 bias: b = s_b[c] * b_q with s_b[c] = s_w[c] * s_x;
 *   - upstream gradients dY and input gradients dX are float in REAL units, NHWC, batch 1;
 *   - weight and bias gradients are w.r.t. the STORED INTEGERS (dL/dW_q = s_w * dL/dW, dL/db_q = s_b * dL/db), for
 *     the selected output channels only ("trainable slice"), packed channel-major: dw_q[j*k + e] is element e of
 *     channel channels[j], k = elements per channel (kh*kw*cin for OHWI, kh*kw for 1HWC) in the channel's own
 *     (kh, kw, ci) order. channels == NULL means channels 0..count-1;
 *   - the QAS updates take exactly these gradients and scale them by s^-2 (s = s_w[c] for weights, s_b[c] for
 *     biases), so the integers move by the real SGD step divided by their scale.
 * Kernels that need scratch accept any buffer of at least *_scratch_size_min() bytes and choose their blocking to
 * fit it (the buffer must be 4-byte aligned: it holds floats); *_scratch_size() is the size for the fastest
 * blocking. Results do not depend on the scratch size on the reference matmul path.
 */
#ifndef ODL_TRAIN_S8_H
#define ODL_TRAIN_S8_H

#include "odl/common.h"

/* How an update is turned back into integers. */
typedef enum {
    ODL_ROUND_NEAREST = 0,    /* w += round_half_away(delta): cheap, biased, updates below half a step vanish */
    ODL_ROUND_STOCHASTIC = 1, /* w += floor(delta) + (u < frac(delta)), u from xorshift32: unbiased on average */
    ODL_ROUND_MASTER = 2      /* an FP32 master copy of the slice (quantized units) takes the update exactly;
                                 w = clamp(round_half_away(master)) */
} odl_rounding;

/* SGD with momentum (PyTorch semantics, no dampening, no Nesterov) applied to quantized units with QAS:
 * g = grad * s^-2 + weight_decay * w;  buf = momentum * buf + g (only if momentum != 0; then g = buf);
 * delta = -lr * g. */
typedef struct {
    float lr;
    float momentum;     /* 0: no momentum buffer (momentum_buf may be NULL) */
    float weight_decay; /* applied to the value in quantized units (the master value in ODL_ROUND_MASTER mode) */
    odl_rounding rounding;
} odl_sgd_params;

/* ---- PRNG, activation backward, dequantization ---- */

/* Marsaglia xorshift32 (13, 17, 5): advance *state (must be non-zero) and return the new state. */
uint32_t odl_xorshift32_next(uint32_t *state);

/* Gradient through the fused clamp of an int8 output: dx[i] = (act_min < y_q[i] < act_max) ? dy[i] : 0.
 * dx may alias dy. */
odl_status odl_act_backward_s8(const int8_t *y_q, const float *dy, int32_t size, int32_t act_min, int32_t act_max,
                               float *dx);

/* Dequantize: out[i] = scale * (q[i] - zero_point). For int8 activations, and for int8-stored gradients. */
odl_status odl_dequantize_s8_f32(const int8_t *q, int32_t size, float scale, int32_t zero_point, float *out);

/* Scale a gradient in place: g[i] *= factor. dL/dy = (dL/dy_q) / s_y turns a gradient w.r.t. stored integers
 * into real units (factor = 1/s_y); factor = s_y goes the other way. */
odl_status odl_grad_rescale_f32(float *g, int32_t size, float factor);

/* ---- conv2d (OHWI weights [out_c, kernel_h, kernel_w, in->c]; dy [win->out_h, win->out_w, out_c]) ---- */

/* Bytes of scratch for the fastest blocking of odl_conv2d_s8_input_grad_f32 (0 on bad arguments). */
size_t odl_conv2d_s8_input_grad_f32_scratch_size(const odl_dims *in, int32_t out_c, const odl_window *win);
/* Smallest scratch odl_conv2d_s8_input_grad_f32 accepts. */
size_t odl_conv2d_s8_input_grad_f32_scratch_size_min(const odl_dims *in, int32_t out_c, const odl_window *win);
/* dX [in->h, in->w, in->c] (real) from dY and int8 weights with per-channel scales: matmul NN + col2im. */
odl_status odl_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale, int32_t out_c,
                                        const odl_dims *in, const odl_window *win, float *dx, void *scratch,
                                        size_t scratch_size);

/* Bytes of scratch for the fastest blocking of odl_conv2d_s8_weight_grad_f32 (0 on bad arguments). */
size_t odl_conv2d_s8_weight_grad_f32_scratch_size(const odl_dims *in, const odl_window *win, int32_t count);
/* Smallest scratch odl_conv2d_s8_weight_grad_f32 accepts. */
size_t odl_conv2d_s8_weight_grad_f32_scratch_size_min(const odl_dims *in, const odl_window *win, int32_t count);
/* dL/dW_q [count, kernel_h*kernel_w*in->c] and dL/db_q [count] (db_q may be NULL) of the selected output channels
 * from dY and the int8 input (x_scale, x_zero_point): im2col + matmul TN. */
odl_status odl_conv2d_s8_weight_grad_f32(const float *dy, int32_t out_c, const int8_t *x_q, float x_scale,
                                         int32_t x_zero_point, const odl_dims *in, const odl_window *win,
                                         const float *w_scale, const int32_t *channels, int32_t count, float *dw_q,
                                         float *db_q, void *scratch, size_t scratch_size);

/* ---- depthwise conv2d, multiplier 1 (1HWC weights [1, kernel_h, kernel_w, in->c]; dy [out_h, out_w, in->c]) ---- */

/* dX [in->h, in->w, in->c] (real) from dY and int8 depthwise weights: direct loop, no scratch. */
odl_status odl_depthwise_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale,
                                                  const odl_dims *in, const odl_window *win, float *dx);
/* dL/dW_q [count, kernel_h*kernel_w] and dL/db_q [count] (db_q may be NULL) of the selected channels: direct loop. */
odl_status odl_depthwise_conv2d_s8_weight_grad_f32(const float *dy, const int8_t *x_q, float x_scale,
                                                   int32_t x_zero_point, const odl_dims *in, const odl_window *win,
                                                   const float *w_scale, const int32_t *channels, int32_t count,
                                                   float *dw_q, float *db_q);

/* ---- pointwise conv2d: 1x1, stride 1, no padding (weights [out_c, in->c]; dy [in->h, in->w, out_c]) ---- */

/* Bytes of scratch for the fastest blocking of odl_pointwise_conv2d_s8_input_grad_f32. */
size_t odl_pointwise_conv2d_s8_input_grad_f32_scratch_size(const odl_dims *in, int32_t out_c);
/* Smallest scratch odl_pointwise_conv2d_s8_input_grad_f32 accepts. */
size_t odl_pointwise_conv2d_s8_input_grad_f32_scratch_size_min(const odl_dims *in, int32_t out_c);
/* dX [in->h, in->w, in->c] (real) of a pointwise conv from dY and int8 weights: matmul NN. */
odl_status odl_pointwise_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale,
                                                  int32_t out_c, const odl_dims *in, float *dx, void *scratch,
                                                  size_t scratch_size);
/* Bytes of scratch for the fastest blocking of odl_pointwise_conv2d_s8_weight_grad_f32. */
size_t odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size(const odl_dims *in, int32_t count);
/* Smallest scratch odl_pointwise_conv2d_s8_weight_grad_f32 accepts. */
size_t odl_pointwise_conv2d_s8_weight_grad_f32_scratch_size_min(const odl_dims *in, int32_t count);
/* dL/dW_q [count, in->c] and dL/db_q [count] (db_q may be NULL) of the selected channels of a pointwise conv. */
odl_status odl_pointwise_conv2d_s8_weight_grad_f32(const float *dy, int32_t out_c, const int8_t *x_q, float x_scale,
                                                   int32_t x_zero_point, const odl_dims *in, const float *w_scale,
                                                   const int32_t *channels, int32_t count, float *dw_q, float *db_q,
                                                   void *scratch, size_t scratch_size);

/* ---- fully connected (weights [out_c, in_c]; x [batch, in_c]; dy [batch, out_c]) ---- */

/* Bytes of scratch for the fastest blocking of odl_fully_connected_s8_input_grad_f32. */
size_t odl_fully_connected_s8_input_grad_f32_scratch_size(int32_t batch, int32_t in_c, int32_t out_c);
/* Smallest scratch odl_fully_connected_s8_input_grad_f32 accepts. */
size_t odl_fully_connected_s8_input_grad_f32_scratch_size_min(int32_t batch, int32_t in_c, int32_t out_c);
/* dX [batch, in_c] (real) of a fully connected layer from dY and int8 weights: matmul NN. */
odl_status odl_fully_connected_s8_input_grad_f32(const float *dy, int32_t batch, const int8_t *w_q,
                                                 const float *w_scale, int32_t in_c, int32_t out_c, float *dx,
                                                 void *scratch, size_t scratch_size);
/* Bytes of scratch for the fastest blocking of odl_fully_connected_s8_weight_grad_f32. */
size_t odl_fully_connected_s8_weight_grad_f32_scratch_size(int32_t batch, int32_t in_c, int32_t count);
/* Smallest scratch odl_fully_connected_s8_weight_grad_f32 accepts. */
size_t odl_fully_connected_s8_weight_grad_f32_scratch_size_min(int32_t batch, int32_t in_c, int32_t count);
/* dL/dW_q [count, in_c] and dL/db_q [count] (db_q may be NULL) of the selected channels of a fully connected layer. */
odl_status odl_fully_connected_s8_weight_grad_f32(const float *dy, int32_t batch, int32_t out_c, const int8_t *x_q,
                                                  float x_scale, int32_t x_zero_point, int32_t in_c,
                                                  const float *w_scale, const int32_t *channels, int32_t count,
                                                  float *dw_q, float *db_q, void *scratch, size_t scratch_size);

/* ---- QAS updates of the trainable slice ---- */

/* Master copy init: master[j*k + e] = w_q[channels[j]*channel_stride + e*elem_stride] (quantized units). */
odl_status odl_master_copy_init_s8(const int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride,
                                   int32_t elem_stride, const int32_t *channels, int32_t count, float *master);

/* SGD-QAS update of the selected channels of int8 weights in place. Element e of channel c is
 * w_q[c*channel_stride + e*elem_stride] (OHWI: channel_stride = k, elem_stride = 1; 1HWC depthwise:
 * channel_stride = 1, elem_stride = channels of the layer). grad, momentum_buf and master are [count, k] packed;
 * momentum_buf is needed when p->momentum != 0, master in ODL_ROUND_MASTER mode, rng_state (non-zero, advanced
 * once per element in slice order) in ODL_ROUND_STOCHASTIC mode. Weights are clamped to [-127, 127]. */
odl_status odl_sgd_qas_update_s8(int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride, int32_t elem_stride,
                                 const float *w_scale, const int32_t *channels, int32_t count, const float *grad,
                                 float *momentum_buf, float *master, uint32_t *rng_state, const odl_sgd_params *p);

/* SGD-QAS update of the selected entries of an int32 bias in place, s_b[c] = w_scale[c] * x_scale. grad,
 * momentum_buf and master are [count]; same rules as odl_sgd_qas_update_s8, clamped to the int32 range. */
odl_status odl_sgd_qas_update_bias_s32(int32_t *b_q, int32_t out_c, const float *w_scale, float x_scale,
                                       const int32_t *channels, int32_t count, const float *grad,
                                       float *momentum_buf, float *master, uint32_t *rng_state,
                                       const odl_sgd_params *p);

#endif /* ODL_TRAIN_S8_H */
