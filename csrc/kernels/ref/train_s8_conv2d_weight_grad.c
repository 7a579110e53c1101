/* odl_conv2d_s8_weight_grad_f32: gradient w.r.t. the int8 weights (and int32 bias) of selected output channels,
 * blocked im2col of the int8 input + matmul TN (dY_selected^T x columns). */
#include "internal/odl_math.h"
#include "odl/matmul.h"
#include "odl/train_s8.h"

/* Output-pixel rows per im2col block in the fastest blocking. */
#define ODL_S8_GRAD_ROWS 32

static int geometry_ok(const odl_dims *in, const odl_window *win, int32_t count) {
    return in && win && in->n == 1 && in->h > 0 && in->w > 0 && in->c > 0 && count > 0 && win->kernel_h > 0 &&
           win->kernel_w > 0 && win->stride_h > 0 && win->stride_w > 0 && win->dilation_h > 0 &&
           win->dilation_w > 0 && win->pad_top >= 0 && win->pad_left >= 0 && win->out_h > 0 && win->out_w > 0;
}

size_t odl_conv2d_s8_weight_grad_f32_scratch_size(const odl_dims *in, const odl_window *win, int32_t count) {
    if (!geometry_ok(in, win, count)) return 0;
    const size_t k = (size_t)win->kernel_h * win->kernel_w * in->c;
    const size_t p = (size_t)win->out_h * win->out_w;
    const size_t rows = p < ODL_S8_GRAD_ROWS ? p : ODL_S8_GRAD_ROWS;
    return rows * ((size_t)count + k) * sizeof(float);
}

size_t odl_conv2d_s8_weight_grad_f32_scratch_size_min(const odl_dims *in, const odl_window *win, int32_t count) {
    if (!geometry_ok(in, win, count)) return 0;
    return ((size_t)count + (size_t)win->kernel_h * win->kernel_w * in->c) * sizeof(float);
}

odl_status odl_conv2d_s8_weight_grad_f32(const float *dy, int32_t out_c, const int8_t *x_q, float x_scale,
                                         int32_t x_zero_point, const odl_dims *in, const odl_window *win,
                                         const float *w_scale, const int32_t *channels, int32_t count, float *dw_q,
                                         float *db_q, void *scratch, size_t scratch_size) {
    if (!dy || !x_q || !w_scale || !dw_q || out_c <= 0 || count > out_c || !geometry_ok(in, win, count))
        return ODL_ERR_ARG;
    if (channels)
        for (int32_t j = 0; j < count; ++j)
            if (channels[j] < 0 || channels[j] >= out_c) return ODL_ERR_ARG;
    if (!scratch || scratch_size < odl_conv2d_s8_weight_grad_f32_scratch_size_min(in, win, count))
        return ODL_ERR_SCRATCH;
    const int32_t cin = in->c;
    const size_t K = (size_t)win->kernel_h * win->kernel_w * cin;
    const size_t P = (size_t)win->out_h * win->out_w;
    size_t rows = (scratch_size / sizeof(float)) / ((size_t)count + K);
    if (rows > P) rows = P;
    float *dsel = (float *)scratch;          /* [rows, count]: the selected columns of dY */
    float *cols = dsel + rows * (size_t)count; /* [rows, K]: im2col of (x_q - zp), zero where padded */

    for (size_t r0 = 0; r0 < P; r0 += rows) {
        const size_t nr = P - r0 < rows ? P - r0 : rows;
        for (size_t i = 0; i < nr; ++i) {
            const size_t p = r0 + i;
            for (int32_t j = 0; j < count; ++j) dsel[i * count + j] = dy[p * out_c + (channels ? channels[j] : j)];
            const int32_t oh = (int32_t)(p / win->out_w), ow = (int32_t)(p % win->out_w);
            const int32_t h0 = oh * win->stride_h - win->pad_top, w0 = ow * win->stride_w - win->pad_left;
            float *col = cols + i * K;
            for (int32_t ky = 0; ky < win->kernel_h; ++ky) {
                const int32_t ih = h0 + ky * win->dilation_h;
                for (int32_t kx = 0; kx < win->kernel_w; ++kx) {
                    const int32_t iw = w0 + kx * win->dilation_w;
                    float *dst = col + ((size_t)ky * win->kernel_w + kx) * cin;
                    if (ih >= 0 && ih < in->h && iw >= 0 && iw < in->w) {
                        const int8_t *src = x_q + ((size_t)ih * in->w + iw) * cin;
                        for (int32_t c = 0; c < cin; ++c) dst[c] = (float)((int32_t)src[c] - x_zero_point);
                    } else {
                        for (int32_t c = 0; c < cin; ++c) dst[c] = 0.0f; /* padding holds the real value 0 */
                    }
                }
            }
        }
        odl_status st = odl_matmul_f32(ODL_MM_TN, dsel, cols, dw_q, count, (int32_t)K, (int32_t)nr, r0 > 0);
        if (st != ODL_OK) return st;
    }
    /* dL/dW_q = s_w * dL/dW = s_w * s_x * sum dY (x_q - zp);  dL/db_q = s_w * s_x * sum dY. */
    for (int32_t j = 0; j < count; ++j) {
        const int32_t c = channels ? channels[j] : j;
        const float s = w_scale[c] * x_scale;
        for (size_t e = 0; e < K; ++e) dw_q[j * K + e] *= s;
        if (db_q) {
            float acc = 0.0f;
            for (size_t p = 0; p < P; ++p) acc += dy[p * out_c + c];
            db_q[j] = acc * s;
        }
    }
    return ODL_OK;
}
