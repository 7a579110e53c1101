/* Helium (MVE) odl_matmul_s8 (NT layout), bit-exact with odl_matmul_s8_ref.
 *
 *   sum_k (a[m,k] + off) * b[n,k] = sum_k a[m,k] * b[n,k] + off * sum_k b[n,k]
 * The int8 dot products use VMLADAVA.S8 (16 MACs per instruction into a 32-bit general register). Rows of A are
 * taken three at a time against two rows of B (6 accumulators: VMLADAVA needs even registers, r0..r12 hold
 * seven), so one step over 16 taps is 5 loads + 6 VMLADAVA for 96 MACs. The column sums of B are computed once per
 * block of columns and folded into the accumulator's start value with the bias. The last M % 3 rows use a
 * 1 x 3 kernel that sums B in the same loop (VADDVA). K tails: tail-predicated loops (WLSTP / LETP).
 * K = 16 and K = 32 (pointwise convolutions with 16 / 32 input channels) use 4 x 2 blocks with the K loop unrolled:
 * with no low-overhead loop, LR becomes the 8th even accumulator.
 * All sums are exact modulo 2^32, like the reference's int32 accumulator.
 *
 * Requantization is vectorised over 4 output channels (mve_requant.h, exactly odl_requant_s8), stored with
 * VSTRB.32 (narrowing store).
 * Builds with ODL_SINGLE_ROUNDING requantize with the scalar odl_requant_s8.
 */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>

#include "internal/odl_math.h"
#include "mve_requant.h"
#include "odl/matmul.h"

#define ODL_MVE_NB 32 /* columns per block: int32 scratch on the stack is 4 * (1 + 3) * NB bytes */

/* The two inner kernels are inline assembly: a tail-predicated low-overhead loop (WLSTP.8 / LETP) covers any K
 * with no separate tail code (the last iteration's inactive lanes are neither loaded nor accumulated), and the
 * accumulators sit in fixed even registers (VMLADAVA's RdaLo must be even). Operands are pinned with local
 * register variables; q0-q3 and lr are clobbered. */

/* 3 rows x 2 columns, K taps; r[i*2+j] += dot(a_i, b_j). Per 16 taps: 5 loads + 6 VMLADAVA + LETP (96 MACs). */
static inline void odl_mve_dot3x2(const int8_t *a0, const int8_t *a1, const int8_t *a2, const int8_t *b0,
                                  const int8_t *b1, int32_t k, int32_t *r) {
    register int32_t s00 __asm__("r0") = r[0], s01 __asm__("r2") = r[1], s10 __asm__("r4") = r[2];
    register int32_t s11 __asm__("r6") = r[3], s20 __asm__("r8") = r[4], s21 __asm__("r10") = r[5];
    register const int8_t *pa0 __asm__("r1") = a0, *pa1 __asm__("r3") = a1, *pa2 __asm__("r5") = a2;
    register const int8_t *pb0 __asm__("r9") = b0, *pb1 __asm__("r11") = b1;
    register int32_t n __asm__("r12") = k;
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n"
                     "vldrb.8 q0, [%[b0]], #16\n"
                     "vldrb.8 q1, [%[b1]], #16\n"
                     "vldrb.8 q2, [%[a0]], #16\n"
                     "vmladava.s8 %[s00], q2, q0\n"
                     "vmladava.s8 %[s01], q2, q1\n"
                     "vldrb.8 q3, [%[a1]], #16\n"
                     "vmladava.s8 %[s10], q3, q0\n"
                     "vmladava.s8 %[s11], q3, q1\n"
                     "vldrb.8 q2, [%[a2]], #16\n"
                     "vmladava.s8 %[s20], q2, q0\n"
                     "vmladava.s8 %[s21], q2, q1\n"
                     "letp lr, 1b\n"
                     "2:\n"
                     : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [s20] "+r"(s20),
                       [s21] "+r"(s21), [a0] "+r"(pa0), [a1] "+r"(pa1), [a2] "+r"(pa2), [b0] "+r"(pb0),
                       [b1] "+r"(pb1)
                     : [n] "r"(n)
                     : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "lr", "memory");
    r[0] = s00, r[1] = s01, r[2] = s10, r[3] = s11, r[4] = s20, r[5] = s21;
}

