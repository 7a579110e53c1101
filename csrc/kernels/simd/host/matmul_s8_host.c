/* Host fast path of odl_matmul_s8 (NT layout), bit-exact with odl_matmul_s8_ref.
 *
 * Two variants behind one table entry, chosen once at run time (odl_matmul_s8_host_variant() overrides it):
 *  1 "vector": portable GCC/clang vector extensions. 4 rows x 2 columns of int32 accumulators, 32 taps per step:
 *     int8 -> int16 lanes by shifts (even and odd taps), the input offset added once per A vector, exact int16
 *     products (|(a + off) * b| < 2^15), widened pairwise into int32 lanes by shifts. A 4x2 block's 8 lane sums
 *     come out of one shuffle-add tree and are requantized as one 8-lane vector (MultiplyByQuantizedMultiplier in
 *     int64 lanes, bit-exact). K tails read past the row inside the buffers, with B's extra lanes masked to zero.
 *     target_clones builds an AVX2 copy next to the baseline one on x86-64.
 *  2 "avx512vnni": x86-64 AVX-512 VNNI. 4 x 4 blocks, 64 taps per VPDPBUSD (u8 x s8 -> s32, exact, no
 *     saturation). A is made unsigned by flipping its sign bit (a + 128), so
 *        sum_k (a + off) * b = sum_k (a + 128) * b + (off - 128) * sum_k b,
 *     with the column sums of B computed once per column block. All sums are exact in int32 (and equal modulo 2^32
 *     to the reference's accumulator in any case); each row of a block is reduced transposed into 4 lanes and
 *     requantized as a 4-lane vector, exactly like the reference.
 * Measured on the 2-core AMD EPYC (Zen 4) dev machine, matmul only, GMAC/s (reference / vector / vnni):
 *   M,N,K = 196,96,96: 3.0 / 12 / 43;  256,64,288: 3.4 / 18 / 88;  196,128,1152: 3.5 / 23 / 147;
 *   1024,32,72: 2.8 / 8.8 / 33;  784,24,16: 2.0 / 3.1 / 8.8.
 */
#include "internal/odl_math.h"
#include "odl/kernels_s8.h"
#include "odl/matmul.h"

#ifdef ODL_WITH_HOST

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* 32-byte vectors passed between static inline helpers: the psABI note about AVX argument passing is moot. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

static int odl_mm_s8_args_ok(const int8_t *a, const int8_t *b, int32_t m, int32_t n, int32_t k, const odl_requant *q,
                             const odl_output_s8 *o, const int8_t *out) {
    return a && b && out && m > 0 && n > 0 && k > 0 && q && o && q->multiplier && q->shift;
}

/* ---------------------------------------------------------------- portable vector-extension variant */

typedef int16_t odl_v16s16 __attribute__((vector_size(32)));
typedef int32_t odl_v8s32 __attribute__((vector_size(32)));

typedef int8_t odl_v32s8 __attribute__((vector_size(32)));

/* 32 int8 taps as two int16 vectors, even taps and odd taps, by shifts only (portable and cheap everywhere). */
static inline void odl_split_eo(odl_v32s8 v, odl_v16s16 *even, odl_v16s16 *odd) {
    const odl_v16s16 w = (odl_v16s16)v;
    *even = (odl_v16s16)(w << 8) >> 8; /* little-endian: the low byte of each pair is the even tap */
    *odd = w >> 8;
}

static inline void odl_load32_eo(const int8_t *p, odl_v16s16 *even, odl_v16s16 *odd) {
    odl_v32s8 v;
    memcpy(&v, p, sizeof v);
    odl_split_eo(v, even, odd);
}

/* 32 bytes from p, never reading at or past `end` (the bytes beyond it read as 0). */
static inline odl_v32s8 odl_load32_safe(const int8_t *p, const int8_t *end) {
    odl_v32s8 v = {0};
    if (end - p >= 32)
        memcpy(&v, p, 32);
    else
        for (ptrdiff_t l = 0; l < end - p; ++l) v[l] = p[l]; /* only the last rows of A and B */
    return v;
}

