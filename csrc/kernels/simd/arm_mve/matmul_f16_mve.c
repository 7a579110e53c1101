/* Helium (MVE) odl_matmul_f16: all three layouts, FP16 storage, FP16 accumulation in the 8 vector lanes.
 *
 * Accumulation precision: products and sums are rounded to FP16 at every fused multiply-add (VFMA.F16, 8 lanes),
 * where the reference accumulates in FP32 and rounds once. For an output c = sum_k a_k b_k the error is bounded by
 * about (k + 1) * 2^-11 * sum_k |a_k b_k| (plus |c| * 2^-11 when accumulating into C); see docs/simd.md.
 *
 *   NN, TN (C[m, :] += a[m,k] * B[k, :]): vectors run along n. 3 rows x 16 columns per block (6 accumulators),
 *     per k: 2 vector loads of B, 3 scalar loads of A, 6 VFMA (by scalar) = 48 MACs in 12 instructions with the
 *     loop end. The scalar of A is at a[m*K + k] (NN) or a[k*M + m] (TN). N tails: predicated loads and stores.
 *   NT (C[m,n] = dot(A[m,:], B[n,:])): for m >= 6, B is transposed 16 columns x 64 taps at a time into a 2 KB
 *     stack panel (two stride-K gathers per tap) and the NN kernel runs on it; C is rounded to FP16 between the
 *     64-tap chunks (bound: add k / 64 + 1 roundings). For fewer rows: vectors along k, 2 x 2 outputs per block,
 *     per 8 taps 4 loads + 4 VFMA, the 8 lanes of each accumulator reduced in FP32 at the end (VCVTB/VCVTT,
 *     mve_cvt.h, + adds); K tails: one predicated step whose zeroed lanes add nothing.
 */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>

#include "internal/odl_math.h"
#include "mve_cvt.h"
#include "odl/matmul.h"

#define ODL_AI __attribute__((always_inline)) static inline

static inline mve_pred16_t odl_ctp16(int32_t left) { return vctp16q(left > 0 ? (uint32_t)left : 0u); }

ODL_AI float16x8_t odl_ld16(const odl_f16 *p, int full, mve_pred16_t pr) {
    return full ? vld1q_f16((const float16_t *)p) : vldrhq_z_f16((const float16_t *)p, pr);
}
ODL_AI void odl_st16(odl_f16 *p, float16x8_t v, int full, mve_pred16_t pr) {
    if (full)
        vst1q_f16((float16_t *)p, v);
    else
        vstrhq_p_f16((float16_t *)p, v, pr);
}

/* rows (1..3) x 16 columns of C starting at (i, j): a element (m, k) at a[m*sam + k*sak], B row-major [K, N]. */
ODL_AI void odl_mve_f16_rows(const odl_f16 *a, int tn, int32_t sam, int32_t sak, const odl_f16 *b, int32_t ldb,
                             odl_f16 *c, int32_t ldc, int32_t k, int32_t accumulate, int rows, int full,
                             mve_pred16_t p0, mve_pred16_t p1) {
    const float16x8_t z = vdupq_n_f16(0);
    float16x8_t c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
    if (accumulate) {
        c00 = odl_ld16(c, full, p0), c01 = odl_ld16(c + 8, full, p1);
        if (rows > 1) c10 = odl_ld16(c + ldc, full, p0), c11 = odl_ld16(c + ldc + 8, full, p1);
        if (rows > 2) c20 = odl_ld16(c + 2 * ldc, full, p0), c21 = odl_ld16(c + 2 * ldc + 8, full, p1);
    }
    const odl_f16 *a0 = a, *a1 = a + sam, *a2 = a + 2 * sam;
    for (int32_t p = 0; p < k; ++p) {
        const float16x8_t b0 = odl_ld16(b, full, p0), b1 = odl_ld16(b + 8, full, p1);
        b += ldb;
        float16_t x0, x1 = 0, x2 = 0;
        if (!tn) { /* NN: one pointer per row, post-incremented */
            x0 = *a0++;
            if (rows > 1) x1 = *a1++;
            if (rows > 2) x2 = *a2++;
        } else { /* TN: the rows' scalars are adjacent */
            x0 = a0[0];
            if (rows > 1) x1 = a0[1];
            if (rows > 2) x2 = a0[2];
            a0 += sak;
        }
        c00 = vfmaq_n_f16(c00, b0, x0);
        c01 = vfmaq_n_f16(c01, b1, x0);
        if (rows > 1) {
            c10 = vfmaq_n_f16(c10, b0, x1);
            c11 = vfmaq_n_f16(c11, b1, x1);
        }
        if (rows > 2) {
            c20 = vfmaq_n_f16(c20, b0, x2);
            c21 = vfmaq_n_f16(c21, b1, x2);
        }
    }
    odl_st16(c, c00, full, p0), odl_st16(c + 8, c01, full, p1);
    if (rows > 1) odl_st16(c + ldc, c10, full, p0), odl_st16(c + ldc + 8, c11, full, p1);
    if (rows > 2) odl_st16(c + 2 * ldc, c20, full, p0), odl_st16(c + 2 * ldc + 8, c21, full, p1);
}

