/* Helium (MVE) overrides of the FP16 depthwise conv2d kernels (depth multiplier 1; the public kernels have already
 * checked the arguments). Vectors run along channels, 8 FP16 lanes; channel tails use predicated loads / stores.
 *
 *   forward, input_grad: FP16 lanes (VFMA.F16), one window of at most kernel_h * kernel_w taps per output, so the
 *     error is at most about (taps + 1) * 2^-11 * sum |x w| (reference: FP32 accumulation, one rounding).
 *   weight_grad (dw, db): sums over every output pixel, so they accumulate in FP32: runs of up to 8 pixels are
 *     summed in FP16 lanes (VFMA.F16), then the even / odd lanes are widened (VCVTB / VCVTT, exact) and added into
 *     two FP32 accumulators, narrowed once at the end. Error about (8 + 2) * 2^-11 * sum |x dy| (db: exact FP16
 *     values summed in FP32).
 * The input gradient is the reference's gather form: for each input pixel, the valid (kh, oh) and (kw, ow) pairs are
 * listed once, then every channel block sums over them.
 */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>

#include "mve_cvt.h"
#include "odl/kernels_fp.h"

#define ODL_H(p) ((const float16_t *)(p))

odl_status odl_depthwise_conv2d_f16_forward_mve(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w,
                                                const odl_f16 *bias, odl_f16 *y) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t n = 0; n < p->in.n; ++n) {
        const odl_f16 *xi = x + (size_t)n * H * W * C;
        for (int32_t oh = 0; oh < win->out_h; ++oh) {
            const int32_t y0 = oh * win->stride_h - win->pad_top;
            int32_t kh0 = 0, kh1 = win->kernel_h;
            while (kh0 < kh1 && y0 + kh0 * win->dilation_h < 0) ++kh0;
            while (kh1 > kh0 && y0 + (kh1 - 1) * win->dilation_h >= H) --kh1;
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                const int32_t x0 = ow * win->stride_w - win->pad_left;
                int32_t kw0 = 0, kw1 = win->kernel_w;
                while (kw0 < kw1 && x0 + kw0 * win->dilation_w < 0) ++kw0;
                while (kw1 > kw0 && x0 + (kw1 - 1) * win->dilation_w >= W) --kw1;
                odl_f16 *yo = y + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C;
                const int32_t xstep = win->dilation_w * C;
                int32_t c = 0;
                for (; c + 32 <= C; c += 32) { /* 32 channels per tap: one pointer update for 4 vectors */
                    const float16x8_t z = vdupq_n_f16(0);
                    float16x8_t a0 = bias ? vld1q_f16(ODL_H(bias + c)) : z;
                    float16x8_t a1 = bias ? vld1q_f16(ODL_H(bias + c + 8)) : z;
                    float16x8_t a2 = bias ? vld1q_f16(ODL_H(bias + c + 16)) : z;
                    float16x8_t a3 = bias ? vld1q_f16(ODL_H(bias + c + 24)) : z;
                    for (int32_t kh = kh0; kh < kh1; ++kh) {
                        const odl_f16 *xp =
                            xi + ((size_t)(y0 + kh * win->dilation_h) * W + x0 + kw0 * win->dilation_w) * C + c;
                        const odl_f16 *wp = w + ((size_t)kh * win->kernel_w + kw0) * C + c;
                        for (int32_t kw = kw0; kw < kw1; ++kw, xp += xstep, wp += C) {
                            a0 = vfmaq_f16(a0, vld1q_f16(ODL_H(xp)), vld1q_f16(ODL_H(wp)));
                            a1 = vfmaq_f16(a1, vld1q_f16(ODL_H(xp + 8)), vld1q_f16(ODL_H(wp + 8)));
                            a2 = vfmaq_f16(a2, vld1q_f16(ODL_H(xp + 16)), vld1q_f16(ODL_H(wp + 16)));
                            a3 = vfmaq_f16(a3, vld1q_f16(ODL_H(xp + 24)), vld1q_f16(ODL_H(wp + 24)));
                        }
                    }
                    vst1q_f16((float16_t *)(yo + c), a0), vst1q_f16((float16_t *)(yo + c + 8), a1);
                    vst1q_f16((float16_t *)(yo + c + 16), a2), vst1q_f16((float16_t *)(yo + c + 24), a3);
                }
                for (; c < C; c += 8) {
                    const mve_pred16_t pr = vctp16q((uint32_t)(C - c));
                    float16x8_t acc = bias ? vldrhq_z_f16(ODL_H(bias + c), pr) : vdupq_n_f16(0);
                    for (int32_t kh = kh0; kh < kh1; ++kh) {
                        const odl_f16 *xp =
                            xi + ((size_t)(y0 + kh * win->dilation_h) * W + x0 + kw0 * win->dilation_w) * C + c;
                        const odl_f16 *wp = w + ((size_t)kh * win->kernel_w + kw0) * C + c;
                        if (C - c >= 8) {
                            for (int32_t kw = kw0; kw < kw1; ++kw, xp += xstep, wp += C)
                                acc = vfmaq_f16(acc, vld1q_f16(ODL_H(xp)), vld1q_f16(ODL_H(wp)));
                        } else {
                            for (int32_t kw = kw0; kw < kw1; ++kw, xp += xstep, wp += C)
                                acc = vfmaq_f16(acc, vldrhq_z_f16(ODL_H(xp), pr), vldrhq_z_f16(ODL_H(wp), pr));
                        }
                    }
                    vstrhq_p_f16((float16_t *)(yo + c), acc, pr);
                }
            }
        }
    }
    return ODL_OK;
}

