/* ARM DSP path of odl_matmul_s8 (NT layout, Cortex-M4/M7/M33), bit-exact with odl_matmul_s8_ref.
 *
 * Dual 16-bit MACs (SMLAD) on operands sign-extended by SXTB16, as CMSIS-NN does, with these choices:
 *  - A rows (im2col rows) are widened to int16 once per block of 6 rows into a stack buffer, interleaved per group
 *    of 4 taps (row 0 taps (0,2),(1,3), row 1 ..., row 5), so one pointer and LDM reach every row. B rows (weights)
 *    are widened on the fly: SXTB16 gives taps (0,2), SXTB16 ROR #8 taps (1,3).
 *  - The input offset is folded into the accumulator's start value: sum (a + off) b = sum a b + off * sum b, with the
 *    weight-row sums computed once per call (exact modulo 2^32, like the reference's int32 accumulator).
 *  - Main block: 6 rows x 1 column, inline assembly with pinned registers (6 accumulators, 2 B lanes, 4 LDM
 *    targets, 2 pointers: all 14 allocatable registers; the compiler alone spills). Per 4 taps LDR + 2 SXTB16 +
 *    3 LDM (4 words each) + 12 SMLAD = 18 instructions for 24 MACs, 4 groups per loop iteration.
 *    K > 256 runs in chunks of 256 taps (the 6 x 256 int16 buffer is 3 KB), the sums kept between chunks.
 *  - M < 6 and the M % 6 row tail run one widened row (input offset added with SADD16) against 4 weight rows at a
 *    time: LDRD + 4 x (LDR + 2 SXTB16 + 2 SMLAD) = 21 instructions for 16 MACs. Such rows with K > 1536 run the
 *    reference.
 *  - The K tail (k % 4) is a zero-padded last group: A padded in the buffer, B bytes read one by one into a word,
 *    never past the end of B.
 *  - Requantization stays exact but cheap: when the accumulator is provably small (checked once per call from K,
 *    the input offset and the largest |bias|: |acc << left_shift| < 2^29, e <= 21), SaturatingRoundingDoublingHighMul
 *    (x, m) equals SMMULR(2x, m), and RoundingDivideByPOT plus the output offset fold into one add and one shift:
 *        (r + ((r >> 31) & adj) + round + (offset << e)) >> e,  round = 2^(e-1), adj = -1 for e >= 1 (0, 0 for e = 0)
 *    then SSAT #8 and the activation clamp. Any case outside those bounds (huge bias or offset, e > 21, single
 *    rounding builds) requantizes with odl_requant_s8 itself.
 */
#include "internal/odl_math.h"
#include "odl/matmul.h"

#ifdef ODL_WITH_ARM_DSP

#include "dsp_internal.h"

#ifdef __OPTIMIZE__

/* int16 taps in the A stack buffer (3 KB): 6 rows of a K chunk of 256 taps, or one whole row up to K = 1536. */
#define ODL_DSP_ABUF 1536
#define ODL_DSP_KC 256
/* Output channels whose start values and requantization constants are precomputed at a time (stack). */
#define ODL_DSP_NCHUNK 32

typedef struct {
    int32_t init;  /* bias + a_offset * sum_k b[j, k] */
    odl_dsp_rq rq; /* requantization constants (fast path) */
} odl_dsp_col;

#define ODL_DSP_WIDEN1(STRIDE)                                                                                     \
    "ldr %[w], [%[p]], #4\n\t"                                                                                  \
    "sxtb16 %[e], %[w]\n\t"                                                                                     \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                             \
    "strd %[e], %[w], [%[d]], #" STRIDE "\n\t"

#define ODL_DSP_WIDEN2(STRIDE)                                                                                     \
    "ldrd %[w], %[v], [%[p]], #8\n\t"                                                                          \
    "sxtb16 %[e], %[w]\n\t"                                                                                     \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                             \
    "strd %[e], %[w], [%[d]], #" STRIDE "\n\t"                                                                  \
    "sxtb16 %[e], %[v]\n\t"                                                                                     \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                             \
    "strd %[e], %[v], [%[d]], #" STRIDE "\n\t"

/* Widen `width` taps of rows a[0..rows) (row stride k) into buf: group g of row r at words buf[(g * rows + r) * 2 + {0,1}] =
 * taps (0,2) and (1,3). The tail group is zero-padded. */
