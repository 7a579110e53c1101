/* odl_lr_cosine_f32: the cosine learning-rate schedule computed on the device, one call per training step. */
#include <math.h>

#include "odl/train_step.h"

odl_status odl_lr_cosine_f32(float *lr, int32_t *step, float base_lr, int32_t total_steps) {
    if (!lr || !step || total_steps <= 0 || *step < 0) return ODL_ERR_ARG;
    const int32_t t = *step < total_steps ? *step : total_steps;
    const double c = cos(3.14159265358979323846 * (double)t / (double)total_steps);
    *lr = (float)((double)base_lr * 0.5 * (1.0 + c));
    if (*step < 0x7fffffff) *step += 1;
    return ODL_OK;
}
