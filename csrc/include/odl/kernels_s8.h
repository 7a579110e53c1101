/* odl/kernels_s8.h - int8 inference kernels with TFLite / TFLite Micro reference_integer_ops arithmetic, bit-exact.
 *
 * Layouts: activations NHWC, conv weights OHWI, depthwise weights 1HWC (C = in_c * depth_multiplier), fully
 * connected weights [N, K]. Requantization is TFLite's MultiplyByQuantizedMultiplier (double rounding by default,
 * single rounding when the library is built with ODL_SINGLE_ROUNDING). Offsets follow TFLite's convention:
 * input_offset = -input_zero_point is added to every input value, output_offset = output_zero_point is added after
 * requantization, then the result is clamped to [act_min, act_max] (the fused activation).
 * Every kernel returns ODL_ERR_ARG for null pointers / non-positive sizes / act_min > act_max or a clamp outside
 * int8, ODL_ERR_SHAPE for shapes that disagree, ODL_ERR_SCRATCH for a missing or too small scratch buffer.
 */
#ifndef ODL_KERNELS_S8_H
#define ODL_KERNELS_S8_H

#include "odl/common.h"
#include "odl/quant.h"

/* Window and input side of an int8 convolution (conv2d, depthwise, im2col). */
typedef struct {
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    odl_padding padding;  /* TFLite SAME / VALID; leading padding from odl_conv_geometry() */
    int32_t input_offset; /* -input zero point, in [-127, 128] */
} odl_conv_s8_params;

/* Window of an int8 pooling op (no dilation, TFLite semantics). */
typedef struct {
    int32_t pool_h, pool_w;
    int32_t stride_h, stride_w;
    odl_padding padding;
    int32_t act_min, act_max; /* clamp in the int8 domain */
} odl_pool_s8_params;

/* TFLite int8 ADD parameters (see toolkit.quant.params.add_params): inputs are offset, shifted left by
 * left_shift (20 for int8), scaled by their multipliers (shifts <= 0), summed, scaled to the output. */
typedef struct {
    int32_t input1_offset, input2_offset; /* -zero points */
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_offset; /* output zero point */
    int32_t act_min, act_max;
} odl_add_s8_params;

/* TFLite Micro int8 MEAN over H and W (keepdims). multiplier/shift = QuantizeMultiplier(in_scale / out_scale).
 * Current TFLM (the tflite-micro release the tests run) computes every int8 MEAN with QuantizedMeanOrSum: the int32
 * sum minus in_zp * count, 1/count folded into the multiplier (shift by floor(log2(count)), at most 32 and at most
 * 31 + shift), MultiplyByQuantizedMultiplier, + out_zp, clamp -- also when input and output quantization are equal.
 * Older TFLM releases took a separate path for equal quantization: sum / count with C integer division
 * (truncation); set truncating_mean = 1 to get that one. */
typedef struct {
    int32_t input_zp, output_zp;
    int32_t multiplier, shift;
    int32_t truncating_mean;
} odl_mean_s8_params;

/* Bytes needed for `rows` im2col rows (output pixels) of a kernel_h x kernel_w x in_c window (0 for bad sizes). */
int32_t odl_im2col_s8_scratch_size(int32_t rows, int32_t kernel_h, int32_t kernel_w, int32_t in_c);

/* im2col of one image: output pixels [row_start, row_start + row_count) (row-major over out_h x out_w) become rows
 * of kernel_h*kernel_w*in_c int8 values (HWC order, OHWI-compatible); taps in the padding hold the input zero point
 * (-input_offset), so they contribute 0 once input_offset is added. `rows_bytes` is the size of `rows`. */
odl_status odl_im2col_s8(const int8_t *input, const odl_dims *in_dims, int32_t kernel_h, int32_t kernel_w,
                         const odl_conv_s8_params *p, int32_t row_start, int32_t row_count, int8_t *rows,
                         int32_t rows_bytes);