/* Rows a, a+k, a+2k against `pairs` pairs of B rows starting at b: acc[t][j] (t = 0..2, row stride ODL_MVE_NB)
 * receives each output's sum, started from acc[4][j] (the start values, 4 rows below). The whole column loop is
 * one assembly block, so a pair of columns costs 22 instructions besides its inner loop (1 LDRD + 4 MOV of the
 * start values, 3 STRD, pointer updates through four stack slots: acc, end of acc, a, next b). r7 is not used (it
 * is the frame pointer in -O0 builds). */
static inline void odl_mve_rows3(const int8_t *a, const int8_t *b, int32_t k, int32_t pairs, int32_t *acc) {
    /* stack slots: [sp] end of acc, [sp+4] a0, [sp+8] next b0, [sp+12] acc (r7, a frame pointer in some builds,
     * is left alone) */
    register int32_t *end __asm__("r0") = acc + 2 * pairs;
    register const int8_t *pa __asm__("r1") = a;
    register int32_t *pacc __asm__("r2") = acc;
    register const int8_t *pb __asm__("r9") = b;
    register int32_t n __asm__("r12") = k;
    __asm__ volatile("push {r0, r1, r9}\n"
                     "str r2, [sp, #-4]!\n" /* now [sp] acc, [sp+4] end, [sp+8] a0, [sp+12] next b0 */
                     "1:\n"
                     "ldr r9, [sp, #12]\n"  /* b0 */
                     "add r11, r9, r12\n"   /* b1 = b0 + k */
                     "add r1, r11, r12\n"
                     "str r1, [sp, #12]\n"  /* next b0 = b0 + 2k */
                     "ldr r1, [sp]\n"
                     "ldrd r0, r2, [r1, #512]\n" /* start values: init[j], init[j+1] (ODL_MVE_NB rows below) */
                     "mov r4, r0\n"
                     "mov r6, r2\n"
                     "mov r8, r0\n"
                     "mov r10, r2\n"
                     "ldr r1, [sp, #8]\n"   /* a0 */
                     "add r3, r1, r12\n"    /* a1 */
                     "add r5, r3, r12\n"    /* a2 */
                     "wlstp.8 lr, r12, 3f\n"
                     "2:\n"
                     "vldrb.8 q0, [r9], #16\n"
                     "vldrb.8 q1, [r11], #16\n"
                     "vldrb.8 q2, [r1], #16\n"
                     "vmladava.s8 r0, q2, q0\n"
                     "vmladava.s8 r2, q2, q1\n"
                     "vldrb.8 q3, [r3], #16\n"
                     "vmladava.s8 r4, q3, q0\n"
                     "vmladava.s8 r6, q3, q1\n"
                     "vldrb.8 q2, [r5], #16\n"
                     "vmladava.s8 r8, q2, q0\n"
                     "vmladava.s8 r10, q2, q1\n"
                     "letp lr, 2b\n"
                     "3:\n"
                     "ldr r1, [sp]\n"
                     "strd r4, r6, [r1, #128]\n"
                     "strd r8, r10, [r1, #256]\n"
                     "strd r0, r2, [r1], #8\n"
                     "str r1, [sp]\n"
                     "ldr r0, [sp, #4]\n"
                     "cmp r1, r0\n"
                     "bne 1b\n"
                     "add sp, #16\n"
                     : "+r"(end), "+r"(pa), "+r"(pacc), "+r"(pb)
                     : "r"(n)
                     : "r3", "r4", "r5", "r6", "r8", "r10", "r11", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6",
                       "d7", "cc", "memory");
}
/* K = 16 exactly: 4 rows x 2 columns with the K loop unrolled, so LR is free to be the 8th accumulator; rows and
 * columns are reached with immediate offsets from one pointer each (4 rows x 16 bytes < 128). Per column pair:
 * 2 + 4 loads, 8 VMLADAVA (128 MACs), 1 LDRD + 6 MOV of the start values, 4 STRD, 4 loop instructions. */
