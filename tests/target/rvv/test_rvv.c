/* On-target checks and instruction counts of the RISC-V V path (csrc/kernels/simd/rvv), run on QEMU virt rv32 + V
 * by tests/test_simd_rvv.py. Inputs come from a fixed PRNG; the expected values come from the reference C kernels
 * (csrc/kernels/ref, the specification), compiled into the same image and run on the same inputs.
 *   int8 matmul / depthwise / conv2d, fp16 matmul and depthwise (3 passes): bit-exact.
 *   fp32 matmul: |rvv - ref| <= 2 * K * 2^-24 * sum_k |a b| (+ |c|) (FMA rounds once where the reference may not).
 * "VEC <name> <hex>" lines carry a few cases' inputs and rvv outputs to the pytest, which checks them against its own
 * numpy model (independent of the C). Output lines:  "CHECK <name> <cases> ok|FAIL ...", "BENCH <kernel> <dtype> <pass> <shape> <macs> <ref instr>
 * <rvv instr>", then "DONE <failures>". Counts are minstret deltas around one call (after a warm-up call).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "odl/kernels_fp.h"
#include "odl/kernels_s8.h"
#include "odl/layer_paths.h"
#include "odl/matmul.h"

odl_status odl_matmul_s8_rvv(const int8_t *, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                             const odl_requant *, const odl_output_s8 *, int8_t *);
odl_status odl_matmul_f32_rvv(odl_mm_layout, const float *, const float *, float *, int32_t, int32_t, int32_t,
                              int32_t);
odl_status odl_matmul_f16_rvv(odl_mm_layout, const odl_f16 *, const odl_f16 *, odl_f16 *, int32_t, int32_t, int32_t,
                              int32_t);
odl_status odl_depthwise_conv2d_s8_forward_rvv(const int8_t *, const odl_dims *, const int8_t *, int32_t, int32_t,
                                               int32_t, const int32_t *, const odl_conv_s8_params *,
                                               const odl_requant *, const odl_output_s8 *, const odl_dims *,
                                               int8_t *);

void rvv_exit(int code) { rvv_exit_now(code); }
void rvv_trap(uint32_t cause, uint32_t epc) {
    h_puts("TRAP mcause=");
    h_putd(cause);
    h_puts(" mepc=");
    h_putd(epc);
    h_puts("\n");
    rvv_exit_now(3);
}

static int failures = 0;

#define MAXBUF (64 * 1024)
static int8_t s8a[MAXBUF], s8b[MAXBUF], s8o_ref[MAXBUF], s8o_rvv[MAXBUF], s8scratch[MAXBUF];
static int32_t s32bias[1024], s32mult[1024], s32shift[1024];
static odl_f16 h_a[MAXBUF], h_b[MAXBUF], h_c_ref[MAXBUF], h_c_rvv[MAXBUF], h_c0[MAXBUF], h_d_ref[1024], h_d_rvv[1024];
static float f_a[MAXBUF / 2], f_b[MAXBUF / 2], f_c_ref[MAXBUF / 2], f_c_rvv[MAXBUF / 2], f_c0[MAXBUF / 2],
    f_bound[MAXBUF / 2];

static void fill_s8(int8_t *p, int32_t n) {
    for (int32_t i = 0; i < n; ++i) p[i] = (int8_t)h_randint(-128, 127);
}
static void fill_f16(odl_f16 *p, int32_t n) {
    for (int32_t i = 0; i < n; ++i) p[i] = (odl_f16)h_randf();
}
static void fill_f32(float *p, int32_t n) {
    for (int32_t i = 0; i < n; ++i) p[i] = h_randf();
}

/* Random requantization of `channels` channels (per channel or per tensor) and output side. */
static void random_quant(int32_t channels, odl_requant *q, odl_output_s8 *o) {
    q->per_channel = (int32_t)(h_rand() & 1);
    const int32_t cnt = q->per_channel ? channels : 1;
    const int ties = (h_rand() % 3) == 0; /* multiplier 2^30 and small right shifts: many exact rounding ties */
    for (int32_t c = 0; c < cnt; ++c) {
        s32mult[c] = ties ? (1 << 30) : (int32_t)((1u << 30) + (h_rand() >> 2));
        const uint32_t r = h_rand() % 8;
        s32shift[c] = ties ? h_randint(-12, 0)
                           : r == 0 ? h_randint(-31, 30) : r == 1 ? 0 : h_randint(-14, 2); /* wide and realistic */
    }
    q->multiplier = s32mult;
    q->shift = s32shift;
    o->output_offset = h_randint(-128, 127);
    o->act_min = h_randint(-128, 0);
    o->act_max = h_randint(o->act_min, 127);
    if (h_rand() & 1) {
        o->act_min = -128;
        o->act_max = 127;
    }
}
static int32_t random_offset(void) {
    const uint32_t r = h_rand() % 4;
    return r == 0 ? 128 : r == 1 ? 0 : h_randint(-127, 128);
}

