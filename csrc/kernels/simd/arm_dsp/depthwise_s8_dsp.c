/* ARM DSP override of odl_depthwise_conv2d_s8_forward (odl_layers_arm_dsp), bit-exact with the reference loop.
 *
 * Depth multiplier 1 (the MobileNet case): 4 channels at a time (NHWC: one LDR), SXTB16 splits them into lanes
 * (0,2) and (1,3), SADD16 adds the input offset to both lanes, and SMLABB / SMLATT multiply-accumulate each channel
 * with its int16 weight. Weights are widened once per call (per chunk of up to 32 channels) into a stack buffer
 * laid out tap after tap for each group of 4 channels, so the taps of a row are consecutive LDRDs. The range of taps
 * inside the image is computed once per output pixel (no per-tap bounds checks; padded taps contribute nothing, as
 * in the reference). Requantization is the exact fast form of dsp_internal.h when the per-call bound allows it.
 * Channel counts that are not a multiple of 4 finish with a scalar loop; depth multipliers > 1 and windows too large
 * for the weight buffer run a plain scalar loop with the reference's arithmetic.
 */
#include "odl/layer_paths.h"
#include "ref/s8_internal.h"

#ifdef ODL_WITH_ARM_DSP

#include "dsp_internal.h"

#define ODL_DW_CHUNK 32 /* channels per chunk */
#define ODL_DW_WBUF 512 /* words of widened weights (2 KB): taps * chunk / 2 */

/* The reference arithmetic for any depth multiplier (used when the fast layout does not apply). */
static void odl_dw_scalar(const int8_t *input, const odl_dims *in, const int8_t *filter, int32_t kh, int32_t kw,
                          int32_t dm, const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                          const odl_output_s8 *o, const odl_window *win, int8_t *output) {
    const int32_t cin = in->c, cout = cin * dm;
    for (int32_t b = 0; b < in->n; ++b) {
        const int8_t *img = input + (size_t)b * in->h * in->w * cin;
        for (int32_t oy = 0; oy < win->out_h; ++oy)
            for (int32_t ox = 0; ox < win->out_w; ++ox) {
                const int32_t y0 = oy * win->stride_h - win->pad_top, x0 = ox * win->stride_w - win->pad_left;
                int8_t *dst = output + (((size_t)b * win->out_h + oy) * win->out_w + ox) * cout;
                for (int32_t oc = 0; oc < cout; ++oc) {
                    const int32_t c = oc / dm;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t y = y0 + ky * win->dilation_h;
                        if (y < 0 || y >= in->h) continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int32_t x = x0 + kx * win->dilation_w;
                            if (x < 0 || x >= in->w) continue;
                            acc += filter[((size_t)ky * kw + kx) * cout + oc] *
                                   (img[((size_t)y * in->w + x) * cin + c] + p->input_offset);
                        }
                    }
                    if (bias) acc += bias[oc];
                    dst[oc] = odl_requant_s8(acc, q, oc, o);
                }
            }
    }
}

/* [lo, hi) of the kernel indices whose input coordinate start + i * dil lies in [0, size). */
static inline void odl_dw_range(int32_t start, int32_t dil, int32_t k, int32_t size, int32_t *lo, int32_t *hi) {
    int32_t a = start < 0 ? (-start + dil - 1) / dil : 0;
    int32_t b = size - start <= 0 ? 0 : (size - start + dil - 1) / dil;
    if (b > k) b = k;
    if (a > b) a = b;
    *lo = a, *hi = b;
}

