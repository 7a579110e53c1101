/* Body of the on-target im2col test programs (tests/target/<path>/test_im2col.c, run by tests/test_simd_im2col.py).
 *
 * The including file defines t_puts(), t_bench_begin() / t_bench_end() (instruction count of the code in between,
 * or 0 when a QEMU plugin counts it) and T_SIMD_PATH. Every case runs odl_im2col_s8 on the reference path and on
 * the SIMD path and compares both byte for byte with a naive loop written here (tap by tap, byte by byte, the
 * semantics of the former memcpy reference), including guard bytes after the rows. Then whole conv2d_s8_forward
 * layers are compared between the paths, and the CMSIS-NN anchor layer (16x16x16 -> 16, 3x3, stride 1, SAME) is
 * counted: im2col alone (reference, SIMD path, the former per-tap libc memcpy loop), the whole layer on both paths,
 * and the layer as it ran before (memcpy im2col + the SIMD matmul). Output lines:
 *   CHECK <name> ok|FAIL <details>     VEC <name> <hex>     BENCH <label> <macs> <insns or 0>     DONE <fails>
 */
#include <stdint.h>
#include <string.h>

#include "odl/kernels_s8.h"
#include "odl/matmul.h"

#define IN_MAX (24 * 24 * 64 + 16)
#define ROWS_MAX (40 * 1024)
#define GUARD 32

static int8_t t_in[IN_MAX] __attribute__((aligned(16)));
static int8_t t_exp[ROWS_MAX + GUARD] __attribute__((aligned(16)));
static int8_t t_got[ROWS_MAX + GUARD] __attribute__((aligned(16)));
static int8_t t_w[16 * 3 * 3 * 64] __attribute__((aligned(16)));
static int8_t t_out_a[24 * 24 * 32], t_out_b[24 * 24 * 32];
static int32_t t_bias[64], t_mult[64], t_shift[64];
static uint32_t t_rng = 0x2545F491u;
static int t_fails;

static uint32_t t_rand(void) {
    uint32_t x = t_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return t_rng = x;
}

static void t_putd(int64_t v) {
    char buf[24];
    int i = 23;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) buf[--i] = '-';
    t_puts(buf + i);
}

static void t_puthex(const int8_t *p, int32_t n) {
    char buf[65];
    while (n > 0) {
        const int32_t k = n < 32 ? n : 32;
        for (int32_t i = 0; i < k; ++i) {
            buf[2 * i] = "0123456789abcdef"[((uint8_t)p[i]) >> 4];
            buf[2 * i + 1] = "0123456789abcdef"[p[i] & 15];
        }
        buf[2 * k] = 0;
        t_puts(buf);
        p += k;
        n -= k;
    }
}

/* the former reference loop: one libc memcpy / memset per tap */
static void memcpy_im2col(const int8_t *in, const odl_dims *d, const odl_window *w, int8_t pad, int32_t r0,
                          int32_t count, int8_t *rows) {
    const int32_t cin = d->c;
    for (int32_t r = 0; r < count; ++r) {
        const int32_t pix = r0 + r, oy = pix / w->out_w, ox = pix % w->out_w;
        int8_t *dst = rows + (size_t)r * w->kernel_h * w->kernel_w * cin;
        for (int32_t ky = 0; ky < w->kernel_h; ++ky) {
            const int32_t y = oy * w->stride_h - w->pad_top + ky * w->dilation_h;
            for (int32_t kx = 0; kx < w->kernel_w; ++kx, dst += cin) {
                const int32_t x = ox * w->stride_w - w->pad_left + kx * w->dilation_w;
                if (y < 0 || y >= d->h || x < 0 || x >= d->w)
                    memset(dst, pad, (size_t)cin);
                else
                    memcpy(dst, in + ((size_t)y * d->w + x) * cin, (size_t)cin);
            }
        }
    }
}

