/* RISC-V V path of odl_depthwise_conv2d_s8_forward (depth multiplier >= 1), bit-exact with the reference.
 *
 * Vectorised over up to 32 channels (e8 LMUL 2 -> int16 LMUL 4 -> int32 LMUL 8). For each output pixel the range
 * of taps inside the image is computed once (padded taps are skipped, as the reference skips them). Per tap:
 *   acc32 += x * w       (vwmul to exact int16 products, vwadd.wv into int32)
 *   wsum16 += w          (vwadd.wv), so that the input offset enters once: acc += off * sum_valid_taps w
 * (wsum is folded into acc before 256 taps, while int16 cannot overflow). With depth multiplier dm > 1, lane c
 * is input channel c and output channel c * dm + m: weights are read and outputs written with a stride of dm.
 * Requantization is vectorised (rvv_internal.h), per half of the 32 lanes.
 */
#ifdef ODL_WITH_RVV
#include "odl/layer_paths.h"
#include "ref/s8_internal.h"
#include "simd/rvv/rvv_internal.h"

#define ODL_RVV_DW_LANES 32

/* Requantize the lanes of acc (channels c0.. of multiplier m) and store them to dst (NHWC pixel, cout channels). */
static void odl_rvv_dw_s8_store(vint32m8_t acc, size_t vl, const odl_requant *q, const odl_output_s8 *o, int32_t c0,
                                int32_t dm, int32_t m, int8_t *dst) {
#ifndef ODL_SINGLE_ROUNDING
    const size_t vlmax4 = __riscv_vsetvlmax_e32m4();
    for (size_t h = 0, done = 0; done < vl; ++h) {
        const size_t cnt = vl - done < vlmax4 ? vl - done : vlmax4;
        const vint32m4_t part = h ? __riscv_vget_v_i32m8_i32m4(acc, 1) : __riscv_vget_v_i32m8_i32m4(acc, 0);
        const int32_t oc0 = (c0 + (int32_t)done) * dm + m; /* output channel of the first lane */
        const vint8m1_t r = odl_rvv_requant_s8_strided(part, q, oc0, dm, o, cnt);
        if (dm == 1)
            __riscv_vse8_v_i8m1(dst + oc0, r, cnt);
        else
            __riscv_vsse8_v_i8m1(dst + oc0, dm, r, cnt);
        done += cnt;
    }
#else /* single rounding: lane by lane */
    int32_t buf[ODL_RVV_DW_LANES];
    __riscv_vse32_v_i32m8(buf, acc, vl);
    for (size_t l = 0; l < vl; ++l) {
        const int32_t oc = (c0 + (int32_t)l) * dm + m;
        dst[oc] = odl_requant_s8(buf[l], q, oc, o);
    }
#endif
}

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
    const int32_t H = in_dims->h, W = in_dims->w, off = p->input_offset;
    const int32_t out_h = win.out_h, out_w = win.out_w, sh = win.stride_h, sw = win.stride_w;
    const int32_t dh = win.dilation_h, dw = win.dilation_w, pt = win.pad_top, pl = win.pad_left;
    const ptrdiff_t x_step = (ptrdiff_t)dw * cin; /* next tap in a kernel row */
    for (int32_t b = 0; b < in_dims->n; ++b) {
        const int8_t *img = input + (size_t)b * H * W * cin;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * sh - pt;
            int32_t ky0, ky1;
            odl_rvv_tap_range(y0, dh, H, kernel_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * sw - pl;
                int32_t kx0, kx1;
                odl_rvv_tap_range(x0, dw, W, kernel_w, &kx0, &kx1);
                const int32_t row_taps = kx1 - kx0;
                int8_t *dst = output + (((size_t)b * out_h + oy) * out_w + ox) * cout;
                for (int32_t m = 0; m < dm; ++m) {
                    for (int32_t c0 = 0; c0 < cin;) {
                        const size_t vl = __riscv_vsetvl_e8m2((size_t)ODL_MIN(cin - c0, ODL_RVV_DW_LANES));
                        vint32m8_t acc = __riscv_vmv_v_x_i32m8(0, vl);
                        vint16m4_t wsum = __riscv_vmv_v_x_i16m4(0, vl);
                        int32_t in_wsum = 0;
                        for (int32_t ky = ky0; ky < ky1; ++ky) {
                            if (in_wsum + row_taps > 256) { /* 256 * 128 still fits int16 */
                                acc = __riscv_vwmacc_vx_i32m8(acc, (int16_t)off, wsum, vl);
                                wsum = __riscv_vmv_v_x_i16m4(0, vl);
                                in_wsum = 0;
                            }
                            in_wsum += row_taps;
                            const int8_t *xp = img + ((size_t)(y0 + ky * dh) * W + x0 + kx0 * dw) * cin + c0;
                            const int8_t *wp = filter + ((size_t)ky * kernel_w + kx0) * cout + (size_t)c0 * dm + m;
                            if (dm == 1) {
                                for (int32_t t = 0; t < row_taps; ++t, xp += x_step, wp += cout) {
                                    const vint8m2_t vw = __riscv_vle8_v_i8m2(wp, vl);
                                    acc = __riscv_vwadd_wv_i32m8(
                                        acc, __riscv_vwmul_vv_i16m4(__riscv_vle8_v_i8m2(xp, vl), vw, vl), vl);
                                    wsum = __riscv_vwadd_wv_i16m4(wsum, vw, vl);
                                }
                            } else {
                                for (int32_t t = 0; t < row_taps; ++t, xp += x_step, wp += cout) {
                                    const vint8m2_t vw = __riscv_vlse8_v_i8m2(wp, dm, vl);
                                    acc = __riscv_vwadd_wv_i32m8(
                                        acc, __riscv_vwmul_vv_i16m4(__riscv_vle8_v_i8m2(xp, vl), vw, vl), vl);
                                    wsum = __riscv_vwadd_wv_i16m4(wsum, vw, vl);
                                }
                            }
                        }
                        acc = __riscv_vwmacc_vx_i32m8(acc, (int16_t)off, wsum, vl);
                        if (bias) {
                            const vint32m8_t vb = dm == 1 ? __riscv_vle32_v_i32m8(bias + c0, vl)
                                                          : __riscv_vlse32_v_i32m8(bias + (size_t)c0 * dm + m,
                                                                                   (ptrdiff_t)dm * 4, vl);
                            acc = __riscv_vadd_vv_i32m8(acc, vb, vl);
                        }
                        odl_rvv_dw_s8_store(acc, vl, q, o, c0, dm, m, dst);
                        c0 += (int32_t)vl;
                    }
                }
            }
        }
    }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
