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
 */
#ifdef ODL_WITH_RVV
#include "odl/matmul.h"
#include "simd/rvv/rvv_internal.h"

#define ODL_RVV_NC 32 /* output columns per chunk (stack: 4 x 32 int32) */

/* Raw sums of an MR x NR block (MR, NR in {1, 2}) over all k; with COLSUM also sum_k b of the NR columns. */
ODL_RVV_INLINE void odl_rvv_mm_s8_block(const int8_t *a, const int8_t *b, int32_t k, const int MR, const int NR,
                                        const int COLSUM, int32_t *raw0, int32_t *raw1, int32_t *colsum) {
    const int8_t *a0 = a, *a1 = a + k, *b0 = b, *b1 = b + k;
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

odl_status odl_matmul_s8_rvv(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!a || !b || !out || m <= 0 || n <= 0 || k <= 0 || !q || !o || !q->multiplier || !q->shift)
        return ODL_ERR_ARG;
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
