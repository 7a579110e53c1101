/* The ARM DSP depthwise override vs the reference loop, through the public kernel and odl_path_select(), on the
 * emulated board. One line per case: parameters, "ok"/"FAIL" (bit-exact on the target) and an FNV-1a hash of the
 * output that tests/test_simd_arm_dsp.py recomputes with numpy. With ODL_BENCH, the anchor shape runs between
 * instruction-count markers instead. */
#include <string.h>

#include "harness.h"
#include "odl/kernels_s8.h"
#include "odl/matmul.h"

typedef struct {
    int32_t h, w, c, kh, kw, stride, dil, same, dm, in_off, bias, shmin, shmax, out_off, act_min, act_max;
    uint32_t seed;
} dw_case;

static const dw_case cases[] = {
    {16, 16, 32, 3, 3, 1, 1, 1, 1, 128, 1, -9, -6, -3, -128, 127, 1}, /* the anchor shape */
    {7, 9, 8, 3, 3, 2, 1, 1, 1, 5, 1, -8, 0, 0, 0, 127, 2},
    {6, 5, 12, 5, 5, 1, 1, 1, 1, -127, 1, -10, -5, 12, -128, 127, 3},
    {9, 8, 6, 3, 3, 1, 2, 0, 1, 0, 0, -7, -7, 0, -128, 127, 4},
    {5, 5, 7, 2, 3, 1, 1, 1, 1, 40, 1, -9, 0, -1, -50, 60, 5},
    {4, 6, 3, 3, 3, 1, 1, 1, 2, 17, 1, -9, -2, 3, -128, 127, 6},
    {8, 8, 4, 1, 1, 1, 1, 0, 1, -5, 1, -6, 1, 2, -128, 127, 7},
    {3, 3, 8, 3, 3, 1, 1, 0, 1, 9, 2, -31, 30, 0, -128, 127, 8},
    {10, 3, 36, 7, 3, 1, 1, 1, 1, 128, 1, -9, -3, 0, -128, 127, 9},
    {3, 4, 4, 12, 12, 1, 1, 1, 1, 11, 1, -12, -8, 0, -128, 127, 10},
    {5, 6, 68, 3, 3, 2, 1, 1, 1, -100, 1, -9, -4, 7, -128, 127, 11},
};

static int8_t IN[16 * 16 * 72], FILT[12 * 12 * 72], OUT_REF[16 * 16 * 72], OUT_DSP[16 * 16 * 72];
static int32_t BIAS[72], MULT[72], SHIFT[72];

static uint32_t fnv1a(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 16777619u;
    return h;
}

static int run(const dw_case *c, int bench) {
    uint32_t s = c->seed;
    const int32_t cout = c->c * c->dm;
    for (int32_t i = 0; i < c->h * c->w * c->c; ++i) IN[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (int32_t i = 0; i < c->kh * c->kw * cout; ++i) FILT[i] = (int8_t)(odl_test_rand(&s) >> 24);
    for (int32_t j = 0; j < cout; ++j) {
        const uint32_t r = odl_test_rand(&s);
        BIAS[j] = c->bias == 1 ? (int32_t)(r % 65536u) - 32768 : (int32_t)r;
    }
    for (int32_t j = 0; j < cout; ++j) {
        MULT[j] = (int32_t)(0x40000000u | (odl_test_rand(&s) >> 2));
        SHIFT[j] = c->shmin + (int32_t)(odl_test_rand(&s) % (uint32_t)(c->shmax - c->shmin + 1));
    }
    const odl_dims in = {1, c->h, c->w, c->c};
    const odl_conv_s8_params p = {c->stride, c->stride, c->dil, c->dil, c->same ? ODL_PAD_SAME : ODL_PAD_VALID,
                                  c->in_off};
    odl_window win;
    if (odl_conv_geometry(c->h, c->w, c->kh, c->kw, c->stride, c->stride, c->dil, c->dil, p.padding, &win)) return 0;
    const odl_dims out = {1, win.out_h, win.out_w, cout};
    const odl_requant q = {MULT, SHIFT, 1};
    const odl_output_s8 o = {c->out_off, c->act_min, c->act_max};
    const int32_t *bias = c->bias ? BIAS : 0;
    const size_t bytes = (size_t)win.out_h * win.out_w * cout;
    memset(OUT_REF, 0x55, sizeof OUT_REF);
    memset(OUT_DSP, 0x66, sizeof OUT_DSP);
    int st = odl_path_select(ODL_PATH_REFERENCE);
    if (bench) {
        odl_test_puts("bench depthwise_s8 reference 16 16 32 73728\n");
        odl_mark_start(1);
    }
    st |= odl_depthwise_conv2d_s8_forward(IN, &in, FILT, c->kh, c->kw, c->dm, bias, &p, &q, &o, &out, OUT_REF);
    if (bench) odl_mark_stop(1);
    st |= odl_path_select(ODL_PATH_ARM_DSP);
    if (bench) {
        odl_test_puts("bench depthwise_s8 dsp 16 16 32 73728\n");
        odl_mark_start(2);
    }
    st |= odl_depthwise_conv2d_s8_forward(IN, &in, FILT, c->kh, c->kw, c->dm, bias, &p, &q, &o, &out, OUT_DSP);
    if (bench) odl_mark_stop(2);
    const int ok = st == 0 && memcmp(OUT_REF, OUT_DSP, bytes) == 0 && OUT_DSP[bytes] == 0x66;
    const int32_t *f = &c->h;
    odl_test_puts("dw");
    for (int i = 0; i < 16; ++i) {
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

int main(void) {
#ifdef ODL_BENCH
    odl_test_puts("bench empty none 0 0 0 0\n");
    odl_mark_start(0);
    odl_mark_stop(0);
    return !run(&cases[0], 1);
#else
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) fails += !run(&cases[i], 0);
    odl_test_puts(fails ? "FAILED\n" : "PASSED\n");
    return fails ? 1 : 0;
#endif
}
