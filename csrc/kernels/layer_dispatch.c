/* Layer override tables, one per compiled SIMD path (see odl/layer_paths.h). */
#include "odl/layer_paths.h"

extern const odl_layer_path odl_layers_arm_dsp;
extern const odl_layer_path odl_layers_arm_mve;
extern const odl_layer_path odl_layers_rvv;

static const odl_layer_path odl_layers_none = {"reference", 0, 0, 0, 0, 0};

const odl_layer_path *odl_layer_path_active(void) {
    switch (odl_path_active()) {
#ifdef ODL_WITH_ARM_DSP
    case ODL_PATH_ARM_DSP:
        return &odl_layers_arm_dsp;
#endif
#ifdef ODL_WITH_ARM_MVE
    case ODL_PATH_ARM_MVE:
        return &odl_layers_arm_mve;
#endif
#ifdef ODL_WITH_RVV
    case ODL_PATH_RVV:
        return &odl_layers_rvv;
#endif
    default:
        return &odl_layers_none;
    }
}
