/* SGD with momentum and weight decay, torch.optim.SGD semantics (dampening 0, no nesterov), in place:
 *   d = g + weight_decay * w;  buf = momentum * buf + d  (buf starts at zero);  w -= lr * buf.
 * With momentum == 0 the buffer is not used (may be NULL): w -= lr * d. */
#include "fp_common.h"

static int sgd_args_ok(const void *w, const void *g, const void *buf, int32_t n, float momentum) {
    return w && g && n > 0 && (buf || momentum == 0.0f);
}

odl_status odl_sgd_f32_update(float *w, const float *g, float *buf, int32_t n, float lr, float momentum,
                              float weight_decay) {
    if (!sgd_args_ok(w, g, buf, n, momentum)) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        float d = g[i] + weight_decay * w[i];
        if (momentum != 0.0f) {
            buf[i] = momentum * buf[i] + d;
            d = buf[i];
        }
        w[i] = w[i] - lr * d;
    }
    return ODL_OK;
}

/* FP16 weights and buffer: FP32 arithmetic, each stored value rounded once. */
odl_status odl_sgd_f16_update(odl_f16 *w, const odl_f16 *g, odl_f16 *buf, int32_t n, float lr, float momentum,
                              float weight_decay) {
    if (!sgd_args_ok(w, g, buf, n, momentum)) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        const float wi = (float)w[i];
        float d = (float)g[i] + weight_decay * wi;
        if (momentum != 0.0f) {
            d = momentum * (float)buf[i] + d;
            buf[i] = (odl_f16)d;
        }
        w[i] = (odl_f16)(wi - lr * d);
    }
    return ODL_OK;
}

/* FP32 master weights and FP32 buffer; the FP16 weights are the rounded master (mixed-precision training). */
odl_status odl_sgd_f16_update_master(odl_f16 *w, float *master, const odl_f16 *g, float *buf, int32_t n, float lr,
                                     float momentum, float weight_decay) {
    if (!sgd_args_ok(w, g, buf, n, momentum) || !master) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        float d = (float)g[i] + weight_decay * master[i];
        if (momentum != 0.0f) {
            buf[i] = momentum * buf[i] + d;
            d = buf[i];
        }
        master[i] = master[i] - lr * d;
        w[i] = (odl_f16)master[i];
    }
    return ODL_OK;
}