static inline void odl_mve_rows4_k16(const int8_t *a, const int8_t *b, int32_t pairs, int32_t *acc) {
    register int32_t *end __asm__("r0") = acc + 2 * pairs;
    register const int8_t *pa __asm__("r1") = a;
    register const int8_t *pb __asm__("r3") = b;
    register int32_t *pacc __asm__("r5") = acc;
    __asm__ volatile("str r0, [sp, #-8]!\n"
                     "1:\n"
                     "ldrd r0, r2, [r5, #512]\n"
                     "mov r4, r0\n"
                     "mov r6, r2\n"
                     "mov r8, r0\n"
                     "mov r10, r2\n"
                     "mov r12, r0\n"
                     "mov lr, r2\n"
                     "vldrb.8 q0, [r3, #0]\n"
                     "vldrb.8 q2, [r3, #16]\n"
                     "add r3, #32\n"
                     "vldrb.8 q4, [r1, #0]\n"
                     "vmladava.s8 r0, q4, q0\n"
                     "vmladava.s8 r2, q4, q2\n"
                     "vldrb.8 q4, [r1, #16]\n"
                     "vmladava.s8 r4, q4, q0\n"
                     "vmladava.s8 r6, q4, q2\n"
                     "vldrb.8 q4, [r1, #32]\n"
                     "vmladava.s8 r8, q4, q0\n"
                     "vmladava.s8 r10, q4, q2\n"
                     "vldrb.8 q4, [r1, #48]\n"
                     "vmladava.s8 r12, q4, q0\n"
                     "vmladava.s8 lr, q4, q2\n"
                     "strd r4, r6, [r5, #128]\n"
                     "strd r8, r10, [r5, #256]\n"
                     "strd r12, lr, [r5, #384]\n"
                     "strd r0, r2, [r5], #8\n"
                     "ldr r0, [sp]\n"
                     "cmp r5, r0\n"
                     "bne 1b\n"
                     "add sp, #8\n"
                     : "+r"(end), "+r"(pa), "+r"(pb), "+r"(pacc)
                     :
                     : "r2", "r4", "r6", "r8", "r10", "r12", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7",
                       "d8", "d9", "cc", "memory");
}

/* K = 32 exactly: 4 rows x 2 columns with the K loop unrolled, so LR is free to be the 8th accumulator; rows and
 * columns are reached with immediate offsets from one pointer each (4 rows x 32 bytes < 128). Per column pair:
 * 4 + 8 loads, 16 VMLADAVA (256 MACs), 1 LDRD + 6 MOV of the start values, 4 STRD, 4 loop instructions. */