ODL_AI void odl_mve_f16_rowvec(const odl_f16 *a, int tn, int32_t sam, int32_t sak, const odl_f16 *b, int32_t ldb,
                               odl_f16 *c, int32_t ldc, int32_t m,
                             int32_t n, int32_t k, int32_t accumulate) {
    for (int32_t j = 0; j < n; j += 16) {
        const int full = n - j >= 16;
        const mve_pred16_t p0 = odl_ctp16(n - j), p1 = odl_ctp16(n - j - 8);
        int32_t i = 0;
        if (full) {
            for (; i + 3 <= m; i += 3)
                odl_mve_f16_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 3,
                                 1, p0, p1);
            for (; i < m; ++i)
                odl_mve_f16_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 1,
                                 1, p0, p1);
        } else {
            for (; i + 3 <= m; i += 3)
                odl_mve_f16_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 3,
                                 0, p0, p1);
            for (; i < m; ++i)
                odl_mve_f16_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 1,
                                 0, p0, p1);
        }
    }
}

static void odl_mve_f16_nn(const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    odl_mve_f16_rowvec(a, 0, k, 1, b, n, c, n, m, n, k, accumulate);
}

static void odl_mve_f16_tn(const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    odl_mve_f16_rowvec(a, 1, 1, m, b, n, c, n, m, n, k, accumulate);
}

/* Sum of the 8 FP16 lanes of v, in FP32. */
static inline float odl_hsum_f16(float16x8_t v) {
    const float32x4_t s = vaddq_f32(odl_mve_cvtb_f32_f16(v), odl_mve_cvtt_f32_f16(v));
    return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1)) + (vgetq_lane_f32(s, 2) + vgetq_lane_f32(s, 3));
}

/* NT: 2 rows of A x 2 rows of B (b1 may equal b0 / a1 may equal a0 for tails). */
static inline void odl_mve_f16_dot2x2(const odl_f16 *a0, const odl_f16 *a1, const odl_f16 *b0, const odl_f16 *b1,
                                      int32_t k, float r[4]) {
    const float16x8_t z = vdupq_n_f16(0);
    float16x8_t s00 = z, s01 = z, s10 = z, s11 = z;
    for (int32_t i = k >> 3; i > 0; --i) {
        const float16x8_t x0 = vld1q_f16((const float16_t *)a0), x1 = vld1q_f16((const float16_t *)a1);
        const float16x8_t y0 = vld1q_f16((const float16_t *)b0), y1 = vld1q_f16((const float16_t *)b1);
        s00 = vfmaq_f16(s00, x0, y0);
        s01 = vfmaq_f16(s01, x0, y1);
        s10 = vfmaq_f16(s10, x1, y0);
        s11 = vfmaq_f16(s11, x1, y1);
        a0 += 8, a1 += 8, b0 += 8, b1 += 8;
    }
    if (k & 7) {
        const mve_pred16_t p = vctp16q((uint32_t)(k & 7));
        const float16x8_t x0 = vldrhq_z_f16((const float16_t *)a0, p), x1 = vldrhq_z_f16((const float16_t *)a1, p);
        const float16x8_t y0 = vldrhq_z_f16((const float16_t *)b0, p), y1 = vldrhq_z_f16((const float16_t *)b1, p);
        s00 = vfmaq_f16(s00, x0, y0);
        s01 = vfmaq_f16(s01, x0, y1);
        s10 = vfmaq_f16(s10, x1, y0);
        s11 = vfmaq_f16(s11, x1, y1);
    }
    r[0] = odl_hsum_f16(s00), r[1] = odl_hsum_f16(s01), r[2] = odl_hsum_f16(s10), r[3] = odl_hsum_f16(s11);
}

