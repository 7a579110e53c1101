/* RISC-V V path of the fp16 depthwise conv2d (depth multiplier 1): forward, weight grad and input grad, the
 * overrides of odl_layers_rvv. Vectorised over 32 channels (fp16 LMUL 4 -> fp32 LMUL 8) with vfwmacc.vv; every
 * output element sees the reference's fp32 additions in the reference's order and fp16 x fp16 products are exact
 * in fp32, so all three are bit-exact with the reference loops of fp_depthwise_conv2d_impl.h. They are called
 * after the reference has validated the arguments (FP_DW_SIMD_HOOK), so they do not check them again. */
#ifdef ODL_WITH_RVV
#include "odl/layer_paths.h"
#include "simd/rvv/rvv_internal.h"

odl_status odl_depthwise_conv2d_f16_forward_rvv(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *w,
                                                const odl_f16 *bias, odl_f16 *y) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t n = 0; n < p->in.n; ++n) {
        const odl_f16 *xi = x + (size_t)n * H * W * C;
        for (int32_t oh = 0; oh < win->out_h; ++oh)
            for (int32_t ow = 0; ow < win->out_w; ++ow) {
                odl_f16 *yo = y + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C;
                for (int32_t c = 0; c < C;) {
                    const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                    vfloat32m8_t acc = bias ? __riscv_vfwcvt_f_f_v_f32m8(__riscv_vle16_v_f16m4(bias + c, vl), vl)
                                            : __riscv_vfmv_v_f_f32m8(0.0f, vl);
                    for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
                        const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                        if (ih < 0 || ih >= H) continue;
                        for (int32_t kw = 0; kw < win->kernel_w; ++kw) {
                            const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                            if (iw < 0 || iw >= W) continue;
                            const vfloat16m4_t vx = __riscv_vle16_v_f16m4(xi + ((size_t)ih * W + iw) * C + c, vl);
                            const vfloat16m4_t vw =
                                __riscv_vle16_v_f16m4(w + ((size_t)kh * win->kernel_w + kw) * C + c, vl);
                            acc = __riscv_vfwmacc_vv_f32m8(acc, vx, vw, vl);
                        }
                    }
                    __riscv_vse16_v_f16m4(yo + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                    c += (int32_t)vl;
                }
            }
    }
    return ODL_OK;
}

odl_status odl_depthwise_conv2d_f16_weight_grad_rvv(const odl_conv_f_params *p, const odl_f16 *x, const odl_f16 *dy,
                                                    odl_f16 *dw, odl_f16 *db) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t kh = 0; kh < win->kernel_h; ++kh)
        for (int32_t kw = 0; kw < win->kernel_w; ++kw)
            for (int32_t c = 0; c < C;) {
                const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
                for (int32_t n = 0; n < p->in.n; ++n)
                    for (int32_t oh = 0; oh < win->out_h; ++oh) {
                        const int32_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                        if (ih < 0 || ih >= H) continue;
                        const odl_f16 *dyr = dy + (((size_t)n * win->out_h + oh) * win->out_w) * C + c;
                        const odl_f16 *xr = x + (((size_t)n * H + ih) * W) * C + c;
                        for (int32_t ow = 0; ow < win->out_w; ++ow) {
                            const int32_t iw = ow * win->stride_w - win->pad_left + kw * win->dilation_w;
                            if (iw < 0 || iw >= W) continue;
                            acc = __riscv_vfwmacc_vv_f32m8(acc, __riscv_vle16_v_f16m4(dyr + (size_t)ow * C, vl),
                                                           __riscv_vle16_v_f16m4(xr + (size_t)iw * C, vl), vl);
                        }
                    }
                __riscv_vse16_v_f16m4(dw + ((size_t)kh * win->kernel_w + kw) * C + c,
                                      __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                c += (int32_t)vl;
            }
    if (db) {
        const size_t total = (size_t)p->in.n * win->out_h * win->out_w;
        for (int32_t c = 0; c < C;) {
            const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
            vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
            for (size_t i = 0; i < total; ++i)
                acc = __riscv_vfwadd_wv_f32m8(acc, __riscv_vle16_v_f16m4(dy + i * C + c, vl), vl);
            __riscv_vse16_v_f16m4(db + c, __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
            c += (int32_t)vl;
        }
    }
    return ODL_OK;
}

odl_status odl_depthwise_conv2d_f16_input_grad_rvv(const odl_conv_f_params *p, const odl_f16 *dy, const odl_f16 *w,
                                                   odl_f16 *dx) {
    const odl_window *win = &p->win;
    const int32_t H = p->in.h, W = p->in.w, C = p->in.c;
    for (int32_t n = 0; n < p->in.n; ++n)
        for (int32_t ih = 0; ih < H; ++ih)
            for (int32_t iw = 0; iw < W; ++iw)
                for (int32_t c = 0; c < C;) {
                    const size_t vl = __riscv_vsetvl_e16m4((size_t)(C - c));
                    vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
                    for (int32_t kh = 0; kh < win->kernel_h; ++kh) {
                        const int32_t th = ih + win->pad_top - kh * win->dilation_h;
                        if (th < 0 || th % win->stride_h) continue;
                        const int32_t oh = th / win->stride_h;
                        if (oh >= win->out_h) continue;
                        for (int32_t kw = 0; kw < win->kernel_w; ++kw) {
                            const int32_t tw = iw + win->pad_left - kw * win->dilation_w;
                            if (tw < 0 || tw % win->stride_w) continue;
                            const int32_t ow = tw / win->stride_w;
                            if (ow >= win->out_w) continue;
                            const vfloat16m4_t vdy = __riscv_vle16_v_f16m4(
                                dy + (((size_t)n * win->out_h + oh) * win->out_w + ow) * C + c, vl);
                            const vfloat16m4_t vw =
                                __riscv_vle16_v_f16m4(w + ((size_t)kh * win->kernel_w + kw) * C + c, vl);
                            acc = __riscv_vfwmacc_vv_f32m8(acc, vdy, vw, vl);
                        }
                    }
                    __riscv_vse16_v_f16m4(dx + (((size_t)n * H + ih) * W + iw) * C + c,
                                          __riscv_vfncvt_f_f_w_f16m4(acc, vl), vl);
                    c += (int32_t)vl;
                }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