static void report(const char *name, int32_t cases, int32_t bad) {
    h_puts("CHECK ");
    h_puts(name);
    h_puts(" ");
    h_putd(cases);
    h_puts(bad ? " FAIL " : " ok ");
    h_putd(bad);
    h_puts("\n");
    failures += bad != 0;
}

/* ---------------------------------------------------------------------------------------------- checks */

static void check_matmul_s8(void) {
    static const int32_t shapes[][3] = {{1, 1, 1},  {1, 2, 3},   {2, 1, 5},  {3, 5, 7},    {2, 33, 65}, {5, 70, 130},
                                        {4, 16, 144}, {1, 64, 256}, {7, 3, 300}, {9, 31, 63}, {3, 65, 17}, {6, 40, 1000},
                                        {4, 8, 1}, {5, 33, 5}, {8, 70, 36}, {11, 100, 9}};
    int32_t cases = 0, bad = 0;
    for (int rep = 0; rep < 6; ++rep)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
            const int32_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            odl_requant q;
            odl_output_s8 o;
            fill_s8(s8a, m * k);
            fill_s8(s8b, n * k);
            if (rep >= 4) { /* small operands: accumulators near zero, outputs rarely clamped, many ties */
                for (int32_t i = 0; i < m * k; ++i) s8a[i] = (int8_t)(s8a[i] >> 5);
                for (int32_t i = 0; i < n * k; ++i) s8b[i] = (int8_t)(s8b[i] >> 5);
            }
            if (rep == 3) { /* extreme operands: every product at its largest magnitude */
                memset(s8a, -128, (size_t)m * k);
                memset(s8b, -128, (size_t)n * k);
            }
            for (int32_t j = 0; j < n; ++j) s32bias[j] = rep >= 4 ? h_randint(-300, 300) : h_randint(-100000, 100000);
            random_quant(n, &q, &o);
            const int32_t off = rep == 3 ? 128 : rep >= 4 ? h_randint(-3, 3) : random_offset();
            const int32_t *bias = (h_rand() % 4) ? s32bias : 0;
            memset(s8o_ref, 0x55, (size_t)m * n);
            memset(s8o_rvv, 0x66, (size_t)m * n);
            odl_status s1 = odl_matmul_s8_ref(s8a, s8b, bias, m, n, k, off, &q, &o, s8o_ref);
            odl_status s2 = odl_matmul_s8_rvv(s8a, s8b, bias, m, n, k, off, &q, &o, s8o_rvv);
            ++cases;
            if (s1 != s2 || memcmp(s8o_ref, s8o_rvv, (size_t)m * n)) {
                ++bad;
                h_puts("  mismatch matmul_s8 m,n,k=");
                h_putd(m), h_puts(","), h_putd(n), h_puts(","), h_putd(k), h_puts("\n");
            }
        }
    /* argument errors agree with the reference */
    odl_requant q = {s32mult, s32shift, 0};
    odl_output_s8 o = {0, -128, 127};
    ++cases;
    if (odl_matmul_s8_rvv(s8a, s8b, 0, 0, 1, 1, 0, &q, &o, s8o_rvv) != ODL_ERR_ARG ||
        odl_matmul_s8_rvv(0, s8b, 0, 1, 1, 1, 0, &q, &o, s8o_rvv) != ODL_ERR_ARG)
        ++bad;
    report("matmul_s8", cases, bad);
}

static int same_bits(const void *x, const void *y, size_t bytes) { return memcmp(x, y, bytes) == 0; }

