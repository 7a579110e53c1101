/* Helium (MVE) override of odl_depthwise_conv2d_s8_forward (TFLite DepthwiseConvPerChannel), bit-exact.
 *
 * Depth multiplier 1: vectors run along channels. Per output pixel and 16 channels (then 8, predicated, for the
 * tail), over the valid taps only: VLDRB.S16 widening loads of x and w, x + input_offset in int16 (|x + off| <= 255,
 * exact), VMULLB/VMULLT (exact int16 x int16 -> int32 products of the even / odd channels) added into int32
 * accumulators: 7 instructions per 8 MACs plus the tap's pointer updates. MVE has no integer vector-by-vector
 * multiply-accumulate, so this is near its best for int8.
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

/* Start values of 8 channels c.. (fewer when left < 8), split into even / odd channels (gathers with stride 2). */
static inline void odl_dw_bias8(const int32_t *bias, int32_t c, int32_t left, int32x4_t *ae, int32x4_t *ao) {
    if (!bias) {
        *ae = *ao = vdupq_n_s32(0);
        return;
    }
    const uint32x4_t even = vidupq_n_u32(0, 2), odd = vidupq_n_u32(1, 2);
    if (left >= 8) {
        *ae = vldrwq_gather_shifted_offset_s32(bias + c, even);
        *ao = vldrwq_gather_shifted_offset_s32(bias + c, odd);
    } else {
        *ae = vldrwq_gather_shifted_offset_z_s32(bias + c, even, vctp32q((uint32_t)((left + 1) >> 1)));
        *ao = vldrwq_gather_shifted_offset_z_s32(bias + c, odd, vctp32q((uint32_t)(left >> 1)));
    }
}

#ifdef ODL_SINGLE_ROUNDING
static inline void odl_dw_store8(int32x4_t ae, int32x4_t ao, int32_t c, int32_t left, const odl_requant *q,
                                 const odl_output_s8 *o, int8_t *dst) {
    int32_t te[4], to[4];
    vst1q_s32(te, ae), vst1q_s32(to, ao);
    for (int32_t l = 0; l < 8 && l < left; ++l)
        dst[c + l] = odl_requant_s8((l & 1) ? to[l >> 1] : te[l >> 1], q, c + l, o);
}
#define ODL_DW_STORE8(ae, ao, c, left) odl_dw_store8(ae, ao, c, left, q, o, dst)
#else
/* Requantize 8 channels c.. held as even / odd int32 lanes, re-interleave (VMOVNB / VMOVNT), narrowing store. */
static inline void odl_dw_store8(int32x4_t ae, int32x4_t ao, int32_t c, int32_t left, const odl_requant *q,
                                 const odl_mve_out *ov, int8_t *dst) {
    const uint32x4_t even = vidupq_n_u32(0, 2), odd = vidupq_n_u32(1, 2);
    const mve_pred16_t pe = vctp32q((uint32_t)(left >= 8 ? 4 : (left + 1) >> 1));
    const mve_pred16_t po = vctp32q((uint32_t)(left >= 8 ? 4 : left >> 1));
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
    const int32x4_t re = odl_mve_requant4(ae, me, se, ov), ro = odl_mve_requant4(ao, mo, so, ov);
    const int16x8_t v = vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), re), ro);
    if (left >= 8)
        vstrbq_s16(dst + c, v);
    else
        vstrbq_p_s16(dst + c, v, vctp16q((uint32_t)left));
}
#define ODL_DW_STORE8(ae, ao, c, left) odl_dw_store8(ae, ao, c, left, q, &ov, dst)
#endif

#ifndef ODL_SINGLE_ROUNDING
/* One window of nky x nkx valid taps for 16 channels. acc: the even / odd accumulators of channels 0-7 and 8-15
 * (start values in, sums out); x advances by xstep per tap and xadj more per tap row, w by wstep and wadj. */
typedef struct {
    int32x4_t acc[4];
    int32_t nkx, xstep, wstep, xadj, wadj, off; /* read by the assembly at fixed offsets: keep the order */
} odl_dw_win16;

/* Sums (x + off) * w over the window. Assembly, so the 4 accumulators and 4 temporaries fit the 8 Q registers:
 * 17 instructions per tap (16 MACs) including the pointer updates and the low-overhead loop end. nky, nkx > 0.
 * The widening loads (VLDRB.S16) take low registers only: constraint "l". */