static void odl_dsp_widen_rows(const int8_t *a, int32_t width, int32_t k, int32_t rows, int32_t a_offset,
                               uint32_t *dst) {
    const int32_t full = width >> 2, tail = width & 3;
    if (a_offset) {
        /* Only for single rows: taps a + a_offset; the zero padding of the tail stays 0. */
        const uint32_t off2 = ((uint32_t)a_offset & 0xFFFFu) * 0x10001u;
        for (int32_t g = 0; g < full; ++g, dst += 2) {
            const uint32_t w = odl_ld32(a + 4 * g);
            dst[0] = __sadd16(__sxtb16(w), off2);
            dst[1] = __sadd16(odl_sxtb16_ror8(w), off2);
        }
        if (tail) {
            const uint32_t w = odl_ld_tail(a + 4 * full, tail);
            dst[0] = __sadd16(__sxtb16(w), off2) & (tail > 2 ? 0xFFFFFFFFu : 0xFFFFu);
            dst[1] = tail > 1 ? __sadd16(odl_sxtb16_ror8(w), off2) & 0xFFFFu : 0;
        }
        return;
    }
    const int aligned = (((uintptr_t)a | (uintptr_t)k) & 3) == 0;
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *p = a + (size_t)r * k;
        uint32_t *d = dst + 2 * r;
        int32_t g = full;
        uint32_t w, e, v;
        /* 4 groups per step: LDRD (word-aligned rows) or 2 LDR, then 2 SXTB16 + STRD with post-increment per
         * group: 3.5 or 4 instructions per group (GCC makes 8) */
        if (rows == 6 && aligned)
            for (; g >= 4; g -= 4)
                __asm__ volatile(ODL_DSP_WIDEN2("48") ODL_DSP_WIDEN2("48")
                                 : [p] "+r"(p), [d] "+r"(d), [w] "=&r"(w), [e] "=&r"(e), [v] "=&r"(v)
                                 :
                                 : "memory");
        if (rows == 6)
            for (; g >= 4; g -= 4)
                __asm__ volatile(ODL_DSP_WIDEN1("48") ODL_DSP_WIDEN1("48") ODL_DSP_WIDEN1("48") ODL_DSP_WIDEN1("48")
                                 : [p] "+r"(p), [d] "+r"(d), [w] "=&r"(w), [e] "=&r"(e)
                                 :
                                 : "memory");
        if (rows == 1)
            for (; g >= 4; g -= 4)
                __asm__ volatile(ODL_DSP_WIDEN1("8") ODL_DSP_WIDEN1("8") ODL_DSP_WIDEN1("8") ODL_DSP_WIDEN1("8")
                                 : [p] "+r"(p), [d] "+r"(d), [w] "=&r"(w), [e] "=&r"(e)
                                 :
                                 : "memory");
        for (; g > 0; --g, p += 4, d += 2 * rows) {
            w = odl_ld32(p);
            d[0] = __sxtb16(w);
            d[1] = odl_sxtb16_ror8(w);
        }
    }
    dst += (size_t)2 * rows * full;
    if (tail)
        for (int32_t r = 0; r < rows; ++r) {
            const uint32_t w = odl_ld_tail(a + (size_t)r * k + 4 * full, tail);
            dst[0] = __sxtb16(w);
            dst[1] = odl_sxtb16_ror8(w);
            dst += 2;
        }
}

/* Sum of the taps of one weight row, exactly: two int16-lane sums, flushed every 256 taps (|lane| <= 128 * 128). */
static int32_t odl_dsp_row_sum(const int8_t *b, int32_t k) {
    int32_t sum = 0, p = 0;
    while (p + 4 <= k) {
        uint32_t s = 0;
        for (const int32_t end = p + 256 < k ? p + 256 : k; p + 4 <= end; p += 4) {
            const uint32_t w = odl_ld32(b + p);
            s = __sxtab16(s, w);
            s = __sxtab16(s, w >> 8);
        }
        sum += (int16_t)(s & 0xFFFFu) + (int16_t)(s >> 16);
    }
    for (; p < k; ++p) sum += b[p];
    return sum;
}

static inline int8_t odl_dsp_out(int32_t acc, int fast, const odl_dsp_col *p, int32_t j, const odl_requant *q,
                                 const odl_output_s8 *o) {
    if (fast) {
        const int32_t v = odl_dsp_rq_apply(acc, &p->rq);
        return (int8_t)ODL_CLAMP(v, o->act_min, o->act_max);
    }
    return odl_requant_s8(acc, q, j, o);
}

