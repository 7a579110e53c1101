/* SGD with quantization-aware scaling (QAS) for the trainable slice of an int8 layer: odl_sgd_qas_update_s8 (int8
 * weights), odl_sgd_qas_update_bias_s32 (int32 bias) and odl_master_copy_init_s8. They share the rounding code, so
 * they live in one file. The arithmetic is plain float32 in a fixed order so that host and board get the same bits. */
#include <math.h>

#include "odl/train_s8.h"

/* The update step in quantized units for one element; updates *buf and returns delta = -lr * g. */
static inline float sgd_delta(float grad, float inv_s2, float w, float *buf, const odl_sgd_params *p) {
    float g = grad * inv_s2 + p->weight_decay * w;
    if (p->momentum != 0.0f) {
        g = p->momentum * *buf + g;
        *buf = g;
    }
    return -(p->lr * g);
}

/* Integer step (as a float holding an integer) for an update delta of an integer value. */
static inline float integer_step(float delta, odl_rounding mode, uint32_t *rng) {
    if (delta != delta) delta = 0.0f; /* a NaN update leaves the integer as it is */
    if (mode == ODL_ROUND_STOCHASTIC) {
        const float f = floorf(delta);
        const float frac = delta - f; /* exact, in [0, 1) */
        const float u = (float)(odl_xorshift32_next(rng) >> 8) * (1.0f / 16777216.0f);
        return u < frac ? f + 1.0f : f;
    }
    return roundf(delta); /* half away from zero */
}

static int params_ok(const odl_sgd_params *p, const float *momentum_buf, const float *master, const uint32_t *rng) {
    if (!p || !isfinite(p->lr) || !isfinite(p->momentum) || !isfinite(p->weight_decay)) return 0;
    if (p->momentum != 0.0f && !momentum_buf) return 0;
    if (p->rounding == ODL_ROUND_MASTER) return master != 0;
    if (p->rounding == ODL_ROUND_STOCHASTIC) return rng && *rng != 0;
    return p->rounding == ODL_ROUND_NEAREST;
}

static int channels_ok(const int32_t *channels, int32_t count, int32_t out_c) {
    if (count <= 0 || out_c <= 0 || count > out_c) return 0;
    if (channels)
        for (int32_t j = 0; j < count; ++j)
            if (channels[j] < 0 || channels[j] >= out_c) return 0;
    return 1;
}

odl_status odl_master_copy_init_s8(const int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride,
                                   int32_t elem_stride, const int32_t *channels, int32_t count, float *master) {
    if (!w_q || !master || k <= 0 || channel_stride <= 0 || elem_stride <= 0 || !channels_ok(channels, count, out_c))
        return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j) {
        const int8_t *w = w_q + (size_t)(channels ? channels[j] : j) * channel_stride;
        for (int32_t e = 0; e < k; ++e) master[(size_t)j * k + e] = (float)w[(size_t)e * elem_stride];
    }
    return ODL_OK;
}

odl_status odl_sgd_qas_update_s8(int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride, int32_t elem_stride,
                                 const float *w_scale, const int32_t *channels, int32_t count, const float *grad,
                                 float *momentum_buf, float *master, uint32_t *rng_state, const odl_sgd_params *p) {
    if (!w_q || !w_scale || !grad || k <= 0 || channel_stride <= 0 || elem_stride <= 0 ||
        !channels_ok(channels, count, out_c) || !params_ok(p, momentum_buf, master, rng_state))
        return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j) {
        const float s = w_scale[channels ? channels[j] : j];
        if (!(s > 0.0f) || !isfinite(1.0f / (s * s))) return ODL_ERR_ARG; /* checked before anything moves */
    }
    for (int32_t j = 0; j < count; ++j) {
        const int32_t c = channels ? channels[j] : j;
        const float s = w_scale[c];
        const float inv_s2 = 1.0f / (s * s); /* QAS: grad(W_q) * s_w^-2 */
        int8_t *w = w_q + (size_t)c * channel_stride;
        for (int32_t e = 0; e < k; ++e) {
            const size_t i = (size_t)j * k + e;
            int8_t *wi = w + (size_t)e * elem_stride;
            if (p->rounding == ODL_ROUND_MASTER) {
                float m = master[i] + sgd_delta(grad[i], inv_s2, master[i], momentum_buf ? momentum_buf + i : 0, p);
                if (m != m) m = master[i];
                m = m < -127.0f ? -127.0f : (m > 127.0f ? 127.0f : m);
                master[i] = m;
                *wi = (int8_t)roundf(m);
            } else {
                const float d = sgd_delta(grad[i], inv_s2, (float)*wi, momentum_buf ? momentum_buf + i : 0, p);
                float v = (float)*wi + integer_step(d, p->rounding, rng_state);
                v = v < -127.0f ? -127.0f : (v > 127.0f ? 127.0f : v);
                *wi = (int8_t)v;
            }
        }
    }
    return ODL_OK;
}

odl_status odl_sgd_qas_update_bias_s32(int32_t *b_q, int32_t out_c, const float *w_scale, float x_scale,
                                       const int32_t *channels, int32_t count, const float *grad,
                                       float *momentum_buf, float *master, uint32_t *rng_state,
                                       const odl_sgd_params *p) {
    if (!b_q || !w_scale || !grad || !channels_ok(channels, count, out_c) ||
        !params_ok(p, momentum_buf, master, rng_state))
        return ODL_ERR_ARG;
    for (int32_t j = 0; j < count; ++j) {
        const float sb = w_scale[channels ? channels[j] : j] * x_scale;
        if (!(sb > 0.0f) || !isfinite(1.0f / (sb * sb))) return ODL_ERR_ARG;
    }
    const float lo = -2147483648.0f, hi = 2147483520.0f; /* largest float below 2^31 */
    for (int32_t j = 0; j < count; ++j) {
        const int32_t c = channels ? channels[j] : j;
        const float sb = w_scale[c] * x_scale; /* s_b = s_w * s_x */
        const float inv_s2 = 1.0f / (sb * sb); /* QAS: grad(b_q) * s_b^-2 */
        if (p->rounding == ODL_ROUND_MASTER) {
            float m = master[j] + sgd_delta(grad[j], inv_s2, master[j], momentum_buf ? momentum_buf + j : 0, p);
            if (m != m) m = master[j];
            m = m < lo ? lo : (m > hi ? hi : m);
            master[j] = m;
            b_q[c] = (int32_t)roundf(m);
        } else {
            const float d = sgd_delta(grad[j], inv_s2, (float)b_q[c], momentum_buf ? momentum_buf + j : 0, p);
            float step = integer_step(d, p->rounding, rng_state);
            step = step < -4294967296.0f ? -4294967296.0f : (step > 4294967296.0f ? 4294967296.0f : step);
            int64_t v = (int64_t)b_q[c] + (int64_t)step; /* the step is an integer: no loss for large biases */
            v = v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v);
            b_q[c] = (int32_t)v;
        }
    }
    return ODL_OK;
}
