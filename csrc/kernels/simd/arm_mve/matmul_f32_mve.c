/* Helium (MVE) odl_matmul_f32: all three layouts, FP32 in 4 vector lanes (VFMA.F32).
 *
 * Fused multiply-adds in FP32 like the reference, but in a different order (lane partial sums, K-chunks), so
 * results agree with the reference to FP32 rounding (about (k + 2) * 2^-24 * sum |a b|), not bit for bit.
 *   NN, TN: vectors along n, 3 rows x 8 columns per block (6 accumulators): per k 2 vector loads, 3 scalar loads,
 *     6 VFMA by scalar (24 MACs). N tails: predicated loads and stores.
 *   NT: for m >= 6, B transposed into a stack panel of 8 columns x 64 taps, then the NN kernel; for fewer rows,
 *     vectors along k with 2 x 2 outputs per block, lanes reduced at the end (K tails: one predicated step).
 * Generated from matmul_f16_mve.c's structure (same kernels, 4 lanes instead of 8).
 */
#ifdef ODL_WITH_ARM_MVE
#include <arm_mve.h>

#include "internal/odl_math.h"
#include "odl/matmul.h"

#define ODL_AI __attribute__((always_inline)) static inline

static inline mve_pred16_t odl_ctp32(int32_t left) { return vctp32q(left > 0 ? (uint32_t)left : 0u); }

ODL_AI float32x4_t odl_ld32(const float *p, int full, mve_pred16_t pr) {
    return full ? vld1q_f32(p) : vldrwq_z_f32(p, pr);
}
ODL_AI void odl_st32(float *p, float32x4_t v, int full, mve_pred16_t pr) {
    if (full)
        vst1q_f32(p, v);
    else
        vstrwq_p_f32(p, v, pr);
}

/* rows (1..3) x 8 columns of C starting at (i, j): a element (m, k) at a[m*sam + k*sak], B row-major [K, N]. */
ODL_AI void odl_mve_f32_rows(const float *a, int tn, int32_t sam, int32_t sak, const float *b, int32_t ldb,
                             float *c, int32_t ldc, int32_t k, int32_t accumulate, int rows, int full, mve_pred16_t p0,
                             mve_pred16_t p1) {
    const float32x4_t z = vdupq_n_f32(0);
    float32x4_t c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
    if (accumulate) {
        c00 = odl_ld32(c, full, p0), c01 = odl_ld32(c + 4, full, p1);
        if (rows > 1) c10 = odl_ld32(c + ldc, full, p0), c11 = odl_ld32(c + ldc + 4, full, p1);
        if (rows > 2) c20 = odl_ld32(c + 2 * ldc, full, p0), c21 = odl_ld32(c + 2 * ldc + 4, full, p1);
    }
    const float *a0 = a, *a1 = a + sam, *a2 = a + 2 * sam;
    for (int32_t p = 0; p < k; ++p) {
        const float32x4_t b0 = odl_ld32(b, full, p0), b1 = odl_ld32(b + 4, full, p1);
        b += ldb;
        float32_t x0, x1 = 0, x2 = 0;
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
        c00 = vfmaq_n_f32(c00, b0, x0);
        c01 = vfmaq_n_f32(c01, b1, x0);
        if (rows > 1) {
            c10 = vfmaq_n_f32(c10, b0, x1);
            c11 = vfmaq_n_f32(c11, b1, x1);
        }
        if (rows > 2) {
            c20 = vfmaq_n_f32(c20, b0, x2);
            c21 = vfmaq_n_f32(c21, b1, x2);
        }
    }
    odl_st32(c, c00, full, p0), odl_st32(c + 4, c01, full, p1);
    if (rows > 1) odl_st32(c + ldc, c10, full, p0), odl_st32(c + ldc + 4, c11, full, p1);
    if (rows > 2) odl_st32(c + 2 * ldc, c20, full, p0), odl_st32(c + 2 * ldc + 4, c21, full, p1);
}

ODL_AI void odl_mve_f32_rowvec(const float *a, int tn, int32_t sam, int32_t sak, const float *b, int32_t ldb,
                               float *c, int32_t ldc, int32_t m,
                             int32_t n, int32_t k, int32_t accumulate) {
    for (int32_t j = 0; j < n; j += 8) {
        const int full = n - j >= 8;
        const mve_pred16_t p0 = odl_ctp32(n - j), p1 = odl_ctp32(n - j - 4);
        int32_t i = 0;
        if (full) {
            for (; i + 3 <= m; i += 3)
                odl_mve_f32_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 3,
                                 1, p0, p1);
            for (; i < m; ++i)
                odl_mve_f32_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 1,
                                 1, p0, p1);
        } else {
            for (; i + 3 <= m; i += 3)
                odl_mve_f32_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 3,
                                 0, p0, p1);
            for (; i < m; ++i)
                odl_mve_f32_rows(a + i * sam, tn, sam, sak, b + j, ldb, c + (size_t)i * ldc + j, ldc, k, accumulate, 1,
                                 0, p0, p1);
        }
    }
}

static void odl_mve_f32_nn(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    odl_mve_f32_rowvec(a, 0, k, 1, b, n, c, n, m, n, k, accumulate);
}

static void odl_mve_f32_tn(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    odl_mve_f32_rowvec(a, 1, 1, m, b, n, c, n, m, n, k, accumulate);
}