static inline void odl_mve_rows4_k32(const int8_t *a, const int8_t *b, int32_t pairs, int32_t *acc) {
    register int32_t *end __asm__("r0") = acc + 2 * pairs;
    register const int8_t *pa __asm__("r1") = a;
    register const int8_t *pb __asm__("r3") = b;
    register int32_t *pacc __asm__("r5") = acc;
    __asm__ volatile("str r0, [sp, #-8]!\n"
                     "1:\n"
                     "ldrd r0, r2, [r5, #512]\n"
                     "mov r4, r0\n"
                     "mov r6, r2\n"
                     "mov r8, r0\n"
                     "mov r10, r2\n"
                     "mov r12, r0\n"
                     "mov lr, r2\n"
                     "vldrb.8 q0, [r3, #0]\n"
                     "vldrb.8 q2, [r3, #32]\n"
                     "vldrb.8 q1, [r3, #16]\n"
                     "vldrb.8 q3, [r3, #48]\n"
                     "add r3, #64\n"
                     "vldrb.8 q4, [r1, #0]\n"
                     "vmladava.s8 r0, q4, q0\n"
                     "vmladava.s8 r2, q4, q2\n"
                     "vldrb.8 q4, [r1, #16]\n"
                     "vmladava.s8 r0, q4, q1\n"
                     "vmladava.s8 r2, q4, q3\n"
                     "vldrb.8 q4, [r1, #32]\n"
                     "vmladava.s8 r4, q4, q0\n"
                     "vmladava.s8 r6, q4, q2\n"
                     "vldrb.8 q4, [r1, #48]\n"
                     "vmladava.s8 r4, q4, q1\n"
                     "vmladava.s8 r6, q4, q3\n"
                     "vldrb.8 q4, [r1, #64]\n"
                     "vmladava.s8 r8, q4, q0\n"
                     "vmladava.s8 r10, q4, q2\n"
                     "vldrb.8 q4, [r1, #80]\n"
                     "vmladava.s8 r8, q4, q1\n"
                     "vmladava.s8 r10, q4, q3\n"
                     "vldrb.8 q4, [r1, #96]\n"
                     "vmladava.s8 r12, q4, q0\n"
                     "vmladava.s8 lr, q4, q2\n"
                     "vldrb.8 q4, [r1, #112]\n"
                     "vmladava.s8 r12, q4, q1\n"
                     "vmladava.s8 lr, q4, q3\n"
                     "strd r4, r6, [r5, #128]\n"
                     "strd r8, r10, [r5, #256]\n"
                     "strd r12, lr, [r5, #384]\n"
                     "strd r0, r2, [r5], #8\n"
                     "ldr r0, [sp]\n"
                     "cmp r5, r0\n"
                     "bne 1b\n"
                     "add sp, #8\n"
                     : "+r"(end), "+r"(pa), "+r"(pb), "+r"(pacc)
                     :
                     : "r2", "r4", "r6", "r8", "r10", "r12", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7",
                       "d8", "d9", "cc", "memory");
}

#if ODL_MVE_NB != 32
#error "odl_mve_rows3 / rows4 hard-code the accumulator row stride (ODL_MVE_NB * 4 = 128 bytes)"
#endif

/* 1 row x 3 columns with the column sums in the same loop: r[j] += dot(a, b_j) + off * sum(b_j).
 * Per 16 taps: 4 loads + 3 VMLADAVA + 3 VADDVA + LETP (48 MACs). */
static inline void odl_mve_dot1x3(const int8_t *a, const int8_t *b0, const int8_t *b1, const int8_t *b2, int32_t k,
                                  int32_t off, int32_t *r) {
    register int32_t s0 __asm__("r0") = 0, s1 __asm__("r2") = 0, s2 __asm__("r4") = 0;
    register int32_t c0 __asm__("r6") = 0, c1 __asm__("r8") = 0, c2 __asm__("r10") = 0;
    register const int8_t *pa __asm__("r1") = a, *pb0 __asm__("r3") = b0, *pb1 __asm__("r5") = b1;
    register const int8_t *pb2 __asm__("r9") = b2;
    register int32_t n __asm__("r12") = k;
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n"
                     "vldrb.8 q0, [%[a]], #16\n"
                     "vldrb.8 q1, [%[b0]], #16\n"
                     "vmladava.s8 %[s0], q0, q1\n"
                     "vaddva.s8 %[c0], q1\n"
                     "vldrb.8 q2, [%[b1]], #16\n"
                     "vmladava.s8 %[s1], q0, q2\n"
                     "vaddva.s8 %[c1], q2\n"
                     "vldrb.8 q3, [%[b2]], #16\n"
                     "vmladava.s8 %[s2], q0, q3\n"
                     "vaddva.s8 %[c2], q3\n"
                     "letp lr, 1b\n"
                     "2:\n"
                     : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2),
                       [a] "+r"(pa), [b0] "+r"(pb0), [b1] "+r"(pb1), [b2] "+r"(pb2)
                     : [n] "r"(n)
                     : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "lr", "memory");
    r[0] += (int32_t)((uint32_t)s0 + (uint32_t)off * (uint32_t)c0);
    r[1] += (int32_t)((uint32_t)s1 + (uint32_t)off * (uint32_t)c1);
    r[2] += (int32_t)((uint32_t)s2 + (uint32_t)off * (uint32_t)c2);
}

/* One row of A against `triples` triples of B rows from b: acc[j] (start values in, sums out) +=
 * dot(a, b_j) + off * sum(b_j). The column loop is one assembly block (like odl_mve_rows3): per triple of columns
 * the inner loop (4 loads + 3 VMLADAVA + 3 VADDVA + LETP per 16 taps, 48 MACs) plus ~25 instructions. */