/* Sum adjacent int16 lane pairs into int32 lanes (what pmaddwd does after its multiply), exactly. */
static inline odl_v8s32 odl_pairsum(odl_v16s16 p) {
    const odl_v8s32 w = (odl_v8s32)p;
    return ((w << 16) >> 16) + (w >> 16);
}

static inline int32_t odl_hsum8(odl_v8s32 v) {
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

typedef uint32_t odl_v8u32 __attribute__((vector_size(32)));
typedef int64_t odl_v8s64 __attribute__((vector_size(64)));
typedef int8_t odl_v8s8 __attribute__((vector_size(8)));

/* The 8 lane sums of a 4x2 block of accumulators, row-major, by a shuffle-add tree (7 adds instead of 8
 * horizontal sums). */
static inline odl_v8s32 odl_reduce4x2(const odl_v8s32 v[4][2]) {
    odl_v8s32 u[4], w[2];
    for (int t = 0; t < 4; ++t)
        u[t] = __builtin_shufflevector(v[t][0], v[t][1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(v[t][0], v[t][1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int t = 0; t < 2; ++t)
        w[t] = __builtin_shufflevector(u[2 * t], u[2 * t + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               __builtin_shufflevector(u[2 * t], u[2 * t + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return __builtin_shufflevector(w[0], w[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(w[0], w[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

/* MultiplyByQuantizedMultiplier on 8 lanes, exactly as odl_mbqm (double or single rounding per build). */
static inline odl_v8s32 odl_mbqm8(odl_v8s32 x, odl_v8s32 mult, odl_v8s32 shift) {
#ifdef ODL_SINGLE_ROUNDING
    const odl_v8s64 total = __builtin_convertvector(31 - shift, odl_v8s64);
    const odl_v8s64 round = ((odl_v8s64){0} + 1) << (total - 1);
    const odl_v8s64 prod = __builtin_convertvector(x, odl_v8s64) * __builtin_convertvector(mult, odl_v8s64);
    return __builtin_convertvector((prod + round) >> total, odl_v8s32);
#else
    const odl_v8s32 pos = shift > 0;
    const odl_v8s32 left = shift & pos, right = -shift & ~pos;
    const odl_v8s32 xl = (odl_v8s32)((odl_v8u32)x << (odl_v8u32)left);
    const odl_v8s64 ab = __builtin_convertvector(xl, odl_v8s64) * __builtin_convertvector(mult, odl_v8s64);
    const odl_v8s64 sum = ab + ((1LL << 30) + ((ab < 0) & (1 - (1LL << 31)))); /* + nudge */
    odl_v8s32 hi = __builtin_convertvector((sum + ((sum < 0) & ((1LL << 31) - 1))) >> 31, odl_v8s32);
    const odl_v8s32 sat = (xl == INT32_MIN) & (mult == INT32_MIN);
    hi = (hi & ~sat) | (INT32_MAX & sat);
    const odl_v8s32 mask = (odl_v8s32)((((odl_v8u32){0} + 1u) << (odl_v8u32)right) - 1u);
    const odl_v8s32 rem = hi & mask;
    const odl_v8s32 thr = (mask >> 1) - (hi < 0);
    return (hi >> right) - (rem > thr);
#endif
}

/* One MR x NR block of raw accumulators (without bias): acc[i][j] = sum_k (a[i,k] + off) * b[j,k].
 * Products (a + off) * b are exact in int16 (|.| <= 255 * 128 < 2^15); they are widened pairwise into int32. */
#define ODL_DEFINE_BLOCK(MR, NR)                                                                                 \
    static inline __attribute__((always_inline)) void odl_block_##MR##x##NR(                                     \
        const int8_t *a, const int8_t *b, int32_t k, int32_t off, const int8_t *a_end, const int8_t *b_end,      \
        odl_v32s8 tail_mask, odl_v8s32 acc[MR][NR]) {                                                              \
        odl_v16s16 ae[MR], ao[MR];                                                                               \
        odl_v8s32 s[MR][NR];                                                                                     \
        const odl_v16s16 voff = (odl_v16s16){0} + (int16_t)off;                                                  \
        for (int i = 0; i < MR; ++i)                                                                             \
            for (int j = 0; j < NR; ++j) s[i][j] = (odl_v8s32){0};                                               \
        int32_t p = 0;                                                                                           \
        for (; p + 32 <= k; p += 32) {                                                                           \
            for (int i = 0; i < MR; ++i) {                                                                       \
                odl_load32_eo(a + (size_t)i * k + p, &ae[i], &ao[i]);                                            \
                ae[i] += voff;                                                                                   \
                ao[i] += voff;                                                                                   \
            }                                                                                                    \
            for (int j = 0; j < NR; ++j) {                                                                       \
                odl_v16s16 be, bo;                                                                               \
                odl_load32_eo(b + (size_t)j * k + p, &be, &bo);                                                  \
                for (int i = 0; i < MR; ++i) s[i][j] += odl_pairsum(ae[i] * be) + odl_pairsum(ao[i] * bo);       \
            }                                                                                                    \
        }                                                                                                        \
        if (p < k) { /* tail: over-read within the buffers; B's lanes past k are masked to 0, so they vanish */ \
            for (int i = 0; i < MR; ++i) {                                                                       \
                odl_split_eo(odl_load32_safe(a + (size_t)i * k + p, a_end), &ae[i], &ao[i]);                     \
                ae[i] += voff;                                                                                   \
                ao[i] += voff;                                                                                   \
            }                                                                                                    \
            for (int j = 0; j < NR; ++j) {                                                                       \
                odl_v16s16 be, bo;                                                                               \
                odl_split_eo(odl_load32_safe(b + (size_t)j * k + p, b_end) & tail_mask, &be, &bo);               \
                for (int i = 0; i < MR; ++i) s[i][j] += odl_pairsum(ae[i] * be) + odl_pairsum(ao[i] * bo);       \
            }                                                                                                    \
        }                                                                                                        \
        for (int i = 0; i < MR; ++i)                                                                             \
            for (int j = 0; j < NR; ++j) acc[i][j] = s[i][j];                                                    \
    }

ODL_DEFINE_BLOCK(4, 2)
ODL_DEFINE_BLOCK(1, 2)
ODL_DEFINE_BLOCK(4, 1)
ODL_DEFINE_BLOCK(1, 1)

#define ODL_STORE_BLOCK(MR, NR, I, J)                                                                            \
    for (int ii = 0; ii < MR; ++ii)                                                                              \
        for (int jj = 0; jj < NR; ++jj) {                                                                        \
            const int32_t col = (J) + jj;                                                                        \
            const int32_t v = (int32_t)((uint32_t)odl_hsum8(acc[ii][jj]) + (uint32_t)(bias ? bias[col] : 0));   \
            out[(size_t)((I) + ii) * n + col] = odl_requant_s8(v, q, col, o);                                    \
        }

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void odl_matmul_s8_vector(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n,
                                 int32_t k, int32_t a_offset, const odl_requant *q, const odl_output_s8 *o,
                                 int8_t *out) {
    const int8_t *a_end = a + (size_t)m * k, *b_end = b + (size_t)n * k;
    odl_v32s8 tm;
    for (int l = 0; l < 32; ++l) tm[l] = l < k % 32 ? -1 : 0;
    int32_t j = 0;
    for (; j + 2 <= n; j += 2) {
        const int8_t *bj = b + (size_t)j * k;
        /* lanes of a 4x2 block, row-major: (i, j), (i, j+1), (i+1, j), ... */
        const int32_t b0 = bias ? bias[j] : 0, b1 = bias ? bias[j + 1] : 0;
        const int32_t c0 = q->per_channel ? j : 0, c1 = q->per_channel ? j + 1 : 0;
        const odl_v8u32 vbias = {b0, b1, b0, b1, b0, b1, b0, b1};
        const odl_v8s32 vm = {q->multiplier[c0], q->multiplier[c1], q->multiplier[c0], q->multiplier[c1],
                              q->multiplier[c0], q->multiplier[c1], q->multiplier[c0], q->multiplier[c1]};
        const odl_v8s32 vs = {q->shift[c0], q->shift[c1], q->shift[c0], q->shift[c1],
                              q->shift[c0], q->shift[c1], q->shift[c0], q->shift[c1]};
        const odl_v8s32 vlo = (odl_v8s32){0} + o->act_min, vhi = (odl_v8s32){0} + o->act_max;
        int32_t i = 0;
        for (; i + 4 <= m; i += 4) {
            odl_v8s32 acc[4][2];
            odl_block_4x2(a + (size_t)i * k, bj, k, a_offset, a_end, b_end, tm, acc);
            const odl_v8s32 sums = (odl_v8s32)((odl_v8u32)odl_reduce4x2(acc) + vbias);
            odl_v8s32 v = odl_mbqm8(sums, vm, vs) + o->output_offset;
            odl_v8s32 lt = v < vlo, gt = v > vhi;
            v = (v & ~lt) | (vlo & lt);
            v = (v & ~gt) | (vhi & gt);
            const odl_v8s8 r = __builtin_convertvector(v, odl_v8s8);
            for (int ii = 0; ii < 4; ++ii) memcpy(out + (size_t)(i + ii) * n + j, (const int8_t *)&r + 2 * ii, 2);
        }
        for (; i < m; ++i) {
            odl_v8s32 acc[1][2];
            odl_block_1x2(a + (size_t)i * k, bj, k, a_offset, a_end, b_end, tm, acc);
            ODL_STORE_BLOCK(1, 2, i, j)
        }
    }
    for (; j < n; ++j) {
        const int8_t *bj = b + (size_t)j * k;
        int32_t i = 0;
        for (; i + 4 <= m; i += 4) {
            odl_v8s32 acc[4][1];
            odl_block_4x1(a + (size_t)i * k, bj, k, a_offset, a_end, b_end, tm, acc);
            ODL_STORE_BLOCK(4, 1, i, j)
        }
        for (; i < m; ++i) {
            odl_v8s32 acc[1][1];
            odl_block_1x1(a + (size_t)i * k, bj, k, a_offset, a_end, b_end, tm, acc);
            ODL_STORE_BLOCK(1, 1, i, j)
        }
    }
}

/* ---------------------------------------------------------------- x86-64 AVX-512 VNNI variant */

#if defined(__x86_64__) && defined(__GNUC__)
#define ODL_HAVE_VNNI 1
#include <immintrin.h>

#define ODL_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

ODL_VNNI_TARGET static inline __attribute__((always_inline)) __m512i odl_vnni_load(const int8_t *p, __mmask64 mk) {
    return _mm512_maskz_loadu_epi8(mk, p);
}

/* MR x NR block of u8(a + 128) . s8(b) dot products over all k. */
#define ODL_DEFINE_VNNI_BLOCK(MR, NR)                                                                            \
    ODL_VNNI_TARGET static inline __attribute__((always_inline)) void odl_vnni_##MR##x##NR(                      \
        const int8_t *a, const int8_t *b, int32_t k, int32_t acc[MR][NR]) {                                      \
        __m512i s[MR][NR], va[MR];                                                                               \
        const __m512i flip = _mm512_set1_epi8((char)0x80);                                                       \
        for (int i = 0; i < MR; ++i)                                                                             \
            for (int j = 0; j < NR; ++j) s[i][j] = _mm512_setzero_si512();                                       \
        for (int32_t p = 0; p < k; p += 64) {                                                                    \
            const int32_t left = k - p;                                                                          \
            const __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);                     \
            for (int i = 0; i < MR; ++i) va[i] = _mm512_xor_si512(odl_vnni_load(a + (size_t)i * k + p, mk), flip); \
            for (int j = 0; j < NR; ++j) {                                                                       \
                const __m512i vb = odl_vnni_load(b + (size_t)j * k + p, mk);                                     \
                for (int i = 0; i < MR; ++i) s[i][j] = _mm512_dpbusd_epi32(s[i][j], va[i], vb);                  \
            }                                                                                                    \
        }                                                                                                        \
        for (int i = 0; i < MR; ++i)                                                                             \
            for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_reduce_add_epi32(s[i][j]);                           \
    }

ODL_DEFINE_VNNI_BLOCK(1, 4)
ODL_DEFINE_VNNI_BLOCK(4, 1)
ODL_DEFINE_VNNI_BLOCK(1, 1)

/* 4 x 4 block; the 16 lane sums are reduced transposed: sums[i] holds columns 0..3 of row i. */
ODL_VNNI_TARGET static inline __attribute__((always_inline)) void odl_vnni_4x4(const int8_t *a, const int8_t *b,
                                                                              int32_t k, __m128i sums[4]) {
    __m512i s[4][4], va[4];
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) s[i][j] = _mm512_setzero_si512();
    for (int32_t p = 0; p < k; p += 64) {
        const int32_t left = k - p;
        const __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        for (int i = 0; i < 4; ++i) va[i] = _mm512_xor_si512(odl_vnni_load(a + (size_t)i * k + p, mk), flip);
        for (int j = 0; j < 4; ++j) {
            const __m512i vb = odl_vnni_load(b + (size_t)j * k + p, mk);
            for (int i = 0; i < 4; ++i) s[i][j] = _mm512_dpbusd_epi32(s[i][j], va[i], vb);
        }
    }
    for (int i = 0; i < 4; ++i) {
        __m128i x[4];
        for (int j = 0; j < 4; ++j) {
            const __m256i y = _mm256_add_epi32(_mm512_castsi512_si256(s[i][j]), _mm512_extracti64x4_epi64(s[i][j], 1));
            x[j] = _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
        }
        sums[i] = _mm_hadd_epi32(_mm_hadd_epi32(x[0], x[1]), _mm_hadd_epi32(x[2], x[3]));
    }
}

/* MultiplyByQuantizedMultiplier on 4 lanes, exactly as odl_mbqm (double or single rounding per build). */
ODL_VNNI_TARGET static inline __attribute__((always_inline)) __m128i odl_mbqm4(__m128i x, __m128i mult, __m128i shift) {
#ifdef ODL_SINGLE_ROUNDING
    const __m256i total = _mm256_cvtepi32_epi64(_mm_sub_epi32(_mm_set1_epi32(31), shift));
    const __m256i round = _mm256_sllv_epi64(_mm256_set1_epi64x(1), _mm256_sub_epi64(total, _mm256_set1_epi64x(1)));
    const __m256i prod = _mm256_mul_epi32(_mm256_cvtepi32_epi64(x), _mm256_cvtepi32_epi64(mult));
    return _mm256_cvtepi64_epi32(_mm256_srav_epi64(_mm256_add_epi64(prod, round), total));
#else
    const __m128i zero = _mm_setzero_si128();
    const __m128i left = _mm_max_epi32(shift, zero);
    const __m128i right = _mm_max_epi32(_mm_sub_epi32(zero, shift), zero);
    const __m128i xl = _mm_sllv_epi32(x, left);
    /* saturating rounding doubling high mul */
    const __m256i ab = _mm256_mul_epi32(_mm256_cvtepi32_epi64(xl), _mm256_cvtepi32_epi64(mult));
    const __m256i z64 = _mm256_setzero_si256();
    const __m256i nudge = _mm256_mask_blend_epi64(_mm256_cmplt_epi64_mask(ab, z64), _mm256_set1_epi64x(1LL << 30),
                                                  _mm256_set1_epi64x(1 - (1LL << 30)));
    const __m256i sum = _mm256_add_epi64(ab, nudge);
    const __m256i bias = _mm256_maskz_mov_epi64(_mm256_cmplt_epi64_mask(sum, z64), _mm256_set1_epi64x((1LL << 31) - 1));
    __m128i hi = _mm256_cvtepi64_epi32(_mm256_srai_epi64(_mm256_add_epi64(sum, bias), 31));
    const __m128i imin = _mm_set1_epi32(INT32_MIN);
    const __mmask8 sat = _mm_cmpeq_epi32_mask(xl, imin) & _mm_cmpeq_epi32_mask(mult, imin);
    hi = _mm_mask_mov_epi32(hi, sat, _mm_set1_epi32(INT32_MAX));
    /* rounding divide by power of two */
    const __m128i mask = _mm_sub_epi32(_mm_sllv_epi32(_mm_set1_epi32(1), right), _mm_set1_epi32(1));
    const __m128i rem = _mm_and_si128(hi, mask);
    const __m128i thr = _mm_sub_epi32(_mm_srai_epi32(mask, 1), _mm_cmpgt_epi32(zero, hi));
    return _mm_sub_epi32(_mm_srav_epi32(hi, right), _mm_cmpgt_epi32(rem, thr));
#endif
}

/* sum_k b[j,k] for one column (exact: |sum| <= 128 k). */
ODL_VNNI_TARGET static int32_t odl_vnni_colsum(const int8_t *b, int32_t k) {
    __m512i s = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (int32_t p = 0; p < k; p += 64) {
        const int32_t left = k - p;
        const __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        s = _mm512_dpbusd_epi32(s, ones, odl_vnni_load(b + p, mk));
    }
    return _mm512_reduce_add_epi32(s);
}

/* Bias and the offset correction: (off - 128) * colsum[j]; uint32 arithmetic wraps like the reference's int32. */
#define ODL_VNNI_STORE(MR, NR, I, J)                                                                             \
    for (int ii = 0; ii < MR; ++ii)                                                                              \
        for (int jj = 0; jj < NR; ++jj) {                                                                        \
            const int32_t col = (J) + jj;                                                                        \
            const uint32_t v = (uint32_t)acc[ii][jj] + (uint32_t)corr[jj] + (uint32_t)(bias ? bias[col] : 0);   \
            out[(size_t)((I) + ii) * n + col] = odl_requant_s8((int32_t)v, q, col, o);                           \
        }

ODL_VNNI_TARGET static void odl_matmul_s8_vnni(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m,
                                               int32_t n, int32_t k, int32_t a_offset, const odl_requant *q,
                                               const odl_output_s8 *o, int8_t *out) {
    const int32_t c = a_offset - 128;
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const int8_t *bj = b + (size_t)j * k;
        int32_t corr[4];
        for (int jj = 0; jj < 4; ++jj) corr[jj] = (int32_t)((uint32_t)c * (uint32_t)odl_vnni_colsum(bj + (size_t)jj * k, k));
        int32_t i = 0;
        /* per-column terms of this block, as vectors: bias + offset correction, multiplier, shift */
        const __m128i add = _mm_add_epi32(_mm_loadu_si128((const __m128i *)corr),
                                          bias ? _mm_loadu_si128((const __m128i *)(bias + j)) : _mm_setzero_si128());
        const __m128i vm = q->per_channel ? _mm_loadu_si128((const __m128i *)(q->multiplier + j))
                                          : _mm_set1_epi32(q->multiplier[0]);
        const __m128i vs = q->per_channel ? _mm_loadu_si128((const __m128i *)(q->shift + j))
                                          : _mm_set1_epi32(q->shift[0]);
        const __m128i voff = _mm_set1_epi32(o->output_offset);
        const __m128i vlo = _mm_set1_epi32(o->act_min), vhi = _mm_set1_epi32(o->act_max);
        for (; i + 4 <= m; i += 4) {
            __m128i sums[4];
            odl_vnni_4x4(a + (size_t)i * k, bj, k, sums);
            for (int ii = 0; ii < 4; ++ii) {
                __m128i v = odl_mbqm4(_mm_add_epi32(sums[ii], add), vm, vs);
                v = _mm_min_epi32(_mm_max_epi32(_mm_add_epi32(v, voff), vlo), vhi);
                const int32_t packed = _mm_cvtsi128_si32(_mm_cvtepi32_epi8(v));
                memcpy(out + (size_t)(i + ii) * n + j, &packed, 4);
            }
        }
        for (; i < m; ++i) {
            int32_t acc[1][4];
            odl_vnni_1x4(a + (size_t)i * k, bj, k, acc);
            ODL_VNNI_STORE(1, 4, i, j)
        }
    }
    for (; j < n; ++j) {
        const int8_t *bj = b + (size_t)j * k;
        int32_t corr[1] = {(int32_t)((uint32_t)c * (uint32_t)odl_vnni_colsum(bj, k))};
        int32_t i = 0;
        for (; i + 4 <= m; i += 4) {
            int32_t acc[4][1];
            odl_vnni_4x1(a + (size_t)i * k, bj, k, acc);
            ODL_VNNI_STORE(4, 1, i, j)
        }
        for (; i < m; ++i) {
            int32_t acc[1][1];
            odl_vnni_1x1(a + (size_t)i * k, bj, k, acc);
            ODL_VNNI_STORE(1, 1, i, j)
        }
    }
}

static int odl_cpu_has_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
#else
static int odl_cpu_has_vnni(void) { return 0; }
#endif

/* ---------------------------------------------------------------- entry and variant selection */

static int32_t odl_host_s8_variant = 0; /* 0: not chosen yet */

static int32_t odl_host_s8_best(void) { return odl_cpu_has_vnni() ? 2 : 1; }

int32_t odl_matmul_s8_host_variant(int32_t variant) {
    if (variant == 0) {
        odl_host_s8_variant = odl_host_s8_best();
    } else if (variant == 1 || (variant == 2 && odl_cpu_has_vnni())) {
        odl_host_s8_variant = variant;
    } else if (variant > 0) {
        return ODL_ERR_UNSUPPORTED;
    } else if (odl_host_s8_variant == 0) {
        odl_host_s8_variant = odl_host_s8_best();
    }
    return odl_host_s8_variant;
}

odl_status odl_matmul_s8_host(const int8_t *a, const int8_t *b, const int32_t *bias, int32_t m, int32_t n, int32_t k,
                              int32_t a_offset, const odl_requant *q, const odl_output_s8 *o, int8_t *out) {
    if (!odl_mm_s8_args_ok(a, b, m, n, k, q, o, out)) return ODL_ERR_ARG;
    if (odl_host_s8_variant == 0) odl_host_s8_variant = odl_host_s8_best();
#ifdef ODL_HAVE_VNNI
    if (odl_host_s8_variant == 2) {
        odl_matmul_s8_vnni(a, b, bias, m, n, k, a_offset, q, o, out);
        return ODL_OK;
    }
#endif
    odl_matmul_s8_vector(a, b, bias, m, n, k, a_offset, q, o, out);
    return ODL_OK;
}

#else /* !ODL_WITH_HOST */

int32_t odl_matmul_s8_host_variant(int32_t variant) {
    (void)variant;
    return ODL_ERR_UNSUPPORTED;
}

#endif
