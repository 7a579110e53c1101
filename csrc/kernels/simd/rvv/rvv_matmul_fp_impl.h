/* Template of the fp32 / fp16 matmuls of the RISC-V V path, included by matmul_f32_rvv.c and matmul_f16_rvv.c
 * with RVV_T (storage type), RVV_NAME, and the accumulate / load / store macros of that type.
 *
 * Output-stationary, vectorised over N: a block of up to 4 rows x vl columns of C lives in fp32 accumulators
 * (LMUL 4: 16 lanes at VLEN 128) for the whole K loop; each step p loads one vector of B (row p of B for NN/TN,
 * a strided gather of column p for NT) and adds a[i,p] * B for the 4 rows with vf(w)macc.vf. Every output element
 * therefore sees exactly the reference's sequence of fp32 additions (c or 0, then p = 0..K-1): with fp16 storage
 * the products are exact in fp32, so the result is bit-exact with odl_matmul_f16_ref; in fp32 the FMA rounds once
 * where the reference may round twice (the difference is bounded by K * 2^-24 * sum |a*b|).
 */

#define RVV_MR 4

ODL_RVV_INLINE void RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(const RVV_T *a, ptrdiff_t a_row, ptrdiff_t a_step,
                                                             const RVV_T *b, ptrdiff_t b_lane, ptrdiff_t b_step,
                                                             RVV_T *c, int32_t n, int32_t k, int32_t accumulate,
                                                             const int MR, const int CONTIG, size_t vl) {
    RVV_ACC acc0, acc1, acc2, acc3;
    if (accumulate) {
        acc0 = RVV_LOAD_ACC(c, vl);
        if (MR > 1) acc1 = RVV_LOAD_ACC(c + n, vl);
        if (MR > 2) acc2 = RVV_LOAD_ACC(c + 2 * n, vl);
        if (MR > 3) acc3 = RVV_LOAD_ACC(c + 3 * n, vl);
    } else {
        acc0 = RVV_ZERO(vl);
        acc1 = acc0;
        acc2 = acc0;
        acc3 = acc0;
    }
    const RVV_T *a0 = a, *a1 = a + a_row, *a2 = a + 2 * a_row, *a3 = a + 3 * a_row;
    for (int32_t p = 0; p < k; ++p) {
        const RVV_VEC vb = CONTIG ? RVV_VLE(b, vl) : RVV_VLSE(b, b_lane * (ptrdiff_t)sizeof(RVV_T), vl);
        acc0 = RVV_MACC(acc0, *a0, vb, vl);
        if (MR > 1) acc1 = RVV_MACC(acc1, *a1, vb, vl);
        if (MR > 2) acc2 = RVV_MACC(acc2, *a2, vb, vl);
        if (MR > 3) acc3 = RVV_MACC(acc3, *a3, vb, vl);
        a0 += a_step;
        a1 += a_step;
        a2 += a_step;
        a3 += a_step;
        b += b_step;
    }
    RVV_STORE_ACC(c, acc0, vl);
    if (MR > 1) RVV_STORE_ACC(c + n, acc1, vl);
    if (MR > 2) RVV_STORE_ACC(c + 2 * n, acc2, vl);
    if (MR > 3) RVV_STORE_ACC(c + 3 * n, acc3, vl);
}

ODL_RVV_INLINE void RVV_JOIN(odl_rvv_mm_rows_, RVV_SUFFIX)(const RVV_T *a, ptrdiff_t a_row, ptrdiff_t a_step,
                                                            const RVV_T *b, ptrdiff_t b_lane, ptrdiff_t b_step,
                                                            RVV_T *c, int32_t n, int32_t k, int32_t accumulate,
                                                            int32_t mr, const int CONTIG, size_t vl) {
    switch (mr) {
    case 4: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(a, a_row, a_step, b, b_lane, b_step, c, n, k, accumulate, 4, CONTIG, vl); break;
    case 3: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(a, a_row, a_step, b, b_lane, b_step, c, n, k, accumulate, 3, CONTIG, vl); break;
    case 2: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(a, a_row, a_step, b, b_lane, b_step, c, n, k, accumulate, 2, CONTIG, vl); break;
    default: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(a, a_row, a_step, b, b_lane, b_step, c, n, k, accumulate, 1, CONTIG, vl); break;
    }
}

odl_status RVV_NAME(odl_mm_layout layout, const RVV_T *a, const RVV_T *b, RVV_T *c, int32_t m, int32_t n, int32_t k,
                    int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;
    /* A[i, p] = a[i * a_row + p * a_step]; lane j of B at step p = b[j * b_lane + p * b_step] */
    const ptrdiff_t a_row = layout == ODL_MM_TN ? 1 : k, a_step = layout == ODL_MM_TN ? m : 1;
    const ptrdiff_t b_lane = layout == ODL_MM_NT ? k : 1, b_step = layout == ODL_MM_NT ? 1 : n;
    for (int32_t j = 0; j < n;) {
        const size_t vl = RVV_SETVL((size_t)(n - j));
        const RVV_T *bj = b + (size_t)j * b_lane;
        for (int32_t i = 0; i < m; i += RVV_MR) {
            const int32_t mr = ODL_MIN(RVV_MR, m - i);
            RVV_T *ci = c + (size_t)i * n + j;
            if (layout == ODL_MM_NT)
                RVV_JOIN(odl_rvv_mm_rows_, RVV_SUFFIX)(a + i * a_row, a_row, a_step, bj, b_lane, b_step, ci, n, k,
                                                       accumulate, mr, 0, vl);
            else
                RVV_JOIN(odl_rvv_mm_rows_, RVV_SUFFIX)(a + i * a_row, a_row, a_step, bj, b_lane, b_step, ci, n, k,
                                                       accumulate, mr, 1, vl);
        }
        j += (int32_t)vl;
    }
    return ODL_OK;
}

#undef RVV_MR
