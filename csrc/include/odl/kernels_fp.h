/* odl/kernels_fp.h - FP32 and FP16 training kernels: forward, weight gradient and input gradient of every layer,
 * activations, pools, loss and the SGD update.
 *
 * Design (PULP-TrainLib): a layer is a shape transform plus one matmul of odl/matmul.h, called through the
 * dispatched odl_matmul_f32 / odl_matmul_f16 (so the active code path accelerates every layer):
 *   forward      Y[P,Cout]  = col[P,K] * W[Cout,K]^T      (ODL_MM_NT)
 *   weight grad  dW[Cout,K] = dY[P,Cout]^T * col[P,K]     (ODL_MM_TN)
 *   input grad   dcol[P,K]  = dY[P,Cout] * W[Cout,K]      (ODL_MM_NN), then col2im (scatter-add) into dX
 * with P = out_h*out_w output pixels and K = kernel_h*kernel_w*in_c, im2col columns ordered (kh, kw, c) to match
 * OHWI weights. Activations are NHWC; the batch n may be > 1 (every kernel loops over it; weight and bias
 * gradients are summed over the batch). Depthwise weights are 1HWC. All arrays are contiguous.
 *
 * Scratch (conv2d only): im2col is done in blocks of rows, so scratch is bounded by rows*K elements. The kernels
 * take (scratch, scratch_bytes) and use as many rows per block as fit (at most P); less than one row (K elements)
 * is ODL_ERR_SCRATCH. *_scratch_size() returns the bytes for a block of min(P, ODL_FP_BLOCK_ROWS = 32) rows, or 0
 * when im2col is the identity (1x1 kernel, stride 1, no padding): then no scratch is needed. More scratch means
 * fewer, larger matmuls (and for FP16 weight gradients fewer roundings, see below).
 *
 * Precision. FP32 kernels compute in FP32. FP16 kernels store _Float16 (odl_f16) and ACCUMULATE IN FP32:
 *   - matmul-based outputs (conv2d/pointwise/fully-connected forward, the matmul part of the gradients) go through
 *     odl_matmul_f16: reference and host path accumulate in FP32 and round to FP16 once per output element per
 *     call. Forward bias is pre-loaded into the output, so forward outputs are rounded exactly once.
 *   - conv2d weight grad: rounded once per im2col row block (once in total when the scratch holds all P rows;
 *     each batch image is a separate block).
 *   - conv2d input grad: dcol rounded once, then col2im adds into dX in FP16 (each dX element receives at most
 *     kernel_h*kernel_w additions, each rounded).
 *   - depthwise, avg/global pools, bias gradients, relu, add, softmax-cross-entropy: FP32 accumulation, one
 *     rounding per output element. Max pool backward scatter-adds in FP16 where windows overlap.
 *   - SGD f16: arithmetic in FP32, w and the momentum buffer rounded to FP16 once per step; the _master variant
 *     keeps FP32 master weights and an FP32 momentum buffer and writes the rounded copy to the FP16 weights.
 * Every kernel returns ODL_ERR_ARG for NULL required pointers / non-positive sizes, ODL_ERR_SHAPE when the window
 * does not match the input shape, ODL_ERR_UNSUPPORTED for combinations not implemented (noted per kernel).
 */
#ifndef ODL_KERNELS_FP_H
#define ODL_KERNELS_FP_H

#include "odl/common.h"
#include "odl/matmul.h"

/* Shape of a conv2d / depthwise conv2d: input NHWC, output channels, and the window from odl_conv_geometry()
 * (whose out_h/out_w give the output size). Output is [in.n, win.out_h, win.out_w, out_c]. */
typedef struct {
    odl_dims in;
    int32_t out_c;
    odl_window win;
} odl_conv_f_params;

/* ---------------------------------------------------------------- FP32 ------------------------------------- */

/* im2col rows [row0, row0+rows) of one NHWC image x (in->n ignored) into col[rows, K]; padded taps are 0. */
odl_status odl_im2col_f32(const float *x, const odl_dims *in, const odl_window *win, int32_t row0, int32_t rows,
                          float *col);