/* Sum of the 4 lanes of v. */
static inline float odl_hsum_f32(float32x4_t v) {
    return (vgetq_lane_f32(v, 0) + vgetq_lane_f32(v, 1)) + (vgetq_lane_f32(v, 2) + vgetq_lane_f32(v, 3));
}

/* NT: 2 rows of A x 2 rows of B (b1 may equal b0 / a1 may equal a0 for tails). */
static inline void odl_mve_f32_dot2x2(const float *a0, const float *a1, const float *b0, const float *b1,
                                      int32_t k, float r[4]) {
    const float32x4_t z = vdupq_n_f32(0);
    float32x4_t s00 = z, s01 = z, s10 = z, s11 = z;
    for (int32_t i = k >> 2; i > 0; --i) {
        const float32x4_t x0 = vld1q_f32(a0), x1 = vld1q_f32(a1);
        const float32x4_t y0 = vld1q_f32(b0), y1 = vld1q_f32(b1);
        s00 = vfmaq_f32(s00, x0, y0);
        s01 = vfmaq_f32(s01, x0, y1);
        s10 = vfmaq_f32(s10, x1, y0);
        s11 = vfmaq_f32(s11, x1, y1);
        a0 += 4, a1 += 4, b0 += 4, b1 += 4;
    }
    if (k & 3) {
        const mve_pred16_t p = vctp32q((uint32_t)(k & 3));
        const float32x4_t x0 = vldrwq_z_f32(a0, p), x1 = vldrwq_z_f32(a1, p);
        const float32x4_t y0 = vldrwq_z_f32(b0, p), y1 = vldrwq_z_f32(b1, p);
        s00 = vfmaq_f32(s00, x0, y0);
        s01 = vfmaq_f32(s01, x0, y1);
        s10 = vfmaq_f32(s10, x1, y0);
        s11 = vfmaq_f32(s11, x1, y1);
    }
    r[0] = odl_hsum_f32(s00), r[1] = odl_hsum_f32(s01), r[2] = odl_hsum_f32(s10), r[3] = odl_hsum_f32(s11);
}

#define ODL_MVE_KC 64 /* NT panel: 8 columns x 64 taps of B, transposed on the stack (2 KB) */

/* NT for m >= 6: B is transposed 8 columns x ODL_MVE_KC taps at a time into a stack panel (two stride-K gathers
 * per tap), then the NN kernel (3 rows x 8 columns, VFMA by scalar) runs on it. C holds the FP32 partial sums
 * between K-chunks. */
static void odl_mve_f32_nt_panel(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k,
                                 int32_t accumulate) {
    float panel[ODL_MVE_KC * 8] __attribute__((aligned(16)));
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)k); /* 0, K, 2K, 3K (elements) */
    for (int32_t j = 0; j < n; j += 8) {
        const int32_t cols = ODL_MIN(8, n - j);
        const mve_pred16_t q0 = odl_ctp32(cols), q1 = odl_ctp32(cols - 4);
        for (int32_t k0 = 0; k0 < k; k0 += ODL_MVE_KC) {
            const int32_t kc = ODL_MIN(ODL_MVE_KC, k - k0);
            const float32_t *bj = (b + (size_t)j * k + k0);
            for (int32_t t = 0; t < kc; ++t) { /* panel[t][0..8) = B[j..j+8, k0 + t] (zero past the last column) */
                vst1q_f32(panel + 8 * t, vldrwq_gather_shifted_offset_z_f32(bj + t, offs, q0));
                vst1q_f32(panel + 8 * t + 4,
                          vldrwq_gather_shifted_offset_z_f32(bj + (size_t)4 * k + t, offs, q1));
            }
            odl_mve_f32_rowvec(a + k0, 0, k, 1, panel, 8, c + j, n, m, cols, kc, accumulate || k0 > 0);
        }
    }
}

static void odl_mve_f32_nt(const float *a, const float *b, float *c, int32_t m, int32_t n, int32_t k,
                           int32_t accumulate) {
    if (m >= 6) {
        odl_mve_f32_nt_panel(a, b, c, m, n, k, accumulate);
        return;
    }
    for (int32_t i = 0; i < m; i += 2) {
        const int32_t i1 = ODL_MIN(i + 1, m - 1);
        for (int32_t j = 0; j < n; j += 2) {
            const int32_t j1 = ODL_MIN(j + 1, n - 1);
            float r[4];
            odl_mve_f32_dot2x2(a + (size_t)i * k, a + (size_t)i1 * k, b + (size_t)j * k, b + (size_t)j1 * k, k, r);
            float *c0 = c + (size_t)i * n, *c1 = c + (size_t)i1 * n;
            if (accumulate) {
                r[0] += c0[j], r[1] += c0[j1], r[2] += c1[j], r[3] += c1[j1];
            }
            /* tails: the duplicated row/column is written last, with the same value */
            c1[j1] = r[3], c1[j] = r[2], c0[j1] = r[1], c0[j] = r[0];
        }
    }
}

odl_status odl_matmul_f32_mve(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m,
                              int32_t n, int32_t k, int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    switch (layout) {
    case ODL_MM_NT:
        odl_mve_f32_nt(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    case ODL_MM_NN:
        odl_mve_f32_nn(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    case ODL_MM_TN:
        odl_mve_f32_tn(a, b, c, m, n, k, accumulate);
        return ODL_OK;
    default:
        return ODL_ERR_ARG;
    }
}

#endif /* ODL_WITH_ARM_MVE */
