/* Private helpers of the RISC-V V path (csrc/kernels/simd/rvv/): argument checks and the vectorised int8
 * requantization shared by the int8 matmul and the int8 depthwise kernel. Only included under ODL_WITH_RVV.
 *
 * Requantization is TFLite's MultiplyByQuantizedMultiplier with gemmlowp double rounding, bit-exact, on 16 int32
 * lanes (e32, LMUL 4):
 *   SaturatingRoundingDoublingHighMul(x, m) == vsmul.vv with vxrm = RNU: gemmlowp's nudge (2^30, or 1 - 2^30 for a
 *     negative product) followed by a truncating division is floor((x*m + 2^30) / 2^31), i.e. round-half-up,
 *     which is exactly vsmul's roundoff_signed(x*m, 31) under RNU (both saturate INT32_MIN * INT32_MIN only);
 *   RoundingDivideByPOT(x, e) rounds half away from zero; vssra with RNU rounds half up, so negative x are first
 *     lowered by one when e > 0: floor((x - 1 + 2^(e-1)) / 2^e) is the half-away result for x < 0. (x is never
 *     INT32_MIN here: |SRDHM(x, m)| <= 2^31 - 1.)
 * With -DODL_SINGLE_ROUNDING the kernels fall back to the scalar odl_requant_s8 of internal/odl_math.h.
 */
#ifndef ODL_RVV_INTERNAL_H
#define ODL_RVV_INTERNAL_H

#include <riscv_vector.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/odl_math.h"
#include "odl/quant.h"

#define ODL_RVV_INLINE static inline __attribute__((always_inline))

/* int8 outputs of 16 (or fewer) int32 accumulators of output channels ch0, ch0 + ch_stride, ... */
ODL_RVV_INLINE vint8m1_t odl_rvv_requant_s8_strided(vint32m4_t acc, const odl_requant *q, int32_t ch0,
                                                    ptrdiff_t ch_stride, const odl_output_s8 *o, size_t vl) {
    vint32m4_t mult, shift;
    if (q->per_channel && ch_stride == 1) {
        mult = __riscv_vle32_v_i32m4(q->multiplier + ch0, vl);
        shift = __riscv_vle32_v_i32m4(q->shift + ch0, vl);
    } else if (q->per_channel) {
        mult = __riscv_vlse32_v_i32m4(q->multiplier + ch0, ch_stride * 4, vl);
        shift = __riscv_vlse32_v_i32m4(q->shift + ch0, ch_stride * 4, vl);
    } else {
        mult = __riscv_vmv_v_x_i32m4(q->multiplier[0], vl);
        shift = __riscv_vmv_v_x_i32m4(q->shift[0], vl);
    }
    const vint32m4_t ls = __riscv_vmax_vx_i32m4(shift, 0, vl);
    const vint32m4_t rs = __riscv_vmax_vx_i32m4(__riscv_vneg_v_i32m4(shift, vl), 0, vl);
    vint32m4_t x = __riscv_vsll_vv_i32m4(acc, __riscv_vreinterpret_v_i32m4_u32m4(ls), vl);
    x = __riscv_vsmul_vv_i32m4(x, mult, __RISCV_VXRM_RNU, vl);
    /* -1 in lanes with x < 0 and a right shift, else 0 */
    const vint32m4_t rs_on = __riscv_vsra_vx_i32m4(__riscv_vneg_v_i32m4(rs, vl), 31, vl);
    x = __riscv_vadd_vv_i32m4(x, __riscv_vand_vv_i32m4(__riscv_vsra_vx_i32m4(x, 31, vl), rs_on, vl), vl);
    x = __riscv_vssra_vv_i32m4(x, __riscv_vreinterpret_v_i32m4_u32m4(rs), __RISCV_VXRM_RNU, vl);
    x = __riscv_vadd_vx_i32m4(x, o->output_offset, vl);
    x = __riscv_vmax_vx_i32m4(x, o->act_min, vl);
    x = __riscv_vmin_vx_i32m4(x, o->act_max, vl);
    return __riscv_vncvt_x_x_w_i8m1(__riscv_vncvt_x_x_w_i16m2(x, vl), vl);
}

/* int8 outputs of 16 (or fewer) int32 accumulators of output channels ch0 .. ch0 + vl - 1. */
ODL_RVV_INLINE vint8m1_t odl_rvv_requant_s8(vint32m4_t acc, const odl_requant *q, int32_t ch0, const odl_output_s8 *o,
                                            size_t vl) {
    return odl_rvv_requant_s8_strided(acc, q, ch0, 1, o, vl);
}

/* Requantize acc[0..count) of channels ch0.. and store them to out with a byte stride (1 = contiguous). */
ODL_RVV_INLINE void odl_rvv_requant_store_s8(const int32_t *acc, const odl_requant *q, int32_t ch0,
                                             const odl_output_s8 *o, int8_t *out, int32_t count, ptrdiff_t stride) {
#ifdef ODL_SINGLE_ROUNDING
    for (int32_t j = 0; j < count; ++j) out[j * stride] = odl_requant_s8(acc[j], q, ch0 + j, o);
#else
    for (int32_t j = 0; j < count;) {
        const size_t vl = __riscv_vsetvl_e32m4((size_t)(count - j));
        const vint8m1_t r = odl_rvv_requant_s8(__riscv_vle32_v_i32m4(acc + j, vl), q, ch0 + j, o, vl);
        if (stride == 1)
            __riscv_vse8_v_i8m1(out + j, r, vl);
        else
            __riscv_vsse8_v_i8m1(out + j * stride, stride, r, vl);
        j += (int32_t)vl;
    }
#endif
}

/* Requantize vl <= 32 lanes of int32 accumulators (LMUL 8) of channels ch0.. and store them contiguously. */
ODL_RVV_INLINE void odl_rvv_requant_store_m8(vint32m8_t acc, size_t vl, const odl_requant *q, int32_t ch0,
                                             const odl_output_s8 *o, int8_t *out) {
#ifdef ODL_SINGLE_ROUNDING
    int32_t buf[32]; /* callers pass vl <= 32 */
    __riscv_vse32_v_i32m8(buf, acc, vl);
    for (size_t l = 0; l < vl; ++l) out[l] = odl_requant_s8(buf[l], q, ch0 + (int32_t)l, o);
#else
    const size_t vlmax4 = __riscv_vsetvlmax_e32m4();
    const size_t n0 = vl < vlmax4 ? vl : vlmax4;
    __riscv_vse8_v_i8m1(out, odl_rvv_requant_s8(__riscv_vget_v_i32m8_i32m4(acc, 0), q, ch0, o, n0), n0);
    if (vl > n0)
        __riscv_vse8_v_i8m1(out + n0,
                            odl_rvv_requant_s8(__riscv_vget_v_i32m8_i32m4(acc, 1), q, ch0 + (int32_t)n0, o, vl - n0),
                            vl - n0);
#endif
}

/* Taps t in [*lo, *hi) of a window with `taps` taps starting at `start` with dilation `dil` that land inside
 * [0, size): start + t * dil in [0, size). */
ODL_RVV_INLINE void odl_rvv_tap_range(int32_t start, int32_t dil, int32_t size, int32_t taps, int32_t *lo,
                                      int32_t *hi) {
    int32_t l = start < 0 ? (-start + dil - 1) / dil : 0;
    int32_t h = start >= size ? 0 : (size - 1 - start) / dil + 1;
    if (h > taps) h = taps;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

#endif /* ODL_RVV_INTERNAL_H */
