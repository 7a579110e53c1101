/* Softmax cross-entropy with the label read from a buffer (FP32 and FP16): the generated training step copies its
 * label argument into that buffer, so every step of a Program is a call with fixed arguments. */
#include "odl/train_step.h"

odl_status odl_softmax_cross_entropy_f32_label(const float *logits, int32_t n, const int32_t *label, float *loss,
                                               float *dlogits) {
    if (!label) return ODL_ERR_ARG;
    return odl_softmax_cross_entropy_f32(logits, n, *label, loss, dlogits);
}

odl_status odl_softmax_cross_entropy_f16_label(const odl_f16 *logits, int32_t n, const int32_t *label, float *loss,
                                               odl_f16 *dlogits) {
    if (!label) return ODL_ERR_ARG;
    return odl_softmax_cross_entropy_f16(logits, n, *label, loss, dlogits);
}