/* the naive expected rows: byte by byte */
static void naive_im2col(const int8_t *in, const odl_dims *d, const odl_window *w, int8_t pad, int32_t r0,
                         int32_t count, int8_t *rows) {
    int32_t i = 0;
    for (int32_t r = 0; r < count; ++r) {
        const int32_t oy = (r0 + r) / w->out_w, ox = (r0 + r) % w->out_w;
        for (int32_t ky = 0; ky < w->kernel_h; ++ky)
            for (int32_t kx = 0; kx < w->kernel_w; ++kx)
                for (int32_t c = 0; c < d->c; ++c) {
                    const int32_t y = oy * w->stride_h - w->pad_top + ky * w->dilation_h;
                    const int32_t x = ox * w->stride_w - w->pad_left + kx * w->dilation_w;
                    const int inside = y >= 0 && y < d->h && x >= 0 && x < d->w;
                    rows[i++] = inside ? in[((size_t)y * d->w + x) * d->c + c] : pad;
                }
    }
}

typedef struct {
    int32_t h, w, c, kh, kw, sh, sw, dh, dw, same, off, r0, count, in_mis, rows_mis;
} t_case;

static const t_case T_CASES[] = {
    /* h  w   c kh kw sh sw dh dw same off  r0 count in_mis rows_mis */
    {5, 5, 3, 3, 3, 2, 2, 1, 1, 1, -5, 0, -1, 0, 0}, /* printed in hex (numpy check) */
    {16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0},
    {9, 7, 1, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0},
    {9, 7, 2, 3, 3, 1, 1, 1, 1, 1, 7, 0, -1, 0, 0},
    {9, 7, 3, 3, 3, 1, 1, 1, 1, 1, -127, 0, -1, 0, 0},
    {8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 0, 0, -1, 0, 0},
    {8, 9, 5, 5, 5, 1, 1, 1, 1, 1, 100, 0, -1, 0, 0},
    {7, 7, 7, 3, 3, 2, 2, 1, 1, 1, 128, 0, -1, 0, 0},
    {7, 6, 8, 3, 3, 1, 1, 2, 2, 1, 1, 0, -1, 0, 0},
    {10, 10, 15, 3, 3, 1, 1, 1, 1, 0, 128, 0, -1, 0, 0},
    {10, 11, 17, 3, 3, 2, 1, 1, 3, 1, -3, 0, -1, 0, 0},
    {6, 6, 31, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0},
    {6, 6, 32, 1, 1, 1, 1, 1, 1, 0, 128, 0, -1, 0, 0},
    {6, 6, 33, 3, 3, 3, 3, 1, 1, 1, 50, 0, -1, 0, 0},
    {5, 5, 48, 2, 3, 1, 2, 2, 1, 1, -1, 0, -1, 0, 0},
    {6, 5, 64, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0},
    {12, 12, 3, 7, 1, 1, 1, 1, 1, 1, 20, 0, -1, 0, 0},
    {12, 12, 3, 1, 7, 1, 1, 1, 1, 1, 20, 0, -1, 0, 0},
    {4, 4, 16, 7, 7, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0}, /* kernel wider than the image */
    {11, 9, 16, 5, 3, 2, 2, 2, 3, 1, 9, 0, -1, 0, 0},
    {11, 9, 13, 3, 3, 1, 1, 1, 1, 1, 128, 17, 23, 0, 0}, /* a block of rows in the middle */
    {16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 128, 250, 6, 0, 0},
    {9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 1, 0}, /* misaligned input */
    {9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 3}, /* misaligned rows */
    {9, 9, 12, 3, 3, 2, 2, 1, 1, 1, -20, 5, 9, 2, 1},
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 128, 0, -1, 0, 0},
    {3, 40, 2, 3, 3, 1, 1, 1, 1, 1, 128, 0, -1, 0, 0},
};

