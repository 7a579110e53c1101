/* Bit-exactness test of the ARM DSP matmuls against the reference C, run on the emulated board.
 * For every case it prints one line: the case parameters, "ok"/"FAIL" (DSP vs reference on the target) and an
 * FNV-1a hash of the DSP output, which tests/test_simd_arm_dsp.py recomputes on the host from the same generator. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_dsp(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *);
odl_status odl_matmul_f32_dsp(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t);
odl_status odl_matmul_f16_dsp(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t);

typedef struct {
    int32_t m, n, k, a_offset, per_channel, bias_mode, shmin, shmax, out_offset, act_min, act_max;
    uint32_t seed;
} s8_case;

static const s8_case s8_cases[] = {
    /* anchor shapes (case 3: misaligned A) */
    {256, 16, 144, 128, 1, 1, -10, 0, -5, -128, 127, 1},
    {256, 32, 32, 3, 1, 1, -9, 1, 12, -12, 127, 2},
    {1, 64, 256, -7, 1, 1, -11, 0, 0, -128, 127, 3},
    {42, 16, 144, 128, 1, 1, -10, 0, -5, -128, 127, 30},
    {13, 8, 64, -3, 1, 1, -8, 0, 0, -128, 127, 33},
    /* every row/column/K tail */
    {1, 1, 1, 0, 0, 0, -1, -1, 0, -128, 127, 4},
    {3, 5, 7, 128, 1, 1, -8, 0, -3, -128, 127, 5},
    {9, 3, 13, -128, 1, 2, -4, 0, 10, -20, 90, 6},
    {15, 7, 4, 1, 0, 1, -6, -6, 127, -128, 127, 7},
    {17, 9, 5, 127, 1, 1, -12, 3, -128, -128, 127, 8},
    {8, 2, 6, -1, 1, 1, 0, 0, 0, -128, 127, 9},
    {11, 33, 18, 40, 1, 1, -7, 0, 5, -128, 0, 10},
    {24, 40, 9, -100, 0, 1, -5, -5, -50, -100, 100, 11},
    {16, 4, 192, 17, 1, 1, -10, -2, 0, -128, 127, 12},
    {16, 4, 193, 17, 1, 1, -10, -2, 0, -128, 127, 13},
    {9, 3, 384, -17, 1, 1, -11, -3, 1, -128, 127, 14},
    {5, 3, 767, 0, 1, 1, -12, -3, 0, -128, 127, 15},
    {3, 2, 1536, 99, 1, 1, -13, -4, 2, -128, 127, 16},
    {2, 2, 1537, 99, 1, 1, -13, -4, 2, -128, 127, 17},
    /* K chunks of 256 in the 6-row blocks (sums carried between chunks), single rows beyond the row buffer */
    {12, 5, 515, 7, 1, 1, -12, -4, 3, -100, 120, 22},
    {7, 40, 1600, -128, 1, 1, -14, -6, 0, -128, 127, 23},
    {6, 3, 2000, 128, 0, 2, -14, -14, -9, -128, 127, 24},
    {8, 6, 300, 5, 1, 3, -31, 30, 0, -128, 127, 25},
    /* slow requantization: huge bias, extreme shifts, out-of-range offsets */
    {12, 6, 20, 5, 1, 3, -31, 30, 0, -128, 127, 18},
    {10, 5, 24, 5, 1, 1, -30, -20, 300, -128, 127, 19},
    {9, 7, 11, 70000, 1, 1, -10, 0, 0, -128, 127, 20},
    {13, 6, 12, 5, 1, 3, -2, 0, -7, -128, 127, 21},
};

#define MAXA (256 * 160)
#define MAXB (64 * 1600)
static int8_t A_STORE[MAXA + 4] __attribute__((aligned(8))), B[MAXB], OUT_REF[256 * 64], OUT_DSP[256 * 64];
static int32_t BIAS[64], MULT[64], SHIFT[64];

static uint32_t fnv1a(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 16777619u;
    return h;
}

