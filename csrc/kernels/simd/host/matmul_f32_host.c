/* Host fast path of odl_matmul_f32 (GCC/clang vector extensions): all three layouts, register-blocked.
 *
 * Blocking (BLIS-style, simplified): K is cut into KC-long slices; each slice of B is packed once into column
 * panels of W floats (Bp[panel][p][0..W), zero-padded); for blocks of MC rows of A, a 6 x W register tile of C
 * (12 vector accumulators) is updated by rank-1 steps: broadcast A(i, p) times one packed panel row. A is read in
 * place: NT/NN rows are K-strided, TN rows are contiguous at each p. W = 16 (AVX2 clone, picked at run time on
 * x86-64) or 8 (baseline SSE2 / NEON).
 *
 * Bit-exactness: every C element is computed as acc = (accumulate ? C : 0); acc += A(i,p)*B(p,j) for p = 0..K-1 in
 * order, with a separate multiply and add (the build uses -ffp-contract=off and no FMA target) and exact FP32
 * stores between K slices: the same operations in the same order as odl_matmul_f32_ref, so the results are
 * bit-identical to the reference. The FP16 host path (matmul_f16_host.c) reuses this core on FP32 copies.
 * Packing buffers come from malloc (host only); if it fails the reference is used.
 */
#ifdef ODL_WITH_HOST
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "odl/matmul.h"

#define MM_MR 6
#define MM_KC 256
#define MM_MC 96
#define MM_WMAX 16

typedef float mm_v4 __attribute__((vector_size(16)));
typedef float mm_v8 __attribute__((vector_size(32)));

/* Broadcast a scalar (sign of zero preserved, unlike `(V){} + x`). */
#define MM_BC4(x) ((mm_v4){(x), (x), (x), (x)})
#define MM_BC8(x) ((mm_v8){(x), (x), (x), (x), (x), (x), (x), (x)})

/* Micro-kernel: ct[MR][W] (aligned, in/out) += A(r, p) * bp[p][0..W) for p < kc; a[r] points at A(i0+r, p0) and
 * consecutive p are `acs` floats apart. V holds W/2 floats. */
#define MM_DEFINE_KERNEL(NAME, V, BC, W, ATTR)                                                                    \
    ATTR static void NAME(int32_t kc, const float *const *a, ptrdiff_t acs, const float *bp, float *ct) {       \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];                   \
        V c00 = *(V *)(ct + 0 * W), c01 = *(V *)(ct + 0 * W + W / 2);                                       \
        V c10 = *(V *)(ct + 1 * W), c11 = *(V *)(ct + 1 * W + W / 2);                                       \
        V c20 = *(V *)(ct + 2 * W), c21 = *(V *)(ct + 2 * W + W / 2);                                       \
        V c30 = *(V *)(ct + 3 * W), c31 = *(V *)(ct + 3 * W + W / 2);                                       \
        V c40 = *(V *)(ct + 4 * W), c41 = *(V *)(ct + 4 * W + W / 2);                                       \
        V c50 = *(V *)(ct + 5 * W), c51 = *(V *)(ct + 5 * W + W / 2);                                       \
        for (int32_t p = 0; p < kc; ++p) {                                                                      \
            const V b0 = *(const V *)(bp + (size_t)p * W), b1 = *(const V *)(bp + (size_t)p * W + W / 2);     \
            const ptrdiff_t o = p * acs;                                                                        \
            V x;                                                                                                \
            x = BC(a0[o]); c00 += x * b0; c01 += x * b1;                                                    \
            x = BC(a1[o]); c10 += x * b0; c11 += x * b1;                                                    \
            x = BC(a2[o]); c20 += x * b0; c21 += x * b1;                                                    \
            x = BC(a3[o]); c30 += x * b0; c31 += x * b1;                                                    \
            x = BC(a4[o]); c40 += x * b0; c41 += x * b1;                                                    \
            x = BC(a5[o]); c50 += x * b0; c51 += x * b1;                                                    \
        }                                                                                                       \
        *(V *)(ct + 0 * W) = c00; *(V *)(ct + 0 * W + W / 2) = c01;                                             \
        *(V *)(ct + 1 * W) = c10; *(V *)(ct + 1 * W + W / 2) = c11;                                             \
        *(V *)(ct + 2 * W) = c20; *(V *)(ct + 2 * W + W / 2) = c21;                                             \
        *(V *)(ct + 3 * W) = c30; *(V *)(ct + 3 * W + W / 2) = c31;                                             \
        *(V *)(ct + 4 * W) = c40; *(V *)(ct + 4 * W + W / 2) = c41;                                             \
        *(V *)(ct + 5 * W) = c50; *(V *)(ct + 5 * W + W / 2) = c51;                                             \
    }