/* Requantize accumulator c into v (fast path, constants of the column in registers). */
#define ODL_DSP_RQ(v, c)                                                                                           \
    do {                                                                                                           \
        const int32_t t_ = odl_smmulr((int32_t)((uint32_t)(c) << ls1), mult);                                      \
        v = e_nz ? __ssat((t_ + (t_ >> 31) + cst) >> e_sh, 8) : __ssat(t_ + cst, 8);                               \
        if (clamp) v = v < lo ? lo : v > hi ? hi : v;                                                              \
    } while (0)

/* 6 rows x 1 column, one group of 4 taps: the 12 widened A words of the group come in with three LDM of 4 words
 * (rows 0-1, 2-3, 4-5). LDM needs its registers in ascending order, so every operand is pinned to a register. */
#define ODL_DSP_PAIR6(R0, R1)                                                                                      \
    "ldmia %[pa]!, {r8, r9, r10, r11}\n\t"                                                                        \
    "smlad %[c" #R0 "], r8, %[e], %[c" #R0 "]\n\t"                                                                \
    "smlad %[c" #R0 "], r9, %[w], %[c" #R0 "]\n\t"                                                                \
    "smlad %[c" #R1 "], r10, %[e], %[c" #R1 "]\n\t"                                                               \
    "smlad %[c" #R1 "], r11, %[w], %[c" #R1 "]\n\t"
#define ODL_DSP_GROUP6                                                                                             \
    "ldr %[w], [%[pb]], #4\n\t"                                                                                   \
    "sxtb16 %[e], %[w]\n\t"                                                                                       \
    "sxtb16 %[w], %[w], ror #8\n\t" ODL_DSP_PAIR6(0, 1) ODL_DSP_PAIR6(2, 3) ODL_DSP_PAIR6(4, 5)
