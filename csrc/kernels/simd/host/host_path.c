/* Host fast path (GCC/clang vector extensions). Entries left NULL fall back to the reference.
 * Each matmul lives in its own file in this folder; this file only fills the table. */
#ifdef ODL_WITH_HOST
#include "odl/matmul.h"

odl_status odl_matmul_f32_host(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                               int32_t); /* matmul_f32_host.c */
odl_status odl_matmul_f16_host(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                               int32_t); /* matmul_f16_host.c */

odl_status odl_matmul_s8_host(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                              const odl_requant *, const odl_output_s8 *, int8_t *); /* matmul_s8_host.c */

const odl_matmul_path odl_path_host = {
    "host",
    odl_matmul_s8_host, /* matmul_s8 */
    odl_matmul_f32_host, /* matmul_f32 */
    odl_matmul_f16_host, /* matmul_f16 */
};
#endif
