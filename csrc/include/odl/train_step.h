/* odl/train_step.h - small kernels the training compiler (toolkit.train) emits around the layer kernels:
 * a run-time learning rate (read through a pointer, so the caller, the serial protocol or a schedule step can change
 * it between training steps), channel-sliced SGD for FP32/FP16 weights, and explicit int8 padding.
 *
 * Channel slices: element e of output channel c of a layer's weight is w[c*channel_stride + e*elem_stride]
 * (OHWI conv / [out, in] FC: channel_stride = k, elem_stride = 1; 1HWC depthwise: channel_stride = 1,
 * elem_stride = C). The gradient g has the same layout as w (the full weight gradient); the momentum buffer is packed
 * [count, k]. channels == NULL means channels 0..count-1. Per element the arithmetic is exactly that of
 * odl_sgd_f32_update / odl_sgd_f16_update (torch.optim.SGD semantics).
 */
#ifndef ODL_TRAIN_STEP_H
#define ODL_TRAIN_STEP_H

#include "odl/common.h"
#include "odl/kernels_fp.h"
#include "odl/quant.h"
#include "odl/train_s8.h"

/* Cosine schedule (torch CosineAnnealingLR, eta_min 0): *lr = base_lr * 0.5 * (1 + cos(pi * t / total)) with
 * t = min(*step, total), then *step += 1. total_steps <= 0 is ODL_ERR_ARG. */
odl_status odl_lr_cosine_f32(float *lr, int32_t *step, float base_lr, int32_t total_steps);

/* Channel-sliced SGD on FP32 weights with the learning rate read from *lr. */
odl_status odl_sgd_f32_update_slice(float *w, const float *g, float *buf, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                                    float momentum, float weight_decay);

/* Channel-sliced SGD on FP16 weights and FP16 momentum buffer (FP32 arithmetic, one rounding per stored value). */
odl_status odl_sgd_f16_update_slice(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                                    float momentum, float weight_decay);

/* odl_sgd_qas_update_s8 with the learning rate read from *lr (p->lr is ignored). */
odl_status odl_sgd_qas_update_s8_lr(int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const float *w_scale, const int32_t *channels, int32_t count,
                                    const float *grad, float *momentum_buf, float *master, uint32_t *rng_state,
                                    const odl_sgd_params *p, const float *lr);

/* odl_sgd_qas_update_bias_s32 with the learning rate read from *lr (p->lr is ignored). */
odl_status odl_sgd_qas_update_bias_s32_lr(int32_t *b_q, int32_t out_c, const float *w_scale, float x_scale,
                                          const int32_t *channels, int32_t count, const float *grad,
                                          float *momentum_buf, float *master, uint32_t *rng_state,
                                          const odl_sgd_params *p, const float *lr);

/* Copy an int8 NHWC image into a larger one with explicit padding filled with pad_value (an input zero point),
 * so a VALID int8 conv on the result equals the conv with that padding. out is
 * [n, h + pad_top + pad_bottom, w + pad_left + pad_right, c]. */
odl_status odl_pad_s8(const int8_t *input, const odl_dims *in_dims, int32_t pad_top, int32_t pad_bottom,
                      int32_t pad_left, int32_t pad_right, int32_t pad_value, int8_t *output);

/* Softmax cross-entropy (odl_softmax_cross_entropy_f32) with the label read from *label (a buffer the caller fills). */
odl_status odl_softmax_cross_entropy_f32_label(const float *logits, int32_t n, const int32_t *label, float *loss,
                                               float *dlogits);
/* FP16 variant of odl_softmax_cross_entropy_f32_label (odl_softmax_cross_entropy_f16). */
odl_status odl_softmax_cross_entropy_f16_label(const odl_f16 *logits, int32_t n, const int32_t *label, float *loss,
                                               odl_f16 *dlogits);

/* Bias gradient alone: db[c] = sum over the pixels of dy[p, c] (dy [pixels, out_c]), summed in pixel order. */
odl_status odl_bias_grad_f32(const float *dy, int32_t pixels, int32_t out_c, float *db);
/* FP16 bias gradient: FP32 accumulation in pixel order, one rounding per element. */
odl_status odl_bias_grad_f16(const odl_f16 *dy, int32_t pixels, int32_t out_c, odl_f16 *db);
/* Gradient w.r.t. the stored int32 bias of the selected channels of an int8 layer (train_s8.h conventions):
 * db_q[j] = (w_scale[c] * x_scale) * sum over pixels of dy[p, c], c = channels[j] (NULL: j). dy is real, float. */
odl_status odl_bias_grad_s32_f32(const float *dy, int32_t pixels, int32_t out_c, const float *w_scale, float x_scale,
                                 const int32_t *channels, int32_t count, float *db_q);

/* int8 clamp (a standalone ReLU / ReLU6 whose input and output share quantization): y = min(max(x, lo), hi).
 * y may alias x. */
odl_status odl_clamp_s8(const int8_t *x, int32_t n, int32_t lo, int32_t hi, int8_t *y);

/* int8 conv2d (TFLite ConvPerChannel arithmetic) with an explicit window: win gives stride, dilation, the leading
 * paddings pad_top/pad_left and the output size out_h x out_w (taps outside the input contribute 0). For paddings
 * TFLite's SAME/VALID cannot express (torch's stride 2, padding 1), without copying the input; direct loops.
 * filter OHWI [out_c, kernel_h, kernel_w, in_c]; output [n, out_h, out_w, out_c]. */
odl_status odl_conv2d_s8_forward_window(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                        int32_t out_c, const int32_t *bias, const odl_window *win,
                                        int32_t input_offset, const odl_requant *q, const odl_output_s8 *o,
                                        int8_t *output);
/* int8 depthwise conv2d (TFLite DepthwiseConvPerChannel arithmetic) with an explicit window, as above; filter 1HWC
 * [1, kernel_h, kernel_w, in_c * depth_multiplier]. */
odl_status odl_depthwise_conv2d_s8_forward_window(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                                  int32_t depth_multiplier, const int32_t *bias,
                                                  const odl_window *win, int32_t input_offset, const odl_requant *q,
                                                  const odl_output_s8 *o, int8_t *output);

/* Gather columns: out[p, j] = x[p, channels[j]] for p < pixels (x [pixels, c], out [pixels, count]); FP32. Lets a
 * weight-gradient kernel compute only the selected output channels of a channel-sparse update. */
odl_status odl_gather_channels_f32(const float *x, int32_t pixels, int32_t c, const int32_t *channels, int32_t count,
                                   float *out);
/* FP16 variant of odl_gather_channels_f32. */
odl_status odl_gather_channels_f16(const odl_f16 *x, int32_t pixels, int32_t c, const int32_t *channels,
                                   int32_t count, odl_f16 *out);
/* odl_sgd_f32_update_slice with the gradient PACKED like the momentum buffer: g[j*k + e] belongs to channel
 * channels[j], element e. */
odl_status odl_sgd_f32_update_slice_packed(float *w, const float *g, float *buf, int32_t k, int32_t channel_stride,
                                           int32_t elem_stride, const int32_t *channels, int32_t count,
                                           const float *lr, float momentum, float weight_decay);
/* FP16 variant of odl_sgd_f32_update_slice_packed. */
odl_status odl_sgd_f16_update_slice_packed(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t k,
                                           int32_t channel_stride, int32_t elem_stride, const int32_t *channels,
                                           int32_t count, const float *lr, float momentum, float weight_decay);

#endif /* ODL_TRAIN_STEP_H */
