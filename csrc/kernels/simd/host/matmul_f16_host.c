/* Host fast path of odl_matmul_f16: FP16 storage, FP32 accumulation, one rounding per output (like the reference).
 *
 * A, B (and C when accumulating) are widened to FP32 copies, the FP32 register-blocked core of
 * matmul_f32_host.c does the work, and C is rounded to FP16 once. Every element is accumulated in the same order
 * with the same FP32 operations as odl_matmul_f16_ref, so the results are bit-identical to the reference (the
 * tests check this). Conversions use F16C when the x86-64 CPU has it (picked at run time). Buffers come from
 * malloc (host only); if it fails the reference is used.
 */
#ifdef ODL_WITH_HOST
#include <stddef.h>
#include <stdlib.h>

#include "odl/matmul.h"

int odl_host_gemm_f32(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                      int32_t k, int32_t accumulate); /* matmul_f32_host.c */

#define F16_DEFINE_CONVERT(SUFFIX, ATTR)                                                                        \
    ATTR static void f16_widen_##SUFFIX(const odl_f16 *src, float *dst, size_t count) {                         \
        for (size_t i = 0; i < count; ++i) dst[i] = (float)src[i];                                              \
    }                                                                                                           \
    ATTR static void f16_narrow_##SUFFIX(const float *src, odl_f16 *dst, size_t count) {                        \
        for (size_t i = 0; i < count; ++i) dst[i] = (odl_f16)src[i];                                            \
    }

F16_DEFINE_CONVERT(base, )
#if defined(__x86_64__) && defined(__GNUC__)
F16_DEFINE_CONVERT(f16c, __attribute__((target("avx2,f16c"))))
#define F16_HAVE_F16C 1
#endif

static void f16_widen(const odl_f16 *src, float *dst, size_t count) {
#ifdef F16_HAVE_F16C
    if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2")) {
        f16_widen_f16c(src, dst, count);
        return;
    }
#endif
    f16_widen_base(src, dst, count);
}

static void f16_narrow(const float *src, odl_f16 *dst, size_t count) {
#ifdef F16_HAVE_F16C
    if (__builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2")) {
        f16_narrow_f16c(src, dst, count);
        return;
    }
#endif
    f16_narrow_base(src, dst, count);
}

odl_status odl_matmul_f16_host(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m,
                               int32_t n, int32_t k, int32_t accumulate);

odl_status odl_matmul_f16_host(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m,
                               int32_t n, int32_t k, int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;
    const size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *buf = malloc((na + nb + nc) * sizeof(float));
    if (!buf) return odl_matmul_f16_ref(layout, a, b, c, m, n, k, accumulate);
    float *af = buf, *bf = buf + na, *cf = buf + na + nb;
    f16_widen(a, af, na); /* same layouts as the FP16 operands */
    f16_widen(b, bf, nb);
    if (accumulate) f16_widen(c, cf, nc);
    if (odl_host_gemm_f32(layout, af, bf, cf, m, n, k, accumulate) != 0) {
        free(buf);
        return odl_matmul_f16_ref(layout, a, b, c, m, n, k, accumulate);
    }
    f16_narrow(cf, c, nc);
    free(buf);
    return ODL_OK;
}
#endif
