/* odl_clamp_s8: a standalone int8 ReLU / ReLU6 (same input and output quantization) is a clamp. */
#include "odl/train_step.h"

odl_status odl_clamp_s8(const int8_t *x, int32_t n, int32_t lo, int32_t hi, int8_t *y) {
    if (!x || !y || n <= 0 || lo > hi || lo < -128 || hi > 127) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) y[i] = (int8_t)(x[i] < lo ? lo : (x[i] > hi ? hi : x[i]));
    return ODL_OK;
}