static void check_matmul_f16(void) {
    static const int32_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 9}, {5, 17, 33}, {9, 40, 20}, {2, 70, 3}, {16, 16, 144}};
    int32_t cases = 0, bad = 0;
    for (int layout = 0; layout < 3; ++layout)
        for (int acc = 0; acc < 2; ++acc)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
                const int32_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                fill_f16(h_a, m * k);
                fill_f16(h_b, n * k);
                fill_f16(h_c0, m * n);
                memcpy(h_c_ref, h_c0, sizeof(odl_f16) * m * n);
                memcpy(h_c_rvv, h_c0, sizeof(odl_f16) * m * n);
                odl_status s1 = odl_matmul_f16_ref((odl_mm_layout)layout, h_a, h_b, h_c_ref, m, n, k, acc);
                odl_status s2 = odl_matmul_f16_rvv((odl_mm_layout)layout, h_a, h_b, h_c_rvv, m, n, k, acc);
                ++cases;
                if (s1 != s2 || !same_bits(h_c_ref, h_c_rvv, sizeof(odl_f16) * m * n)) {
                    ++bad;
                    h_puts("  mismatch matmul_f16 layout=");
                    h_putd(layout), h_puts(" m,n,k="), h_putd(m), h_puts(","), h_putd(n), h_puts(","), h_putd(k);
                    h_puts("\n");
                }
            }
    ++cases;
    if (odl_matmul_f16_rvv((odl_mm_layout)7, h_a, h_b, h_c_rvv, 1, 1, 1, 0) != ODL_ERR_ARG) ++bad;
    report("matmul_f16", cases, bad);
}

static float f_abs(float x) { return x < 0 ? -x : x; }

static void check_matmul_f32(void) {
    static const int32_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 9}, {5, 17, 33}, {9, 40, 20}, {2, 70, 3}, {16, 16, 144}};
    int32_t cases = 0, bad = 0;
    for (int layout = 0; layout < 3; ++layout)
        for (int acc = 0; acc < 2; ++acc)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
                const int32_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                fill_f32(f_a, m * k);
                fill_f32(f_b, n * k);
                fill_f32(f_c0, m * n);
                memcpy(f_c_ref, f_c0, sizeof(float) * m * n);
                memcpy(f_c_rvv, f_c0, sizeof(float) * m * n);
                odl_status s1 = odl_matmul_f32_ref((odl_mm_layout)layout, f_a, f_b, f_c_ref, m, n, k, acc);
                odl_status s2 = odl_matmul_f32_rvv((odl_mm_layout)layout, f_a, f_b, f_c_rvv, m, n, k, acc);
                /* bound: sum |a b| + |c|, from the reference on absolute values */
                for (int32_t i = 0; i < m * k; ++i) f_a[i] = f_abs(f_a[i]);
                for (int32_t i = 0; i < n * k; ++i) f_b[i] = f_abs(f_b[i]);
                for (int32_t i = 0; i < m * n; ++i) f_bound[i] = f_abs(f_c0[i]);
                odl_matmul_f32_ref((odl_mm_layout)layout, f_a, f_b, f_bound, m, n, k, acc);
                ++cases;
                int ok = s1 == s2;
                for (int32_t i = 0; i < m * n; ++i) {
                    const float tol = 2.0f * (float)(k + 1) * 5.9604645e-8f * f_bound[i] + 1e-30f;
                    if (!(f_abs(f_c_ref[i] - f_c_rvv[i]) <= tol)) ok = 0;
                }
                if (!ok) {
                    ++bad;
                    h_puts("  mismatch matmul_f32 layout=");
                    h_putd(layout), h_puts(" m,n,k="), h_putd(m), h_puts(","), h_putd(n), h_puts(","), h_putd(k);
                    h_puts("\n");
                }
            }
    report("matmul_f32", cases, bad);
}

typedef struct {
    int32_t h, w, c, kh, kw, sh, sw, dh, dw, dm;
    odl_padding pad;
} dw_shape;