static void check_im2col(void) {
    const int32_t n_cases = (int32_t)(sizeof T_CASES / sizeof T_CASES[0]);
    for (int32_t ci = 0; ci < n_cases; ++ci) {
        const t_case *t = &T_CASES[ci];
        const odl_dims d = {1, t->h, t->w, t->c};
        const odl_conv_s8_params p = {t->sh, t->sw, t->dh, t->dw, t->same ? ODL_PAD_SAME : ODL_PAD_VALID, t->off};
        odl_window win;
        if (odl_conv_geometry(t->h, t->w, t->kh, t->kw, t->sh, t->sw, t->dh, t->dw, p.padding, &win) != ODL_OK) {
            t_puts("CHECK geometry FAIL\n");
            ++t_fails;
            continue;
        }
        const int32_t npix = win.out_h * win.out_w, count = t->count < 0 ? npix - t->r0 : t->count;
        const int32_t row_len = t->kh * t->kw * t->c, bytes = count * row_len;
        const int8_t *in = t_in + t->in_mis;
        for (int32_t i = 0; i < t->h * t->w * t->c + 16; ++i) t_in[i] = (int8_t)t_rand();
        naive_im2col(in, &d, &win, (int8_t)(-t->off), t->r0, count, t_exp);
        int bad = 0;
        for (int path = 0; path < 2; ++path) {
            odl_path_select(path ? T_SIMD_PATH : ODL_PATH_REFERENCE);
            int8_t *rows = t_got + t->rows_mis;
            memset(t_got, 0x5a, sizeof t_got);
            const odl_status st = odl_im2col_s8(in, &d, t->kh, t->kw, &p, t->r0, count, rows, bytes);
            if (st != ODL_OK || memcmp(rows, t_exp, (size_t)bytes) != 0) bad |= 1 << path;
            for (int32_t g = 0; g < GUARD; ++g)
                if (rows[bytes + g] != 0x5a) bad |= 4 << path;
            for (int32_t g = 0; g < t->rows_mis; ++g)
                if (t_got[g] != 0x5a) bad |= 4 << path;
            if (ci == 0 && path == 1) {
                t_puts("VEC case0_in ");
                t_puthex(in, t->h * t->w * t->c);
                t_puts("\nVEC case0_rows ");
                t_puthex(rows, bytes);
                t_puts("\n");
            }
        }
        t_puts(bad ? "CHECK im2col_" : "CHECK im2col_");
        t_putd(ci);
        t_puts(bad ? " FAIL " : " ok ");
        t_putd(bad);
        t_puts("\n");
        if (bad) ++t_fails;
    }
    /* argument errors go through the same checks on every path */
    {
        const odl_dims d = {1, 4, 4, 3};
        const odl_conv_s8_params p = {1, 1, 1, 1, ODL_PAD_SAME, 128};
        int bad = 0;
        for (int path = 0; path < 2; ++path) {
            odl_path_select(path ? T_SIMD_PATH : ODL_PATH_REFERENCE);
            bad |= odl_im2col_s8(t_in, &d, 3, 3, &p, 0, 16, t_got, 16 * 27 - 1) != ODL_ERR_SCRATCH;
            bad |= odl_im2col_s8(t_in, &d, 3, 3, &p, 10, 7, t_got, 16 * 27) != ODL_ERR_SHAPE;
            bad |= odl_im2col_s8(0, &d, 3, 3, &p, 0, 1, t_got, 27) != ODL_ERR_ARG;
        }
        t_puts(bad ? "CHECK im2col_errors FAIL 1\n" : "CHECK im2col_errors ok 0\n");
        t_fails += bad;
    }
}

static void conv_setup(int32_t cout) {
    for (int32_t i = 0; i < (int32_t)sizeof t_w; ++i) t_w[i] = (int8_t)t_rand();
    for (int32_t i = 0; i < cout && i < 64; ++i) {
        t_bias[i] = (int32_t)(t_rand() % 10001u) - 5000;
        t_mult[i] = 1518500250;
        t_shift[i] = -7;
    }
}

static void check_conv2d(void) {
    static const int32_t CONV[][9] = {
        /* h  w  c cout kh kw stride same block_rows */
        {16, 16, 16, 16, 3, 3, 1, 1, 256},
        {9, 9, 3, 8, 3, 3, 2, 1, 7},
        {8, 10, 5, 16, 5, 5, 1, 1, 11},
        {10, 10, 32, 24, 3, 3, 1, 0, 64},
    };
    const odl_requant q = {t_mult, t_shift, 1};
    const odl_output_s8 o = {-3, -128, 127};
    for (int32_t ci = 0; ci < 4; ++ci) {
        const int32_t *c = CONV[ci];
        const odl_conv_s8_params p = {c[6], c[6], 1, 1, c[7] ? ODL_PAD_SAME : ODL_PAD_VALID, 128};
        odl_window win;
        odl_conv_geometry(c[0], c[1], c[4], c[5], c[6], c[6], 1, 1, p.padding, &win);
        const odl_dims in = {1, c[0], c[1], c[2]}, out = {1, win.out_h, win.out_w, c[3]};
        const int32_t scratch = odl_conv2d_s8_scratch_size(c[8], c[4], c[5], c[2]);
        conv_setup(c[3]);
        for (int32_t i = 0; i < c[0] * c[1] * c[2]; ++i) t_in[i] = (int8_t)t_rand();
        odl_path_select(ODL_PATH_REFERENCE);
        odl_status s1 = odl_conv2d_s8_forward(t_in, &in, t_w, c[3], c[4], c[5], t_bias, &p, &q, &o, &out, t_out_a,
                                              t_got, scratch);
        odl_path_select(T_SIMD_PATH);
        odl_status s2 = odl_conv2d_s8_forward(t_in, &in, t_w, c[3], c[4], c[5], t_bias, &p, &q, &o, &out, t_out_b,
                                              t_got, scratch);
        const int bad = s1 != ODL_OK || s2 != ODL_OK ||
                        memcmp(t_out_a, t_out_b, (size_t)win.out_h * win.out_w * c[3]) != 0;
        t_puts("CHECK conv2d_");
        t_putd(ci);
        t_puts(bad ? " FAIL 1\n" : " ok 0\n");
        t_fails += bad;
    }
}