#define ODL_DSP_ACC6                                                                                               \
    [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [c4] "+r"(c4), [c5] "+r"(c5), [e] "=&r"(e),         \
        [w] "=&r"(w), [pa] "+r"(pa)
#define ODL_DSP_CLOBBER6 "r8", "r9", "r10", "r11", "cc", "memory"

/* 6 rows (widened in buf) x columns [j0, j1), one column at a time: per 4 taps LDR + 2 SXTB16 + 3 LDM + 12 SMLAD =
 * 18 instructions for 24 MACs. FAST / CLAMP / TAIL are constants in each inlined copy (no per-column tests). */
static inline __attribute__((always_inline)) void odl_dsp_rows6_impl(const uint32_t *buf, const int8_t *b, int32_t nc,
                                                                    int32_t kw, int32_t k, int32_t n, int8_t *out,
                                                                    const odl_dsp_col *p, const odl_requant *q,
                                                                    const odl_output_s8 *o, int32_t j,
                                                                    const int32_t *part_in, int32_t *part_out,
                                                                    const int FAST, const int CLAMP, const int TAIL,
                                                                    const int CHUNKED) {
    const int32_t full = kw >> 2, tail = kw & 3;
    const int32_t lo = o->act_min, hi = o->act_max, clamp = CLAMP;
    const uint32_t *end4 = buf + (size_t)full * 12; /* the remainder groups run first, then 4 at a time */
    const int32_t rem = full & 3;
    const int8_t *pbj = b;
    for (const odl_dsp_col *pend = p + nc; p < pend; ++p, ++j, ++out, pbj += k) {
        /* Everything that may call a function comes before the register-pinned variables are set: a call would
         * clobber r0-r3, r12 and lr (local register variables are only guaranteed at the asm statements). */
        uint32_t tw = TAIL ? odl_ld_tail(pbj + 4 * full, tail) : 0; /* the zero-padded last group */
        const int32_t init = p->init;
        register int32_t c0 __asm__("r0") = init;
        register int32_t c1 __asm__("r1") = init;
        register int32_t c2 __asm__("r2") = init;
        register int32_t c3 __asm__("r3") = init;
        register int32_t c4 __asm__("r4") = init;
        register int32_t c5 __asm__("r5") = init;
        if (CHUNKED && part_in) /* K chunk after the first: continue from the saved sums */
            c0 = part_in[0], c1 = part_in[1], c2 = part_in[2], c3 = part_in[3], c4 = part_in[4], c5 = part_in[5],
            part_in += 6;
        register uint32_t e __asm__("r6");
        register uint32_t w __asm__("r7");
        register const uint32_t *pa __asm__("r12") = buf;
        register const int8_t *pb __asm__("lr") = pbj;
        for (int32_t g = rem; g > 0; --g)
            __asm__ volatile(ODL_DSP_GROUP6 : [pb] "+r"(pb), ODL_DSP_ACC6 : : ODL_DSP_CLOBBER6);
        if (full >= 4)
            __asm__ volatile("1:\n\t" ODL_DSP_GROUP6 ODL_DSP_GROUP6 ODL_DSP_GROUP6 ODL_DSP_GROUP6
                             "ldr %[e], %[end]\n\t"
                             "cmp %[pa], %[e]\n\t"
                             "bne 1b\n\t"
                             : [pb] "+r"(pb), ODL_DSP_ACC6
                             : [end] "m"(end4)
                             : ODL_DSP_CLOBBER6);
        if (TAIL) {
            pb = (const int8_t *)&tw; /* read from the local word */
            __asm__ volatile(ODL_DSP_GROUP6 : [pb] "+r"(pb), ODL_DSP_ACC6 : "m"(tw) : ODL_DSP_CLOBBER6);
        }
        const int32_t a0 = c0, a1 = c1, a2 = c2, a3 = c3, a4 = c4, a5 = c5;
        if (CHUNKED && part_out) { /* K chunk before the last: save the sums */
            part_out[0] = a0, part_out[1] = a1, part_out[2] = a2, part_out[3] = a3, part_out[4] = a4, part_out[5] = a5;
            part_out += 6;
            continue;
        }
        int8_t *dst = out;
        if (FAST) {
            const int32_t ls1 = p->rq.ls1, mult = p->rq.mult, cst = p->rq.c, e_sh = p->rq.e, e_nz = p->rq.e != 0;
            int32_t v0, v1, v2, v3, v4, v5;
            ODL_DSP_RQ(v0, a0);
            ODL_DSP_RQ(v1, a1);
            ODL_DSP_RQ(v2, a2);
            ODL_DSP_RQ(v3, a3);
            ODL_DSP_RQ(v4, a4);
            ODL_DSP_RQ(v5, a5);
            dst[0] = (int8_t)v0;
            dst[n] = (int8_t)v1;
            dst += 2 * n;
            dst[0] = (int8_t)v2;
            dst[n] = (int8_t)v3;
            dst += 2 * n;
            dst[0] = (int8_t)v4;
            dst[n] = (int8_t)v5;
        } else {
            const int32_t acc[6] = {a0, a1, a2, a3, a4, a5};
            for (int32_t r = 0; r < 6; ++r) dst[(size_t)r * n] = odl_requant_s8(acc[r], q, j, o);
        }
    }
}

/* Columns [j0, j1) of 6 rows widened in buf (taps [k0, k0 + kw) of rows of length k): start from part_in (or the
 * columns' start values) and save the sums in part_out (or requantize and store them). */
static __attribute__((noinline)) void odl_dsp_rows6(const uint32_t *buf, const int8_t *b, int32_t j0, int32_t j1,
                                                    int32_t kw, int32_t k, int32_t n, int8_t *out, int fast,
                                                    const odl_dsp_col *cols, const odl_requant *q,
                                                    const odl_output_s8 *o, const int32_t *part_in,
                                                    int32_t *part_out) {
    const int clamp = o->act_min > -128 || o->act_max < 127, tail = (kw & 3) != 0;
    const int8_t *pb = b + (size_t)j0 * k;
    const int32_t nc = j1 - j0;
    out += j0;
    /* FAST / CLAMP / TAIL / CHUNKED constant in each copy: no per-column tests in the common cases */
    if (part_in || part_out) {
        if (fast)
            odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, part_in, part_out, 1, clamp, tail, 1);
        else
            odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, part_in, part_out, 0, 0, tail, 1);
    } else if (!fast)
        odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, 0, 0, 0, 0, tail, 0);
    else if (!clamp && !tail)
        odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, 0, 0, 1, 0, 0, 0);
    else if (clamp && !tail)
        odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, 0, 0, 1, 1, 0, 0);
    else
        odl_dsp_rows6_impl(buf, pb, nc, kw, k, n, out, cols, q, o, j0, 0, 0, 1, clamp, 1, 0);
}

