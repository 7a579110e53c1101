/* The matmul path table. Each SIMD path lives in csrc/kernels/simd/<path>/ and exports one
 * `const odl_matmul_path odl_path_<name>` whose NULL entries mean "use the reference". Which paths are compiled in
 * is decided by the ODL_WITH_<PATH> macros (set by the host builder / CMake toolchain for the target). */
#include "odl/matmul.h"

extern const odl_matmul_path odl_path_host;
extern const odl_matmul_path odl_path_arm_dsp;
extern const odl_matmul_path odl_path_arm_mve;
extern const odl_matmul_path odl_path_rvv;

static const odl_matmul_path odl_path_reference = {"reference", odl_matmul_s8_ref, odl_matmul_f32_ref,
                                                   odl_matmul_f16_ref};

static const odl_matmul_path *const odl_paths[ODL_PATH_COUNT] = {
    &odl_path_reference,
#ifdef ODL_WITH_HOST
    &odl_path_host,
#else
    0,
#endif
#ifdef ODL_WITH_ARM_DSP
    &odl_path_arm_dsp,
#else
    0,
#endif
#ifdef ODL_WITH_ARM_MVE
    &odl_path_arm_mve,
#else
    0,
#endif
#ifdef ODL_WITH_RVV
    &odl_path_rvv,
#else
    0,
#endif
};

/* Resolved copies: missing entries filled with the reference. */
static odl_matmul_path odl_resolved[ODL_PATH_COUNT];
static int odl_resolved_ready = 0;
static odl_path_id odl_active = ODL_PATH_REFERENCE;

static void odl_resolve(void) {
    if (odl_resolved_ready) return;
    for (int i = 0; i < ODL_PATH_COUNT; ++i) {
        if (!odl_paths[i]) continue;
        odl_resolved[i] = *odl_paths[i];
        if (!odl_resolved[i].matmul_s8) odl_resolved[i].matmul_s8 = odl_matmul_s8_ref;
        if (!odl_resolved[i].matmul_f32) odl_resolved[i].matmul_f32 = odl_matmul_f32_ref;
        if (!odl_resolved[i].matmul_f16) odl_resolved[i].matmul_f16 = odl_matmul_f16_ref;
    }
    /* Default: the highest-numbered compiled path (the target's SIMD path, or the host path). */
    for (int i = ODL_PATH_COUNT - 1; i >= 0; --i) {
        if (odl_paths[i]) {
            odl_active = (odl_path_id)i;
            break;
        }
    }
    odl_resolved_ready = 1;
}

const odl_matmul_path *odl_path_get(odl_path_id id) {
    odl_resolve();
    if ((unsigned)id >= (unsigned)ODL_PATH_COUNT || !odl_paths[id]) return 0;
    return &odl_resolved[id];
}

odl_status odl_path_select(odl_path_id id) {
    if (!odl_path_get(id)) return ODL_ERR_UNSUPPORTED;
    odl_active = id;
    return ODL_OK;
}

odl_path_id odl_path_active(void) {
    odl_resolve();
    return odl_active;
}

odl_status odl_matmul_s8(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                         int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    odl_resolve();
    return odl_resolved[odl_active].matmul_s8(a, b, bias, m, n, k, a_offset, q, o, out);
}

odl_status odl_matmul_f32(odl_mm_layout layout, const float *a, const float *b, float *c, int32_t m, int32_t n,
                          int32_t k, int32_t accumulate) {
    odl_resolve();
    return odl_resolved[odl_active].matmul_f32(layout, a, b, c, m, n, k, accumulate);
}

odl_status odl_matmul_f16(odl_mm_layout layout, const odl_f16 *a, const odl_f16 *b, odl_f16 *c, int32_t m, int32_t n,
                          int32_t k, int32_t accumulate) {
    odl_resolve();
    return odl_resolved[odl_active].matmul_f16(layout, a, b, c, m, n, k, accumulate);
}