/* col2im: scatter-ADD col[rows, K] (rows [row0, row0+rows) of the im2col matrix) into one NHWC image x. */
odl_status odl_col2im_f32(const float *col, const odl_dims *in, const odl_window *win, int32_t row0, int32_t rows,
                          float *x);

/* Scratch bytes recommended for conv2d forward (a block of min(P, 32) im2col rows; 0 if im2col is the identity). */
size_t odl_conv2d_f32_forward_scratch_size(const odl_conv_f_params *p);
/* conv2d forward: y = conv(x, w OHWI) + bias (bias may be NULL). */
odl_status odl_conv2d_f32_forward(const odl_conv_f_params *p, const float *x, const float *w, const float *bias,
                                  float *y, void *scratch, size_t scratch_bytes);
/* Scratch bytes recommended for conv2d weight grad (same rule as forward). */
size_t odl_conv2d_f32_weight_grad_scratch_size(const odl_conv_f_params *p);
/* conv2d weight grad: dw[Cout,kh,kw,Cin] = sum over batch and pixels of dy x im2col(x); db = sum of dy (may be NULL). */
odl_status odl_conv2d_f32_weight_grad(const odl_conv_f_params *p, const float *x, const float *dy, float *dw,
                                      float *db, void *scratch, size_t scratch_bytes);
/* Scratch bytes recommended for conv2d input grad (same rule as forward). */
size_t odl_conv2d_f32_input_grad_scratch_size(const odl_conv_f_params *p);
/* conv2d input grad: dx = col2im(dy x w); dx is overwritten. */
odl_status odl_conv2d_f32_input_grad(const odl_conv_f_params *p, const float *dy, const float *w, float *dx,
                                     void *scratch, size_t scratch_bytes);

/* Depthwise conv2d, depth multiplier 1 only (p->out_c must equal p->in.c, else ODL_ERR_UNSUPPORTED); direct loops.
 * Forward: y[...,c] = sum_taps x * w[0,kh,kw,c] + bias[c] (bias may be NULL). */
odl_status odl_depthwise_conv2d_f32_forward(const odl_conv_f_params *p, const float *x, const float *w,
                                            const float *bias, float *y);
/* Depthwise conv2d weight grad: dw[1,kh,kw,C], db[C] (db may be NULL); both overwritten. */
odl_status odl_depthwise_conv2d_f32_weight_grad(const odl_conv_f_params *p, const float *x, const float *dy,
                                                float *dw, float *db);
/* Depthwise conv2d input grad (gather form, one rounding per element); dx overwritten. */
odl_status odl_depthwise_conv2d_f32_input_grad(const odl_conv_f_params *p, const float *dy, const float *w,
                                               float *dx);

/* Pointwise (1x1, stride 1) conv2d forward over `pixels` NHWC pixels: y[P,Cout] = x[P,Cin] w[Cout,Cin]^T + bias. */
odl_status odl_pointwise_conv2d_f32_forward(const float *x, const float *w, const float *bias, float *y,
                                            int32_t pixels, int32_t in_c, int32_t out_c);
/* Pointwise conv2d weight grad: dw[Cout,Cin] = dy^T x, db = column sums of dy (may be NULL). */
odl_status odl_pointwise_conv2d_f32_weight_grad(const float *x, const float *dy, float *dw, float *db, int32_t pixels,
                                                int32_t in_c, int32_t out_c);
/* Pointwise conv2d input grad: dx[P,Cin] = dy w. */
odl_status odl_pointwise_conv2d_f32_input_grad(const float *dy, const float *w, float *dx, int32_t pixels,
                                               int32_t in_c, int32_t out_c);

/* Fully connected forward (TFLite weights [out, in]): y[B,out] = x[B,in] w^T + bias (bias may be NULL). */
odl_status odl_fully_connected_f32_forward(const float *x, const float *w, const float *bias, float *y, int32_t batch,
                                           int32_t in_n, int32_t out_n);
/* Fully connected weight grad: dw[out,in] = dy^T x, db = sum over batch of dy (may be NULL). */
odl_status odl_fully_connected_f32_weight_grad(const float *x, const float *dy, float *dw, float *db, int32_t batch,
                                               int32_t in_n, int32_t out_n);
