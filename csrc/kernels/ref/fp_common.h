/* Private helpers of the FP32/FP16 training kernels (fp_*.c). Not part of the public API.
 *
 * Each fp_<op>.c includes its template fp_<op>_impl.h twice, once with FP_T = float / FP_TY = f32 and once with
 * FP_T = odl_f16 / FP_TY = f16. Templates compute in float (FP_ACC) and convert to FP_T once per stored value.
 * (Templates are .h files so the host build's cache digest, which hashes every *.h under csrc/kernels, sees them.)
 */
#ifndef ODL_FP_COMMON_H
#define ODL_FP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "odl/kernels_fp.h"

#define ODL_FP_BLOCK_ROWS 32

#define FP_JOIN2_(a, b) a##_##b
#define FP_JOIN2(a, b) FP_JOIN2_(a, b)
#define FP_JOIN3_(a, b, c) a##_##b##_##c
#define FP_JOIN3(a, b, c) FP_JOIN3_(a, b, c)
/* FP_NAME(odl_conv2d, forward) -> odl_conv2d_f32_forward (or _f16_). */
#define FP_NAME(op, pass) FP_JOIN3(op, FP_TY, pass)
/* odl_matmul_f32 / odl_matmul_f16: the dispatched matmul. */
#define FP_MATMUL FP_JOIN2(odl_matmul, FP_TY)

/* Shape checks shared by conv2d / depthwise: sizes positive, window consistent with the input. */
static inline odl_status odl_fp_check_conv(const odl_conv_f_params *p) {
    if (!p) return ODL_ERR_ARG;
    const odl_window *w = &p->win;
    if (p->in.n <= 0 || p->in.h <= 0 || p->in.w <= 0 || p->in.c <= 0 || p->out_c <= 0) return ODL_ERR_ARG;
    if (w->kernel_h <= 0 || w->kernel_w <= 0 || w->stride_h <= 0 || w->stride_w <= 0 || w->dilation_h <= 0 ||
        w->dilation_w <= 0 || w->out_h <= 0 || w->out_w <= 0 || w->pad_top < 0 || w->pad_left < 0)
        return ODL_ERR_ARG;
    /* Every output pixel's window must start inside or in the leading padding and the last one must not start
     * beyond the input plus the trailing padding TFLite would use: check the window's origin stays in range. */
    const int32_t eff_h = (w->kernel_h - 1) * w->dilation_h + 1, eff_w = (w->kernel_w - 1) * w->dilation_w + 1;
    if (w->pad_top >= eff_h || w->pad_left >= eff_w) return ODL_ERR_SHAPE;
    if ((w->out_h - 1) * w->stride_h - w->pad_top >= p->in.h) return ODL_ERR_SHAPE;
    if ((w->out_w - 1) * w->stride_w - w->pad_left >= p->in.w) return ODL_ERR_SHAPE;
    return ODL_OK;
}

static inline odl_status odl_fp_check_pool(const odl_dims *in, const odl_window *win) {
    if (!in || !win) return ODL_ERR_ARG;
    odl_conv_f_params p;
    p.in = *in;
    p.out_c = in->c;
    p.win = *win;
    odl_status s = odl_fp_check_conv(&p);
    if (s != ODL_OK) return s;
    if (win->dilation_h != 1 || win->dilation_w != 1) return ODL_ERR_UNSUPPORTED;
    return ODL_OK;
}

/* im2col columns K = kh*kw*c, output pixels P = out_h*out_w. */
static inline int32_t odl_fp_conv_k(const odl_conv_f_params *p) {
    return p->win.kernel_h * p->win.kernel_w * p->in.c;
}
static inline int32_t odl_fp_conv_p(const odl_conv_f_params *p) { return p->win.out_h * p->win.out_w; }

/* im2col is the identity (col == x): 1x1 kernel, stride 1, no padding, output the size of the input. */
static inline int odl_fp_conv_identity(const odl_conv_f_params *p) {
    const odl_window *w = &p->win;
    return w->kernel_h == 1 && w->kernel_w == 1 && w->stride_h == 1 && w->stride_w == 1 && w->pad_top == 0 &&
           w->pad_left == 0 && w->out_h == p->in.h && w->out_w == p->in.w;
}

static inline size_t odl_fp_conv_scratch_size(const odl_conv_f_params *p, size_t elem) {
    if (odl_fp_check_conv(p) != ODL_OK || odl_fp_conv_identity(p)) return 0;
    const int32_t P = odl_fp_conv_p(p);
    const int32_t rows = P < ODL_FP_BLOCK_ROWS ? P : ODL_FP_BLOCK_ROWS;
    return (size_t)rows * (size_t)odl_fp_conv_k(p) * elem;
}

/* Rows per block that fit in the scratch (0: not even one row). */
static inline int32_t odl_fp_conv_block_rows(const odl_conv_f_params *p, size_t scratch_bytes, size_t elem) {
    const size_t row = (size_t)odl_fp_conv_k(p) * elem;
    size_t rows = scratch_bytes / row;
    const int32_t P = odl_fp_conv_p(p);
    if (rows > (size_t)P) rows = (size_t)P;
    return (int32_t)rows;
}

static inline int odl_fp_mask_bit(const uint8_t *mask, int32_t i) { return (mask[i >> 3] >> (i & 7)) & 1; }

#endif
