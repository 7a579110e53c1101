/* Reference matmuls: the specification every SIMD path must match (int8 bit-exact). */
#include "internal/odl_math.h"
#include "odl/matmul.h"

static int mm_args_ok(const void *a, const void *b, const void *c, int32_t m, int32_t n, int32_t k) {
    return a && b && c && m > 0 && n > 0 && k > 0;
}

odl_status odl_matmul_s8_ref(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!mm_args_ok(a, b, out, m, n, k) || !q || !o || !q->multiplier || !q->shift) return ODL_ERR_ARG;
    for (int32_t i = 0; i < m; ++i) {
        const int8_t *arow = a + (size_t)i * k;
        for (int32_t j = 0; j < n; ++j) {
            const int8_t *brow = b + (size_t)j * k;
            int32_t acc = bias ? bias[j] : 0;
            for (int32_t p = 0; p < k; ++p) acc += ((int32_t)arow[p] + a_offset) * (int32_t)brow[p];
            out[(size_t)i * n + j] = odl_requant_s8(acc, q, j, o);
        }
    }
    return ODL_OK;
}

#define ODL_DEFINE_MATMUL_REF(NAME, T)                                                                          \
    odl_status NAME(odl_mm_layout layout, const T *a, const T *b, T *c, int32_t m, int32_t n, int32_t k,        \
                    int32_t accumulate) {                                                                       \
        if (!mm_args_ok(a, b, c, m, n, k)) return ODL_ERR_ARG;                                                  \
        if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;              \
        for (int32_t i = 0; i < m; ++i) {                                                                       \
            for (int32_t j = 0; j < n; ++j) {                                                                   \
                float acc = accumulate ? (float)c[(size_t)i * n + j] : 0.0f;                                    \
                for (int32_t p = 0; p < k; ++p) {                                                               \
                    float x, y;                                                                                 \
                    if (layout == ODL_MM_NT) {                                                                  \
                        x = (float)a[(size_t)i * k + p];                                                        \
                        y = (float)b[(size_t)j * k + p];                                                        \
                    } else if (layout == ODL_MM_NN) {                                                           \
                        x = (float)a[(size_t)i * k + p];                                                        \
                        y = (float)b[(size_t)p * n + j];                                                        \
                    } else {                                                                                    \
                        x = (float)a[(size_t)p * m + i];                                                        \
                        y = (float)b[(size_t)p * n + j];                                                        \
                    }                                                                                           \
                    acc += x * y;                                                                               \
                }                                                                                               \
                c[(size_t)i * n + j] = (T)acc;                                                                  \
            }                                                                                                   \
        }                                                                                                       \
        return ODL_OK;                                                                                          \
    }

ODL_DEFINE_MATMUL_REF(odl_matmul_f32_ref, float)
ODL_DEFINE_MATMUL_REF(odl_matmul_f16_ref, odl_f16)