/* Fully connected input grad: dx[B,in] = dy w. */
odl_status odl_fully_connected_f32_input_grad(const float *dy, const float *w, float *dx, int32_t batch, int32_t in_n,
                                              int32_t out_n);

/* ReLU forward: y = max(x, 0) (y may alias x). */
odl_status odl_relu_f32_forward(const float *x, float *y, int32_t n);
/* ReLU backward from the forward OUTPUT y: dx = dy where y > 0, else 0 (dx may alias dy). */
odl_status odl_relu_f32_backward(const float *y, const float *dy, float *dx, int32_t n);
/* ReLU6 forward: y = min(max(x, 0), 6). */
odl_status odl_relu6_f32_forward(const float *x, float *y, int32_t n);
/* ReLU6 backward from the forward output y: dx = dy where 0 < y < 6, else 0. */
odl_status odl_relu6_f32_backward(const float *y, const float *dy, float *dx, int32_t n);
/* Bytes of a packed 1-bit relu mask for n elements: (n + 7) / 8. */
int32_t odl_relu_mask_size(int32_t n);
/* odl_relu_mask_pack, fused with the forward: y = relu(x) and mask bit i (byte i/8, bit i%8, LSB first) = x[i] > 0. */
odl_status odl_relu_f32_forward_mask(const float *x, float *y, uint8_t *mask, int32_t n);
/* relu6 forward with mask packing: mask bit = 0 < x < 6. */
odl_status odl_relu6_f32_forward_mask(const float *x, float *y, uint8_t *mask, int32_t n);
/* Backward of relu/relu6 from the packed mask only: dx = dy where the bit is set, else 0. */
odl_status odl_relu_mask_f32_backward(const uint8_t *mask, const float *dy, float *dx, int32_t n);

/* Average pool forward (TFLite: divides by the number of in-bounds taps; dilation must be 1). */
odl_status odl_avg_pool2d_f32_forward(const odl_dims *in, const odl_window *win, const float *x, float *y);
/* Average pool backward: dx overwritten with each dy spread evenly over its in-bounds taps. */
odl_status odl_avg_pool2d_f32_backward(const odl_dims *in, const odl_window *win, const float *dy, float *dx);
/* Max pool forward (padded taps ignored; dilation must be 1). */
odl_status odl_max_pool2d_f32_forward(const odl_dims *in, const odl_window *win, const float *x, float *y);
/* Max pool backward: dy goes to the first maximal tap of each window (recomputed from x); dx overwritten. */
odl_status odl_max_pool2d_f32_backward(const odl_dims *in, const odl_window *win, const float *x, const float *dy,
                                       float *dx);
/* Global average pool forward: y[n, c] = mean over h, w of x[n, h, w, c]. */
odl_status odl_global_avg_pool_f32_forward(const odl_dims *in, const float *x, float *y);
/* Global average pool backward: dx[n, h, w, c] = dy[n, c] / (h*w). */
odl_status odl_global_avg_pool_f32_backward(const odl_dims *in, const float *dy, float *dx);

/* Elementwise add forward: y = a + b. */
odl_status odl_add_f32_forward(const float *a, const float *b, float *y, int32_t n);
/* Elementwise add backward: da = dy, db = dy (either may be NULL). */
odl_status odl_add_f32_backward(const float *dy, float *da, float *db, int32_t n);

/* Softmax + cross-entropy of one sample (log-sum-exp): *loss = -log softmax(logits)[label];
 * dlogits = softmax(logits) - onehot(label) (may be NULL). label outside [0, n) is ODL_ERR_ARG. */
odl_status odl_softmax_cross_entropy_f32(const float *logits, int32_t n, int32_t label, float *loss, float *dlogits);

/* SGD step, torch.optim.SGD semantics (dampening 0, no nesterov), in place:
 * d = g + weight_decay*w; buf = momentum*buf + d (buf starts at zero); w -= lr*buf. buf may be NULL iff momentum == 0. */