static const dw_shape dw_shapes[] = {
    {5, 5, 3, 3, 3, 1, 1, 1, 1, 1, ODL_PAD_SAME},   {6, 7, 17, 3, 3, 2, 2, 1, 1, 1, ODL_PAD_SAME},
    {8, 8, 32, 3, 3, 1, 1, 1, 1, 1, ODL_PAD_VALID}, {7, 6, 5, 3, 2, 1, 2, 2, 1, 2, ODL_PAD_SAME},
    {9, 9, 40, 5, 5, 2, 1, 1, 2, 1, ODL_PAD_SAME},  {4, 4, 3, 1, 1, 1, 1, 1, 1, 3, ODL_PAD_VALID},
    {3, 20, 18, 1, 17, 1, 1, 1, 1, 1, ODL_PAD_SAME}, {6, 6, 33, 3, 3, 3, 3, 1, 1, 1, ODL_PAD_SAME},
    {17, 18, 5, 17, 17, 1, 1, 1, 1, 1, ODL_PAD_VALID}, {10, 9, 7, 4, 3, 3, 2, 2, 3, 2, ODL_PAD_SAME},
    {8, 9, 6, 3, 3, 1, 1, 2, 3, 1, ODL_PAD_SAME},      {3, 70, 4, 1, 65, 1, 2, 1, 1, 1, ODL_PAD_VALID},
};

static void check_depthwise_s8(void) {
    int32_t cases = 0, bad = 0;
    for (int rep = 0; rep < 3; ++rep)
        for (size_t s = 0; s < sizeof dw_shapes / sizeof dw_shapes[0]; ++s) {
            const dw_shape *d = &dw_shapes[s];
            const odl_dims in = {1 + (rep == 1), d->h, d->w, d->c};
            const odl_conv_s8_params p = {d->sh, d->sw, d->dh, d->dw, d->pad, random_offset()};
            odl_window win;
            odl_conv_geometry(d->h, d->w, d->kh, d->kw, d->sh, d->sw, d->dh, d->dw, d->pad, &win);
            const int32_t cout = d->c * d->dm;
            const odl_dims out = {in.n, win.out_h, win.out_w, cout};
            odl_requant q;
            odl_output_s8 o;
            fill_s8(s8a, in.n * d->h * d->w * d->c);
            fill_s8(s8b, d->kh * d->kw * cout);
            for (int32_t j = 0; j < cout; ++j) s32bias[j] = h_randint(-100000, 100000);
            random_quant(cout, &q, &o);
            const int32_t *bias = rep == 2 ? 0 : s32bias;
            const size_t nout = (size_t)out.n * out.h * out.w * out.c;
            memset(s8o_ref, 0x55, nout);
            memset(s8o_rvv, 0x66, nout);
            odl_path_select(ODL_PATH_REFERENCE); /* the public kernel may dispatch to a path's override */
            odl_status s1 = odl_depthwise_conv2d_s8_forward(s8a, &in, s8b, d->kh, d->kw, d->dm, bias, &p, &q, &o,
                                                            &out, s8o_ref);
            odl_status s2 = odl_depthwise_conv2d_s8_forward_rvv(s8a, &in, s8b, d->kh, d->kw, d->dm, bias, &p, &q, &o,
                                                                &out, s8o_rvv);
            ++cases;
            if (s1 != ODL_OK || s1 != s2 || memcmp(s8o_ref, s8o_rvv, nout)) {
                ++bad;
                h_puts("  mismatch depthwise_s8 shape ");
                h_putd((int64_t)s), h_puts(" status "), h_putd(s1), h_puts(" "), h_putd(s2), h_puts("\n");
            }
            /* through the public kernel with the rvv path selected (uses odl_layers_rvv once the hook exists) */
            odl_path_select(ODL_PATH_RVV);
            memset(s8o_rvv, 0x66, nout);
            s2 = odl_depthwise_conv2d_s8_forward(s8a, &in, s8b, d->kh, d->kw, d->dm, bias, &p, &q, &o, &out, s8o_rvv);
            ++cases;
            if (s2 != ODL_OK || memcmp(s8o_ref, s8o_rvv, nout)) ++bad;
        }
    report("depthwise_conv2d_s8_forward", cases, bad);
}

