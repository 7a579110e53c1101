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

/* One block of MR rows x vl columns. LAYOUT and MR are compile-time constants (every call site is inlined), so
 * unit strides become immediate load offsets: with NT / NN (A rows contiguous in K) the p loop is unrolled by 4
 * and the 4 A scalars of a row are read at offsets 0, 1, 2, 3 of one pointer; with TN the MR scalars of one step
 * are adjacent. The zero accumulators are made with an fp16-width instruction so that the loop needs no vsetvli. */
ODL_RVV_INLINE void RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(const int LAYOUT, const int MR, const RVV_T *a,
                                                             const RVV_T *b, RVV_T *c, int32_t m, int32_t n,
                                                             int32_t k, int32_t accumulate, size_t vl) {
    const ptrdiff_t a_row = LAYOUT == ODL_MM_TN ? 1 : k, a_step = LAYOUT == ODL_MM_TN ? m : 1;
    const ptrdiff_t b_lane_bytes = (ptrdiff_t)k * (ptrdiff_t)sizeof(RVV_T), b_step = LAYOUT == ODL_MM_NT ? 1 : n;
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
#define RVV_LOAD_B(bp) (LAYOUT == ODL_MM_NT ? RVV_VLSE((bp), b_lane_bytes, vl) : RVV_VLE((bp), vl))
#define RVV_STEP(u)                                                                 \
    do {                                                                            \
        const RVV_VEC vb_ = RVV_LOAD_B(b);                                          \
        b += b_step;                                                                \
        acc0 = RVV_MACC(acc0, a0[(u) * a_step], vb_, vl);                          \
        if (MR > 1) acc1 = RVV_MACC(acc1, a0[a_row + (u) * a_step], vb_, vl);      \
        if (MR > 2) acc2 = RVV_MACC(acc2, a0[2 * a_row + (u) * a_step], vb_, vl);  \
        if (MR > 3) acc3 = RVV_MACC(acc3, a0[3 * a_row + (u) * a_step], vb_, vl);  \
    } while (0)
    const RVV_T *a0 = a;
    int32_t p = 0;
    if (LAYOUT != ODL_MM_TN) {
        for (; p + 4 <= k; p += 4) {
            RVV_STEP(0);
            RVV_STEP(1);
            RVV_STEP(2);
            RVV_STEP(3);
            a0 += 4;
        }
    }
    for (; p < k; ++p) {
        RVV_STEP(0);
        a0 += a_step;
    }
#undef RVV_STEP
#undef RVV_LOAD_B
    RVV_STORE_ACC(c, acc0, vl);
    if (MR > 1) RVV_STORE_ACC(c + n, acc1, vl);
    if (MR > 2) RVV_STORE_ACC(c + 2 * n, acc2, vl);
    if (MR > 3) RVV_STORE_ACC(c + 3 * n, acc3, vl);
}

/* All row blocks of one column block [j, j + vl). */
ODL_RVV_INLINE void RVV_JOIN(odl_rvv_mm_cols_, RVV_SUFFIX)(const int LAYOUT, const RVV_T *a, const RVV_T *b, RVV_T *c,
                                                            int32_t m, int32_t n, int32_t k, int32_t accumulate,
                                                            size_t vl) {
    const ptrdiff_t a_row = LAYOUT == ODL_MM_TN ? 1 : k;
    int32_t i = 0;
    for (; i + RVV_MR <= m; i += RVV_MR)
        RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(LAYOUT, RVV_MR, a + i * a_row, b, c + (size_t)i * n, m, n, k,
                                                 accumulate, vl);
    switch (m - i) {
    case 3: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(LAYOUT, 3, a + i * a_row, b, c + (size_t)i * n, m, n, k, accumulate, vl); break;
    case 2: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(LAYOUT, 2, a + i * a_row, b, c + (size_t)i * n, m, n, k, accumulate, vl); break;
    case 1: RVV_JOIN(odl_rvv_mm_block_, RVV_SUFFIX)(LAYOUT, 1, a + i * a_row, b, c + (size_t)i * n, m, n, k, accumulate, vl); break;
    default: break;
    }
}

static void RVV_JOIN(odl_rvv_mm_nt_, RVV_SUFFIX)(const RVV_T *a, const RVV_T *b, RVV_T *c, int32_t m, int32_t n,
                                                  int32_t k, int32_t accumulate, size_t vl) {
    RVV_JOIN(odl_rvv_mm_cols_, RVV_SUFFIX)(ODL_MM_NT, a, b, c, m, n, k, accumulate, vl);
}
static void RVV_JOIN(odl_rvv_mm_nn_, RVV_SUFFIX)(const RVV_T *a, const RVV_T *b, RVV_T *c, int32_t m, int32_t n,
                                                  int32_t k, int32_t accumulate, size_t vl) {
    RVV_JOIN(odl_rvv_mm_cols_, RVV_SUFFIX)(ODL_MM_NN, a, b, c, m, n, k, accumulate, vl);
}
static void RVV_JOIN(odl_rvv_mm_tn_, RVV_SUFFIX)(const RVV_T *a, const RVV_T *b, RVV_T *c, int32_t m, int32_t n,
                                                  int32_t k, int32_t accumulate, size_t vl) {
    RVV_JOIN(odl_rvv_mm_cols_, RVV_SUFFIX)(ODL_MM_TN, a, b, c, m, n, k, accumulate, vl);
}

odl_status RVV_NAME(odl_mm_layout layout, const RVV_T *a, const RVV_T *b, RVV_T *c, int32_t m, int32_t n, int32_t k,
                    int32_t accumulate) {
    if (!a || !b || !c || m <= 0 || n <= 0 || k <= 0) return ODL_ERR_ARG;
    if (layout != ODL_MM_NT && layout != ODL_MM_NN && layout != ODL_MM_TN) return ODL_ERR_ARG;
    for (int32_t j = 0; j < n;) {
        const size_t vl = RVV_SETVL((size_t)(n - j));
        /* lane 0 of the B vectors: column j (NT: row j of B[N,K]; NN / TN: element j of each row of B[K,N]) */
        if (layout == ODL_MM_NT)
            RVV_JOIN(odl_rvv_mm_nt_, RVV_SUFFIX)(a, b + (size_t)j * k, c + j, m, n, k, accumulate, vl);
        else if (layout == ODL_MM_NN)
            RVV_JOIN(odl_rvv_mm_nn_, RVV_SUFFIX)(a, b + j, c + j, m, n, k, accumulate, vl);
        else
            RVV_JOIN(odl_rvv_mm_tn_, RVV_SUFFIX)(a, b + j, c + j, m, n, k, accumulate, vl);
        j += (int32_t)vl;
    }
    return ODL_OK;
}

#undef RVV_MR