odl_status odl_sgd_f32_update(float *w, const float *g, float *buf, int32_t n, float lr, float momentum,
                              float weight_decay);

/* ---------------------------------------------------------------- FP16 -------------------------------------
 * Same semantics and argument order as the FP32 kernels above; storage odl_f16, accumulation as stated at the top
 * of this header. Scratch sizes are in bytes (elements are 2 bytes). */

/* im2col (FP16) of rows [row0, row0+rows). */
odl_status odl_im2col_f16(const odl_f16 *x, const odl_dims *in, const odl_window *win, int32_t row0, int32_t rows,
                          odl_f16 *col);
/* col2im (FP16), scatter-add; each addition rounded to FP16. */
odl_status odl_col2im_f16(const odl_f16 *col, const odl_dims *in, const odl_window *win, int32_t row0, int32_t rows,
                          odl_f16 *x);
/* Scratch bytes recommended for FP16 conv2d forward. */
size_t odl_conv2d_f16_forward_scratch_size(const odl_conv_f_params *p);
/* conv2d forward (FP16 storage, FP32 accumulation, one rounding per output). */
odl_status odl_conv2d_f16_forward(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w, const odl_f16 *bias,
                                  odl_f16 *y, void *scratch, size_t scratch_bytes);
/* Scratch bytes recommended for FP16 conv2d weight grad. */
size_t odl_conv2d_f16_weight_grad_scratch_size(const odl_conv_f_params *p);
/* conv2d weight grad (FP16; FP32 accumulation within a row block, one rounding per block; db one rounding). */
odl_status odl_conv2d_f16_weight_grad(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *dy, odl_f16 *dw,
                                      odl_f16 *db, void *scratch, size_t scratch_bytes);
/* Scratch bytes recommended for FP16 conv2d input grad. */
size_t odl_conv2d_f16_input_grad_scratch_size(const odl_conv_f_params *p);
/* conv2d input grad (FP16; dcol with FP32 accumulation, col2im additions rounded to FP16). */
odl_status odl_conv2d_f16_input_grad(const odl_conv_f_params *p, const odl_f16 *dy, const odl_f16 *w, odl_f16 *dx,
                                     void *scratch, size_t scratch_bytes);
/* Depthwise conv2d forward (FP16, multiplier 1, FP32 accumulation). */
odl_status odl_depthwise_conv2d_f16_forward(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w,
                                            const odl_f16 *bias, odl_f16 *y);
/* Depthwise conv2d weight grad (FP16, FP32 accumulation). */
odl_status odl_depthwise_conv2d_f16_weight_grad(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *dy,
                                                odl_f16 *dw, odl_f16 *db);
/* Depthwise conv2d input grad (FP16, FP32 accumulation). */
odl_status odl_depthwise_conv2d_f16_input_grad(const odl_conv_f_params *p, const odl_f16 *dy, const odl_f16 *w,
                                               odl_f16 *dx);
/* Pointwise conv2d forward (FP16). */
odl_status odl_pointwise_conv2d_f16_forward(const odl_f16 *x, const odl_f16 *w, const odl_f16 *bias, odl_f16 *y,
                                            int32_t pixels, int32_t in_c, int32_t out_c);
/* Pointwise conv2d weight grad (FP16). */
odl_status odl_pointwise_conv2d_f16_weight_grad(const odl_f16 *x, const odl_f16 *dy, odl_f16 *dw, odl_f16 *db,
                                                int32_t pixels, int32_t in_c, int32_t out_c);
/* Pointwise conv2d input grad (FP16). */
odl_status odl_pointwise_conv2d_f16_input_grad(const odl_f16 *dy, const odl_f16 *w, odl_f16 *dx, int32_t pixels,
                                               int32_t in_c, int32_t out_c);
/* Fully connected forward (FP16). */
odl_status odl_fully_connected_f16_forward(const odl_f16 *x, const odl_f16 *w, const odl_f16 *bias, odl_f16 *y,
                                           int32_t batch, int32_t in_n, int32_t out_n);
