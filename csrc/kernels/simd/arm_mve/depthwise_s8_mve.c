/* Helium (MVE) override of odl_depthwise_conv2d_s8_forward (TFLite DepthwiseConvPerChannel), bit-exact.
 *
 * Depth multiplier 1: vectors run along channels. Per output pixel and 8 channels, over the valid taps only:
 * VLDRB.S16 widening loads of x and w, x + input_offset in int16 (|x + off| <= 255, exact), VMULLB/VMULLT (exact
 * int16 x int16 -> int32 products of the even / odd channels) added into two int32 accumulators: 7 instructions
 * per 8 MACs. MVE has no integer vector-by-vector multiply-accumulate, so this is near its best for int8.
 * The even / odd accumulators are requantized in vectors (mve_requant.h; multipliers and shifts gathered with
 * stride 2), re-interleaved with VMOVNB/VMOVNT and stored with one narrowing store. Channel tails: predicated.
 * Depth multiplier > 1 (rare on devices) uses a scalar loop with the reference's arithmetic.
 */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>

#include "internal/odl_math.h"
#include "mve_requant.h"
#include "odl/kernels_s8.h"

static odl_status odl_dw_s8_mult_scalar(const int8_t *img, const odl_dims *in, const int8_t *filter, int32_t kh,
                                        int32_t kw, int32_t mult, const int32_t *bias, int32_t off,
                                        const odl_window *win, const odl_requant *q, const odl_output_s8 *o,
                                        int8_t *dst, int32_t oy, int32_t ox) {
    const int32_t cin = in->c, cout = cin * mult;
    const int32_t y0 = oy * win->stride_h - win->pad_top, x0 = ox * win->stride_w - win->pad_left;
    for (int32_t oc = 0; oc < cout; ++oc) {
        const int32_t c = oc / mult;
        int32_t acc = 0;
        for (int32_t ky = 0; ky < kh; ++ky) {
            const int32_t y = y0 + ky * win->dilation_h;
            if (y < 0 || y >= in->h) continue;
            for (int32_t kx = 0; kx < kw; ++kx) {
                const int32_t x = x0 + kx * win->dilation_w;
                if (x < 0 || x >= in->w) continue;
                acc += filter[((size_t)ky * kw + kx) * cout + oc] * (img[((size_t)y * in->w + x) * cin + c] + off);
            }
        }
        if (bias) acc += bias[oc];
        dst[oc] = odl_requant_s8(acc, q, oc, o);
    }
    return ODL_OK;
}

