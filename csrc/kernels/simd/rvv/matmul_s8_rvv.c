/* RISC-V V path of odl_matmul_s8 (NT layout), bit-exact with odl_matmul_s8_ref.
 *
 * sum_k (a + off) * b = sum_k a * b + off * sum_k b. The int8 x int8 products are exact in int16, so one K step
 * of 64 taps (e8, LMUL 4) is one vwmul (-> int16, LMUL 8) and one vwredsum (int16 -> running int32 sum): two
 * instructions per 64 MACs and output. Register block: 2 rows x 2 columns (4 running sums, A and B vectors loaded
 * once per step). K tails need no masking: the last step simply runs with vl < 64 and the reduction only covers
 * the first vl lanes. The column sums sum_k b (for the input offset) are taken in the first row block from the
 * B vectors already loaded. Output columns are processed in chunks of ODL_RVV_NC: the raw sums of a row land in a
 * small stack buffer, and bias + offset term + requantization run vectorised over the chunk (rvv_internal.h).
 * All sums are exact int32 (equal modulo 2^32 to the reference's accumulator in any case).
 *
 * That "dot" kernel suits few rows (fully connected, batch 1) and long rows. With m >= 4 rows and either
 * n >= 24 columns or k <= 64 taps (conv2d / pointwise: im2col rows) the "outer" kernel is used instead: vectorised over up to 32 output columns (int32 LMUL 8), 3 rows per block;
 * each step p gathers column p of B^T for the 32 columns (vlse8, stride k), sign-extends it to int16 once and adds
 * a[i,p] * B with vwmacc.vx for the 3 rows; the column sums for the offset come from one pass over the chunk, and
 * the accumulators are already the output rows, so bias, offset term and requantization are plain vector ops.
 */
#ifdef ODL_WITH_RVV
#include "odl/matmul.h"
#include "simd/rvv/rvv_internal.h"

#define ODL_RVV_NC 32 /* output columns per chunk (stack: 4 x 32 int32) */

/* Raw sums of an MR x NR block (MR, NR in {1, 2}) over all k; with COLSUM also sum_k b of the NR columns. */
ODL_RVV_INLINE void odl_rvv_mm_s8_block(const int8_t *a, const int8_t *b, int32_t k, const int MR, const int NR,
                                        const int COLSUM, int32_t *raw0, int32_t *raw1, int32_t *colsum) {
    const int8_t *a0 = a, *a1 = MR == 2 ? a + k : a, *b0 = b, *b1 = NR == 2 ? b + k : b; /* no pointer past the rows */
    const vint32m1_t zero = __riscv_vmv_v_x_i32m1(0, 1);
    vint32m1_t s00 = zero, s01 = zero, s10 = zero, s11 = zero, c0 = zero, c1 = zero;
    for (size_t left = (size_t)k, vl; left > 0; left -= vl) {
        vl = __riscv_vsetvl_e8m4(left);
        const vint8m4_t va0 = __riscv_vle8_v_i8m4(a0, vl);
        const vint8m4_t vb0 = __riscv_vle8_v_i8m4(b0, vl);
        s00 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vwmul_vv_i16m8(va0, vb0, vl), s00, vl);
        if (COLSUM) c0 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vsext_vf2_i16m8(vb0, vl), c0, vl);
        if (NR == 2) {
            const vint8m4_t vb1 = __riscv_vle8_v_i8m4(b1, vl);
            s01 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vwmul_vv_i16m8(va0, vb1, vl), s01, vl);
            if (COLSUM) c1 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vsext_vf2_i16m8(vb1, vl), c1, vl);
            b1 += vl;
        }
        if (MR == 2) {
            const vint8m4_t va1 = __riscv_vle8_v_i8m4(a1, vl);
            s10 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vwmul_vv_i16m8(va1, vb0, vl), s10, vl);
            if (NR == 2) {
                const vint8m4_t vb1 = __riscv_vle8_v_i8m4(b1 - vl, vl);
                s11 = __riscv_vwredsum_vs_i16m8_i32m1(__riscv_vwmul_vv_i16m8(va1, vb1, vl), s11, vl);
            }
            a1 += vl;
        }
        a0 += vl;
        b0 += vl;
    }
    raw0[0] = __riscv_vmv_x_s_i32m1_i32(s00);
    if (NR == 2) raw0[1] = __riscv_vmv_x_s_i32m1_i32(s01);
    if (MR == 2) {
        raw1[0] = __riscv_vmv_x_s_i32m1_i32(s10);
        if (NR == 2) raw1[1] = __riscv_vmv_x_s_i32m1_i32(s11);
    }
    if (COLSUM) {
        colsum[0] = __riscv_vmv_x_s_i32m1_i32(c0);
        if (NR == 2) colsum[1] = __riscv_vmv_x_s_i32m1_i32(c1);
    }
}

