/* Private to the Helium path: FP16 <-> FP32 vector conversions (VCVTB / VCVTT, F32.F16 and F16.F32).
 *
 * The Debian binutils 2.40 assembler mis-encodes these four instructions when the source register is q4..q7
 * (objdump and QEMU then see an UNDEFINED instruction; gcc 12's vcvtbq_f32_f16 etc. may allocate any register).
 * So they are emitted here as .inst words with fixed registers (result q0, source q1), encoded per the Armv8.1-M
 * ARM: first halfword 0xFE3F (F32.F16) or 0xEE3F (F16.F32); second Qd<<13 | T<<12 | 0xE00 | Qm<<1 | 1. */
#ifndef ODL_MVE_CVT_H
#define ODL_MVE_CVT_H
#include <arm_mve.h>

/* FP32 of the even (bottom) FP16 lanes. */
static inline float32x4_t odl_mve_cvtb_f32_f16(float16x8_t v) {
    register float16x8_t a __asm__("q1") = v;
    register float32x4_t r __asm__("q0");
    __asm__(".inst.w 0xfe3f0e03 @ vcvtb.f32.f16 q0, q1" : "=w"(r) : "w"(a));
    return r;
}

/* FP32 of the odd (top) FP16 lanes. */
static inline float32x4_t odl_mve_cvtt_f32_f16(float16x8_t v) {
    register float16x8_t a __asm__("q1") = v;
    register float32x4_t r __asm__("q0");
    __asm__(".inst.w 0xfe3f1e03 @ vcvtt.f32.f16 q0, q1" : "=w"(r) : "w"(a));
    return r;
}

/* FP16 vector whose even lanes are e and odd lanes are o (rounded to nearest). */
static inline float16x8_t odl_mve_cvt_f16_f32(float32x4_t e, float32x4_t o) {
    register float16x8_t r __asm__("q0") = vdupq_n_f16(0);
    register float32x4_t a __asm__("q1") = e;
    __asm__(".inst.w 0xee3f0e03 @ vcvtb.f16.f32 q0, q1" : "+w"(r) : "w"(a));
    a = o;
    __asm__(".inst.w 0xee3f1e03 @ vcvtt.f16.f32 q0, q1" : "+w"(r) : "w"(a));
    return r;
}

#endif