/* 1 row x 4 columns over `groups` (> 0) full groups; pa: the widened row, pb[4]: the weight rows (advanced).
 * Per group LDRD + 4 x (LDR + 2 SXTB16 + 2 SMLAD) = 21 instructions for 16 MACs. */
#define ODL_DSP_COL(C)                                                                                             \
    "ldr %[w], [%[p" #C "]], #4\n\t"                                                                              \
    "sxtb16 %[e], %[w]\n\t"                                                                                       \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                               \
    "smlad %[c" #C "], %[x], %[e], %[c" #C "]\n\t"                                                                \
    "smlad %[c" #C "], %[y], %[w], %[c" #C "]\n\t"
#define ODL_DSP_GROUP1x4 "ldrd %[x], %[y], [%[pa]], #8\n\t" ODL_DSP_COL(0) ODL_DSP_COL(1) ODL_DSP_COL(2) ODL_DSP_COL(3)

static inline __attribute__((always_inline)) const uint32_t *odl_dsp_dot1x4(const uint32_t *pa, const int8_t *pb[4],
                                                                            int32_t groups, int32_t acc[4]) {
    int32_t c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3];
    const int8_t *p0 = pb[0], *p1 = pb[1], *p2 = pb[2], *p3 = pb[3];
    uint32_t x, y, e, w;
    const uint32_t *end2 = pa + (size_t)(groups & ~1) * 2;
    if (groups >= 2) {
        __asm__ volatile("1:\n\t" ODL_DSP_GROUP1x4 ODL_DSP_GROUP1x4
                         "ldr %[x], %[end]\n\t"
                         "cmp %[pa], %[x]\n\t"
                         "bne 1b\n\t"
                         : [pa] "+r"(pa), [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [c0] "+r"(c0),
                           [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [x] "=&r"(x), [y] "=&r"(y), [e] "=&r"(e),
                           [w] "=&r"(w)
                         : [end] "m"(end2)
                         : "cc", "memory");
    }
    if (groups & 1) {
        __asm__ volatile(ODL_DSP_GROUP1x4
                         : [pa] "+r"(pa), [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [c0] "+r"(c0),
                           [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [x] "=&r"(x), [y] "=&r"(y), [e] "=&r"(e),
                           [w] "=&r"(w)
                         :
                         : "cc", "memory");
    }
    acc[0] = c0, acc[1] = c1, acc[2] = c2, acc[3] = c3;
    pb[0] = p0, pb[1] = p1, pb[2] = p2, pb[3] = p3;
    return pa;
}

/* One widened row (buf) x columns [j0, j1): 4 columns at a time, then single columns. */
static __attribute__((noinline)) void odl_dsp_row1(const uint32_t *buf, const int8_t *b, int32_t j0, int32_t j1, int32_t k, int8_t *out,
                         int fast, const odl_dsp_col *cols, const odl_requant *q, const odl_output_s8 *o) {
    const int32_t full = k >> 2, tail = k & 3;
    int32_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const odl_dsp_col *p = &cols[j - j0];
        int32_t acc[4] = {p[0].init, p[1].init, p[2].init, p[3].init};
        const int8_t *pb[4] = {b + (size_t)j * k, b + (size_t)(j + 1) * k, b + (size_t)(j + 2) * k,
                               b + (size_t)(j + 3) * k};
        const uint32_t *pa = buf;
        if (full) pa = odl_dsp_dot1x4(pa, pb, full, acc);
        if (tail)
            for (int32_t c = 0; c < 4; ++c) {
                const uint32_t w = odl_ld_tail(pb[c], tail);
                acc[c] = __smlad(pa[1], odl_sxtb16_ror8(w), __smlad(pa[0], __sxtb16(w), acc[c]));
            }
        for (int32_t c = 0; c < 4; ++c) out[j + c] = odl_dsp_out(acc[c], fast, &p[c], j + c, q, o);
    }
    for (; j < j1; ++j) {
        const int8_t *pb = b + (size_t)j * k;
        int32_t acc = cols[j - j0].init;
        const uint32_t *pa = buf;
        for (int32_t g = 0; g < full; ++g, pa += 2, pb += 4) {
            const uint32_t w = odl_ld32(pb);
            acc = __smlad(pa[1], odl_sxtb16_ror8(w), __smlad(pa[0], __sxtb16(w), acc));
        }
        if (tail) {
            const uint32_t w = odl_ld_tail(pb, tail);
            acc = __smlad(pa[1], odl_sxtb16_ror8(w), __smlad(pa[0], __sxtb16(w), acc));
        }
        out[j] = odl_dsp_out(acc, fast, &cols[j - j0], j, q, o);
    }
}

odl_status odl_matmul_s8_dsp(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!a || !b || !out || m <= 0 || n <= 0 || k <= 0 || !q || !o || !q->multiplier || !q->shift) return ODL_ERR_ARG;
    const int32_t kpad = (k + 3) & ~3;
    /* 6-row blocks whenever M has one, K in chunks of ODL_DSP_KC taps; the input offset then goes into the start
     * values (weight-row sums, once per call). Single rows (M < 6, the M % 6 tail) need the whole widened row in the
     * buffer, the offset added to it (SADD16); beyond that they run the reference. */
    const int rows6 = m >= 6;
    const int row1 = kpad <= ODL_DSP_ABUF && (rows6 || (a_offset <= 32639 && a_offset >= -32640));

    /* Fast requantization when the largest possible |acc| allows it (dsp_internal.h). */
    int64_t bias_max = 0;
    if (bias)
        for (int32_t j = 0; j < n; ++j) {
            const int64_t v = bias[j] < 0 ? -(int64_t)bias[j] : bias[j];
            if (v > bias_max) bias_max = v;
        }
    const int64_t amax = 128 + (a_offset < 0 ? -(int64_t)a_offset : a_offset);
    const int fast = odl_dsp_rq_fast_ok(q, n, bias_max + (int64_t)k * amax * 128, o);

    uint32_t abuf[ODL_DSP_ABUF / 2];
    odl_dsp_col cols[ODL_DSP_NCHUNK];
    int32_t part[ODL_DSP_NCHUNK * 6]; /* sums between K chunks */

    for (int32_t j0 = 0; j0 < n; j0 += ODL_DSP_NCHUNK) {
        const int32_t j1 = n - j0 > ODL_DSP_NCHUNK ? j0 + ODL_DSP_NCHUNK : n;
        for (int32_t j = j0; j < j1; ++j) {
            odl_dsp_col *p = &cols[j - j0];
            p->init = bias ? bias[j] : 0;
            if (rows6)
                p->init = (int32_t)((uint32_t)p->init +
                                    (uint32_t)a_offset * (uint32_t)odl_dsp_row_sum(b + (size_t)j * k, k));
            if (fast) odl_dsp_rq_setup(&p->rq, q, j, o);
        }
        int32_t i = 0;
        if (rows6)
            for (; i + 6 <= m; i += 6)
                for (int32_t k0 = 0; k0 < k; k0 += ODL_DSP_KC) {
                    const int32_t kw = k - k0 < ODL_DSP_KC ? k - k0 : ODL_DSP_KC;
                    odl_dsp_widen_rows(a + (size_t)i * k + k0, kw, k, 6, 0, abuf);
                    odl_dsp_rows6(abuf, b + k0, j0, j1, kw, k, n, out + (size_t)i * n, fast, cols, q, o,
                                  k0 ? part : 0, k0 + kw < k ? part : 0);
                }
        for (; i < m; ++i) {
            if (row1) {
                odl_dsp_widen_rows(a + (size_t)i * k, k, k, 1, rows6 ? 0 : a_offset, abuf);
                odl_dsp_row1(abuf, b, j0, j1, k, out + (size_t)i * n, fast, cols, q, o);
            } else { /* the reference for this row and these columns */
                const odl_requant qj = {q->multiplier + (q->per_channel ? j0 : 0), q->shift + (q->per_channel ? j0 : 0),
                                        q->per_channel};
                odl_matmul_s8_ref(a + (size_t)i * k, b + (size_t)j0 * k, bias ? bias + j0 : 0, 1, j1 - j0, k, a_offset,
                                  &qj, o, out + (size_t)i * n + j0);
            }
        }
    }
    return ODL_OK;
}

#else
/* The register-pinned inline assembly needs the optimizer (GCC 12 at -O0 cannot allocate it): unoptimised builds run
 * the reference, bit-exact by definition. */
odl_status odl_matmul_s8_dsp(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                             int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    return odl_matmul_s8_ref(a, b, bias, m, n, k, a_offset, q, o, out);
}
#endif
#endif /* ODL_WITH_ARM_DSP */