/* One row block (mr rows) against the columns [0, nc) of a chunk. */
static void odl_rvv_mm_s8_rows(const int8_t *a, const int8_t *b, int32_t k, int32_t mr, int32_t nc, int colsum_pass,
                               int32_t raw[2][ODL_RVV_NC], int32_t *colsum) {
    int32_t j = 0;
    if (mr == 2) {
        if (colsum_pass) {
            for (; j + 2 <= nc; j += 2)
                odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 2, 2, 1, &raw[0][j], &raw[1][j], &colsum[j]);
            if (j < nc) odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 2, 1, 1, &raw[0][j], &raw[1][j], &colsum[j]);
        } else {
            for (; j + 2 <= nc; j += 2)
                odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 2, 2, 0, &raw[0][j], &raw[1][j], 0);
            if (j < nc) odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 2, 1, 0, &raw[0][j], &raw[1][j], 0);
        }
    } else {
        if (colsum_pass) {
            for (; j + 2 <= nc; j += 2)
                odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 1, 2, 1, &raw[0][j], 0, &colsum[j]);
            if (j < nc) odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 1, 1, 1, &raw[0][j], 0, &colsum[j]);
        } else {
            for (; j + 2 <= nc; j += 2) odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 1, 2, 0, &raw[0][j], 0, 0);
            if (j < nc) odl_rvv_mm_s8_block(a, b + (size_t)j * k, k, 1, 1, 0, &raw[0][j], 0, 0);
        }
    }
}

/* ---------------------------------------------------------------- outer-product kernel (m >= 4) */

#define ODL_RVV_OUTER_NC 32 /* output columns per chunk (int32 LMUL 8 at VLEN 128) */

/* MR rows (1..3) x vl columns: acc_r = sum_p a[r,p] * B[p, lanes]; then + colterm, requantize, store. */
ODL_RVV_INLINE void odl_rvv_mm_s8_outer_block(const int MR, const int8_t *a, const int8_t *b, int32_t k, size_t vl,
                                              const int32_t *colterm, const odl_requant *q, int32_t j0,
                                              const odl_output_s8 *o, int8_t *out, int32_t n) {
    vint32m8_t acc0 = __riscv_vmv_v_x_i32m8(0, vl), acc1 = acc0, acc2 = acc0;
    const int8_t *a0 = a, *a1 = MR > 1 ? a + k : a, *a2 = MR > 2 ? a + 2 * k : a, *bp = b;
#define ODL_RVV_OUTER_STEP(u)                                                                        \
    do {                                                                                             \
        const vint16m4_t vb_ = __riscv_vsext_vf2_i16m4(__riscv_vlse8_v_i8m2(bp + (u), k, vl), vl);   \
        acc0 = __riscv_vwmacc_vx_i32m8(acc0, (int16_t)a0[u], vb_, vl);                               \
        if (MR > 1) acc1 = __riscv_vwmacc_vx_i32m8(acc1, (int16_t)a1[u], vb_, vl);                   \
        if (MR > 2) acc2 = __riscv_vwmacc_vx_i32m8(acc2, (int16_t)a2[u], vb_, vl);                   \
    } while (0)
    int32_t p = 0;
    for (; p + 4 <= k; p += 4) {
        ODL_RVV_OUTER_STEP(0);
        ODL_RVV_OUTER_STEP(1);
        ODL_RVV_OUTER_STEP(2);
        ODL_RVV_OUTER_STEP(3);
        a0 += 4;
        a1 += 4;
        a2 += 4;
        bp += 4;
    }
    for (; p < k; ++p) {
        ODL_RVV_OUTER_STEP(0);
        ++a0;
        ++a1;
        ++a2;
        ++bp;
    }
#undef ODL_RVV_OUTER_STEP
    const vint32m8_t ct = __riscv_vle32_v_i32m8(colterm, vl);
    odl_rvv_requant_store_m8(__riscv_vadd_vv_i32m8(acc0, ct, vl), vl, q, j0, o, out);
    if (MR > 1) odl_rvv_requant_store_m8(__riscv_vadd_vv_i32m8(acc1, ct, vl), vl, q, j0, o, out + n);
    if (MR > 2) odl_rvv_requant_store_m8(__riscv_vadd_vv_i32m8(acc2, ct, vl), vl, q, j0, o, out + 2 * (size_t)n);
}

