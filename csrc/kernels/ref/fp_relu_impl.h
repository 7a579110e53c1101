/* Template of relu / relu6 forward and backward (plain and 1-bit mask), included twice by fp_relu.c. */

odl_status FP_NAME(odl_relu, forward)(const FP_T *x, FP_T *y, int32_t n) {
    if (!x || !y || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) y[i] = (float)x[i] > 0.0f ? x[i] : (FP_T)0.0f;
    return ODL_OK;
}

odl_status FP_NAME(odl_relu, backward)(const FP_T *y, const FP_T *dy, FP_T *dx, int32_t n) {
    if (!y || !dy || !dx || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) dx[i] = (float)y[i] > 0.0f ? dy[i] : (FP_T)0.0f;
    return ODL_OK;
}

odl_status FP_NAME(odl_relu6, forward)(const FP_T *x, FP_T *y, int32_t n) {
    if (!x || !y || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        const float v = (float)x[i];
        y[i] = v > 0.0f ? (v < 6.0f ? x[i] : (FP_T)6.0f) : (FP_T)0.0f;
    }
    return ODL_OK;
}

odl_status FP_NAME(odl_relu6, backward)(const FP_T *y, const FP_T *dy, FP_T *dx, int32_t n) {
    if (!y || !dy || !dx || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        const float v = (float)y[i];
        dx[i] = (v > 0.0f && v < 6.0f) ? dy[i] : (FP_T)0.0f;
    }
    return ODL_OK;
}

/* Forward plus odl_relu_mask_pack: bit i of the mask = derivative of the activation at x[i] (0 or 1). */
odl_status FP_NAME(odl_relu, forward_mask)(const FP_T *x, FP_T *y, uint8_t *mask, int32_t n) {
    if (!x || !y || !mask || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; i += 8) {
        uint8_t bits = 0;
        for (int32_t j = 0; j < 8 && i + j < n; ++j) {
            const int on = (float)x[i + j] > 0.0f;
            bits |= (uint8_t)(on << j);
            y[i + j] = on ? x[i + j] : (FP_T)0.0f;
        }
        mask[i >> 3] = bits;
    }
    return ODL_OK;
}

odl_status FP_NAME(odl_relu6, forward_mask)(const FP_T *x, FP_T *y, uint8_t *mask, int32_t n) {
    if (!x || !y || !mask || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; i += 8) {
        uint8_t bits = 0;
        for (int32_t j = 0; j < 8 && i + j < n; ++j) {
            const float v = (float)x[i + j];
            bits |= (uint8_t)((v > 0.0f && v < 6.0f) << j);
            y[i + j] = v > 0.0f ? (v < 6.0f ? x[i + j] : (FP_T)6.0f) : (FP_T)0.0f;
        }
        mask[i >> 3] = bits;
    }
    return ODL_OK;
}

odl_status FP_NAME(odl_relu_mask, backward)(const uint8_t *mask, const FP_T *dy, FP_T *dx, int32_t n) {
    if (!mask || !dy || !dx || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) dx[i] = odl_fp_mask_bit(mask, i) ? dy[i] : (FP_T)0.0f;
    return ODL_OK;
}