#define ODL_DW_CHUNK 8 /* weight grad: pixels summed in FP16 before each FP32 accumulation */

static inline void odl_store_wide(odl_f16 *dst, float32x4_t e, float32x4_t o, mve_pred16_t pr) {
    vstrhq_p_f16((float16_t *)dst, odl_mve_cvt_f16_f32(e, o), pr);
}

odl_status odl_depthwise_conv2d_f16_weight_grad_mve(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *dy,
                                                    odl_f16 *dw, odl_f16 *db) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    const size_t pix = (size_t)win->out_h * win->out_w;
    for (int32_t kh = 0; kh < win->kernel_h; ++kh)
        for (int32_t kw = 0; kw < win->kernel_w; ++kw) {
            /* output rows / columns whose tap (kh, kw) lands inside the input */
            int32_t oh0 = 0, oh1 = win->out_h, ow0 = 0, ow1 = win->out_w;
            while (oh0 < oh1 && oh0 * win->stride_h - win->pad_top + kh * win->dilation_h < 0) ++oh0;
            while (oh1 > oh0 && (oh1 - 1) * win->stride_h - win->pad_top + kh * win->dilation_h >= H) --oh1;
            while (ow0 < ow1 && ow0 * win->stride_w - win->pad_left + kw * win->dilation_w < 0) ++ow0;
            while (ow1 > ow0 && (ow1 - 1) * win->stride_w - win->pad_left + kw * win->dilation_w >= W) --ow1;
            const int32_t xstep = win->stride_w * C;
            for (int32_t c = 0; c < C; c += 8) {
                const mve_pred16_t pr = vctp16q((uint32_t)(C - c));
                float32x4_t ae = vdupq_n_f32(0), ao = vdupq_n_f32(0);
                for (int32_t n = 0; n < p->in.n; ++n)
                    for (int32_t oh = oh0; oh < oh1; ++oh) {
                        const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                        const int32_t iw = ow0 * win->stride_w - win->pad_left + kw * win->dilation_w;
                        const odl_f16 *dp = dy + (((size_t)n * win->out_h + oh) * win->out_w + ow0) * C + c;
                        const odl_f16 *xp = x + (((size_t)n * H + ih) * W + iw) * C + c;
                        for (int32_t ow = ow0; ow < ow1;) {
                            /* up to ODL_DW_CHUNK products summed in FP16 lanes, then added into FP32 */
                            const int32_t end = ow1 - ow > ODL_DW_CHUNK ? ow + ODL_DW_CHUNK : ow1;
                            float16x8_t part = vdupq_n_f16(0);
                            if (C - c >= 8)
                                for (; ow < end; ++ow, dp += C, xp += xstep)
                                    part = vfmaq_f16(part, vld1q_f16(ODL_H(dp)), vld1q_f16(ODL_H(xp)));
                            else
                                for (; ow < end; ++ow, dp += C, xp += xstep)
                                    part = vfmaq_f16(part, vldrhq_z_f16(ODL_H(dp), pr), vldrhq_z_f16(ODL_H(xp), pr));
                            ae = vaddq_f32(ae, odl_mve_cvtb_f32_f16(part));
                            ao = vaddq_f32(ao, odl_mve_cvtt_f32_f16(part));
                        }
                    }
                odl_store_wide(dw + ((size_t)kh * win->kernel_w + kw) * C + c, ae, ao, pr);
            }
        }
    if (db) {
        const size_t total = (size_t)p->in.n * pix;
        for (int32_t c = 0; c < C; c += 8) {
            const mve_pred16_t pr = vctp16q((uint32_t)(C - c));
            float32x4_t ae = vdupq_n_f32(0), ao = vdupq_n_f32(0);
            const odl_f16 *dp = dy + c;
            for (size_t i = 0; i < total; ++i, dp += C) {
                const float16x8_t a = vldrhq_z_f16(ODL_H(dp), pr);
                ae = vaddq_f32(ae, odl_mve_cvtb_f32_f16(a));
                ao = vaddq_f32(ao, odl_mve_cvtt_f32_f16(a));
            }
            odl_store_wide(db + c, ae, ao, pr);
        }
    }
    return ODL_OK;
}

#define ODL_DW_MAXK 64 /* taps per kernel row / column listed on the stack; larger kernels are processed in parts */

