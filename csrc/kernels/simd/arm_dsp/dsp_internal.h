/* Private helpers of the ARM DSP path (csrc/kernels/simd/arm_dsp): loads, the two instructions ACLE has no
 * intrinsic for, and the exact fast requantization shared by the int8 kernels. */
#ifndef ODL_ARM_DSP_INTERNAL_H
#define ODL_ARM_DSP_INTERNAL_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#include "internal/odl_math.h"
#include "odl/quant.h"

#if !defined(__ARM_FEATURE_DSP)
#error "ODL_WITH_ARM_DSP needs a core with the DSP extension (Cortex-M4/M7/M33+DSP): SXTB16, SMLAD, SMMULR"
#endif

static inline __attribute__((always_inline)) uint32_t odl_ld32(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Taps 1 and 3 of a word, sign-extended to two int16 lanes (no ACLE intrinsic takes the rotation). */
static inline __attribute__((always_inline)) uint32_t odl_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* (a * b + 2^31) >> 32, the rounded high word of the 64-bit product. */
static inline __attribute__((always_inline)) int32_t odl_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* Up to 3 trailing bytes of a row as a word (zeros above), reading nothing past p + n. */
static inline __attribute__((always_inline)) uint32_t odl_ld_tail(const int8_t *p, int32_t n) {
    uint32_t v = (uint8_t)p[0];
    if (n > 1) v |= (uint32_t)(uint8_t)p[1] << 8;
    if (n > 2) v |= (uint32_t)(uint8_t)p[2] << 16;
    return v;
}

/* Exact fast requantization of one output channel (double rounding, TFLite/gemmlowp):
 *   SaturatingRoundingDoublingHighMul(x, m) = floor((x m + 2^30) / 2^31) = SMMULR(2x, m)   when |x| < 2^30,
 *   RoundingDivideByPOT(r, e) + offset = (r + (r >> 31 if e >= 1) + 2^(e-1) + (offset << e)) >> e,
 * valid when |acc << left_shift| < 2^29, e <= 21 and |offset| <= 255 (odl_dsp_rq_fast_ok checks them per call). */
typedef struct {
    int32_t ls1;  /* left shift + 1 (SMMULR on 2x) */
    int32_t mult; /* Q0.31 multiplier */
    int32_t adj;  /* -1 when e >= 1: rounds half away from zero */
    int32_t c;    /* 2^(e-1) + (output_offset << e) */
    int32_t e;    /* right shift */
} odl_dsp_rq;

/* 1 when every channel's constants and |acc| <= acc_max allow the fast path (never with single rounding). */
static inline int odl_dsp_rq_fast_ok(const odl_requant *q, int32_t channels, int64_t acc_max, const odl_output_s8 *o) {
#ifdef ODL_SINGLE_ROUNDING
    (void)q, (void)channels, (void)acc_max, (void)o;
    return 0;
#else
    if (o->output_offset > 255 || o->output_offset < -255 || o->act_min > o->act_max) return 0;
    const int32_t nq = q->per_channel ? channels : 1;
    for (int32_t j = 0; j < nq; ++j) {
        const int32_t sh = q->shift[j];
        const int32_t ls = sh > 0 ? sh : 0, e = sh < 0 ? -sh : 0;
        if (e > 21 || ls > 28 || (acc_max << ls) >= ((int64_t)1 << 29)) return 0;
    }
    return 1;
#endif
}

static inline void odl_dsp_rq_setup(odl_dsp_rq *p, const odl_requant *q, int32_t ch, const odl_output_s8 *o) {
    const int32_t qi = q->per_channel ? ch : 0;
    const int32_t sh = q->shift[qi];
    const int32_t ls = sh > 0 ? sh : 0, e = sh < 0 ? -sh : 0;
    p->ls1 = ls + 1;
    p->mult = q->multiplier[qi];
    p->adj = e ? -1 : 0;
    p->c = (e ? (1 << (e - 1)) : 0) + (int32_t)((uint32_t)o->output_offset << e);
    p->e = e;
}

/* The requantized value saturated to int8 (the activation clamp is the caller's). */
static inline int32_t odl_dsp_rq_apply(int32_t acc, const odl_dsp_rq *p) {
    int32_t r = odl_smmulr((int32_t)((uint32_t)acc << p->ls1), p->mult);
    r += (r >> 31) & p->adj;
    return __ssat((r + p->c) >> p->e, 8);
}

#endif /* ODL_ARM_DSP_INTERNAL_H */