#define ODL_MVE_KC 64 /* NT panel: 16 columns x 64 taps of B, transposed on the stack (2 KB) */

/* NT for m >= 6: B is transposed 16 columns x ODL_MVE_KC taps at a time into a stack panel (two stride-K gathers
 * per tap), then the NN kernel (3 rows x 16 columns, VFMA by scalar) runs on it. C is rounded to FP16 between
 * K-chunks (one extra rounding per 64 taps). */
static void odl_mve_f16_nt_panel(const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n, int32_t k,
                                 int32_t accumulate) {
    odl_f16 panel[ODL_MVE_KC * 16] __attribute__((aligned(16)));
    const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)k); /* 0, K, 2K, ... 7K (elements) */
    for (int32_t j = 0; j < n; j += 16) {
        const int32_t cols = ODL_MIN(16, n - j);
        const mve_pred16_t q0 = odl_ctp16(cols), q1 = odl_ctp16(cols - 8);
        for (int32_t k0 = 0; k0 < k; k0 += ODL_MVE_KC) {
            const int32_t kc = ODL_MIN(ODL_MVE_KC, k - k0);
            const float16_t *bj = (const float16_t *)(b + (size_t)j * k + k0);
            for (int32_t t = 0; t < kc; ++t) { /* panel[t][0..16) = B[j..j+16, k0 + t] (zero past the last column) */
                vst1q_f16((float16_t *)panel + 16 * t, vldrhq_gather_shifted_offset_z_f16(bj + t, offs, q0));
                vst1q_f16((float16_t *)panel + 16 * t + 8,
                          vldrhq_gather_shifted_offset_z_f16(bj + (size_t)8 * k + t, offs, q1));
            }
            odl_mve_f16_rowvec(a + k0, 0, k, 1, panel, 16, c + j, n, m, cols, kc, accumulate || k0 > 0);
        }
    }
}

static void odl_mve_f16_nt(const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    if (m >= 6 && k <= 65535 / 15) {
        odl_mve_f16_nt_panel(a, b, c, m, n, k, accumulate);
        return;
    }
    for (int32_t i = 0; i < m; i += 2) {
        const int32_t i1 = ODL_MIN(i + 1, m - 1);
        for (int32_t j = 0; j < n; j += 2) {
            const int32_t j1 = ODL_MIN(j + 1, n - 1);
            float r[4];
            odl_mve_f16_dot2x2(a + (size_t)i * k, a + (size_t)i1 * k, b + (size_t)j * k, b + (size_t)j1 * k, k, r);
            odl_f16 *c0 = c + (size_t)i * n, *c1 = c + (size_t)i1 * n;
            if (accumulate) {
                r[0] += (float)c0[j], r[1] += (float)c0[j1], r[2] += (float)c1[j], r[3] += (float)c1[j1];
            }
            /* tails: the duplicated row/column is written last, with the same value */
            c1[j1] = (odl_f16)r[3], c1[j] = (odl_f16)r[2], c0[j1] = (odl_f16)r[1], c0[j] = (odl_f16)r[0];
        }
    }
}

odl_status odl_matmul_f16_mve(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m,
                              int32_t n, int32_t k, int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    switch (layout) {
    case ODL_MM_NT:
        odl_mve_f16_nt(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    case ODL_MM_NN:
        odl_mve_f16_nn(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    case ODL_MM_TN:
        odl_mve_f16_tn(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    default:
        return ODL_ERR_ARG;
    }
}

#endif /* ODL_WITH_ARM_MVE */