/* Scratch bytes of odl_conv2d_s8_forward for im2col blocks of `block_rows` output pixels:
 * block_rows * kernel_h * kernel_w * in_c. Any scratch holding at least one row works; the kernel processes
 * scratch_bytes / (kernel_h * kernel_w * in_c) output pixels per matmul call. */
int32_t odl_conv2d_s8_scratch_size(int32_t block_rows, int32_t kernel_h, int32_t kernel_w, int32_t in_c);

/* int8 conv2d (TFLite ConvPerChannel): im2col in row blocks + odl_matmul_s8, per-channel requantization.
 * filter OHWI [out_c, kernel_h, kernel_w, in_c]; bias int32 [out_c] or NULL; out_dims must match the geometry. */
odl_status odl_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter, int32_t out_c,
                                 int32_t kernel_h, int32_t kernel_w, const int32_t *bias, const odl_conv_s8_params *p,
                                 const odl_requant *q, const odl_output_s8 *o, const odl_dims *out_dims,
                                 int8_t *output, int8_t *scratch, int32_t scratch_bytes);

/* int8 depthwise conv2d (TFLite DepthwiseConvPerChannel): filter 1HWC [1, kernel_h, kernel_w, in_c * mult],
 * output channel c*mult + m reads input channel c. */
odl_status odl_depthwise_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                           int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                           const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                                           const odl_output_s8 *o, const odl_dims *out_dims, int8_t *output);

/* int8 1x1 conv, stride 1: one matmul of the [N*H*W, in_c] input by filter [out_c, in_c]; no scratch. */
odl_status odl_pointwise_conv2d_s8_forward(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                           int32_t out_c, const int32_t *bias, int32_t input_offset,
                                           const odl_requant *q, const odl_output_s8 *o, int8_t *output);

/* int8 fully connected (TFLite FullyConnected / FullyConnectedPerChannel, symmetric weights): input [batch, k],
 * filter [n, k], output [batch, n]; q->per_channel selects per-tensor or per-channel requantization. */
odl_status odl_fully_connected_s8_forward(const int8_t *input, const int8_t *filter, const int32_t *bias,
                                          int32_t batch, int32_t n, int32_t k, int32_t input_offset,
                                          const odl_requant *q, const odl_output_s8 *o, int8_t *output);

/* int8 elementwise ADD of two same-shape tensors (TFLite reference_integer_ops::Add). */
odl_status odl_add_s8(const int8_t *a, const int8_t *b, int32_t size, const odl_add_s8_params *p, int8_t *out);

/* int8 average pool (TFLite AveragePool): mean of the valid taps only, rounded half away from zero. */
odl_status odl_avg_pool_s8(const int8_t *input, const odl_dims *in_dims, const odl_pool_s8_params *p,
                           const odl_dims *out_dims, int8_t *output);

/* int8 max pool (TFLite MaxPool) over the valid taps, then clamped. */
odl_status odl_max_pool_s8(const int8_t *input, const odl_dims *in_dims, const odl_pool_s8_params *p,
                           const odl_dims *out_dims, int8_t *output);

/* int8 global mean over H and W with keepdims (TFLite Micro MEAN): output [N, 1, 1, C]. */
odl_status odl_mean_s8(const int8_t *input, const odl_dims *in_dims, const odl_mean_s8_params *p, int8_t *output);

/* int8 -> int8 rescale (TFLite QUANTIZE op, reference_ops::Requantize): out = clamp(mbqm(x - in_zp) + out_zp). */
odl_status odl_requantize_s8(const int8_t *input, int32_t size, int32_t input_zp, int32_t output_zp,
                             int32_t multiplier, int32_t shift, int8_t *output);

/* Variant of the host path's int8 matmul (csrc/kernels/simd/host/matmul_s8_host.c), for tests and benchmarks:
 * 1 = portable vector extensions, 2 = x86-64 AVX-512 VNNI, 0 = the best one for this CPU, < 0 = just query.
 * Returns the variant now in effect, or ODL_ERR_UNSUPPORTED (CPU lacks it, or no host path in this build). */
int32_t odl_matmul_s8_host_variant(int32_t variant);

#endif /* ODL_KERNELS_S8_H */