static inline void odl_mve_row1(const int8_t *a, const int8_t *b, int32_t k, int32_t triples, int32_t off,
                                int32_t *acc) {
    /* stack slots: [sp] acc, [sp+4] a, [sp+8] next b0, [sp+12] off, [sp+16] end of acc */
    register int32_t *pacc __asm__("r0") = acc;
    register const int8_t *pa __asm__("r1") = a;
    register const int8_t *pb __asm__("r2") = b;
    register int32_t offr __asm__("r3") = off;
    register int32_t *end __asm__("r4") = acc + 3 * triples;
    register int32_t n __asm__("r12") = k;
    __asm__ volatile("push {r0, r1, r2, r3, r4, r5}\n" /* r5: padding, the stack stays 8-byte aligned */
                     "1:\n"
                     "ldr r1, [sp, #4]\n"
                     "ldr r3, [sp, #8]\n"
                     "add r5, r3, r12\n"
                     "add r9, r5, r12\n"
                     "add r0, r9, r12\n"
                     "str r0, [sp, #8]\n"
                     "movs r0, #0\n"
                     "movs r2, #0\n"
                     "movs r4, #0\n"
                     "movs r6, #0\n"
                     "mov r8, r0\n"
                     "mov r10, r0\n"
                     "wlstp.8 lr, r12, 3f\n"
                     "2:\n"
                     "vldrb.8 q0, [r1], #16\n"
                     "vldrb.8 q1, [r3], #16\n"
                     "vmladava.s8 r0, q0, q1\n"
                     "vaddva.s8 r6, q1\n"
                     "vldrb.8 q2, [r5], #16\n"
                     "vmladava.s8 r2, q0, q2\n"
                     "vaddva.s8 r8, q2\n"
                     "vldrb.8 q3, [r9], #16\n"
                     "vmladava.s8 r4, q0, q3\n"
                     "vaddva.s8 r10, q3\n"
                     "letp lr, 2b\n"
                     "3:\n"
                     "ldr r1, [sp, #12]\n"  /* off */
                     "mla r0, r1, r6, r0\n"
                     "mla r2, r1, r8, r2\n"
                     "mla r4, r1, r10, r4\n"
                     "ldr r1, [sp]\n"       /* acc */
                     "ldm r1, {r3, r5, r9}\n"
                     "add r0, r3\n"
                     "add r2, r5\n"
                     "add r4, r9\n"
                     "stm r1!, {r0, r2, r4}\n"
                     "str r1, [sp]\n"
                     "ldr r3, [sp, #16]\n"
                     "cmp r1, r3\n"
                     "bne 1b\n"
                     "add sp, #24\n"
                     : "+r"(pacc), "+r"(pa), "+r"(pb), "+r"(offr), "+r"(end)
                     : "r"(n)
                     : "r5", "r6", "r8", "r9", "r10", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "cc",
                       "memory");
}

/* Sum of one row of B (k taps). */
static inline int32_t odl_mve_sum_s8(const int8_t *b, int32_t k) {
    int32_t c = 0;
    for (int32_t i = k >> 4; i > 0; --i, b += 16) c = vaddvaq_s8(c, vldrbq_s8(b));
    if (k & 15) c = vaddvaq_s8(c, vldrbq_z_s8(b, vctp8q((uint32_t)(k & 15))));
    return c;
}

/* Requantize rows x cnt accumulators (acc row stride ODL_MVE_NB; output channels n0..n0+cnt) into out (row stride
 * out_stride). Multipliers and shifts are loaded once per 4 channels for all rows; rows is a constant (1 or 3) after
 * inlining, and only the last, partial group of channels is predicated. */
