/* Helium (MVE) odl_matmul_s8 (NT layout), bit-exact with odl_matmul_s8_ref.
 *
 *   sum_k (a[m,k] + off) * b[n,k] = sum_k a[m,k] * b[n,k] + off * sum_k b[n,k]
 * The int8 dot products use VMLADAVA.S8 (16 MACs per instruction into a 32-bit general register). Rows of A are
 * taken three at a time against two rows of B (6 accumulators: VMLADAVA needs even registers, r0..r12 hold
 * seven), so one step over 16 taps is 5 loads + 6 VMLADAVA for 96 MACs. The column sums of B are computed once per
 * block of columns and folded into the accumulator's start value with the bias. The last M % 3 rows use a
 * 1 x 3 kernel that sums B in the same loop (VADDVA). K tails: one predicated step (VCTP, zeroing loads).
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

/* 3 rows x 2 columns, K taps; r[i*2+j] += dot(a_i, b_j). */
static inline void odl_mve_dot3x2(const int8_t *a0, const int8_t *a1, const int8_t *a2, const int8_t *b0,
                                  const int8_t *b1, int32_t k, int32_t *r) {
    int32_t s00 = r[0], s01 = r[1], s10 = r[2], s11 = r[3], s20 = r[4], s21 = r[5];
    for (int32_t i = k >> 4; i > 0; --i) {
        const int8x16_t y0 = vldrbq_s8(b0), y1 = vldrbq_s8(b1);
        const int8x16_t x0 = vldrbq_s8(a0);
        s00 = vmladavaq_s8(s00, x0, y0);
        s01 = vmladavaq_s8(s01, x0, y1);
        const int8x16_t x1 = vldrbq_s8(a1);
        s10 = vmladavaq_s8(s10, x1, y0);
        s11 = vmladavaq_s8(s11, x1, y1);
        const int8x16_t x2 = vldrbq_s8(a2);
        s20 = vmladavaq_s8(s20, x2, y0);
        s21 = vmladavaq_s8(s21, x2, y1);
        a0 += 16, a1 += 16, a2 += 16, b0 += 16, b1 += 16;
    }
    if (k & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(k & 15));
        const int8x16_t y0 = vldrbq_z_s8(b0, p), y1 = vldrbq_z_s8(b1, p);
        const int8x16_t x0 = vldrbq_z_s8(a0, p), x1 = vldrbq_z_s8(a1, p), x2 = vldrbq_z_s8(a2, p);
        s00 = vmladavaq_s8(s00, x0, y0);
        s01 = vmladavaq_s8(s01, x0, y1);
        s10 = vmladavaq_s8(s10, x1, y0);
        s11 = vmladavaq_s8(s11, x1, y1);
        s20 = vmladavaq_s8(s20, x2, y0);
        s21 = vmladavaq_s8(s21, x2, y1);
    }
    r[0] = s00, r[1] = s01, r[2] = s10, r[3] = s11, r[4] = s20, r[5] = s21;
}

/* 1 row x 3 columns with the column sums in the same loop: r[j] = dot(a, b_j) + off * sum(b_j). */
static inline void odl_mve_dot1x3(const int8_t *a, const int8_t *b0, const int8_t *b1, const int8_t *b2, int32_t k,
                                  int32_t off, int32_t *r) {
    int32_t s0 = 0, s1 = 0, s2 = 0, c0 = 0, c1 = 0, c2 = 0;
    for (int32_t i = k >> 4; i > 0; --i) {
        const int8x16_t x = vldrbq_s8(a);
        const int8x16_t y0 = vldrbq_s8(b0);
        s0 = vmladavaq_s8(s0, x, y0);
        c0 = vaddvaq_s8(c0, y0);
        const int8x16_t y1 = vldrbq_s8(b1);
        s1 = vmladavaq_s8(s1, x, y1);
        c1 = vaddvaq_s8(c1, y1);
        const int8x16_t y2 = vldrbq_s8(b2);
        s2 = vmladavaq_s8(s2, x, y2);
        c2 = vaddvaq_s8(c2, y2);
        a += 16, b0 += 16, b1 += 16, b2 += 16;
    }
    if (k & 15) {
        const mve_pred16_t p = vctp8q((uint32_t)(k & 15));
        const int8x16_t x = vldrbq_z_s8(a, p);
        const int8x16_t y0 = vldrbq_z_s8(b0, p), y1 = vldrbq_z_s8(b1, p), y2 = vldrbq_z_s8(b2, p);
        s0 = vmladavaq_s8(s0, x, y0);
        c0 = vaddvaq_s8(c0, y0);
        s1 = vmladavaq_s8(s1, x, y1);
        c1 = vaddvaq_s8(c1, y1);
        s2 = vmladavaq_s8(s2, x, y2);
        c2 = vaddvaq_s8(c2, y2);
    }
    r[0] += (int32_t)((uint32_t)s0 + (uint32_t)off * (uint32_t)c0);
    r[1] += (int32_t)((uint32_t)s1 + (uint32_t)off * (uint32_t)c1);
    r[2] += (int32_t)((uint32_t)s2 + (uint32_t)off * (uint32_t)c2);
}