static void bench_line(const char *label, int64_t macs, uint32_t insns) {
    t_puts("BENCH ");
    t_puts(label);
    t_puts(" ");
    t_putd(macs);
    t_puts(" ");
    t_putd(insns);
    t_puts("\n");
}

#define T_BENCH(label, macs, EXPR)        \
    do {                                  \
        (void)(EXPR); /* warm-up */       \
        t_bench_begin();                  \
        (void)(EXPR);                     \
        const uint32_t n_ = t_bench_end(); \
        bench_line(label, macs, n_);      \
    } while (0)

static void bench(void) {
    /* CMSIS-NN anchor layer (/work/shared/anchors.md): 16x16x16 -> 16, 3x3, stride 1, SAME, per-channel */
    const odl_dims in = {1, 16, 16, 16}, out = {1, 16, 16, 16};
    const odl_conv_s8_params p = {1, 1, 1, 1, ODL_PAD_SAME, 128};
    const odl_requant q = {t_mult, t_shift, 1};
    const odl_output_s8 o = {-3, -128, 127};
    const int32_t macs = 256 * 16 * 144, scratch = odl_conv2d_s8_scratch_size(256, 3, 3, 16);
    odl_window win;
    odl_conv_geometry(16, 16, 3, 3, 1, 1, 1, 1, ODL_PAD_SAME, &win);
    conv_setup(16);
    for (int32_t i = 0; i < 16 * 16 * 16; ++i) t_in[i] = (int8_t)t_rand();
    odl_path_select(ODL_PATH_REFERENCE);
    T_BENCH("im2col_reference", 0, odl_im2col_s8(t_in, &in, 3, 3, &p, 0, 256, t_got, scratch));
    T_BENCH("conv2d_reference", macs,
            odl_conv2d_s8_forward(t_in, &in, t_w, 16, 3, 3, t_bias, &p, &q, &o, &out, t_out_a, t_got, scratch));
    odl_path_select(T_SIMD_PATH);
    T_BENCH("im2col_memcpy", 0, (memcpy_im2col(t_in, &in, &win, -128, 0, 256, t_got), 0));
    T_BENCH("conv2d_before", macs,
            (memcpy_im2col(t_in, &in, &win, -128, 0, 256, t_got),
             odl_matmul_s8(t_got, t_w, t_bias, 256, 16, 144, 128, &q, &o, t_out_b)));
    T_BENCH("im2col_simd", 0, odl_im2col_s8(t_in, &in, 3, 3, &p, 0, 256, t_got, scratch));
    T_BENCH("matmul_simd", macs, odl_matmul_s8(t_got, t_w, t_bias, 256, 16, 144, 128, &q, &o, t_out_b));
    T_BENCH("conv2d_simd", macs,
            odl_conv2d_s8_forward(t_in, &in, t_w, 16, 3, 3, t_bias, &p, &q, &o, &out, t_out_b, t_got, scratch));
    const int bad = memcmp(t_out_a, t_out_b, 256 * 16) != 0;
    t_puts(bad ? "CHECK conv2d_bench FAIL 1\n" : "CHECK conv2d_bench ok 0\n");
    t_fails += bad;
}

static int t_main(void) {
    t_puts("START im2col\n");
    check_im2col();
    check_conv2d();
    bench();
    t_puts("DONE ");
    t_putd(t_fails);
    t_puts("\n");
    return t_fails ? 1 : 0;
}
