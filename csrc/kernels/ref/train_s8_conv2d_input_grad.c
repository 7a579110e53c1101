/* odl_conv2d_s8_input_grad_f32: dX of an int8 conv2d in FP32, blocked matmul NN (dY x dequantized W) + col2im. */
#include "internal/odl_math.h"
#include "odl/matmul.h"
#include "odl/train_s8.h"

/* Output-pixel rows per block in the fastest blocking (bounded so the scratch stays small on a board). */
#define ODL_S8_GRAD_ROWS 32

static int geometry_ok(const odl_dims *in, int32_t out_c, const odl_window *win) {
    return in && win && in->n == 1 && in->h > 0 && in->w > 0 && in->c > 0 && out_c > 0 && win->kernel_h > 0 &&
           win->kernel_w > 0 && win->stride_h > 0 && win->stride_w > 0 && win->dilation_h > 0 &&
           win->dilation_w > 0 && win->pad_top >= 0 && win->pad_left >= 0 && win->out_h > 0 && win->out_w > 0;
}

size_t odl_conv2d_s8_input_grad_f32_scratch_size(const odl_dims *in, int32_t out_c, const odl_window *win) {
    if (!geometry_ok(in, out_c, win)) return 0;
    const size_t k = (size_t)win->kernel_h * win->kernel_w * in->c;
    const size_t p = (size_t)win->out_h * win->out_w;
    const size_t rows = p < ODL_S8_GRAD_ROWS ? p : ODL_S8_GRAD_ROWS;
    return ((size_t)out_c + rows) * k * sizeof(float);
}

size_t odl_conv2d_s8_input_grad_f32_scratch_size_min(const odl_dims *in, int32_t out_c, const odl_window *win) {
    if (!geometry_ok(in, out_c, win)) return 0;
    return ((size_t)out_c + 1) * sizeof(float);
}

odl_status odl_conv2d_s8_input_grad_f32(const float *dy, const int8_t *w_q, const float *w_scale, int32_t out_c,
                                        const odl_dims *in, const odl_window *win, float *dx, void *scratch,
                                        size_t scratch_size) {
    if (!dy || !w_q || !w_scale || !dx || !geometry_ok(in, out_c, win)) return ODL_ERR_ARG;
    if (!scratch || scratch_size < odl_conv2d_s8_input_grad_f32_scratch_size_min(in, out_c, win))
        return ODL_ERR_SCRATCH;
    const int32_t cin = in->c, kw_ = win->kernel_w;
    const size_t K = (size_t)win->kernel_h * kw_ * cin;
    const size_t P = (size_t)win->out_h * win->out_w;
    const size_t S = scratch_size / sizeof(float);

    /* Blocking: kb columns of the dequantized weights [out_c, kb] plus a [rows, kb] block of dX columns. */
    size_t rows = P < ODL_S8_GRAD_ROWS ? P : ODL_S8_GRAD_ROWS;
    size_t kb = S / ((size_t)out_c + rows);
    if (kb < 1) {
        rows = 1;
        kb = S / ((size_t)out_c + 1);
    }
    if (kb > K) kb = K;
    rows = (S - (size_t)out_c * kb) / kb;
    if (rows > P) rows = P;
    float *wblk = (float *)scratch;
    float *cblk = wblk + (size_t)out_c * kb;
    const int whole_w = kb == K; /* weights dequantized once */

    for (size_t i = 0; i < (size_t)in->h * in->w * cin; ++i) dx[i] = 0.0f;
    if (whole_w) {
        for (int32_t co = 0; co < out_c; ++co)
            for (size_t e = 0; e < K; ++e) wblk[co * K + e] = (float)w_q[co * K + e] * w_scale[co];
    }
    for (size_t r0 = 0; r0 < P; r0 += rows) {
        const size_t nr = P - r0 < rows ? P - r0 : rows;
        for (size_t k0 = 0; k0 < K; k0 += kb) {
            const size_t nk = K - k0 < kb ? K - k0 : kb;
            if (!whole_w) {
                for (int32_t co = 0; co < out_c; ++co)
                    for (size_t e = 0; e < nk; ++e) wblk[co * nk + e] = (float)w_q[co * K + k0 + e] * w_scale[co];
            }
            odl_status st = odl_matmul_f32(ODL_MM_NN, dy + r0 * out_c, wblk, cblk, (int32_t)nr, (int32_t)nk,
                                           out_c, 0);
            if (st != ODL_OK) return st;
            /* col2im: add column (kh, kw, ci) of output pixel p to dX[ih, iw, ci]. */
            for (size_t i = 0; i < nr; ++i) {
                const int32_t p = (int32_t)(r0 + i);
                const int32_t oh = p / win->out_w, ow = p % win->out_w;
                const int32_t h0 = oh * win->stride_h - win->pad_top, w0 = ow * win->stride_w - win->pad_left;
                int32_t ci = (int32_t)(k0 % cin), kx = (int32_t)((k0 / cin) % kw_), ky = (int32_t)(k0 / cin / kw_);
                const float *crow = cblk + i * nk;
                for (size_t e = 0; e < nk; ++e) {
                    const int32_t ih = h0 + ky * win->dilation_h, iw = w0 + kx * win->dilation_w;
                    if (ih >= 0 && ih < in->h && iw >= 0 && iw < in->w)
                        dx[((size_t)ih * in->w + iw) * cin + ci] += crow[e];
                    if (++ci == cin) {
                        ci = 0;
                        if (++kx == kw_) {
                            kx = 0;
                            ++ky;
                        }
                    }
                }
            }
        }
    }
    return ODL_OK;
}