/* Sum of one row of B (k taps). */
static inline int32_t odl_mve_sum_s8(const int8_t *b, int32_t k) {
    int32_t c = 0;
    for (int32_t i = k >> 4; i > 0; --i, b += 16) c = vaddvaq_s8(c, vldrbq_s8(b));
    if (k & 15) c = vaddvaq_s8(c, vldrbq_z_s8(b, vctp8q((uint32_t)(k & 15))));
    return c;
}

/* Requantize acc[0..cnt) (output channels n0..n0+cnt) into out[0..cnt). */
static inline void odl_mve_requant_row(const int32_t *acc, int32_t n0, int32_t cnt, const odl_requant *q,
                                       const odl_output_s8 *o, int8_t *out) {
#ifdef ODL_SINGLE_ROUNDING
    for (int32_t j = 0; j < cnt; ++j) out[j] = odl_requant_s8(acc[j], q, n0 + j, o);
#else
    int32x4_t mult = vdupq_n_s32(q->multiplier[0]), sh = vdupq_n_s32(q->shift[0]);
    for (int32_t j = 0; j < cnt; j += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(cnt - j));
        if (q->per_channel) {
            mult = vldrwq_z_s32(q->multiplier + n0 + j, p);
            sh = vldrwq_z_s32(q->shift + n0 + j, p);
        }
        vstrbq_p_s32(out + j, odl_mve_requant4(vldrwq_z_s32(acc + j, p), mult, sh, o), p);
    }
#endif
}

odl_status odl_matmul_s8_mve(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!a || !b || !out || m <= 0 || n <= 0 || k <= 0 || !q || !o || !q->multiplier || !q->shift)
        return ODL_ERR_ARG;
    int32_t init[ODL_MVE_NB];
    int32_t acc[3][ODL_MVE_NB];
    const int32_t m3 = m - m % 3;
    for (int32_t n0 = 0; n0 < n; n0 += ODL_MVE_NB) {
        const int32_t nb = ODL_MIN(ODL_MVE_NB, n - n0);
        /* start value of each column: bias + off * sum_k b (only when 3-row blocks will use it) */
        for (int32_t j = 0; j < nb; ++j) {
            int32_t v = bias ? bias[n0 + j] : 0;
            if (a_offset && m3)
                v = (int32_t)((uint32_t)v + (uint32_t)a_offset * (uint32_t)odl_mve_sum_s8(b + (size_t)(n0 + j) * k, k));
            init[j] = v;
        }
        for (int32_t i = 0; i < m3; i += 3) {
            const int8_t *a0 = a + (size_t)i * k, *a1 = a0 + k, *a2 = a1 + k;
            for (int32_t j = 0; j < nb; j += 2) {
                const int32_t j1 = j + 1 < nb ? j + 1 : j; /* odd tail: repeat the last column */
                int32_t r[6] = {init[j], init[j1], init[j], init[j1], init[j], init[j1]};
                odl_mve_dot3x2(a0, a1, a2, b + (size_t)(n0 + j) * k, b + (size_t)(n0 + j1) * k, k, r);
                acc[0][j] = r[0], acc[1][j] = r[2], acc[2][j] = r[4];
                acc[0][j1] = r[1], acc[1][j1] = r[3], acc[2][j1] = r[5];
            }
            for (int32_t t = 0; t < 3; ++t) odl_mve_requant_row(acc[t], n0, nb, q, o, out + (size_t)(i + t) * n + n0);
        }
        for (int32_t i = m3; i < m; ++i) {
            const int8_t *ar = a + (size_t)i * k;
            for (int32_t j = 0; j < nb; j += 3) {
                const int32_t j1 = ODL_MIN(j + 1, nb - 1), j2 = ODL_MIN(j + 2, nb - 1);
                int32_t r[3] = {bias ? bias[n0 + j] : 0, bias ? bias[n0 + j1] : 0, bias ? bias[n0 + j2] : 0};
                odl_mve_dot1x3(ar, b + (size_t)(n0 + j) * k, b + (size_t)(n0 + j1) * k, b + (size_t)(n0 + j2) * k, k,
                               a_offset, r);
                acc[0][j] = r[0], acc[0][j1] = r[1], acc[0][j2] = r[2];
            }
            odl_mve_requant_row(acc[0], n0, nb, q, o, out + (size_t)i * n + n0);
        }
    }
    return ODL_OK;
}

#endif /* ODL_WITH_ARM_MVE */