__attribute__((always_inline)) static inline void odl_mve_requant_rows(const int32_t *acc, const int rows, int32_t n0,
                                                                       int32_t cnt, const odl_requant *q,
                                                                       const odl_output_s8 *o, int8_t *out,
                                                                       int32_t out_stride, int right_only) {
#ifdef ODL_SINGLE_ROUNDING
    (void)right_only;
    for (int32_t t = 0; t < rows; ++t)
        for (int32_t j = 0; j < cnt; ++j)
            out[(size_t)t * out_stride + j] = odl_requant_s8(acc[t * ODL_MVE_NB + j], q, n0 + j, o);
#else
    const odl_mve_out ov = odl_mve_out_load(o);
    const int32_t pc = q->per_channel;
    const int32_t *mp = q->multiplier + (pc ? n0 : 0), *sp = q->shift + (pc ? n0 : 0);
    int32x4_t mult = vdupq_n_s32(*mp), sh = vdupq_n_s32(*sp);
    int32_t j = 0;
    if (right_only) { /* every shift of these channels is in [-31, -1] */
        for (; j + 4 <= cnt; j += 4) {
            if (pc) mult = vld1q_s32(mp + j), sh = vld1q_s32(sp + j);
#pragma GCC unroll 4
            for (int t = 0; t < rows; ++t)
                vstrbq_s32(out + (size_t)t * out_stride + j,
                           odl_mve_requant4_r(vld1q_s32(acc + t * ODL_MVE_NB + j), mult, sh, &ov));
        }
    } else {
        for (; j + 4 <= cnt; j += 4) {
            if (pc) mult = vld1q_s32(mp + j), sh = vld1q_s32(sp + j);
            const int32x4_t lsh = odl_mve_lsh(sh), rsh = odl_mve_rsh(sh);
#pragma GCC unroll 4
            for (int t = 0; t < rows; ++t)
                vstrbq_s32(out + (size_t)t * out_stride + j,
                           odl_mve_requant4_lr(vld1q_s32(acc + t * ODL_MVE_NB + j), mult, lsh, rsh, &ov));
        }
    }
    if (j < cnt) {
        const mve_pred16_t p = vctp32q((uint32_t)(cnt - j));
        if (pc) mult = vldrwq_z_s32(mp + j, p), sh = vldrwq_z_s32(sp + j, p);
        const int32x4_t lsh = odl_mve_lsh(sh), rsh = odl_mve_rsh(sh);
        for (int t = 0; t < rows; ++t)
            vstrbq_p_s32(out + (size_t)t * out_stride + j,
                         odl_mve_requant4_lr(vld1q_s32(acc + t * ODL_MVE_NB + j), mult, lsh, rsh, &ov), p);
    }
#endif
}

