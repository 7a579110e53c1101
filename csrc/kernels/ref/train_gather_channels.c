/* odl_gather_channels_f32 / _f16: pick the selected channels (columns) of a [pixels, c] matrix, so the FP weight
 * gradient of a channel-sparse update is computed for those channels only. One loop, two element types. */
#include "odl/train_step.h"

odl_status odl_gather_channels_f32(const float *x, int32_t pixels, int32_t c, const int32_t *channels, int32_t count,
                                   float *out) {
    if (!x || !channels || !out || pixels <= 0 || c <= 0 || count <= 0) return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j)
        if (channels[j] < 0 || channels[j] >= c) return ODL_ERR_ARG;
    for (int32_t p = 0; p < pixels; ++p)
        for (int32_t j = 0; j < count; ++j) out[(size_t)p * count + j] = x[(size_t)p * c + channels[j]];
    return ODL_OK;
}

odl_status odl_gather_channels_f16(const odl_f16 *x, int32_t pixels, int32_t c, const int32_t *channels,
                                   int32_t count, odl_f16 *out) {
    if (!x || !channels || !out || pixels <= 0 || c <= 0 || count <= 0) return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j)
        if (channels[j] < 0 || channels[j] >= c) return ODL_ERR_ARG;
    for (int32_t p = 0; p < pixels; ++p)
        for (int32_t j = 0; j < count; ++j) out[(size_t)p * count + j] = x[(size_t)p * c + channels[j]];
    return ODL_OK;
}
