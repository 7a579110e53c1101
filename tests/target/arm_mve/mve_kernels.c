/* On-target check of the Helium path: every case of the generated cases.h runs through the reference path and the
 * MVE path; outputs are printed in hex over semihosting and compared on the host (tests/test_simd_arm_mve.py)
 * against numpy. Each kernel call sits between odl_mark_start() and odl_mark_stop(), where the insncount QEMU plugin
 * counts the instructions executed. Output lines:
 *   R <case> <path> <status> <hex of output + 16 guard bytes> [<hex of second output + 16 guard bytes>]
 */
#include <stdint.h>
#include <string.h>

#include "odl/kernels_fp.h"
#include "odl/kernels_s8.h"
#include "odl/layer_paths.h"
#include "odl/matmul.h"

void sh_puts(const char *s);

enum { K_MM_S8, K_MM_F16, K_MM_F32, K_DW_S8, K_DW_F16_FWD, K_DW_F16_WGRAD, K_DW_F16_IGRAD, K_NOP };

typedef struct {
    int32_t kind;
    int32_t i[24];
    const void *in[5];
    const void *init; /* initial output contents (matmul accumulate), or NULL */
    uint32_t out_bytes, out2_bytes;
} odl_case;

#include "cases.h" /* generated: ODL_CASES (array of odl_case), ODL_N_CASES, ODL_OUT_MAX, ODL_OUT2_MAX */

static uint8_t out_buf[ODL_OUT_MAX + 16] __attribute__((aligned(16)));
static uint8_t out2_buf[ODL_OUT2_MAX + 16] __attribute__((aligned(16)));

__attribute__((noinline)) void odl_mark_start(void) { __asm volatile("" ::: "memory"); }
__attribute__((noinline)) void odl_mark_stop(void) { __asm volatile("" ::: "memory"); }

static char line[2 * 1024 + 4];
static void put_hex(const uint8_t *p, uint32_t n) {
    static const char hx[] = "0123456789abcdef";
    while (n) {
        uint32_t c = n > 1024 ? 1024 : n, j = 0;
        for (uint32_t t = 0; t < c; ++t) line[j++] = hx[p[t] >> 4], line[j++] = hx[p[t] & 15];
        line[j] = 0;
        sh_puts(line);
        p += c, n -= c;
    }
}
static void put_int(int32_t v) {
    char b[16];
    int j = 15;
    b[j] = 0;
    uint32_t u = v < 0 ? (uint32_t)-v : (uint32_t)v;
    do b[--j] = (char)('0' + u % 10), u /= 10;
    while (u);
    if (v < 0) b[--j] = '-';
    sh_puts(b + j);
}

static odl_status run(const odl_case *c) {
    const int32_t *i = c->i;
    switch (c->kind) {
    case K_MM_S8: {
        const odl_requant q = {(const int32_t *)c->in[3], (const int32_t *)c->in[4], i[4]};
        const odl_output_s8 o = {i[5], i[6], i[7]};
        odl_mark_start();
        odl_status s = odl_matmul_s8(c->in[0], c->in[1], c->in[2], i[0], i[1], i[2], i[3], &q, &o, (int8_t *)out_buf);
        odl_mark_stop();
        return s;
    }
    case K_MM_F16: {
        odl_mark_start();
        odl_status s =
            odl_matmul_f16((odl_mm_layout)i[0], c->in[0], c->in[1], (odl_f16 *)out_buf, i[1], i[2], i[3], i[4]);
        odl_mark_stop();
        return s;
    }
    case K_MM_F32: {
        odl_mark_start();
        odl_status s =
            odl_matmul_f32((odl_mm_layout)i[0], c->in[0], c->in[1], (float *)out_buf, i[1], i[2], i[3], i[4]);
        odl_mark_stop();
        return s;
    }
    case K_DW_S8: {
        const odl_dims in = {i[0], i[1], i[2], i[3]}, out = {i[0], i[19], i[20], i[3] * i[6]};
        const odl_conv_s8_params p = {i[7], i[8], i[9], i[10], (odl_padding)i[11], i[12]};
        const odl_requant q = {(const int32_t *)c->in[3], (const int32_t *)c->in[4], i[13]};
        const odl_output_s8 o = {i[14], i[15], i[16]};
        odl_mark_start();
        odl_status s = odl_depthwise_conv2d_s8_forward(c->in[0], &in, c->in[1], i[4], i[5], i[6], c->in[2], &p, &q, &o,
                                                       &out, (int8_t *)out_buf); /* MVE: through the layer-path hook */
        odl_mark_stop();
        return s;
    }
    case K_DW_F16_FWD:
    case K_DW_F16_WGRAD:
    case K_DW_F16_IGRAD: {
        const odl_conv_f_params p = {
            {i[0], i[1], i[2], i[3]}, i[4], {i[5], i[6], i[7], i[8], i[9], i[10], i[11], i[12], i[13], i[14]}};
        odl_status s;
        odl_mark_start();
        if (c->kind == K_DW_F16_FWD)
            s = odl_depthwise_conv2d_f16_forward(&p, c->in[0], c->in[1], c->in[2], (odl_f16 *)out_buf);
        else if (c->kind == K_DW_F16_WGRAD)
            s = odl_depthwise_conv2d_f16_weight_grad(&p, c->in[0], c->in[1], (odl_f16 *)out_buf,
                                                     c->out2_bytes ? (odl_f16 *)out2_buf : 0);
        else
            s = odl_depthwise_conv2d_f16_input_grad(&p, c->in[0], c->in[1], (odl_f16 *)out_buf);
        odl_mark_stop();
        return s;
    }
    default:
        odl_mark_start();
        odl_mark_stop();
        return ODL_OK;
    }
}

int main(void) {
    for (int32_t n = 0; n < ODL_N_CASES; ++n) {
        const odl_case *c = &ODL_CASES[n];
        for (int mve = 0; mve < 2; ++mve) {
            if (odl_path_select(mve ? ODL_PATH_ARM_MVE : ODL_PATH_REFERENCE) != ODL_OK) {
                sh_puts("path not compiled\n");
                return 1;
            }
            memset(out_buf, 0x5a, c->out_bytes + 16); /* 16 guard bytes after each output */
            if (c->init) memcpy(out_buf, c->init, c->out_bytes);
            memset(out2_buf, 0x5a, c->out2_bytes + 16);
            odl_status s = run(c);
            sh_puts("R "), put_int(n), sh_puts(mve ? " mve " : " reference "), put_int(s), sh_puts(" ");
            put_hex(out_buf, c->out_bytes + 16);
            if (c->out2_bytes) sh_puts(" "), put_hex(out2_buf, c->out2_bytes + 16); /* + 16 guard bytes */
            sh_puts("\n");
        }
    }
    sh_puts("DONE\n");
    return 0;
}