odl_status odl_depthwise_conv2d_s8_forward_mve(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                               int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                               const int32_t *bias, const odl_conv_s8_params *p,
                                               const odl_requant *q, const odl_output_s8 *o,
                                               const odl_dims *out_dims, int8_t *output) {
    if (!input || !in_dims || !filter || !output || !out_dims || depth_multiplier <= 0 || !p || !q || !o ||
        !q->multiplier || !q->shift)
        return ODL_ERR_ARG;
    odl_window win;
    odl_status st = odl_conv_geometry(in_dims->h, in_dims->w, kernel_h, kernel_w, p->stride_h, p->stride_w,
                                      p->dilation_h, p->dilation_w, p->padding, &win);
    if (st != ODL_OK) return st;
    const int32_t cin = in_dims->c, cout = cin * depth_multiplier, off = p->input_offset;
    if (out_dims->n != in_dims->n || out_dims->h != win.out_h || out_dims->w != win.out_w || out_dims->c != cout)
        return ODL_ERR_SHAPE;
    const int32_t W = in_dims->w, H = in_dims->h;
#ifndef ODL_SINGLE_ROUNDING
    const odl_mve_out ov = odl_mve_out_load(o);
#endif
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * H * W * cin;
        for (int32_t oy = 0; oy < win.out_h; ++oy) {
            const int32_t y0 = oy * win.stride_h - win.pad_top;
            /* valid tap rows: 0 <= y0 + ky * dil < H */
            int32_t ky0 = 0, ky1 = kernel_h;
            while (ky0 < ky1 && y0 + ky0 * win.dilation_h < 0) ++ky0;
            while (ky1 > ky0 && y0 + (ky1 - 1) * win.dilation_h >= H) --ky1;
            for (int32_t ox = 0; ox < win.out_w; ++ox) {
                int8_t *dst = output + (((size_t)b * win.out_h + oy) * win.out_w + ox) * cout;
                if (depth_multiplier != 1) {
                    odl_dw_s8_mult_scalar(img, in_dims, filter, kernel_h, kernel_w, depth_multiplier, bias, off, &win,
                                          q, o, dst, oy, ox);
                    continue;
                }
                const int32_t x0 = ox * win.stride_w - win.pad_left;
                int32_t kx0 = 0, kx1 = kernel_w;
                while (kx0 < kx1 && x0 + kx0 * win.dilation_w < 0) ++kx0;
                while (kx1 > kx0 && x0 + (kx1 - 1) * win.dilation_w >= W) --kx1;
                const int32_t xstep = win.dilation_w * cin; /* input bytes between taps of one row */
                for (int32_t c = 0; c < cin; c += 8) {
                    const int32_t left = cin - c;
                    const mve_pred16_t p16 = vctp16q((uint32_t)left);
                    const mve_pred16_t pe = vctp32q((uint32_t)((left + 1) >> 1)), po = vctp32q((uint32_t)(left >> 1));
                    const uint32x4_t even = vidupq_n_u32(0, 2), odd = vidupq_n_u32(1, 2);
                    int32x4_t ae = vdupq_n_s32(0), ao = vdupq_n_s32(0); /* even / odd channels */
                    if (bias) {
                        ae = vldrwq_gather_shifted_offset_z_s32(bias + c, even, pe);
                        ao = vldrwq_gather_shifted_offset_z_s32(bias + c, odd, po);
                    }
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xp =
                            img + ((size_t)(y0 + ky * win.dilation_h) * W + x0 + kx0 * win.dilation_w) * cin + c;
                        const int8_t *wp = filter + ((size_t)ky * kernel_w + kx0) * cout + c;
                        if (left >= 8) {
                            for (int32_t kx = kx0; kx < kx1; ++kx, xp += xstep, wp += cout) {
                                const int16x8_t xv = vaddq_n_s16(vldrbq_s16(xp), (int16_t)off), wv = vldrbq_s16(wp);
                                ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                                ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                            }
                        } else {
                            for (int32_t kx = kx0; kx < kx1; ++kx, xp += xstep, wp += cout) {
                                const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(xp, p16), (int16_t)off);
                                const int16x8_t wv = vldrbq_z_s16(wp, p16);
                                ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                                ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                            }
                        }
                    }
#ifdef ODL_SINGLE_ROUNDING
                    int32_t te[4], to[4];
                    vst1q_s32(te, ae), vst1q_s32(to, ao);
                    for (int32_t l = 0; l < 8 && l < left; ++l)
                        dst[c + l] = odl_requant_s8((l & 1) ? to[l >> 1] : te[l >> 1], q, c + l, o);
#else
                    int32x4_t me, mo, se, so;
                    if (q->per_channel) {
                        me = vldrwq_gather_shifted_offset_z_s32(q->multiplier + c, even, pe);
                        mo = vldrwq_gather_shifted_offset_z_s32(q->multiplier + c, odd, po);
                        se = vldrwq_gather_shifted_offset_z_s32(q->shift + c, even, pe);
                        so = vldrwq_gather_shifted_offset_z_s32(q->shift + c, odd, po);
                    } else {
                        me = mo = vdupq_n_s32(q->multiplier[0]);
                        se = so = vdupq_n_s32(q->shift[0]);
                    }
                    const int32x4_t re = odl_mve_requant4(ae, me, se, &ov), ro = odl_mve_requant4(ao, mo, so, &ov);
                    const int16x8_t v = vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), re), ro); /* re-interleave */
                    vstrbq_p_s16(dst + c, v, p16);
#endif
                }
            }
        }
    }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_MVE */
