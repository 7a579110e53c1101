/* odl_sgd_qas_update_s8_lr / odl_sgd_qas_update_bias_s32_lr: the QAS updates of train_s8.h with a run-time learning
 * rate (read through a pointer); thin wrappers, so both live in one file. */
#include "odl/train_step.h"

odl_status odl_sgd_qas_update_s8_lr(int8_t *w_q, int32_t out_c, int32_t k, int32_t channel_stride,
                                    int32_t elem_stride, const float *w_scale, const int32_t *channels, int32_t count,
                                    const float *grad, float *momentum_buf, float *master, uint32_t *rng_state,
                                    const odl_sgd_params *p, const float *lr) {
    if (!p || !lr) return ODL_ERR_ARG;
    odl_sgd_params q = *p;
    q.lr = *lr;
    return odl_sgd_qas_update_s8(w_q, out_c, k, channel_stride, elem_stride, w_scale, channels, count, grad,
                                 momentum_buf, master, rng_state, &q);
}

odl_status odl_sgd_qas_update_bias_s32_lr(int32_t *b_q, int32_t out_c, const float *w_scale, float x_scale,
                                          const int32_t *channels, int32_t count, const float *grad,
                                          float *momentum_buf, float *master, uint32_t *rng_state,
                                          const odl_sgd_params *p, const float *lr) {
    if (!p || !lr) return ODL_ERR_ARG;
    odl_sgd_params q = *p;
    q.lr = *lr;
    return odl_sgd_qas_update_bias_s32(b_q, out_c, w_scale, x_scale, channels, count, grad, momentum_buf, master,
                                       rng_state, &q);
}
