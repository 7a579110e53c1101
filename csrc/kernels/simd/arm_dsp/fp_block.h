/* Register-blocked floating-point matmul shared by matmul_f32_dsp.c and matmul_f16_dsp.c (ARM DSP path).
 *
 * 4 x 4 register blocks: 16 fp32 accumulators in s-registers, per tap 4 A and 4 B loads (fp16: each converted by
 * VCVTB) for 16 fused MACs (VFMA), four taps per loop iteration with immediate-offset loads so each pointer moves
 * once per 4 taps. Rows and columns outside whole 4 x 4 blocks and the K tail keep the same per-output order of
 * accumulation (k ascending, starting from C when accumulating, fp32, one rounding to T at the end) as the
 * reference. The multiply-adds are fused (VFMA) whatever -ffp-contract says: fp16 x fp16 products are exact in fp32,
 * so the fp16 matmul is bit-exact with the reference; fp32 differs from the reference (which rounds each product
 * when built with -ffp-contract=off, as the firmware library is) by at most the summation error bound
 * (K + 1) 2^-24 (sum |a b| + |c|) around the exact result.
 *
 * ODL_DEFINE_FP_MATMUL(NAME, T) defines odl_status NAME(layout, a, b, c, m, n, k, accumulate) for element type T.
 */
#ifndef ODL_ARM_DSP_FP_BLOCK_H
#define ODL_ARM_DSP_FP_BLOCK_H

#include "odl/matmul.h"

/* Strides (in elements) that walk A over k for row i and B over k for column j, per layout. */
typedef struct {
    int32_t a_row, a_k; /* &A(i,p) = a + i * a_row + p * a_k */
    int32_t b_col, b_k; /* &B(p,j) = b + j * b_col + p * b_k */
} odl_fp_strides;

static inline odl_fp_strides odl_fp_layout(odl_mm_layout layout, int32_t m, int32_t n, int32_t k) {
    odl_fp_strides s;
    if (layout == ODL_MM_NT) {
        s.a_row = k, s.a_k = 1, s.b_col = k, s.b_k = 1;
    } else if (layout == ODL_MM_NN) {
        s.a_row = k, s.a_k = 1, s.b_col = 1, s.b_k = n;
    } else {
        s.a_row = 1, s.a_k = m, s.b_col = 1, s.b_k = n;
    }
    return s;
}

/* Fused multiply-add (VFMA) whatever -ffp-contract says (the firmware library builds with contract=off). */
#define ODL_FMA(acc, x, y) (acc) = __builtin_fmaf((x), (y), (acc))
#define ODL_FP_MAC4x4(x0, x1, x2, x3, y0, y1, y2, y3)                                                              \
    ODL_FMA(acc[0][0], x0, y0), ODL_FMA(acc[0][1], x0, y1), ODL_FMA(acc[0][2], x0, y2), ODL_FMA(acc[0][3], x0, y3); \
    ODL_FMA(acc[1][0], x1, y0), ODL_FMA(acc[1][1], x1, y1), ODL_FMA(acc[1][2], x1, y2), ODL_FMA(acc[1][3], x1, y3); \
    ODL_FMA(acc[2][0], x2, y0), ODL_FMA(acc[2][1], x2, y1), ODL_FMA(acc[2][2], x2, y2), ODL_FMA(acc[2][3], x2, y3); \
    ODL_FMA(acc[3][0], x3, y0), ODL_FMA(acc[3][1], x3, y1), ODL_FMA(acc[3][2], x3, y2), ODL_FMA(acc[3][3], x3, y3)

