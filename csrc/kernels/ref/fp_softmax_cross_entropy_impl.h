/* Template of softmax + cross-entropy for one sample, included twice by fp_softmax_cross_entropy.c.
 * log-sum-exp: m = max(z); lse = m + log(sum exp(z - m)); loss = lse - z[label];
 * dz = exp(z - lse) - onehot(label). FP32 arithmetic, one rounding per dz element. */

odl_status FP_JOIN2(odl_softmax_cross_entropy, FP_TY)(const FP_T *logits, int32_t n, int32_t label, float *loss,
                                                      FP_T *dlogits) {
    if (!logits || !loss || n <= 0 || label < 0 || label >= n) return ODL_ERR_ARG;
    float m = (float)logits[0];
    for (int32_t i = 1; i < n; ++i)
        if ((float)logits[i] > m) m = (float)logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += expf((float)logits[i] - m);
    const float lse = m + logf(sum);
    *loss = lse - (float)logits[label];
    if (dlogits)
        for (int32_t i = 0; i < n; ++i) dlogits[i] = (FP_T)(expf((float)logits[i] - lse) - (i == label ? 1.0f : 0.0f));
    return ODL_OK;
}
