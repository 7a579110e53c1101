/* Template of elementwise add forward / backward, included twice by fp_add.c. */

odl_status FP_NAME(odl_add, forward)(const FP_T *a, const FP_T *b, FP_T *y, int32_t n) {
    if (!a || !b || !y || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) y[i] = (FP_T)((float)a[i] + (float)b[i]);
    return ODL_OK;
}

odl_status FP_NAME(odl_add, backward)(const FP_T *dy, FP_T *da, FP_T *db, int32_t n) {
    if (!dy || n <= 0) return ODL_ERR_ARG;
    for (int32_t i = 0; i < n; ++i) {
        if (da) da[i] = dy[i];
        if (db) db[i] = dy[i];
    }
    return ODL_OK;
}