static void odl_rvv_mm_s8_outer(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n,
                                int32_t k, int32_t a_offset, const odl_requant *q, const odl_output_s8 *o,
                                int8_t *out) {
    int32_t colterm[ODL_RVV_OUTER_NC];
    for (int32_t j0 = 0; j0 < n;) {
        const size_t vl = __riscv_vsetvl_e16m4((size_t)ODL_MIN(n - j0, ODL_RVV_OUTER_NC));
        const int8_t *bj = b + (size_t)j0 * k; /* lane l = column j0 + l: B[j0 + l, p] at bj + l*k + p */
        vint32m8_t ct = bias ? __riscv_vle32_v_i32m8(bias + j0, vl) : __riscv_vmv_v_x_i32m8(0, vl);
        if (a_offset) {
            vint32m8_t cs = __riscv_vmv_v_x_i32m8(0, vl);
            for (int32_t p = 0; p < k; ++p)
                cs = __riscv_vwadd_wv_i32m8(cs, __riscv_vsext_vf2_i16m4(__riscv_vlse8_v_i8m2(bj + p, k, vl), vl), vl);
            ct = __riscv_vmacc_vx_i32m8(ct, a_offset, cs, vl);
        }
        __riscv_vse32_v_i32m8(colterm, ct, vl);
        int32_t i = 0;
        for (; i + 3 <= m; i += 3)
            odl_rvv_mm_s8_outer_block(3, a + (size_t)i * k, bj, k, vl, colterm, q, j0, o, out + (size_t)i * n + j0, n);
        if (m - i == 2)
            odl_rvv_mm_s8_outer_block(2, a + (size_t)i * k, bj, k, vl, colterm, q, j0, o, out + (size_t)i * n + j0, n);
        else if (m - i == 1)
            odl_rvv_mm_s8_outer_block(1, a + (size_t)i * k, bj, k, vl, colterm, q, j0, o, out + (size_t)i * n + j0, n);
        j0 += (int32_t)vl;
    }
}

odl_status odl_matmul_s8_rvv(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!a || !b || !out || m <= 0 || n <= 0 || k <= 0 || !q || !o || !q->multiplier || !q->shift)
        return ODL_ERR_ARG;
    /* outer: 3 instructions per 32 MACs and step when n >= 32, but only half as good on 16 lanes, where the dot
     * kernel (about 25 instructions per 64-tap step of a 2x2 block) wins unless k is short */
    if (m >= 4 && n >= 8 && (n >= 24 || k <= 64)) {
        odl_rvv_mm_s8_outer(a, b, bias, m, n, k, a_offset, q, o, out);
        return ODL_OK;
    }
    int32_t raw[2][ODL_RVV_NC];
    int32_t colsum[ODL_RVV_NC];
    int32_t colterm[ODL_RVV_NC]; /* bias + a_offset * sum_k b, per column of the chunk */
    for (int32_t j0 = 0; j0 < n; j0 += ODL_RVV_NC) {
        const int32_t nc = ODL_MIN(ODL_RVV_NC, n - j0);
        const int8_t *bc = b + (size_t)j0 * k;
        for (int32_t i = 0; i < m; i += 2) {
            const int32_t mr = ODL_MIN(2, m - i);
            const int first = i == 0;
            odl_rvv_mm_s8_rows(a + (size_t)i * k, bc, k, mr, nc, first && a_offset != 0, raw, colsum);
            if (first) {
                for (int32_t j = 0; j < nc;) {
                    const size_t vl = __riscv_vsetvl_e32m4((size_t)(nc - j));
                    vint32m4_t t = bias ? __riscv_vle32_v_i32m4(bias + j0 + j, vl) : __riscv_vmv_v_x_i32m4(0, vl);
                    if (a_offset)
                        t = __riscv_vmacc_vx_i32m4(t, a_offset, __riscv_vle32_v_i32m4(colsum + j, vl), vl);
                    __riscv_vse32_v_i32m4(colterm + j, t, vl);
                    j += (int32_t)vl;
                }
            }
            for (int32_t r = 0; r < mr; ++r) {
                for (int32_t j = 0; j < nc;) {
                    const size_t vl = __riscv_vsetvl_e32m4((size_t)(nc - j));
                    const vint32m4_t acc = __riscv_vadd_vv_i32m4(__riscv_vle32_v_i32m4(&raw[r][j], vl),
                                                                 __riscv_vle32_v_i32m4(colterm + j, vl), vl);
                    __riscv_vse32_v_i32m4(&raw[r][j], acc, vl);
                    j += (int32_t)vl;
                }
                odl_rvv_requant_store_s8(raw[r], q, j0, o, out + (size_t)(i + r) * n + j0, nc, 1);
            }
        }
    }
    return ODL_OK;
}
#endif /* ODL_WITH_RVV */