__attribute__((noinline)) static void odl_dw_window16(const int8_t *xp, const int8_t *wp, int32_t nky,
                                                      odl_dw_win16 *wn) {
    int32x4_t a0 = wn->acc[0], a1 = wn->acc[1], a2 = wn->acc[2], a3 = wn->acc[3];
    const int32_t *prm = &wn->nkx; /* nkx, xstep, wstep, xadj, wadj, off at byte offsets 0, 4, 8, 12, 16, 20 */
    int32_t xstep, wstep, off, t3, t4;
    __asm__ volatile("ldrd %[xs], %[ws], [%[prm], #4]\n"
                     "ldr %[off], [%[prm], #20]\n"
                     "1:\n"
                     "ldr %[t3], [%[prm]]\n"
                     "wls lr, %[t3], 3f\n"
                     "2:\n"
                     "vldrb.s16 q4, [%[xp]]\n"
                     "vldrb.s16 q5, [%[wp]]\n"
                     "vadd.i16 q4, q4, %[off]\n"
                     "vmullb.s16 q6, q4, q5\n"
                     "vmullt.s16 q7, q4, q5\n"
                     "vadd.i32 %q[a0], %q[a0], q6\n"
                     "vadd.i32 %q[a1], %q[a1], q7\n"
                     "vldrb.s16 q4, [%[xp], #8]\n"
                     "vldrb.s16 q5, [%[wp], #8]\n"
                     "vadd.i16 q4, q4, %[off]\n"
                     "vmullb.s16 q6, q4, q5\n"
                     "vmullt.s16 q7, q4, q5\n"
                     "vadd.i32 %q[a2], %q[a2], q6\n"
                     "vadd.i32 %q[a3], %q[a3], q7\n"
                     "add %[xp], %[xs]\n"
                     "add %[wp], %[ws]\n"
                     "le lr, 2b\n"
                     "3:\n"
                     "ldrd %[t3], %[t4], [%[prm], #12]\n"
                     "add %[xp], %[t3]\n"
                     "add %[wp], %[t4]\n"
                     "subs %[nky], #1\n"
                     "bne 1b\n"
                     : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [xp] "+l"(xp), [wp] "+l"(wp),
                       [nky] "+r"(nky), [xs] "=&r"(xstep), [ws] "=&r"(wstep), [off] "=&r"(off), [t3] "=&r"(t3),
                       [t4] "=&r"(t4)
                     : [prm] "r"(prm)
                     : "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "lr", "cc", "memory");
    wn->acc[0] = a0, wn->acc[1] = a1, wn->acc[2] = a2, wn->acc[3] = a3;
}

/* Channels [0, cin & ~15) of a depth-multiplier-1 layer, 16 at a time: the block's bias, multipliers and shifts are
 * split into even / odd channels once, then every output pixel runs one window and one vector requantization. */
static void odl_dw_s8_blocks16(const int8_t *input, const odl_dims *in, const int8_t *filter, int32_t kernel_h,
                               int32_t kernel_w, const int32_t *bias, int32_t off, const odl_window *win,
                               const odl_requant *q, const odl_mve_out *ov, int8_t *output) {
    const int32_t cin = in->c, W = in->w, H = in->h;
    const uint32x4_t even = vidupq_n_u32(0, 2), odd = vidupq_n_u32(1, 2);
    odl_dw_win16 wn;
    wn.xstep = win->dilation_w * cin, wn.wstep = cin, wn.off = off;
    for (int32_t c = 0; c + 16 <= cin; c += 16) {
        int32x4_t bv[4], mv[4], lv[4], rv[4];
        for (int g = 0; g < 4; ++g) {
            const int32_t base = c + 8 * (g >> 1);
            const uint32x4_t idx = (g & 1) ? odd : even;
            bv[g] = bias ? vldrwq_gather_shifted_offset_s32(bias + base, idx) : vdupq_n_s32(0);
            const int32x4_t sh = q->per_channel ? vldrwq_gather_shifted_offset_s32(q->shift + base, idx)
                                                : vdupq_n_s32(q->shift[0]);
            mv[g] = q->per_channel ? vldrwq_gather_shifted_offset_s32(q->multiplier + base, idx)
                                   : vdupq_n_s32(q->multiplier[0]);
            lv[g] = odl_mve_lsh(sh), rv[g] = odl_mve_rsh(sh);
        }
        for (int32_t b = 0; b < in->n; ++b) {
            const int8_t *img = input + (size_t)b * H * W * cin;
            for (int32_t oy = 0; oy < win->out_h; ++oy) {
                const int32_t y0 = oy * win->stride_h - win->pad_top;
                int32_t ky0 = 0, ky1 = kernel_h;
                while (ky0 < ky1 && y0 + ky0 * win->dilation_h < 0) ++ky0;
                while (ky1 > ky0 && y0 + (ky1 - 1) * win->dilation_h >= H) --ky1;
                int8_t *dst = output + (((size_t)b * win->out_h + oy) * win->out_w) * cin + c;
                for (int32_t ox = 0; ox < win->out_w; ++ox, dst += cin) {
                    const int32_t x0 = ox * win->stride_w - win->pad_left;
                    int32_t kx0 = 0, kx1 = kernel_w;
                    while (kx0 < kx1 && x0 + kx0 * win->dilation_w < 0) ++kx0;
                    while (kx1 > kx0 && x0 + (kx1 - 1) * win->dilation_w >= W) --kx1;
                    wn.acc[0] = bv[0], wn.acc[1] = bv[1], wn.acc[2] = bv[2], wn.acc[3] = bv[3];
                    if (ky1 > ky0 && kx1 > kx0) {
                        wn.nkx = kx1 - kx0;
                        wn.xadj = win->dilation_h * W * cin - wn.nkx * wn.xstep;
                        wn.wadj = kernel_w * cin - wn.nkx * cin;
                        const size_t x_at =
                            ((size_t)(y0 + ky0 * win->dilation_h) * W + x0 + kx0 * win->dilation_w) * cin;
                        odl_dw_window16(img + x_at + c, filter + ((size_t)ky0 * kernel_w + kx0) * cin + c, ky1 - ky0,
                                        &wn);
                    }
                    for (int g = 0; g < 2; ++g) {
                        const int32x4_t re = odl_mve_requant4_lr(wn.acc[2 * g], mv[2 * g], lv[2 * g], rv[2 * g], ov);
                        const int32x4_t ro =
                            odl_mve_requant4_lr(wn.acc[2 * g + 1], mv[2 * g + 1], lv[2 * g + 1], rv[2 * g + 1], ov);
                        vstrbq_s16(dst + 8 * g, vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), re), ro));
                    }
                }
            }
        }
    }
}
#endif

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
    int32_t c16 = 0; /* channels already done 16 at a time */