#define ODL_DEFINE_FP_MATMUL(NAME, T)                                                                              \
    /* One 4 x 4 block at (i, j); the unit strides are constants in each inlined copy. */                         \
    static inline __attribute__((always_inline)) void NAME##_block(const T *a, const T *b, T *c, int32_t n,       \
                                                                   int32_t k, int32_t accumulate, int32_t a_row,  \
                                                                   int32_t a_k, int32_t b_col, int32_t b_k) {     \
        float acc[4][4];                                                                                           \
        _Pragma("GCC unroll 4") for (int32_t r = 0; r < 4; ++r) _Pragma("GCC unroll 4") for (int32_t q = 0; q < 4; \
                                                                                            ++q) acc[r][q] =       \
            accumulate ? (float)c[(size_t)r * n + q] : 0.0f;                                                       \
        const T *pa0 = a, *pa1 = a + a_row, *pa2 = a + 2 * a_row, *pa3 = a + 3 * a_row;                            \
        const T *pb0 = b, *pb1 = b + b_col, *pb2 = b + 2 * b_col, *pb3 = b + 3 * b_col;                            \
        int32_t p = 0;                                                                                             \
        for (; p + 4 <= k; p += 4) {                                                                               \
            _Pragma("GCC unroll 4") for (int32_t u = 0; u < 4; ++u) {                                              \
                const float x0 = (float)pa0[u * a_k], x1 = (float)pa1[u * a_k], x2 = (float)pa2[u * a_k],          \
                            x3 = (float)pa3[u * a_k];                                                              \
                const float y0 = (float)pb0[u * b_k], y1 = (float)pb1[u * b_k], y2 = (float)pb2[u * b_k],          \
                            y3 = (float)pb3[u * b_k];                                                              \
                ODL_FP_MAC4x4(x0, x1, x2, x3, y0, y1, y2, y3);                                                     \
            }                                                                                                      \
            pa0 += 4 * a_k, pa1 += 4 * a_k, pa2 += 4 * a_k, pa3 += 4 * a_k;                                        \
            pb0 += 4 * b_k, pb1 += 4 * b_k, pb2 += 4 * b_k, pb3 += 4 * b_k;                                        \
        }                                                                                                          \
        for (; p < k; ++p) {                                                                                       \
            const float x0 = (float)*pa0, x1 = (float)*pa1, x2 = (float)*pa2, x3 = (float)*pa3;                    \
            const float y0 = (float)*pb0, y1 = (float)*pb1, y2 = (float)*pb2, y3 = (float)*pb3;                    \
            ODL_FP_MAC4x4(x0, x1, x2, x3, y0, y1, y2, y3);                                                         \
            pa0 += a_k, pa1 += a_k, pa2 += a_k, pa3 += a_k;                                                        \
            pb0 += b_k, pb1 += b_k, pb2 += b_k, pb3 += b_k;                                                        \
        }                                                                                                          \
        _Pragma("GCC unroll 4") for (int32_t r = 0; r < 4; ++r) _Pragma("GCC unroll 4") for (int32_t q = 0; q < 4; \
                                                                                            ++q)                   \
            c[(size_t)r * n + q] = (T)acc[r][q];                                                                   \
    }                                                                                                              \
                                                                                                                   \
    odl_status NAME(odl_mm_layout layout, const T *a, const T *b, T *c, int32_t m, int32_t n, int32_t k,           \
                    int32_t accumulate) {                                                                          \
        if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;                                      \
        if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;                 \
        const odl_fp_strides s = odl_fp_layout(layout, m, n, k);                                                   \
        const int32_t m4 = m & ~3, n4 = n & ~3;                                                                    \
        for (int32_t i = 0; i < m4; i += 4)                                                                        \
            for (int32_t j = 0; j < n4; j += 4) {                                                                  \
                const T *pa = a + (size_t)i * s.a_row, *pb = b + (size_t)j * s.b_col;                              \
                T *pc = c + (size_t)i * n + j;                                                                     \
                if (layout == ODL_MM_NT)                                                                           \
                    NAME##_block(pa, pb, pc, n, k, accumulate, k, 1, k, 1);                                        \
                else if (layout == ODL_MM_NN)                                                                      \
                    NAME##_block(pa, pb, pc, n, k, accumulate, k, 1, 1, n);                                        \
                else                                                                                               \
                    NAME##_block(pa, pb, pc, n, k, accumulate, 1, m, 1, n);                                        \
            }                                                                                                      \
        /* edges: every column of the rows below m4, the columns right of n4 for the block rows */                \
        for (int32_t i = 0; i < m; ++i)                                                                            \
            for (int32_t j = (i < m4 ? n4 : 0); j < n; ++j) {                                                      \
                const T *pa = a + (size_t)i * s.a_row, *pb = b + (size_t)j * s.b_col;                              \
                float acc = accumulate ? (float)c[(size_t)i * n + j] : 0.0f;                                       \
                for (int32_t p = 0; p < k; ++p, pa += s.a_k, pb += s.b_k) ODL_FMA(acc, (float)*pa, (float)*pb);    \
                c[(size_t)i * n + j] = (T)acc;                                                                     \
            }                                                                                                      \
        return ODL_OK;                                                                                             \
    }

#endif /* ODL_ARM_DSP_FP_BLOCK_H */