odl_status odl_depthwise_conv2d_s8_forward_dsp(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                               int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                               const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                                               const odl_output_s8 *o, const odl_dims *out_dims, int8_t *output) {
    /* The public kernel has checked the arguments; the geometry is checked here as in the reference. */
    odl_window win;
    odl_status st = odl_s8_window(in_dims, kernel_h, kernel_w, p, &win);
    if (st != ODL_OK) return st;
    const int32_t cin = in_dims->c, cout = cin * depth_multiplier, taps = kernel_h * kernel_w;
    if (out_dims->n != in_dims->n || out_dims->h != win.out_h || out_dims->w != win.out_w || out_dims->c != cout)
        return ODL_ERR_SHAPE;
    if (depth_multiplier != 1 || taps * 2 > ODL_DW_WBUF) {
        odl_dw_scalar(input, in_dims, filter, kernel_h, kernel_w, depth_multiplier, bias, p, q, o, &win, output);
        return ODL_OK;
    }
    int64_t bias_max = 0;
    if (bias)
        for (int32_t c = 0; c < cout; ++c) {
            const int64_t v = bias[c] < 0 ? -(int64_t)bias[c] : bias[c];
            if (v > bias_max) bias_max = v;
        }
    const int32_t off = p->input_offset;
    const int fast = odl_dsp_rq_fast_ok(q, cout, bias_max + (int64_t)taps * (128 + (off < 0 ? -off : off)) * 128, o);
    const uint32_t off2 = ((uint32_t)off & 0xFFFFu) * 0x10001u;
    const uint32_t lo4 = ((uint32_t)o->act_min & 0xFFu) * 0x01010101u, hi4 = ((uint32_t)o->act_max & 0xFFu) * 0x01010101u;
    const int32_t W = in_dims->w, H = in_dims->h, dh = win.dilation_h, dw = win.dilation_w;
    /* channels per chunk: the widened weights of the chunk must fit the buffer */
    int32_t chunk = ODL_DW_CHUNK;
    while (taps * chunk / 2 > ODL_DW_WBUF) chunk -= 4;

    uint32_t wbuf[ODL_DW_WBUF];
    odl_dsp_rq rq[ODL_DW_CHUNK];
    for (int32_t c0 = 0; c0 < cin; c0 += chunk) {
        const int32_t nc = cin - c0 < chunk ? cin - c0 : chunk, groups = nc >> 2;
        /* widened weights: group g, tap t at words wbuf[(g * taps + t) * 2 + {0, 1}] = channels (0,2), (1,3) */
        for (int32_t g = 0; g < groups; ++g)
            for (int32_t t = 0; t < taps; ++t) {
                const uint32_t w = odl_ld32(filter + (size_t)t * cout + c0 + 4 * g);
                wbuf[(g * taps + t) * 2] = __sxtb16(w);
                wbuf[(g * taps + t) * 2 + 1] = odl_sxtb16_ror8(w);
            }
        if (fast)
            for (int32_t c = 0; c < nc; ++c) odl_dsp_rq_setup(&rq[c], q, c0 + c, o);
        for (int32_t b = 0; b < in_dims->n; ++b) {
            const int8_t *img = input + (size_t)b * H * W * cin + c0;
            for (int32_t oy = 0; oy < win.out_h; ++oy) {
                const int32_t y0 = oy * win.stride_h - win.pad_top;
                int32_t ky0, ky1;
                odl_dw_range(y0, dh, kernel_h, H, &ky0, &ky1);
                for (int32_t ox = 0; ox < win.out_w; ++ox) {
                    const int32_t x0 = ox * win.stride_w - win.pad_left;
                    int32_t kx0, kx1;
                    odl_dw_range(x0, dw, kernel_w, W, &kx0, &kx1);
                    int8_t *dst = output + (((size_t)b * win.out_h + oy) * win.out_w + ox) * cout + c0;
                    const int32_t nky = ky1 - ky0, nkx = kx1 - kx0;
                    /* the valid window: first input byte and first weight word, steps between taps and rows */
                    const int8_t *pi0 = img + ((size_t)(y0 + ky0 * dh) * W + (x0 + kx0 * dw)) * cin;
                    const uint32_t *pw0 = wbuf + (size_t)(ky0 * kernel_w + kx0) * 2;
                    const int32_t istep = dw * cin, irow = dh * W * cin - nkx * istep, wrow = (kernel_w - nkx) * 2;
                    for (int32_t g = 0; g < groups; ++g) {
                        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                        if (bias) {
                            const int32_t *bb = bias + c0 + 4 * g;
                            a0 = bb[0], a1 = bb[1], a2 = bb[2], a3 = bb[3];
                        }
                        const int8_t *pi = pi0 + 4 * g;
                        const uint32_t *pw = pw0 + (size_t)g * taps * 2;
                        if (nkx > 0)
                            for (int32_t r = nky; r > 0; --r, pi += irow, pw += wrow) {
                                /* one row of taps: LDR, 2 SXTB16, 2 SADD16, LDRD, 4 SMLAxy, ADD, SUBS, BNE */
#ifdef __OPTIMIZE__ /* GCC 12 at -O0 cannot allocate the registers of this block */
                                uint32_t v, e, w0, w1;
                                int32_t t = nkx;
                                __asm__ volatile("1:\n\t"
                                                 "ldr %[v], [%[pi]]\n\t"
                                                 "add %[pi], %[pi], %[istep]\n\t"
                                                 "ldrd %[w0], %[w1], [%[pw]], #8\n\t"
                                                 "sxtb16 %[e], %[v]\n\t"
                                                 "sxtb16 %[v], %[v], ror #8\n\t"
                                                 "sadd16 %[e], %[e], %[off2]\n\t"
                                                 "sadd16 %[v], %[v], %[off2]\n\t"
                                                 "smlabb %[a0], %[e], %[w0], %[a0]\n\t"
                                                 "smlatt %[a2], %[e], %[w0], %[a2]\n\t"
                                                 "smlabb %[a1], %[v], %[w1], %[a1]\n\t"
                                                 "smlatt %[a3], %[v], %[w1], %[a3]\n\t"
                                                 "subs %[t], %[t], #1\n\t"
                                                 "bne 1b\n\t"
                                                 : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                                                   [pi] "+r"(pi), [pw] "+r"(pw), [t] "+r"(t), [v] "=&r"(v),
                                                   [e] "=&r"(e), [w0] "=&r"(w0), [w1] "=&r"(w1)
                                                 : [istep] "r"(istep), [off2] "r"(off2)
                                                 : "cc", "memory");
#else
                                for (int32_t t = nkx; t > 0; --t, pi += istep, pw += 2) {
                                    const uint32_t v = odl_ld32(pi);
                                    const uint32_t e = __sadd16(__sxtb16(v), off2), d = __sadd16(odl_sxtb16_ror8(v), off2);
                                    a0 = __smlabb(e, pw[0], a0), a2 = __smlatt(e, pw[0], a2);
                                    a1 = __smlabb(d, pw[1], a1), a3 = __smlatt(d, pw[1], a3);
                                }
#endif
                            }
                        const int32_t c = 4 * g;
                        if (fast) {
                            int32_t v0 = odl_dsp_rq_apply(a0, &rq[c]), v1 = odl_dsp_rq_apply(a1, &rq[c + 1]);
                            int32_t v2 = odl_dsp_rq_apply(a2, &rq[c + 2]), v3 = odl_dsp_rq_apply(a3, &rq[c + 3]);
                            uint32_t packed = ((uint32_t)v0 & 0xFFu) | (((uint32_t)v1 & 0xFFu) << 8) |
                                              (((uint32_t)v2 & 0xFFu) << 16) | ((uint32_t)v3 << 24);
                            /* activation clamp on the 4 packed bytes: max with lo, min with hi (SSUB8 sets GE) */
                            __ssub8(packed, lo4);
                            packed = __sel(packed, lo4);
                            __ssub8(packed, hi4);
                            packed = __sel(hi4, packed);
                            memcpy(dst + c, &packed, 4);
                        } else {
                            dst[c] = odl_requant_s8(a0, q, c0 + c, o);
                            dst[c + 1] = odl_requant_s8(a1, q, c0 + c + 1, o);
                            dst[c + 2] = odl_requant_s8(a2, q, c0 + c + 2, o);
                            dst[c + 3] = odl_requant_s8(a3, q, c0 + c + 3, o);
                        }
                    }
                    /* channels of the chunk beyond the last group of 4 */
                    for (int32_t c = groups * 4; c < nc; ++c) {
                        int32_t acc = bias ? bias[c0 + c] : 0;
                        for (int32_t ky = ky0; ky < ky1; ++ky)
                            for (int32_t kx = kx0; kx < kx1; ++kx)
                                acc += filter[((size_t)ky * kernel_w + kx) * cout + c0 + c] *
                                       (img[((size_t)(y0 + ky * dh) * W + (x0 + kx * dw)) * cin + c] + off);
                        dst[c] = odl_requant_s8(acc, q, c0 + c, o);
                    }
                }
            }
        }
    }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_DSP */