/* Fully connected weight grad (FP16). */
odl_status odl_fully_connected_f16_weight_grad(const odl_f16 *x, const odl_f16 *dy, odl_f16 *dw, odl_f16 *db,
                                               int32_t batch, int32_t in_n, int32_t out_n);
/* Fully connected input grad (FP16). */
odl_status odl_fully_connected_f16_input_grad(const odl_f16 *dy, const odl_f16 *w, odl_f16 *dx, int32_t batch,
                                              int32_t in_n, int32_t out_n);
/* ReLU forward (FP16). */
odl_status odl_relu_f16_forward(const odl_f16 *x, odl_f16 *y, int32_t n);
/* ReLU backward from the forward output (FP16). */
odl_status odl_relu_f16_backward(const odl_f16 *y, const odl_f16 *dy, odl_f16 *dx, int32_t n);
/* ReLU6 forward (FP16). */
odl_status odl_relu6_f16_forward(const odl_f16 *x, odl_f16 *y, int32_t n);
/* ReLU6 backward from the forward output (FP16). */
odl_status odl_relu6_f16_backward(const odl_f16 *y, const odl_f16 *dy, odl_f16 *dx, int32_t n);
/* ReLU forward with 1-bit mask packing (FP16). */
odl_status odl_relu_f16_forward_mask(const odl_f16 *x, odl_f16 *y, uint8_t *mask, int32_t n);
/* ReLU6 forward with 1-bit mask packing (FP16). */
odl_status odl_relu6_f16_forward_mask(const odl_f16 *x, odl_f16 *y, uint8_t *mask, int32_t n);
/* relu/relu6 backward from the packed mask (FP16). */
odl_status odl_relu_mask_f16_backward(const uint8_t *mask, const odl_f16 *dy, odl_f16 *dx, int32_t n);
/* Average pool forward (FP16). */
odl_status odl_avg_pool2d_f16_forward(const odl_dims *in, const odl_window *win, const odl_f16 *x, odl_f16 *y);
/* Average pool backward (FP16; each dx element rounded once). */
odl_status odl_avg_pool2d_f16_backward(const odl_dims *in, const odl_window *win, const odl_f16 *dy, odl_f16 *dx);
/* Max pool forward (FP16). */
odl_status odl_max_pool2d_f16_forward(const odl_dims *in, const odl_window *win, const odl_f16 *x, odl_f16 *y);
/* Max pool backward (FP16; overlapping windows add in FP16). */
odl_status odl_max_pool2d_f16_backward(const odl_dims *in, const odl_window *win, const odl_f16 *x, const odl_f16 *dy,
                                       odl_f16 *dx);
/* Global average pool forward (FP16). */
odl_status odl_global_avg_pool_f16_forward(const odl_dims *in, const odl_f16 *x, odl_f16 *y);
/* Global average pool backward (FP16). */
odl_status odl_global_avg_pool_f16_backward(const odl_dims *in, const odl_f16 *dy, odl_f16 *dx);
/* Elementwise add forward (FP16). */
odl_status odl_add_f16_forward(const odl_f16 *a, const odl_f16 *b, odl_f16 *y, int32_t n);
/* Elementwise add backward (FP16). */
odl_status odl_add_f16_backward(const odl_f16 *dy, odl_f16 *da, odl_f16 *db, int32_t n);
/* Softmax + cross-entropy of one sample (FP16 logits and gradient, FP32 arithmetic and loss). */
odl_status odl_softmax_cross_entropy_f16(const odl_f16 *logits, int32_t n, int32_t label, float *loss,
                                         odl_f16 *dlogits);
/* SGD step on FP16 weights with an FP16 momentum buffer (FP32 arithmetic, one rounding per stored value). */
odl_status odl_sgd_f16_update(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t n, float lr, float momentum,
                              float weight_decay);
/* SGD step with an FP32 master copy: master (FP32) and buf (FP32) are updated, then w = (odl_f16)master. */
odl_status odl_sgd_f16_update_master(odl_f16 *w, float *master, const odl_f16 *g, float *buf, int32_t n, float lr,
                                     float momentum, float weight_decay);

#endif /* ODL_KERNELS_FP_H */