odl_status odl_matmul_s8_mve(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!a || !b || !out || m <= 0 || n <= 0 || k <= 0 || !q || !o || !q->multiplier || !q->shift)
        return ODL_ERR_ARG;
    /* rows 0-3: accumulators of a block; row 4: the start values (bias + off * column sums), which the assembly
     * loops read at a fixed offset of 4 rows (512 bytes) from the accumulator they fill */
    int32_t buf[5][ODL_MVE_NB] __attribute__((aligned(8)));
    int32_t(*acc)[ODL_MVE_NB] = buf, *init = buf[4];
    const int rows4 = k == 16 || k == 32; /* unrolled 4-row kernels for these K */
    const int32_t m4 = rows4 ? m - m % 4 : 0;
    const int32_t m3 = m4 + (m - m4) - (m - m4) % 3;
    for (int32_t n0 = 0; n0 < n; n0 += ODL_MVE_NB) {
        const int32_t nb = ODL_MIN(ODL_MVE_NB, n - n0);
        /* every shift of the chunk's channels in [-31, -1]: the shorter requantization */
        int right_only = 1;
        if (q->per_channel) {
            for (int32_t j = 0; right_only && j < nb; j += 4) {
                const mve_pred16_t pj = vctp32q((uint32_t)(nb - j));
                const int32x4_t sj = vldrwq_z_s32(q->shift + n0 + j, pj);
                right_only = vmaxvq_p_s32(INT32_MIN, sj, pj) <= -1 && vminvq_p_s32(INT32_MAX, sj, pj) >= -31;
            }
        } else {
            right_only = q->shift[0] <= -1 && q->shift[0] >= -31;
        }
        /* start value of each column: bias + off * sum_k b (only when multi-row blocks will use it) */
        for (int32_t j = 0; m3 && j < nb; ++j) {
            int32_t v = bias ? bias[n0 + j] : 0;
            if (a_offset)
                v = (int32_t)((uint32_t)v + (uint32_t)a_offset * (uint32_t)odl_mve_sum_s8(b + (size_t)(n0 + j) * k, k));
            init[j] = v;
        }
        for (int32_t i = 0; i < m4; i += 4) {
            const int8_t *a0 = a + (size_t)i * k;
            if (nb >= 2) {
                if (k == 32)
                    odl_mve_rows4_k32(a0, b + (size_t)n0 * k, nb >> 1, &acc[0][0]);
                else
                    odl_mve_rows4_k16(a0, b + (size_t)n0 * k, nb >> 1, &acc[0][0]);
            }
            if (nb & 1) { /* odd last column: the 3 x 2 kernel against it twice, for rows 0-2 and row 3 */
                const int32_t j = nb - 1;
                const int8_t *bj = b + (size_t)(n0 + j) * k;
                int32_t r[6] = {init[j], init[j], init[j], init[j], init[j], init[j]};
                odl_mve_dot3x2(a0, a0 + k, a0 + 2 * (size_t)k, bj, bj, k, r);
                acc[0][j] = r[0], acc[1][j] = r[2], acc[2][j] = r[4];
                int32_t r3[6] = {init[j], init[j], init[j], init[j], init[j], init[j]};
                const int8_t *a3 = a0 + 3 * (size_t)k;
                odl_mve_dot3x2(a3, a3, a3, bj, bj, k, r3);
                acc[3][j] = r3[0];
            }
            odl_mve_requant_rows(&acc[0][0], 4, n0, nb, q, o, out + (size_t)i * n + n0, n, right_only);
        }
        for (int32_t i = m4; i < m3; i += 3) {
            const int8_t *a0 = a + (size_t)i * k;
            if (nb >= 2) odl_mve_rows3(a0, b + (size_t)n0 * k, k, nb >> 1, &acc[0][0]);
            if (nb & 1) { /* odd last column: the 3 x 2 kernel against it twice */
                const int32_t j = nb - 1;
                const int8_t *bj = b + (size_t)(n0 + j) * k;
                int32_t r[6] = {init[j], init[j], init[j], init[j], init[j], init[j]};
                odl_mve_dot3x2(a0, a0 + k, a0 + 2 * (size_t)k, bj, bj, k, r);
                acc[0][j] = r[0], acc[1][j] = r[2], acc[2][j] = r[4];
            }
            odl_mve_requant_rows(&acc[0][0], 3, n0, nb, q, o, out + (size_t)i * n + n0, n, right_only);
        }
        for (int32_t i = m3; i < m; ++i) {
            const int8_t *ar = a + (size_t)i * k;
            for (int32_t j = 0; j < nb; j += 4) /* start values: the bias (the kernels add off * sum b) */
                vst1q_s32(&acc[0][j], bias ? vldrwq_z_s32(bias + n0 + j, vctp32q((uint32_t)(nb - j))) : vdupq_n_s32(0));
            const int32_t t3 = nb / 3;
            if (t3) odl_mve_row1(ar, b + (size_t)n0 * k, k, t3, a_offset, &acc[0][0]);
            if (nb % 3) { /* 1 or 2 last columns: the 1 x 3 kernel with the last column repeated */
                const int32_t j = 3 * t3, j1 = ODL_MIN(j + 1, nb - 1);
                int32_t r[3] = {acc[0][j], acc[0][j1], acc[0][j1]};
                odl_mve_dot1x3(ar, b + (size_t)(n0 + j) * k, b + (size_t)(n0 + j1) * k, b + (size_t)(n0 + j1) * k, k,
                               a_offset, r);
                acc[0][j] = r[0], acc[0][j1] = r[1];
            }
            odl_mve_requant_rows(&acc[0][0], 1, n0, nb, q, o, out + (size_t)i * n + n0, n, right_only);
        }
    }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_MVE */