static void check_conv2d_s8(void) {
    /* the public conv2d (im2col + dispatched matmul) on the reference path vs the rvv path */
    int32_t cases = 0, bad = 0;
    for (size_t s = 0; s < sizeof dw_shapes / sizeof dw_shapes[0]; ++s) {
        const dw_shape *d = &dw_shapes[s];
        const int32_t cout = 1 + (int32_t)(h_rand() % 24);
        const odl_dims in = {1, d->h, d->w, d->c};
        const odl_conv_s8_params p = {d->sh, d->sw, d->dh, d->dw, d->pad, random_offset()};
        odl_window win;
        odl_conv_geometry(d->h, d->w, d->kh, d->kw, d->sh, d->sw, d->dh, d->dw, d->pad, &win);
        const odl_dims out = {1, win.out_h, win.out_w, cout};
        odl_requant q;
        odl_output_s8 o;
        fill_s8(s8a, d->h * d->w * d->c);
        fill_s8(s8b, cout * d->kh * d->kw * d->c);
        for (int32_t j = 0; j < cout; ++j) s32bias[j] = h_randint(-100000, 100000);
        random_quant(cout, &q, &o);
        const size_t nout = (size_t)out.h * out.w * cout;
        const int32_t scratch = odl_conv2d_s8_scratch_size(7, d->kh, d->kw, d->c);
        odl_path_select(ODL_PATH_REFERENCE);
        odl_status s1 = odl_conv2d_s8_forward(s8a, &in, s8b, cout, d->kh, d->kw, s32bias, &p, &q, &o, &out, s8o_ref,
                                              s8scratch, scratch);
        odl_path_select(ODL_PATH_RVV);
        odl_status s2 = odl_conv2d_s8_forward(s8a, &in, s8b, cout, d->kh, d->kw, s32bias, &p, &q, &o, &out, s8o_rvv,
                                              s8scratch, scratch);
        ++cases;
        if (s1 != ODL_OK || s1 != s2 || memcmp(s8o_ref, s8o_rvv, nout)) ++bad;
    }
    report("conv2d_s8_forward", cases, bad);
}

static void check_depthwise_f16(void) {
    int32_t cases = 0, bad = 0;
    for (int rep = 0; rep < 2; ++rep)
        for (size_t s = 0; s < sizeof dw_shapes / sizeof dw_shapes[0]; ++s) {
            const dw_shape *d = &dw_shapes[s];
            odl_conv_f_params p;
            p.in = (odl_dims){1 + rep, d->h, d->w, d->c};
            p.out_c = d->c;
            odl_conv_geometry(d->h, d->w, d->kh, d->kw, d->sh, d->sw, d->dh, d->dw, d->pad, &p.win);
            const int32_t nx = p.in.n * d->h * d->w * d->c, nw = d->kh * d->kw * d->c;
            const int32_t ny = p.in.n * p.win.out_h * p.win.out_w * d->c;
            fill_f16(h_a, nx);  /* x or dy */
            fill_f16(h_b, nw);  /* w */
            fill_f16(h_c0, ny); /* dy */
            const odl_f16 *bias = rep ? 0 : h_b + nw; /* any fp16 values */
            for (int pass = 0; pass < 3; ++pass) {
                odl_status s1, s2;
                size_t bytes;
                for (int path = 0; path < 2; ++path) {
                    odl_path_select(path ? ODL_PATH_RVV : ODL_PATH_REFERENCE);
                    odl_f16 *outp = path ? h_c_rvv : h_c_ref;
                    odl_f16 *outd = path ? h_d_rvv : h_d_ref;
                    odl_status st;
                    if (pass == 0) {
                        st = odl_depthwise_conv2d_f16_forward(&p, h_a, h_b, bias, outp);
                        bytes = sizeof(odl_f16) * ny;
                    } else if (pass == 1) {
                        st = odl_depthwise_conv2d_f16_weight_grad(&p, h_a, h_c0, outp, rep ? 0 : outd);
                        bytes = sizeof(odl_f16) * nw;
                    } else {
                        st = odl_depthwise_conv2d_f16_input_grad(&p, h_c0, h_b, outp);
                        bytes = sizeof(odl_f16) * nx;
                    }
                    if (path) s2 = st; else s1 = st;
                }
                ++cases;
                int ok = s1 == ODL_OK && s2 == ODL_OK && same_bits(h_c_ref, h_c_rvv, bytes);
                if (pass == 1 && !rep) ok = ok && same_bits(h_d_ref, h_d_rvv, sizeof(odl_f16) * d->c);
                if (!ok) {
                    ++bad;
                    h_puts("  mismatch depthwise_f16 pass "), h_putd(pass), h_puts(" shape "), h_putd((int64_t)s);
                    h_puts("\n");
                }
            }
        }
    report("depthwise_conv2d_f16", cases, bad);
}

