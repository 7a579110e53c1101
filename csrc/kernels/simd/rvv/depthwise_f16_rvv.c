/* RISC-V V path of the fp16 depthwise conv2d (depth multiplier 1): forward, weight grad and input grad, the
 * overrides of odl_layers_rvv. Vectorised over 32 channels (fp16 LMUL 4 -> fp32 LMUL 8) with vfwmacc.vv; every
 * output element sees the reference's fp32 additions in the reference's order and fp16 x fp16 products are exact
 * in fp32, so all three are bit-exact with the reference loops of fp_depthwise_conv2d_impl.h. They are called
 * after the reference has validated the arguments (FP_DW_SIMD_HOOK), so they do not check them again. */
#ifdef ODL_WITH_RVV
#include "odl/layer_paths.h"
#include "simd/rvv/rvv_internal.h"

/* fp32 zeros made by an fp16-width instruction (keeps the tap loops free of vsetvli) */
#define ODL_RVV_F32M8_ZERO(vl) __riscv_vfwcvt_f_f_v_f32m8(__riscv_vfmv_v_f_f16m4((odl_f16)0.0f, (vl)), (vl))

odl_status odl_depthwise_conv2d_f16_forward_rvv(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w,
                                                const odl_f16 *bias, odl_f16 *y) {
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c, N = p->in.n;
    const int32_t KH = p->win.kernel_h, KW = p->win.kernel_w, sh = p->win.stride_h, sw = p->win.stride_w;
    const int32_t dh = p->win.dilation_h, dw = p->win.dilation_w, pt = p->win.pad_top, pl = p->win.pad_left;
    const int32_t OH = p->win.out_h, OW = p->win.out_w;
    const ptrdiff_t x_step = (ptrdiff_t)dw * C;
    for (int32_t n = 0; n < N; ++n) {
        const odl_f16 *xi = x + (size_t)n * H * W * C;
        for (int32_t oh = 0; oh < OH; ++oh) {
            const int32_t y0 = oh * sh - pt;
            int32_t kh0, kh1;
            odl_rvv_tap_range(y0, dh, H, KH, &kh0, &kh1);
            for (int32_t ow = 0; ow < OW; ++ow) {
                const int32_t x0 = ow * sw - pl;
                int32_t kw0, kw1;
                odl_rvv_tap_range(x0, dw, W, KW, &kw0, &kw1);
                odl_f16 *yo = y + (((size_t)n * OH + oh) * OW + ow) * C;
                for (int32_t c = 0; c < C;) {
                    const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                    /* the reference's order: bias (or 0), then taps kh-major */
                    vfloat32m8_t acc = bias ? __riscv_vfwcvt_f_f_v_f32m8(__riscv_vle16_v_f16m4(bias + c, vl), vl)
                                            : ODL_RVV_F32M8_ZERO(vl);
                    for (int32_t kh = kh0; kh < kh1; ++kh) {
                        const odl_f16 *xp = xi + ((size_t)(y0 + kh * dh) * W + x0 + kw0 * dw) * C + c;
                        const odl_f16 *wp = w + ((size_t)kh * KW + kw0) * C + c;
                        for (int32_t kw = kw0; kw < kw1; ++kw, xp += x_step, wp += C)
                            acc = __riscv_vfwmacc_vv_f32m8(acc, __riscv_vle16_v_f16m4(xp, vl),
                                                           __riscv_vle16_v_f16m4(wp, vl), vl);
                    }
                    __riscv_vse16_v_f16m4(yo + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                    c += (int32_t)vl;
                }
            }
        }
    }
    return ODL_OK;
}

odl_status odl_depthwise_conv2d_f16_weight_grad_rvv(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *dy,
                                                    odl_f16 *dw, odl_f16 *db) {
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c, N = p->in.n;
    const int32_t KH = p->win.kernel_h, KW = p->win.kernel_w, sh = p->win.stride_h, sw = p->win.stride_w;
    const int32_t dh = p->win.dilation_h, dl = p->win.dilation_w, pt = p->win.pad_top, pl = p->win.pad_left;
    const int32_t OH = p->win.out_h, OW = p->win.out_w;
    for (int32_t kh = 0; kh < KH; ++kh)
        for (int32_t kw = 0; kw < KW; ++kw) {
            /* output columns ow whose input column ow*sw - pl + kw*dl lies inside [0, W) */
            const int32_t xoff = kw * dl - pl;
            int32_t ow0 = xoff < 0 ? (-xoff + sw - 1) / sw : 0;
            int32_t ow1 = xoff >= W ? 0 : (W - 1 - xoff) / sw + 1;
            if (ow1 > OW) ow1 = OW;
            if (ow0 > ow1) ow0 = ow1;
            for (int32_t c = 0; c < C;) {
                const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                vfloat32m8_t acc = ODL_RVV_F32M8_ZERO(vl);
                for (int32_t n = 0; n < N; ++n)
                    for (int32_t oh = 0; oh < OH; ++oh) {
                        const int32_t ih = oh * sh - pt + kh * dh;
                        if (ih < 0 || ih >= H) continue;
                        const odl_f16 *dyp = dy + (((size_t)n * OH + oh) * OW + ow0) * C + c;
                        const odl_f16 *xp = x + (((size_t)n * H + ih) * W + ow0 * sw + xoff) * C + c;
                        for (int32_t ow = ow0; ow < ow1; ++ow, dyp += C, xp += (ptrdiff_t)sw * C)
                            acc = __riscv_vfwmacc_vv_f32m8(acc, __riscv_vle16_v_f16m4(dyp, vl),
                                                           __riscv_vle16_v_f16m4(xp, vl), vl);
                    }
                __riscv_vse16_v_f16m4(dw + ((size_t)kh * KW + kw) * C + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                c += (int32_t)vl;
            }
        }
    if (db) {
        const size_t total = (size_t)N * OH * OW;
        for (int32_t c = 0; c < C;) {
            const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
            vfloat32m8_t acc = ODL_RVV_F32M8_ZERO(vl);
            const odl_f16 *dyp = dy + c;
            for (size_t i = 0; i < total; ++i, dyp += C)
                acc = __riscv_vfwadd_wv_f32m8(acc, __riscv_vle16_v_f16m4(dyp, vl), vl);
            __riscv_vse16_v_f16m4(db + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
            c += (int32_t)vl;
        }
    }
    return ODL_OK;
}

/* Taps of one input coordinate i in the gather form: every k with i + pad - k*dil = o*stride, 0 <= o < out. */
#define ODL_RVV_MAX_TAPS 32 /* wider windows take the tap-by-tap path */
static int32_t odl_rvv_gather_taps(int32_t i, int32_t pad, int32_t dil, int32_t stride, int32_t taps, int32_t out,
                                   int32_t *k_list, int32_t *o_list) {
    int32_t cnt = 0;
    for (int32_t k = 0; k < taps; ++k) {
        const int32_t t = i + pad - k * dil;
        if (t < 0 || t % stride) continue;
        const int32_t o = t / stride;
        if (o >= out) continue;
        k_list[cnt] = k;
        o_list[cnt++] = o;
    }
    return cnt;
}

odl_status odl_depthwise_conv2d_f16_input_grad_rvv(const odl_conv_f_params *p, const odl_f16 *dy, const odl_f16 *w,
                                                   odl_f16 *dx) {
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c, N = p->in.n;
    const int32_t KH = p->win.kernel_h, KW = p->win.kernel_w, sh = p->win.stride_h, sw = p->win.stride_w;
    const int32_t dh = p->win.dilation_h, dl = p->win.dilation_w, pt = p->win.pad_top, pl = p->win.pad_left;
    const int32_t OH = p->win.out_h, OW = p->win.out_w;
    const int unit_stride = sh == 1 && sw == 1;
    const int lists = !unit_stride && KH <= ODL_RVV_MAX_TAPS && KW <= ODL_RVV_MAX_TAPS;
    int32_t kh_l[ODL_RVV_MAX_TAPS], oh_l[ODL_RVV_MAX_TAPS], kw_l[ODL_RVV_MAX_TAPS], ow_l[ODL_RVV_MAX_TAPS];
    for (int32_t n = 0; n < N; ++n)
        for (int32_t ih = 0; ih < H; ++ih) {
            int32_t nh = 0, kh0 = 0, kh1 = 0;
            if (unit_stride) /* kh with oh = ih + pt - kh*dh in [0, OH): a contiguous range */
                odl_rvv_tap_range(-(ih + pt - (OH - 1)), dh, OH, KH, &kh0, &kh1);
            else if (lists)
                nh = odl_rvv_gather_taps(ih, pt, dh, sh, KH, OH, kh_l, oh_l);
            for (int32_t iw = 0; iw < W; ++iw) {
                odl_f16 *dxp = dx + (((size_t)n * H + ih) * W + iw) * C;
                int32_t nw = 0, kw0 = 0, kw1 = 0;
                if (unit_stride)
                    odl_rvv_tap_range(-(iw + pl - (OW - 1)), dl, OW, KW, &kw0, &kw1);
                else if (lists)
                    nw = odl_rvv_gather_taps(iw, pl, dl, sw, KW, OW, kw_l, ow_l);
                for (int32_t c = 0; c < C;) {
                    const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                    vfloat32m8_t acc = ODL_RVV_F32M8_ZERO(vl);
                    if (unit_stride) {
                        for (int32_t kh = kh0; kh < kh1; ++kh) {
                            const int32_t oh = ih + pt - kh * dh, ow = iw + pl - kw0 * dl;
                            const odl_f16 *dyp = dy + (((size_t)n * OH + oh) * OW + ow) * C + c;
                            const odl_f16 *wp = w + ((size_t)kh * KW + kw0) * C + c;
                            for (int32_t kw = kw0; kw < kw1; ++kw, dyp -= (ptrdiff_t)dl * C, wp += C)
                                acc = __riscv_vfwmacc_vv_f32m8(acc, __riscv_vle16_v_f16m4(dyp, vl),
                                                               __riscv_vle16_v_f16m4(wp, vl), vl);
                        }
                    } else if (lists) {
                        for (int32_t a = 0; a < nh; ++a) {
                            const odl_f16 *dyr = dy + ((size_t)n * OH + oh_l[a]) * OW * C + c;
                            const odl_f16 *wr = w + (size_t)kh_l[a] * KW * C + c;
                            for (int32_t b = 0; b < nw; ++b)
                                acc = __riscv_vfwmacc_vv_f32m8(
                                    acc, __riscv_vle16_v_f16m4(dyr + (size_t)ow_l[b] * C, vl),
                                    __riscv_vle16_v_f16m4(wr + (size_t)kw_l[b] * C, vl), vl);
                        }
                    } else { /* windows wider than ODL_RVV_MAX_TAPS: the reference's checks, tap by tap */
                        for (int32_t kh = 0; kh < KH; ++kh) {
                            const int32_t th = ih + pt - kh * dh;
                            if (th < 0 || th % sh || th / sh >= OH) continue;
                            for (int32_t kw = 0; kw < KW; ++kw) {
                                const int32_t tw = iw + pl - kw * dl;
                                if (tw < 0 || tw % sw || tw / sw >= OW) continue;
                                acc = __riscv_vfwmacc_vv_f32m8(
                                    acc, __riscv_vle16_v_f16m4(dy + (((size_t)n * OH + th / sh) * OW + tw / sw) * C + c, vl),
                                    __riscv_vle16_v_f16m4(w + ((size_t)kh * KW + kw) * C + c, vl), vl);
                            }
                        }
                    }
                    __riscv_vse16_v_f16m4(dxp + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                    c += (int32_t)vl;
                }
            }
        }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
