/* odl/matmul.h - the matmuls every layer reduces to, and the table that picks their code path.
 *
 * Layouts (row-major, all contiguous):
 *   ODL_MM_NT: A[M,K], B[N,K], C[M,N] = A * B^T   (forward: im2col rows x weight rows)
 *   ODL_MM_NN: A[M,K], B[K,N], C[M,N] = A * B     (input gradient: dY x W)
 *   ODL_MM_TN: A[K,M], B[K,N], C[M,N] = A^T * B   (weight gradient: dY^T x im2col)
 * With accumulate != 0 the product is added to C, otherwise C is overwritten.
 */
#ifndef ODL_MATMUL_H
#define ODL_MATMUL_H

#include "odl/common.h"
#include "odl/quant.h"

typedef enum { ODL_MM_NT = 0, ODL_MM_NN = 1, ODL_MM_TN = 2 } odl_mm_layout;

/* Code paths. A path implements any subset of the matmuls; the rest fall back to the reference. */
typedef enum {
    ODL_PATH_REFERENCE = 0, /* portable C: the specification */
    ODL_PATH_HOST = 1,      /* GCC/clang vector extensions, for x86-64 / aarch64 hosts */
    ODL_PATH_ARM_DSP = 2,   /* Cortex-M4/M7/M33 SIMD (SMLAD) */
    ODL_PATH_ARM_MVE = 3,   /* Cortex-M55 Helium */
    ODL_PATH_RVV = 4,       /* RISC-V V */
    ODL_PATH_COUNT = 5
} odl_path_id;

/* int8, NT layout only: out[m,n] = clamp(requant(sum_k (a[m,k] + a_offset) * b[n,k] + bias[n], channel n) + offset).
 * bias may be NULL. Bit-exact across every path. */
typedef odl_status (*odl_matmul_s8_fn)(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n,
                                       int32_t k, int32_t a_offset, const odl_requant *q, const odl_output_s8 *o,
                                       int8_t *out);
typedef odl_status (*odl_matmul_f32_fn)(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m,
                                        int32_t n, int32_t k, int32_t accumulate);
/* fp16 storage; accumulation precision is the path's (reference: fp32, rounded to fp16 once per output). */
typedef odl_status (*odl_matmul_f16_fn)(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c,
                                        int32_t m, int32_t n, int32_t k, int32_t accumulate);

typedef struct {
    const char *name;
    odl_matmul_s8_fn matmul_s8;
    odl_matmul_f32_fn matmul_f32;
    odl_matmul_f16_fn matmul_f16;
} odl_matmul_path;

/* Reference implementations (always compiled). */
odl_status odl_matmul_s8_ref(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out);
odl_status odl_matmul_f32_ref(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                              int32_t k, int32_t accumulate);
odl_status odl_matmul_f16_ref(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m,
                              int32_t n, int32_t k, int32_t accumulate);

/* The path table. odl_path_get() returns NULL for a path not compiled into this build; entries a path does not
 * implement are already filled with the reference. odl_path_select() switches the path all kernels use
 * (default: the best compiled path); it returns ODL_ERR_UNSUPPORTED for a path not in this build. */
const odl_matmul_path *odl_path_get(odl_path_id id);
odl_status odl_path_select(odl_path_id id);
odl_path_id odl_path_active(void);

/* Matmuls through the active path: what layer kernels call. */
odl_status odl_matmul_s8(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                         int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out);
odl_status odl_matmul_f32(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                          int32_t k, int32_t accumulate);
odl_status odl_matmul_f16(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n,
                          int32_t k, int32_t accumulate);

#endif /* ODL_MATMUL_H */