/* ---------------------------------------------------------------------------------------------- bench */

static void bench_line(const char *kernel, const char *dtype, const char *pass, const char *shape, int64_t macs,
                       uint32_t ref, uint32_t rvv) {
    h_puts("BENCH "), h_puts(kernel), h_puts(" "), h_puts(dtype), h_puts(" "), h_puts(pass), h_puts(" "), h_puts(shape);
    h_puts(" "), h_putd(macs), h_puts(" "), h_putd(ref), h_puts(" "), h_putd(rvv), h_puts("\n");
}

/* Instructions of one call of EXPR on each path (after a warm-up call). */
#define COUNT_PATHS(EXPR, REF_N, RVV_N)                        \
    do {                                                       \
        for (int path_ = 0; path_ < 2; ++path_) {              \
            odl_path_select(path_ ? ODL_PATH_RVV : ODL_PATH_REFERENCE); \
            (void)(EXPR);                                      \
            const uint32_t t0_ = h_instret();                  \
            (void)(EXPR);                                      \
            const uint32_t t1_ = h_instret();                  \
            if (path_) RVV_N = t1_ - t0_; else REF_N = t1_ - t0_; \
        }                                                      \
    } while (0)

static void bench(void) {
    uint32_t r, v;
    odl_requant q = {s32mult, s32shift, 1};
    odl_output_s8 o = {-3, -128, 127};
    for (int i = 0; i < 1024; ++i) s32mult[i] = 1518500250, s32shift[i] = -7, s32bias[i] = h_randint(-5000, 5000);
    fill_s8(s8a, MAXBUF);
    fill_s8(s8b, MAXBUF);
    /* CMSIS-NN anchor shapes (docs: /work/shared/anchors.md) */
    {
        const odl_dims in = {1, 16, 16, 16}, out = {1, 16, 16, 16};
        const odl_conv_s8_params p = {1, 1, 1, 1, ODL_PAD_SAME, 128};
        const int32_t scratch = odl_conv2d_s8_scratch_size(256, 3, 3, 16);
        COUNT_PATHS(odl_conv2d_s8_forward(s8a, &in, s8b, 16, 3, 3, s32bias, &p, &q, &o, &out, s8o_rvv, s8scratch,
                                          scratch), r, v);
        bench_line("conv2d", "int8", "forward", "16x16x16->16,k3,s1,same", 256 * 16 * 144, r, v);
        COUNT_PATHS(odl_matmul_s8(s8scratch, s8b, s32bias, 256, 16, 144, 128, &q, &o, s8o_rvv), r, v);
        bench_line("matmul", "int8", "forward", "256x16x144", 256 * 16 * 144, r, v);
    }
    {
        const odl_dims in = {1, 16, 16, 32}, out = {1, 16, 16, 32};
        const odl_conv_s8_params p = {1, 1, 1, 1, ODL_PAD_VALID, 128};
        const int32_t scratch = odl_conv2d_s8_scratch_size(256, 1, 1, 32);
        COUNT_PATHS(odl_conv2d_s8_forward(s8a, &in, s8b, 32, 1, 1, s32bias, &p, &q, &o, &out, s8o_rvv, s8scratch,
                                          scratch), r, v);
        bench_line("conv2d", "int8", "forward", "16x16x32->32,k1", 256 * 32 * 32, r, v);
        COUNT_PATHS(odl_matmul_s8(s8a, s8b, s32bias, 256, 32, 32, 128, &q, &o, s8o_rvv), r, v);
        bench_line("matmul", "int8", "forward", "256x32x32", 256 * 32 * 32, r, v);
    }
    {
        const odl_dims in = {1, 16, 16, 32}, out = {1, 16, 16, 32};
        const odl_conv_s8_params p = {1, 1, 1, 1, ODL_PAD_SAME, 128};
        /* the reference kernel has no path hook: time the two functions directly */
        odl_path_select(ODL_PATH_REFERENCE);
        (void)odl_depthwise_conv2d_s8_forward(s8a, &in, s8b, 3, 3, 1, s32bias, &p, &q, &o, &out, s8o_ref);
        uint32_t t0 = h_instret();
        (void)odl_depthwise_conv2d_s8_forward(s8a, &in, s8b, 3, 3, 1, s32bias, &p, &q, &o, &out, s8o_ref);
        uint32_t t1 = h_instret();
        (void)odl_depthwise_conv2d_s8_forward_rvv(s8a, &in, s8b, 3, 3, 1, s32bias, &p, &q, &o, &out, s8o_rvv);
        uint32_t t2 = h_instret();
        (void)odl_depthwise_conv2d_s8_forward_rvv(s8a, &in, s8b, 3, 3, 1, s32bias, &p, &q, &o, &out, s8o_rvv);
        uint32_t t3 = h_instret();
        bench_line("depthwise_conv2d", "int8", "forward", "16x16x32,k3,s1,same", 256 * 32 * 9, t1 - t0, t3 - t2);
    }
    COUNT_PATHS(odl_matmul_s8(s8a, s8b, s32bias, 1, 64, 256, 128, &q, &o, s8o_rvv), r, v);
    bench_line("fully_connected", "int8", "forward", "256->64", 256 * 64, r, v);

    /* fp16 / fp32 matmuls in the three layouts (a 3x3 conv 16x16x16->16 as im2col matmuls) */
    static const char *lname[3] = {"forward", "input_grad", "weight_grad"};
    static const odl_mm_layout lay[3] = {ODL_MM_NT, ODL_MM_NN, ODL_MM_TN};
    fill_f16(h_a, 256 * 144);
    fill_f16(h_b, 256 * 144);
    for (int l = 0; l < 3; ++l) {
        /* forward: [256,144] x [16,144]^T; input grad: [256,16] x [16,144]; weight grad: [256,16]^T x [256,144] */
        const int32_t m = l == 2 ? 16 : 256, n = l == 0 ? 16 : 144, k = l == 0 ? 144 : l == 1 ? 16 : 256;
        COUNT_PATHS(odl_matmul_f16(lay[l], h_a, h_b, h_c_rvv, m, n, k, 0), r, v);
        bench_line("matmul", "fp16", lname[l], l == 0 ? "256x16x144" : l == 1 ? "256x144x16" : "16x144x256",
                   (int64_t)m * n * k, r, v);
    }
    fill_f32(f_a, 256 * 64);
    fill_f32(f_b, 256 * 64);
    for (int l = 0; l < 3; ++l) {
        COUNT_PATHS(odl_matmul_f32(lay[l], f_a, f_b, f_c_rvv, 64, 64, 64, 0), r, v);
        bench_line("matmul", "fp32", lname[l], "64x64x64", 64 * 64 * 64, r, v);
    }
    {
        odl_conv_f_params p;
        p.in = (odl_dims){1, 16, 16, 32};
        p.out_c = 32;
        odl_conv_geometry(16, 16, 3, 3, 1, 1, 1, 1, ODL_PAD_SAME, &p.win);
        COUNT_PATHS(odl_depthwise_conv2d_f16_forward(&p, h_a, h_b, h_b + 288, h_c_rvv), r, v);
        bench_line("depthwise_conv2d", "fp16", "forward", "16x16x32,k3,s1,same", 256 * 32 * 9, r, v);
        COUNT_PATHS(odl_depthwise_conv2d_f16_weight_grad(&p, h_a, h_b, h_c_rvv, h_d_rvv), r, v);
        bench_line("depthwise_conv2d", "fp16", "weight_grad", "16x16x32,k3,s1,same", 256 * 32 * 9, r, v);
        COUNT_PATHS(odl_depthwise_conv2d_f16_input_grad(&p, h_a, h_b, h_c_rvv), r, v);
        bench_line("depthwise_conv2d", "fp16", "input_grad", "16x16x32,k3,s1,same", 256 * 32 * 9, r, v);
    }
}