MM_DEFINE_KERNEL(mm_kernel_w8, mm_v4, MM_BC4, 8, )
#if defined(__x86_64__) && defined(__GNUC__)
MM_DEFINE_KERNEL(mm_kernel_w16_avx2, mm_v8, MM_BC8, 16, __attribute__((target("avx2"))))
#define MM_HAVE_AVX2_KERNEL 1
#endif

typedef void (*mm_kernel_fn)(int32_t, const float *const *, ptrdiff_t, const float *, float *);

/* C[M,N] (+)= op(A) op(B) in FP32, host-blocked. Returns 0, or -1 if a packing buffer could not be allocated. */
int odl_host_gemm_f32(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                      int32_t k, int32_t accumulate);

int odl_host_gemm_f32(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                      int32_t k, int32_t accumulate) {
    mm_kernel_fn kernel = mm_kernel_w8;
    int32_t W = 8;
#ifdef MM_HAVE_AVX2_KERNEL
    if (__builtin_cpu_supports("avx2")) {
        kernel = mm_kernel_w16_avx2;
        W = 16;
    }
#endif
    const int32_t kc_max = k < MM_KC ? k : MM_KC;
    const int32_t panels = (n + W - 1) / W;
    float *bp = aligned_alloc(64, ((size_t)panels * W * kc_max * sizeof(float) + 63) / 64 * 64);
    if (!bp) return -1;
    float ct[MM_MR * MM_WMAX] __attribute__((aligned(64)));
    /* A(i, p): NT/NN a[i*k + p] (acs 1), TN a[p*m + i] (acs m). B(p, j): NT b[j*k + p], NN/TN b[p*n + j]. */
    const ptrdiff_t acs = layout == ODL_MM_TN ? m : 1;
    for (int32_t p0 = 0; p0 < k; p0 += MM_KC) {
        const int32_t kc = k - p0 < MM_KC ? k - p0 : MM_KC;
        for (int32_t jp = 0; jp < panels; ++jp) {
            float *dst = bp + (size_t)jp * W * kc;
            const int32_t j0 = jp * W, nw = n - j0 < W ? n - j0 : W;
            for (int32_t p = 0; p < kc; ++p) {
                float *row = dst + (size_t)p * W;
                if (layout == ODL_MM_NT) {
                    for (int32_t j = 0; j < nw; ++j) row[j] = b[(size_t)(j0 + j) * k + p0 + p];
                } else {
                    memcpy(row, b + (size_t)(p0 + p) * n + j0, (size_t)nw * sizeof(float));
                }
                for (int32_t j = nw; j < W; ++j) row[j] = 0.0f;
            }
        }
        const int load_c = accumulate || p0 > 0;
        for (int32_t ib = 0; ib < m; ib += MM_MC) {
            const int32_t ie = m - ib < MM_MC ? m : ib + MM_MC;
            for (int32_t jp = 0; jp < panels; ++jp) {
                const int32_t j0 = jp * W, nw = n - j0 < W ? n - j0 : W;
                const float *panel = bp + (size_t)jp * W * kc;
                for (int32_t i0 = ib; i0 < ie; i0 += MM_MR) {
                    const int32_t mr = ie - i0 < MM_MR ? ie - i0 : MM_MR;
                    const float *arow[MM_MR];
                    for (int32_t r = 0; r < MM_MR; ++r) {
                        const int32_t i = i0 + (r < mr ? r : 0); /* missing rows recompute row 0, not stored */
                        arow[r] = layout == ODL_MM_TN ? a + (size_t)p0 * m + i : a + (size_t)i * k + p0;
                    }
                    for (int32_t r = 0; r < MM_MR; ++r)
                        for (int32_t j = 0; j < W; ++j)
                            ct[r * W + j] = (load_c && r < mr && j < nw) ? c[(size_t)(i0 + r) * n + j0 + j] : 0.0f;
                    kernel(kc, arow, acs, panel, ct);
                    for (int32_t r = 0; r < mr; ++r)
                        memcpy(c + (size_t)(i0 + r) * n + j0, ct + r * W, (size_t)nw * sizeof(float));
                }
            }
        }
    }
    free(bp);
    return 0;
}

odl_status odl_matmul_f32_host(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                               int32_t k, int32_t accumulate);

odl_status odl_matmul_f32_host(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                               int32_t k, int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;
    if (odl_host_gemm_f32(layout, a, b, c, m, n, k, accumulate) != 0)
        return odl_matmul_f32_ref(layout, a, b, c, m, n, k, accumulate);
    return ODL_OK;
}
#endif
