/* odl_act_backward_s8 and the small helpers around it: xorshift32, dequantization, gradient rescaling. */
#include "odl/train_s8.h"

uint32_t odl_xorshift32_next(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

odl_status odl_act_backward_s8(const int8_t *y_q, const float *dy, int32_t size, int32_t act_min, int32_t act_max,
                               float *dx) {
    if (!y_q || !dy || !dx || size <= 0 || act_min > act_max) return ODL_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t y = y_q[i];
        dx[i] = (y > act_min && y < act_max) ? dy[i] : 0.0f;
    }
    return ODL_OK;
}

odl_status odl_dequantize_s8_f32(const int8_t *q, int32_t size, float scale, int32_t zero_point, float *out) {
    if (!q || !out || size <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) out[i] = scale * (float)((int32_t)q[i] - zero_point);
    return ODL_OK;
}

odl_status odl_grad_rescale_f32(float *g, int32_t size, float factor) {
    if (!g || size <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) g[i] *= factor;
    return ODL_OK;
}
