/* odl_sgd_f{32,16}_update_slice(_packed): SGD on the selected output channels of a weight tensor, the learning rate
 * read through a pointer, the gradient in the weight's layout or packed [count, k]. Per element the same arithmetic
 * as odl_sgd_f32_update / odl_sgd_f16_update; all share the argument checks and the loop, so they live in one file. */
#include "odl/train_step.h"

static int slice_args_ok(const void *w, const void *g, const void *buf, int32_t k, int32_t channel_stride,
                         int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                         float momentum) {
    if (!w || !g || !lr || k <= 0 || channel_stride <= 0 || elem_stride <= 0 || count <= 0) return 0;
    if (momentum != 0.0f && !buf) return 0;
    if (channels)
        for (int32_t j = 0; j < count; ++j)
            if (channels[j] < 0) return 0;
    return 1;
}

static odl_status slice_f32(float *w, const float *g, float *buf, int32_t k, int32_t channel_stride,
                            int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                            float momentum, float weight_decay, int packed) {
    if (!slice_args_ok(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum)) return ODL_ERR_ARG;
    const float rate = *lr;
    for (int32_t j = 0; j < count; ++j) {
        const size_t base = (size_t)(channels ? channels[j] : j) * (size_t)channel_stride;
        for (int32_t e = 0; e < k; ++e) {
            const size_t i = base + (size_t)e * (size_t)elem_stride;
            const float gi = packed ? g[(size_t)j * k + e] : g[i];
            float d = gi + weight_decay * w[i];
            if (momentum != 0.0f) {
                float *b = buf + (size_t)j * k + e;
                *b = momentum * *b + d;
                d = *b;
            }
            w[i] = w[i] - rate * d;
        }
    }
    return ODL_OK;
}

static odl_status slice_f16(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t k, int32_t channel_stride,
                            int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                            float momentum, float weight_decay, int packed) {
    if (!slice_args_ok(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum)) return ODL_ERR_ARG;
    const float rate = *lr;
    for (int32_t j = 0; j < count; ++j) {
        const size_t base = (size_t)(channels ? channels[j] : j) * (size_t)channel_stride;
        for (int32_t e = 0; e < k; ++e) {
            const size_t i = base + (size_t)e * (size_t)elem_stride;
            const float wi = (float)w[i];
            float d = (float)(packed ? g[(size_t)j * k + e] : g[i]) + weight_decay * wi;
            if (momentum != 0.0f) {
                odl_f16 *b = buf + (size_t)j * k + e;
                d = momentum * (float)*b + d;
                *b = (odl_f16)d;
            }
            w[i] = (odl_f16)(wi - rate * d);
        }
    }
    return ODL_OK;
}

odl_status odl_sgd_f32_update_slice(float *w, const float *g, float *buf, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                                    float momentum, float weight_decay) {
    return slice_f32(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum, weight_decay, 0);
}

odl_status odl_sgd_f32_update_slice_packed(float *w, const float *g, float *buf, int32_t k, int32_t channel_stride,
                                           int32_t elem_stride, const int32_t *channels, int32_t count,
                                           const float *lr, float momentum, float weight_decay) {
    return slice_f32(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum, weight_decay, 1);
}

odl_status odl_sgd_f16_update_slice(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const int32_t *channels, int32_t count, const float *lr,
                                    float momentum, float weight_decay) {
    return slice_f16(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum, weight_decay, 0);
}

odl_status odl_sgd_f16_update_slice_packed(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t k,
                                           int32_t channel_stride, int32_t elem_stride, const int32_t *channels,
                                           int32_t count, const float *lr, float momentum, float weight_decay) {
    return slice_f16(w, g, buf, k, channel_stride, elem_stride, channels, count, lr, momentum, weight_decay, 1);
}