/* ---------------------------------------------------------------------------------------------- dumps */

static void dump_hex(const char *name, const void *data, size_t bytes) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *b = (const uint8_t *)data;
    h_puts("VEC "), h_puts(name), h_puts(" ");
    for (size_t i = 0; i < bytes; ++i) h_putc(hex[b[i] >> 4]), h_putc(hex[b[i] & 15]);
    h_puts("\n");
}

/* One int8 and one fp16 case with inputs and rvv outputs in hex, for the host-side numpy model of the pytest. */
static void dump_cases(void) {
    const int32_t m = 6, n = 29, k = 37; /* outer kernel (m >= 4, k <= 64) */
    for (int kernel = 0; kernel < 2; ++kernel) {
        const int32_t mm = kernel ? 3 : m; /* m = 3: the dot kernel */
        odl_requant q;
        odl_output_s8 o;
        fill_s8(s8a, mm * k);
        fill_s8(s8b, n * k);
        for (int32_t i = 0; i < mm * k; ++i) s8a[i] = (int8_t)(s8a[i] >> 4);
        for (int32_t j = 0; j < n; ++j) s32bias[j] = h_randint(-2000, 2000);
        q.per_channel = 1;
        for (int32_t j = 0; j < n; ++j) {
            s32mult[j] = j % 3 && !kernel ? (int32_t)((1u << 30) + (h_rand() >> 2)) : (1 << 30);
            s32shift[j] = kernel ? h_randint(-5, -3) : h_randint(-9, 1);
        }
        if (kernel) /* small accumulators and multiplier 1/2: many exact rounding ties, few clamped outputs */
            for (int32_t i = 0; i < n * k; ++i) s8b[i] = (int8_t)(s8b[i] >> 4);
        q.multiplier = s32mult;
        q.shift = s32shift;
        o.output_offset = -5, o.act_min = -120, o.act_max = 110;
        const int32_t off = kernel ? 3 : 37, params[6] = {mm, n, k, off, -5, -120};
        odl_matmul_s8_rvv(s8a, s8b, s32bias, mm, n, k, off, &q, &o, s8o_rvv);
        dump_hex(kernel ? "s8dot_params" : "s8outer_params", params, sizeof params);
        dump_hex(kernel ? "s8dot_a" : "s8outer_a", s8a, (size_t)mm * k);
        dump_hex(kernel ? "s8dot_b" : "s8outer_b", s8b, (size_t)n * k);
        dump_hex(kernel ? "s8dot_bias" : "s8outer_bias", s32bias, sizeof(int32_t) * n);
        dump_hex(kernel ? "s8dot_mult" : "s8outer_mult", s32mult, sizeof(int32_t) * n);
        dump_hex(kernel ? "s8dot_shift" : "s8outer_shift", s32shift, sizeof(int32_t) * n);
        dump_hex(kernel ? "s8dot_out" : "s8outer_out", s8o_rvv, (size_t)mm * n);
    }
    /* fp16 NT with accumulate: A[5,11], B[19,11], C[5,19] */
    fill_f16(h_a, 5 * 11);
    fill_f16(h_b, 19 * 11);
    fill_f16(h_c_rvv, 5 * 19);
    dump_hex("f16_a", h_a, 2 * 5 * 11);
    dump_hex("f16_b", h_b, 2 * 19 * 11);
    dump_hex("f16_c0", h_c_rvv, 2 * 5 * 19);
    odl_matmul_f16_rvv(ODL_MM_NT, h_a, h_b, h_c_rvv, 5, 19, 11, 1);
    dump_hex("f16_c", h_c_rvv, 2 * 5 * 19);
}

int main(void) {
    h_puts("START rvv path=");
    h_puts(odl_path_get(ODL_PATH_RVV) ? odl_path_get(ODL_PATH_RVV)->name : "missing");
    h_puts(" active=");
    h_putd(odl_path_active());
    h_puts("\n");
    check_matmul_s8();
    check_matmul_f16();
    check_matmul_f32();
    check_depthwise_s8();
    check_conv2d_s8();
    check_depthwise_f16();
    dump_cases();
    bench();
    h_puts("DONE ");
    h_putd(failures);
    h_puts("\n");
    return failures ? 1 : 0;
}