static int run_s8(const s8_case *c) {
    /* every third case reads A from an odd address (the word-aligned fast loads must not be taken) */
    int8_t *const A = A_STORE + (c->seed % 3 == 0 ? 1 : 0);
    uint32_t s = c->seed;
    for (int32_t i = 0; i < c->m * c->k; ++i) A[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (int32_t i = 0; i < c->n * c->k; ++i) B[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (int32_t j = 0; j < c->n; ++j) {
        const uint32_t r = odl_test_rand(&s);
        BIAS[j] = c->bias_mode == 1 ? (int32_t)(r % 65536u) - 32768 : c->bias_mode == 2 ? (int32_t)(r % 1024u) : (int32_t)r;
    }
    for (int32_t j = 0; j < c->n; ++j) {
        MULT[j] = (int32_t)(0x40000000u | (odl_test_rand(&s) >> 2));
        SHIFT[j] = c->shmin + (int32_t)(odl_test_rand(&s) % (uint32_t)(c->shmax - c->shmin + 1));
    }
    const odl_requant q = {MULT, SHIFT, c->per_channel};
    const odl_output_s8 o = {c->out_offset, c->act_min, c->act_max};
    const int32_t *bias = c->bias_mode ? BIAS : 0;
    memset(OUT_REF, 0x55, sizeof OUT_REF);
    memset(OUT_DSP, 0x66, sizeof OUT_DSP);
    int st = odl_matmul_s8_ref(A, B, bias, c->m, c->n, c->k, c->a_offset, &q, &o, OUT_REF);
    st |= odl_matmul_s8_dsp(A, B, bias, c->m, c->n, c->k, c->a_offset, &q, &o, OUT_DSP);
    const size_t bytes = (size_t)c->m * c->n;
    /* the bytes after the output must be untouched */
    const int ok = st == 0 && memcmp(OUT_REF, OUT_DSP, bytes) == 0 && OUT_DSP[bytes] == 0x66;
    const int32_t *f = &c->m;
    odl_test_puts("s8");
    for (int i = 0; i < 11; ++i) {
        odl_test_puts(" ");
        odl_test_putd(f[i]);
    }
    odl_test_puts(" ");
    odl_test_putd(c->seed);
    odl_test_puts(ok ? " ok " : " FAIL ");
    odl_test_putx(fnv1a(OUT_DSP, bytes));
    odl_test_puts("\n");
    return ok;
}

typedef struct {
    int32_t layout, m, n, k, accumulate;
    uint32_t seed;
} f32_case;

static const f32_case f32_cases[] = {
    {ODL_MM_NT, 64, 16, 144, 0, 31}, {ODL_MM_NN, 64, 16, 144, 1, 32}, {ODL_MM_TN, 16, 144, 64, 0, 33},
    {ODL_MM_NT, 1, 1, 1, 1, 34},     {ODL_MM_NN, 5, 7, 3, 0, 35},     {ODL_MM_TN, 7, 5, 9, 1, 36},
    {ODL_MM_NT, 9, 13, 17, 1, 37},   {ODL_MM_NN, 12, 8, 5, 1, 38},    {ODL_MM_TN, 4, 4, 4, 0, 39},
    {ODL_MM_NT, 3, 33, 2, 0, 40},    {ODL_MM_NN, 33, 3, 31, 0, 41},   {ODL_MM_TN, 17, 9, 6, 1, 42},
};

static float FA[160 * 160], FB[160 * 160], FC_REF[160 * 160], FC_DSP[160 * 160];

static float frand(uint32_t *s) { return (float)(int32_t)(odl_test_rand(s) >> 8) / 8388608.0f - 1.0f; }

/* DSP and reference vs a double-precision sum on the target: |err| <= (K + 1) 2^-24 (sum |a b| + |c0|), the bound
 * of fp32 recursive summation (with or without fused multiply-adds). */
static int run_f32(const f32_case *c) {
    uint32_t s = c->seed;
    const int32_t m = c->m, n = c->n, k = c->k;
    for (int32_t i = 0; i < m * k; ++i) FA[i] = frand(&s);
    for (int32_t i = 0; i < n * k; ++i) FB[i] = frand(&s);
    for (int32_t i = 0; i < m * n; ++i) FC_REF[i] = FC_DSP[i] = frand(&s);
    FC_DSP[m * n] = 12345.0f;
    float c0[16 * 160];
    for (int32_t i = 0; i < m * n; ++i) c0[i] = FC_REF[i];
    int st = odl_matmul_f32_ref((odl_mm_layout)c->layout, FA, FB, FC_REF, m, n, k, c->accumulate);
    st |= odl_matmul_f32_dsp((odl_mm_layout)c->layout, FA, FB, FC_DSP, m, n, k, c->accumulate);
    int ok = st == 0 && FC_DSP[m * n] == 12345.0f;
    double worst = 0;
    for (int32_t i = 0; i < m; ++i)
        for (int32_t j = 0; j < n; ++j) {
            double exact = c->accumulate ? c0[i * n + j] : 0.0, mag = c->accumulate ? fabs(exact) : 0.0;
            for (int32_t p = 0; p < k; ++p) {
                double x, y;
                if (c->layout == ODL_MM_NT)
                    x = FA[i * k + p], y = FB[j * k + p];
                else if (c->layout == ODL_MM_NN)
                    x = FA[i * k + p], y = FB[p * n + j];
                else
                    x = FA[p * m + i], y = FB[p * n + j];
                exact += x * y;
                mag += fabs(x * y);
            }
            const double bound = (double)(k + 1) * 5.9604644775390625e-08 * mag + 1e-30;
            const double e1 = fabs(FC_DSP[i * n + j] - exact) / bound, e2 = fabs(FC_REF[i * n + j] - exact) / bound;
            if (e1 > worst) worst = e1;
            if (!(e1 <= 1.0) || !(e2 <= 1.0)) ok = 0;
        }
    odl_test_puts("f32 ");
    const int32_t *f = &c->layout;
    for (int i = 0; i < 6; ++i) {
        odl_test_putd(f[i]);
        odl_test_puts(" ");
    }
    odl_test_puts(ok ? "ok " : "FAIL ");
    odl_test_putd((int64_t)(worst * 1000.0)); /* worst error in thousandths of the bound */
    odl_test_puts("\n");
    return ok;
}

static odl_f16 HA[160 * 160], HB[160 * 160], HC_REF[160 * 160], HC_DSP[160 * 160];

/* fp16: the same inputs rounded to fp16; DSP vs reference on the target within 1 fp16 ulp (both accumulate in fp32 in
 * the same order and round once, so they differ at most by fused vs separate multiply-add rounding). */
static int run_f16(const f32_case *c) {
    uint32_t s = c->seed;
    const int32_t m = c->m, n = c->n, k = c->k;
    for (int32_t i = 0; i < m * k; ++i) HA[i] = (odl_f16)frand(&s);
    for (int32_t i = 0; i < n * k; ++i) HB[i] = (odl_f16)frand(&s);
    for (int32_t i = 0; i < m * n; ++i) HC_REF[i] = HC_DSP[i] = (odl_f16)frand(&s);
    HC_DSP[m * n] = (odl_f16)3.0f;
    int st = odl_matmul_f16_ref((odl_mm_layout)c->layout, HA, HB, HC_REF, m, n, k, c->accumulate);
    st |= odl_matmul_f16_dsp((odl_mm_layout)c->layout, HA, HB, HC_DSP, m, n, k, c->accumulate);
    int ok = st == 0 && HC_DSP[m * n] == (odl_f16)3.0f;
    int32_t worst = 0, exact = 0;
    for (int32_t i = 0; i < m * n; ++i) {
        int16_t x, y;
        memcpy(&x, &HC_DSP[i], 2);
        memcpy(&y, &HC_REF[i], 2);
        /* ulp distance on the sign-magnitude encoding */
        const int32_t ix = x < 0 ? -(x & 0x7FFF) : x, iy = y < 0 ? -(y & 0x7FFF) : y;
        const int32_t d = ix > iy ? ix - iy : iy - ix;
        if (d > worst) worst = d;
        exact += d == 0;
    }
    if (worst > 1) ok = 0;
    odl_test_puts("f16 ");
    const int32_t *f = &c->layout;
    for (int i = 0; i < 6; ++i) {
        odl_test_putd(f[i]);
        odl_test_puts(" ");
    }
    odl_test_puts(ok ? "ok " : "FAIL ");
    odl_test_putd(worst); /* largest distance in fp16 ulps, then the count of identical outputs */
    odl_test_puts(" ");
    odl_test_putd(exact);
    odl_test_puts("\n");
    return ok;
}

int main(void) {
    int fails = 0;
    for (size_t i = 0; i < sizeof s8_cases / sizeof s8_cases[0]; ++i) fails += !run_s8(&s8_cases[i]);
    for (size_t i = 0; i < sizeof f32_cases / sizeof f32_cases[0]; ++i) fails += !run_f32(&f32_cases[i]);
    for (size_t i = 0; i < sizeof f32_cases / sizeof f32_cases[0]; ++i) fails += !run_f16(&f32_cases[i]);
    odl_test_puts(fails ? "FAILED\n" : "PASSED\n");
    return fails ? 1 : 0;
}
