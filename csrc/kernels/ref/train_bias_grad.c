/* Bias gradients on their own (for specs that update a layer's bias but not its weights): FP32, FP16 and the
 * int8-graph variant w.r.t. the stored int32 bias. They share one loop shape, so they live in one file. */
#include "odl/train_step.h"

odl_status odl_bias_grad_f32(const float *dy, int32_t pixels, int32_t out_c, float *db) {
    if (!dy || !db || pixels <= 0 || out_c <= 0) return ODL_ERR_ARG;
    for (int32_t c = 0; c < out_c; ++c) {
        float s = 0.0f;
        for (int32_t p = 0; p < pixels; ++p) s += dy[(size_t)p * out_c + c];
        db[c] = s;
    }
    return ODL_OK;
}

odl_status odl_bias_grad_f16(const odl_f16 *dy, int32_t pixels, int32_t out_c, odl_f16 *db) {
    if (!dy || !db || pixels <= 0 || out_c <= 0) return ODL_ERR_ARG;
    for (int32_t c = 0; c < out_c; ++c) {
        float s = 0.0f;
        for (int32_t p = 0; p < pixels; ++p) s += (float)dy[(size_t)p * out_c + c];
        db[c] = (odl_f16)s;
    }
    return ODL_OK;
}

odl_status odl_bias_grad_s32_f32(const float *dy, int32_t pixels, int32_t out_c, const float *w_scale, float x_scale,
                                 const int32_t *channels, int32_t count, float *db_q) {
    if (!dy || !w_scale || !db_q || pixels <= 0 || out_c <= 0 || count <= 0 || count > out_c) return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j) {
        const int32_t c = channels ? channels[j] : j;
        if (c < 0 || c >= out_c) return ODL_ERR_ARG;
        float s = 0.0f;
        for (int32_t p = 0; p < pixels; ++p) s += dy[(size_t)p * out_c + c];
        db_q[j] = (w_scale[c] * x_scale) * s;
    }
    return ODL_OK;
}