odl_status odl_depthwise_conv2d_f16_input_grad_mve(const odl_conv_f_params *p, const odl_f16 *dy, const odl_f16 *w,
                                                   odl_f16 *dx) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    int32_t hk[ODL_DW_MAXK], ho[ODL_DW_MAXK], wk[ODL_DW_MAXK], wo[ODL_DW_MAXK];
    for (int32_t n = 0; n < p->in.n; ++n)
        for (int32_t ih = 0; ih < H; ++ih)
            for (int32_t iw = 0; iw < W; ++iw) {
                odl_f16 *dxp = dx + (((size_t)n * H + ih) * W + iw) * C;
                for (int32_t c = 0; c < C; c += 8)
                    vstrhq_p_f16((float16_t *)(dxp + c), vdupq_n_f16(0), vctp16q((uint32_t)(C - c)));
                /* kernel rows / columns in parts of ODL_DW_MAXK taps (one part for any realistic kernel) */
                for (int32_t kh_base = 0; kh_base < win->kernel_h; kh_base += ODL_DW_MAXK)
                    for (int32_t kw_base = 0; kw_base < win->kernel_w; kw_base += ODL_DW_MAXK) {
                        int32_t nh = 0, nw = 0;
                        for (int32_t kh = kh_base; kh < win->kernel_h && kh < kh_base + ODL_DW_MAXK; ++kh) {
                            const int32_t th = ih + win->pad_top - kh * win->dilation_h;
                            if (th < 0 || th % win->stride_h) continue;
                            const int32_t oh = th / win->stride_h;
                            if (oh >= win->out_h) continue;
                            hk[nh] = kh, ho[nh] = oh, ++nh;
                        }
                        for (int32_t kw = kw_base; kw < win->kernel_w && kw < kw_base + ODL_DW_MAXK; ++kw) {
                            const int32_t tw = iw + win->pad_left - kw * win->dilation_w;
                            if (tw < 0 || tw % win->stride_w) continue;
                            const int32_t ow = tw / win->stride_w;
                            if (ow >= win->out_w) continue;
                            wk[nw] = kw, wo[nw] = ow, ++nw;
                        }
                        if (!nh || !nw) continue;
                        int32_t c = 0;
                        for (; c + 32 <= C; c += 32) { /* 32 channels per tap */
                            float16x8_t a0 = vld1q_f16(ODL_H(dxp + c)), a1 = vld1q_f16(ODL_H(dxp + c + 8));
                            float16x8_t a2 = vld1q_f16(ODL_H(dxp + c + 16)), a3 = vld1q_f16(ODL_H(dxp + c + 24));
                            for (int32_t a = 0; a < nh; ++a) {
                                const odl_f16 *drow = dy + (((size_t)n * win->out_h + ho[a]) * win->out_w) * C + c;
                                const odl_f16 *wrow = w + ((size_t)hk[a] * win->kernel_w) * C + c;
                                for (int32_t b = 0; b < nw; ++b) {
                                    const odl_f16 *dp = drow + (size_t)wo[b] * C, *wp = wrow + (size_t)wk[b] * C;
                                    a0 = vfmaq_f16(a0, vld1q_f16(ODL_H(dp)), vld1q_f16(ODL_H(wp)));
                                    a1 = vfmaq_f16(a1, vld1q_f16(ODL_H(dp + 8)), vld1q_f16(ODL_H(wp + 8)));
                                    a2 = vfmaq_f16(a2, vld1q_f16(ODL_H(dp + 16)), vld1q_f16(ODL_H(wp + 16)));
                                    a3 = vfmaq_f16(a3, vld1q_f16(ODL_H(dp + 24)), vld1q_f16(ODL_H(wp + 24)));
                                }
                            }
                            vst1q_f16((float16_t *)(dxp + c), a0), vst1q_f16((float16_t *)(dxp + c + 8), a1);
                            vst1q_f16((float16_t *)(dxp + c + 16), a2), vst1q_f16((float16_t *)(dxp + c + 24), a3);
                        }
                        for (; c < C; c += 8) {
                            const mve_pred16_t pr = vctp16q((uint32_t)(C - c));
                            float16x8_t acc = vldrhq_z_f16(ODL_H(dxp + c), pr);
                            for (int32_t a = 0; a < nh; ++a) {
                                const odl_f16 *drow = dy + (((size_t)n * win->out_h + ho[a]) * win->out_w) * C + c;
                                const odl_f16 *wrow = w + ((size_t)hk[a] * win->kernel_w) * C + c;
                                for (int32_t b = 0; b < nw; ++b)
                                    acc = vfmaq_f16(acc, vldrhq_z_f16(ODL_H(drow + (size_t)wo[b] * C), pr),
                                                    vldrhq_z_f16(ODL_H(wrow + (size_t)wk[b] * C), pr));
                            }
                            vstrhq_p_f16((float16_t *)(dxp + c), acc, pr);
                        }
                    }
            }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_MVE */
