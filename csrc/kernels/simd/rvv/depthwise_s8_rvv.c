/* RISC-V V path of odl_depthwise_conv2d_s8_forward (depth multiplier >= 1), bit-exact with the reference.
 *
 * Vectorised over 16 channels (e8 LMUL 1 -> int16 LMUL 2 -> int32 LMUL 4). Per valid tap:
 *   acc32 += x * w       (vwmul to exact int16 products, vwadd.wv into int32)
 *   wsum16 += w          (vwadd.wv), so that the input offset enters once: acc += off * sum_valid_taps w
 * (wsum is folded into acc every 256 taps, before int16 could overflow). Padded taps are skipped exactly as the
 * reference skips them. With depth multiplier dm > 1, lane c of a vector is input channel c and output channel
 * c * dm + m: weights are read and outputs written with a byte stride of dm. Requantization is vectorised
 * (rvv_internal.h).
 */
#ifdef ODL_WITH_RVV
#include "odl/layer_paths.h"
#include "ref/s8_internal.h"
#include "simd/rvv/rvv_internal.h"

odl_status odl_depthwise_conv2d_s8_forward_rvv(const int8_t *input, const odl_dims *in_dims, const int8_t *filter,
                                               int32_t kernel_h, int32_t kernel_w, int32_t depth_multiplier,
                                               const int32_t *bias, const odl_conv_s8_params *p, const odl_requant *q,
                                               const odl_output_s8 *o, const odl_dims *out_dims, int8_t *output) {
    if (!input || !filter || !output || !odl_s8_dims_ok(in_dims) || !odl_s8_dims_ok(out_dims) ||
        depth_multiplier <= 0 || !p || !odl_s8_requant_ok(q) || !odl_s8_output_ok(o))
        return ODL_ERR_ARG;
    if (p->input_offset < -127 || p->input_offset > 128) return ODL_ERR_ARG;
    odl_window win;
    odl_status st = odl_s8_window(in_dims, kernel_h, kernel_w, p, &win);
    if (st != ODL_OK) return st;
    const int32_t cin = in_dims->c, dm = depth_multiplier, cout = cin * dm;
    if (out_dims->n != in_dims->n || out_dims->h != win.out_h || out_dims->w != win.out_w || out_dims->c != cout)
        return ODL_ERR_SHAPE;
    const int32_t off = p->input_offset;
    int32_t acc_buf[16];
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * in_dims->h * in_dims->w * cin;
        for (int32_t oy = 0; oy < win.out_h; ++oy) {
            const int32_t y0 = oy * win.stride_h - win.pad_top;
            for (int32_t ox = 0; ox < win.out_w; ++ox) {
                const int32_t x0 = ox * win.stride_w - win.pad_left;
                int8_t *dst = output + (((size_t)b * win.out_h + oy) * win.out_w + ox) * cout;
                for (int32_t m = 0; m < dm; ++m) {
                    for (int32_t c0 = 0; c0 < cin;) {
                        const size_t vl = __riscv_vsetvl_e8m1((size_t)(cin - c0));
                        vint32m4_t acc = __riscv_vmv_v_x_i32m4(0, vl);
                        vint16m2_t wsum = __riscv_vmv_v_x_i16m2(0, vl);
                        int32_t taps = 0;
                        for (int32_t ky = 0; ky < kernel_h; ++ky) {
                            const int32_t y = y0 + ky * win.dilation_h;
                            if (y < 0 || y >= in_dims->h) continue;
                            for (int32_t kx = 0; kx < kernel_w; ++kx) {
                                const int32_t x = x0 + kx * win.dilation_w;
                                if (x < 0 || x >= in_dims->w) continue;
                                const int8_t *xp = img + ((size_t)y * in_dims->w + x) * cin + c0;
                                const int8_t *wp = filter + ((size_t)ky * kernel_w + kx) * cout + (size_t)c0 * dm + m;
                                const vint8m1_t vx = __riscv_vle8_v_i8m1(xp, vl);
                                const vint8m1_t vw = dm == 1 ? __riscv_vle8_v_i8m1(wp, vl)
                                                             : __riscv_vlse8_v_i8m1(wp, dm, vl);
                                acc = __riscv_vwadd_wv_i32m4(acc, __riscv_vwmul_vv_i16m2(vx, vw, vl), vl);
                                wsum = __riscv_vwadd_wv_i16m2(wsum, vw, vl);
                                if (++taps == 256) { /* 256 * 128 fits int16 */
                                    acc = __riscv_vwmacc_vx_i32m4(acc, (int16_t)off, wsum, vl);
                                    wsum = __riscv_vmv_v_x_i16m2(0, vl);
                                    taps = 0;
                                }
                            }
                        }
                        acc = __riscv_vwmacc_vx_i32m4(acc, (int16_t)off, wsum, vl);
                        if (bias) {
                            const vint32m4_t vb = dm == 1 ? __riscv_vle32_v_i32m4(bias + c0, vl)
                                                          : __riscv_vlse32_v_i32m4(bias + (size_t)c0 * dm + m,
                                                                                   (ptrdiff_t)dm * 4, vl);
                            acc = __riscv_vadd_vv_i32m4(acc, vb, vl);
                        }
#ifdef ODL_SINGLE_ROUNDING
                        __riscv_vse32_v_i32m4(acc_buf, acc, vl);
                        for (size_t l = 0; l < vl; ++l) {
                            const int32_t oc = (c0 + (int32_t)l) * dm + m;
                            dst[oc] = odl_requant_s8(acc_buf[l], q, oc, o);
                        }
#else
                        (void)acc_buf;
                        if (dm == 1 || !q->per_channel) {
                            const vint8m1_t r = odl_rvv_requant_s8(acc, q, c0, o, vl);
                            if (dm == 1)
                                __riscv_vse8_v_i8m1(dst + c0, r, vl);
                            else
                                __riscv_vsse8_v_i8m1(dst + (size_t)c0 * dm + m, dm, r, vl);
                        } else { /* per-channel parameters of channels c*dm+m: strided, requantize lane by lane */
                            __riscv_vse32_v_i32m4(acc_buf, acc, vl);
                            for (size_t l = 0; l < vl; ++l) {
                                const int32_t oc = (c0 + (int32_t)l) * dm + m;
                                dst[oc] = odl_requant_s8(acc_buf[l], q, oc, o);
                            }
                        }
#endif
                        c0 += (int32_t)vl;
                    }
                }
            }
        }
    }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