#ifndef ODL_SINGLE_ROUNDING
    const odl_mve_out ov = odl_mve_out_load(o);
    if (depth_multiplier == 1 && cin >= 16) {
        odl_dw_s8_blocks16(input, in_dims, filter, kernel_h, kernel_w, bias, off, &win, q, &ov, output);
        c16 = cin & ~15;
        if (c16 == cin) return ODL_OK;
    }
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
                for (int32_t c = c16; c < cin;) {
                    const int32_t left = cin - c;
                    int32x4_t ae, ao;
                    if (left >= 16) { /* 16 channels per tap: pointer updates shared by two groups of 8 */
                        int32x4_t ae1, ao1;
                        odl_dw_bias8(bias, c, 8, &ae, &ao);
                        odl_dw_bias8(bias, c + 8, 8, &ae1, &ao1);
                        for (int32_t ky = ky0; ky < ky1; ++ky) {
                            const int8_t *xp =
                                img + ((size_t)(y0 + ky * win.dilation_h) * W + x0 + kx0 * win.dilation_w) * cin + c;
                            const int8_t *wp = filter + ((size_t)ky * kernel_w + kx0) * cout + c;
                            for (int32_t kx = kx0; kx < kx1; ++kx, xp += xstep, wp += cout) {
                                const int16x8_t xv = vaddq_n_s16(vldrbq_s16(xp), (int16_t)off), wv = vldrbq_s16(wp);
                                ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                                ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                                const int16x8_t xv1 = vaddq_n_s16(vldrbq_s16(xp + 8), (int16_t)off);
                                const int16x8_t wv1 = vldrbq_s16(wp + 8);
                                ae1 = vaddq_s32(ae1, vmullbq_int_s16(xv1, wv1));
                                ao1 = vaddq_s32(ao1, vmulltq_int_s16(xv1, wv1));
                            }
                        }
                        ODL_DW_STORE8(ae1, ao1, c + 8, 8);
                        ODL_DW_STORE8(ae, ao, c, 8);
                        c += 16;
                        continue;
                    }
                    const mve_pred16_t p16 = vctp16q((uint32_t)left);
                    odl_dw_bias8(bias, c, left, &ae, &ao);
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xp =
                            img + ((size_t)(y0 + ky * win.dilation_h) * W + x0 + kx0 * win.dilation_w) * cin + c;
                        const int8_t *wp = filter + ((size_t)ky * kernel_w + kx0) * cout + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx, xp += xstep, wp += cout) {
                            const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(xp, p16), (int16_t)off);
                            const int16x8_t wv = vldrbq_z_s16(wp, p16);
                            ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                            ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                        }
                    }
                    ODL_DW_STORE8(ae, ao, c, left);
                    c += 8;
                }
            }
        }
    }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_MVE */
