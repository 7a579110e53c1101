/* Instruction counts of the ARM DSP matmuls vs the reference C on the anchor shapes (docs/simd.md).
 * Each measured call sits between odl_mark_start() and odl_mark_stop(); the insncount plugin prints one count per
 * region on stderr, in order, and this program prints the matching "bench <kernel> <path> <m> <n> <k> <macs>"
 * lines on stdout. Region 0 is empty: its count is the marker overhead, subtracted by the test. */
#include "harness.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_dsp(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *);
odl_status odl_matmul_f32_dsp(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t);
odl_status odl_matmul_f16_dsp(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t);

/* word-aligned like an im2col buffer from the arena */
static int8_t A[256 * 256] __attribute__((aligned(8))), B[64 * 256] __attribute__((aligned(8))), OUT[256 * 64];
static float FA[64 * 64], FB[64 * 64], FC[64 * 64];
static odl_f16 HA[64 * 64], HB[64 * 64], HC[64 * 64];
static int32_t BIAS[64], MULT[64], SHIFT[64];

static void label(const char *kernel, const char *path, int32_t m, int32_t n, int32_t k) {
    odl_test_puts("bench ");
    odl_test_puts(kernel);
    odl_test_puts(" ");
    odl_test_puts(path);
    const int32_t v[4] = {m, n, k, m * n * k};
    for (int i = 0; i < 4; ++i) {
        odl_test_puts(" ");
        odl_test_putd(v[i]);
    }
    odl_test_puts("\n");
}

static void bench_s8(int32_t m, int32_t n, int32_t k) {
    const odl_requant q = {MULT, SHIFT, 1};
    const odl_output_s8 o = {-3, -128, 127};
    label("matmul_s8", "reference", m, n, k);
    odl_mark_start(1);
    odl_matmul_s8_ref(A, B, BIAS, m, n, k, 128, &q, &o, OUT);
    odl_mark_stop(1);
    label("matmul_s8", "dsp", m, n, k);
    odl_mark_start(2);
    odl_matmul_s8_dsp(A, B, BIAS, m, n, k, 128, &q, &o, OUT);
    odl_mark_stop(2);
}

static void bench_f32(const char *name, odl_mm_layout layout, int32_t m, int32_t n, int32_t k) {
    label(name, "reference", m, n, k);
    odl_mark_start(3);
    odl_matmul_f32_ref(layout, FA, FB, FC, m, n, k, 0);
    odl_mark_stop(3);
    label(name, "dsp", m, n, k);
    odl_mark_start(4);
    odl_matmul_f32_dsp(layout, FA, FB, FC, m, n, k, 0);
    odl_mark_stop(4);
}

static void bench_f16(const char *name, odl_mm_layout layout, int32_t m, int32_t n, int32_t k) {
    label(name, "reference", m, n, k);
    odl_mark_start(5);
    odl_matmul_f16_ref(layout, HA, HB, HC, m, n, k, 0);
    odl_mark_stop(5);
    label(name, "dsp", m, n, k);
    odl_mark_start(6);
    odl_matmul_f16_dsp(layout, HA, HB, HC, m, n, k, 0);
    odl_mark_stop(6);
}

int main(void) {
    uint32_t s = 12345;
    for (unsigned i = 0; i < sizeof A; ++i) A[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (unsigned i = 0; i < sizeof B; ++i) B[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (int i = 0; i < 64; ++i) {
        BIAS[i] = (int32_t)(odl_test_rand(&s) % 4096u) - 2048;
        MULT[i] = (int32_t)(0x40000000u | (odl_test_rand(&s) >> 2));
        SHIFT[i] = -8 - (int32_t)(odl_test_rand(&s) % 3u);
    }
    for (int i = 0; i < 64 * 64; ++i) {
        FA[i] = (float)(int32_t)(odl_test_rand(&s) % 200u) / 100.0f - 1.0f;
        FB[i] = (float)(int32_t)(odl_test_rand(&s) % 200u) / 100.0f - 1.0f;
        HA[i] = (odl_f16)FA[i];
        HB[i] = (odl_f16)FB[i];
    }
    label("empty", "none", 0, 0, 0);
    odl_mark_start(0);
    odl_mark_stop(0);
    /* the matmuls of conv 3x3 16x16x16->16, conv 1x1 16x16x32->32, fully connected 256->64 */
    bench_s8(256, 16, 144);
    bench_s8(256, 32, 32);
    bench_s8(1, 64, 256);
#ifdef ODL_BENCH_F32
    bench_f32("matmul_f32_nt", ODL_MM_NT, 64, 16, 144);
    bench_f32("matmul_f32_nn", ODL_MM_NN, 64, 16, 144);
    bench_f32("matmul_f32_tn", ODL_MM_TN, 16, 144, 64);
    bench_f16("matmul_f16_nt", ODL_MM_NT, 64, 16, 144);
    bench_f16("matmul_f16_nn", ODL_MM_NN, 64, 16, 144);
    bench_f16("matmul_f16_tn", ODL_MM_TN, 16, 144, 64);
#endif
    (void)bench_f32;
    (void)bench_f16;
    return 0;
}
