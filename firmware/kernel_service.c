/* Kernel service of the firmware: RUN_KERNEL handlers that run one csrc kernel on a chosen code path, on tensor
 * slots written over the link, and report its status and exact instruction count (protocol in kernel_service.h).
 *
 * Parameter words of ODL_KS_ID_RUN, per kernel (w[i] = i32 word i; "convf" = w[0..14] = in n, h, w, c, out_c,
 * kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, out_h, out_w, the
 * odl_conv_f_params of kernels_fp.h). Slots are listed in order 0, 1, ...
 *   MATMUL_S8       w: m n k a_offset per_channel out_offset act_min act_max has_bias
 *                   slots: a[m,k] b[n,k] bias[n] multiplier[n|1] shift[n|1] out[m,n]
 *   MATMUL_F32/F16  w: layout m n k accumulate                         slots: a b c (c is read when accumulating)
 *   CONV2D_S8_FORWARD / DEPTHWISE_CONV2D_S8_FORWARD
 *                   w: n h w c out_c|depth_multiplier kernel_h kernel_w stride_h stride_w dilation_h dilation_w
 *                      padding input_offset per_channel out_offset act_min act_max has_bias out_h out_w
 *                      scratch_bytes (conv only)
 *                   slots: input filter bias multiplier shift output
 *   FULLY_CONNECTED_S8_FORWARD  w: batch n k input_offset per_channel out_offset act_min act_max has_bias
 *                   slots: input filter bias multiplier shift output
 *   CONV2D_{F32,F16}_{FORWARD,WEIGHT_GRAD,INPUT_GRAD}  w: convf has_bias scratch_bytes
 *                   slots: forward x w bias y | weight_grad x dy dw db | input_grad dy w dx
 *   DEPTHWISE_CONV2D_F16_*  w: convf has_bias    slots as conv2d
 *   CONV2D_S8_INPUT_GRAD_F32   w: convf - scratch_bytes(w16)        slots: dy w_q w_scale dx
 *   CONV2D_S8_WEIGHT_GRAD_F32  w: convf has_db scratch_bytes x_scale(f32 bits) x_zero_point count
 *                   slots: dy x_q w_scale channels dw_q db_q
 * Scratch comes from the arena after the last slot.
 */
#include "kernel_service.h"

#include <string.h>

#include "board.h"
#include "odl/kernels_fp.h"
#include "odl/kernels_s8.h"
#include "odl/matmul.h"
#include "odl/train_s8.h"

#ifndef ODL_KS_ARENA_BYTES
#define ODL_KS_ARENA_BYTES (128u * 1024u)
#endif

static uint8_t ks_arena[ODL_KS_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t ks_placeholder[ODL_KS_SLOTS][16] __attribute__((aligned(16)));
static uint8_t *ks_slot[ODL_KS_SLOTS];
static uint32_t ks_slot_size[ODL_KS_SLOTS];
static uint8_t *ks_scratch;
static uint32_t ks_scratch_bytes;

__attribute__((noinline, used)) void odl_ks_mark_begin(void) { __asm volatile("" ::: "memory"); }
__attribute__((noinline, used)) void odl_ks_mark_end(void) { __asm volatile("" ::: "memory"); }

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}


static int32_t slots_handler(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                             uint32_t *out_len) {
    odl_device *dev = (odl_device *)ctx;
    if (n_in != 4u * ODL_KS_SLOTS || out_cap < 12) return -1;
    uint32_t off = 0;
    for (int i = 0; i < ODL_KS_SLOTS; i++) {
        uint32_t size = rd32(in + 4 * i);
        if (size > ODL_KS_ARENA_BYTES - off) return -2; /* does not fit the arena */
        if (size) {
            ks_slot[i] = ks_arena + off;
            off += (size + 15u) & ~15u;
            if (off > ODL_KS_ARENA_BYTES) off = ODL_KS_ARENA_BYTES;
        } else {
            ks_slot[i] = ks_placeholder[i];
            size = sizeof ks_placeholder[i];
        }
        ks_slot_size[i] = size;
        memset(ks_slot[i], 0xA5, size);
        if (odl_device_register_tensor(dev, (uint16_t)(ODL_KS_TENSOR_BASE + i), ks_slot[i], size,
                                       ODL_TENSOR_WRITABLE) != ODL_OK)
            return -3;
    }
    ks_scratch = ks_arena + off;
    ks_scratch_bytes = ODL_KS_ARENA_BYTES - off;
    wr32(out, ODL_KS_ARENA_BYTES);
    wr32(out + 4, ks_scratch_bytes);
    out[8] = ODL_KS_TENSOR_BASE;
    out[9] = 0;
    out[10] = ODL_KS_SLOTS;
    out[11] = 0;
    *out_len = 12;
    return 0;
}

static void dims_from(odl_dims *d, const int32_t *w) {
    d->n = w[0];
    d->h = w[1];
    d->w = w[2];
    d->c = w[3];
}

static void convf_from(odl_conv_f_params *p, const int32_t *w) {
    dims_from(&p->in, w);
    p->out_c = w[4];
    p->win.kernel_h = w[5];
    p->win.kernel_w = w[6];
    p->win.stride_h = w[7];
    p->win.stride_w = w[8];
    p->win.dilation_h = w[9];
    p->win.dilation_w = w[10];
    p->win.pad_top = w[11];
    p->win.pad_left = w[12];
    p->win.out_h = w[13];
    p->win.out_w = w[14];
}

#define S(i) ((void *)ks_slot[i])
static uint64_t ks_count;
/* The instruction counter is read right around the call (its own few instructions are included). */
#define MEASURE(call)                            \
    do {                                         \
        uint64_t i0_ = odl_instructions();       \
        odl_ks_mark_begin();                     \
        st = (call);                             \
        odl_ks_mark_end();                       \
        ks_count = odl_instructions() - i0_;     \
    } while (0)

/* Bytes each slot must hold for this call (0 = not read or written); -1 for a negative size. So a host that sends
 * words that do not match its slots gets ODL_ERR_SHAPE instead of a kernel running past a slot. */
static int64_t pos(int64_t a) { return a < 0 ? -1 : a; }

static int slots_fit(uint32_t code, const int32_t *w) {
    int64_t need[ODL_KS_SLOTS] = {0};
    int64_t x = 0, y = 0, wt = 0, oc = 0, es = 4;
    switch (code) {
    case ODL_KS_MATMUL_S8:
    case ODL_KS_FULLY_CONNECTED_S8_FORWARD: {
        int64_t m = w[0], n = w[1], k = w[2];
        need[0] = m * k;
        need[1] = n * k;
        need[2] = w[8] ? 4 * n : 0;
        need[3] = need[4] = 4 * (w[4] ? n : 1);
        need[5] = m * n;
        break;
    }
    case ODL_KS_MATMUL_F16:
        es = 2;
        /* fall through */
    case ODL_KS_MATMUL_F32:
        need[0] = es * w[1] * w[3];
        need[1] = es * w[2] * w[3];
        need[2] = es * w[1] * w[2];
        break;
    case ODL_KS_CONV2D_S8_FORWARD:
    case ODL_KS_DEPTHWISE_CONV2D_S8_FORWARD: {
        int64_t dw = code == ODL_KS_DEPTHWISE_CONV2D_S8_FORWARD;
        oc = dw ? (int64_t)w[3] * w[4] : w[4];
        need[0] = (int64_t)w[0] * w[1] * w[2] * w[3];
        need[1] = dw ? (int64_t)w[5] * w[6] * oc : oc * w[5] * w[6] * w[3];
        need[2] = w[17] ? 4 * oc : 0;
        need[3] = need[4] = 4 * (w[13] ? oc : 1);
        need[5] = (int64_t)w[0] * w[18] * w[19] * oc;
        break;
    }
    default: {
        if (code < ODL_KS_CONV2D_F32_FORWARD || code > ODL_KS_CONV2D_S8_WEIGHT_GRAD_F32) return 0;
        int dwf = code >= ODL_KS_DEPTHWISE_CONV2D_F16_FORWARD && code <= ODL_KS_DEPTHWISE_CONV2D_F16_INPUT_GRAD;
        oc = dwf ? w[3] : w[4];
        x = (int64_t)w[0] * w[1] * w[2] * w[3];
        y = (int64_t)w[0] * w[13] * w[14] * oc;
        wt = dwf ? (int64_t)w[5] * w[6] * w[3] : oc * w[5] * w[6] * w[3];
        if (code >= ODL_KS_CONV2D_F16_FORWARD && code <= ODL_KS_DEPTHWISE_CONV2D_F16_INPUT_GRAD) es = 2;
        int64_t b = w[15] ? es * oc : 0;
        switch (code) {
        case ODL_KS_CONV2D_F32_FORWARD:
        case ODL_KS_CONV2D_F16_FORWARD:
        case ODL_KS_DEPTHWISE_CONV2D_F16_FORWARD:
            need[0] = es * x, need[1] = es * wt, need[2] = b, need[3] = es * y;
            break;
        case ODL_KS_CONV2D_F32_WEIGHT_GRAD:
        case ODL_KS_CONV2D_F16_WEIGHT_GRAD:
        case ODL_KS_DEPTHWISE_CONV2D_F16_WEIGHT_GRAD:
            need[0] = es * x, need[1] = es * y, need[2] = es * wt, need[3] = b;
            break;
        case ODL_KS_CONV2D_S8_INPUT_GRAD_F32:
            need[0] = 4 * y, need[1] = wt, need[2] = 4 * oc, need[3] = 4 * x;
            break;
        case ODL_KS_CONV2D_S8_WEIGHT_GRAD_F32: {
            int64_t count = w[19];
            need[0] = 4 * y, need[1] = x, need[2] = 4 * oc, need[3] = 4 * count;
            need[4] = 4 * count * w[5] * w[6] * w[3];
            need[5] = w[15] ? 4 * count : 0;
            break;
        }
        default: /* input grads */
            need[0] = es * y, need[1] = es * wt, need[2] = es * x;
            break;
        }
    }
    }
    for (int i = 0; i < ODL_KS_SLOTS; i++)
        if (pos(need[i]) < 0 || need[i] > (int64_t)ks_slot_size[i]) return 0;
    return 1;
}

static odl_status run(uint32_t code, const int32_t *w) {
    odl_status st = ODL_ERR_UNSUPPORTED;
    odl_requant q;
    odl_output_s8 o;
    odl_conv_s8_params cp;
    odl_conv_f_params fp;
    odl_dims in_dims, out_dims;
    if (!slots_fit(code, w)) return ODL_ERR_SHAPE;
    switch (code) {
    case ODL_KS_MATMUL_S8: {
        q.multiplier = (const int32_t *)S(3);
        q.shift = (const int32_t *)S(4);
        q.per_channel = w[4];
        o.output_offset = w[5];
        o.act_min = w[6];
        o.act_max = w[7];
        const int32_t *bias = w[8] ? (const int32_t *)S(2) : NULL;
        MEASURE(odl_matmul_s8((const int8_t *)S(0), (const int8_t *)S(1), bias, w[0], w[1], w[2], w[3], &q, &o,
                              (int8_t *)S(5)));
        break;
    }
    case ODL_KS_MATMUL_F32:
        MEASURE(odl_matmul_f32((odl_mm_layout)w[0], (const float *)S(0), (const float *)S(1), (float *)S(2), w[1], w[2],
                               w[3], w[4]));
        break;
    case ODL_KS_MATMUL_F16:
        MEASURE(odl_matmul_f16((odl_mm_layout)w[0], (const odl_f16 *)S(0), (const odl_f16 *)S(1), (odl_f16 *)S(2),
                               w[1], w[2], w[3], w[4]));
        break;
    case ODL_KS_CONV2D_S8_FORWARD:
    case ODL_KS_DEPTHWISE_CONV2D_S8_FORWARD: {
        dims_from(&in_dims, w);
        cp.stride_h = w[7];
        cp.stride_w = w[8];
        cp.dilation_h = w[9];
        cp.dilation_w = w[10];
        cp.padding = (odl_padding)w[11];
        cp.input_offset = w[12];
        q.multiplier = (const int32_t *)S(3);
        q.shift = (const int32_t *)S(4);
        q.per_channel = w[13];
        o.output_offset = w[14];
        o.act_min = w[15];
        o.act_max = w[16];
        const int32_t *bias = w[17] ? (const int32_t *)S(2) : NULL;
        out_dims.n = w[0];
        out_dims.h = w[18];
        out_dims.w = w[19];
        if (code == ODL_KS_CONV2D_S8_FORWARD) {
            out_dims.c = w[4];
            if ((uint32_t)w[20] > ks_scratch_bytes) return ODL_ERR_SCRATCH;
            MEASURE(odl_conv2d_s8_forward((const int8_t *)S(0), &in_dims, (const int8_t *)S(1), w[4], w[5], w[6], bias,
                                          &cp, &q, &o, &out_dims, (int8_t *)S(5), (int8_t *)ks_scratch, w[20]));
        } else {
            out_dims.c = w[3] * w[4];
            MEASURE(odl_depthwise_conv2d_s8_forward((const int8_t *)S(0), &in_dims, (const int8_t *)S(1), w[5], w[6],
                                                    w[4], bias, &cp, &q, &o, &out_dims, (int8_t *)S(5)));
        }
        break;
    }
    case ODL_KS_FULLY_CONNECTED_S8_FORWARD: {
        q.multiplier = (const int32_t *)S(3);
        q.shift = (const int32_t *)S(4);
        q.per_channel = w[4];
        o.output_offset = w[5];
        o.act_min = w[6];
        o.act_max = w[7];
        const int32_t *bias = w[8] ? (const int32_t *)S(2) : NULL;
        MEASURE(odl_fully_connected_s8_forward((const int8_t *)S(0), (const int8_t *)S(1), bias, w[0], w[1], w[2], w[3],
                                               &q, &o, (int8_t *)S(5)));
        break;
    }
    case ODL_KS_CONV2D_F32_FORWARD:
    case ODL_KS_CONV2D_F32_WEIGHT_GRAD:
    case ODL_KS_CONV2D_F32_INPUT_GRAD:
    case ODL_KS_CONV2D_F16_FORWARD:
    case ODL_KS_CONV2D_F16_WEIGHT_GRAD:
    case ODL_KS_CONV2D_F16_INPUT_GRAD: {
        convf_from(&fp, w);
        size_t sb = (size_t)(uint32_t)w[16];
        if (sb > ks_scratch_bytes) return ODL_ERR_SCRATCH;
        void *scr = sb ? (void *)ks_scratch : NULL;
        void *b = w[15] ? S(2) : NULL;
        void *db = w[15] ? S(3) : NULL;
        switch (code) {
        case ODL_KS_CONV2D_F32_FORWARD:
            MEASURE(odl_conv2d_f32_forward(&fp, (const float *)S(0), (const float *)S(1), (const float *)b,
                                           (float *)S(3), scr, sb));
            break;
        case ODL_KS_CONV2D_F32_WEIGHT_GRAD:
            MEASURE(odl_conv2d_f32_weight_grad(&fp, (const float *)S(0), (const float *)S(1), (float *)S(2),
                                               (float *)db, scr, sb));
            break;
        case ODL_KS_CONV2D_F32_INPUT_GRAD:
            MEASURE(odl_conv2d_f32_input_grad(&fp, (const float *)S(0), (const float *)S(1), (float *)S(2), scr, sb));
            break;
        case ODL_KS_CONV2D_F16_FORWARD:
            MEASURE(odl_conv2d_f16_forward(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1), (const odl_f16 *)b,
                                           (odl_f16 *)S(3), scr, sb));
            break;
        case ODL_KS_CONV2D_F16_WEIGHT_GRAD:
            MEASURE(odl_conv2d_f16_weight_grad(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1), (odl_f16 *)S(2),
                                               (odl_f16 *)db, scr, sb));
            break;
        default:
            MEASURE(odl_conv2d_f16_input_grad(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1), (odl_f16 *)S(2), scr,
                                              sb));
            break;
        }
        break;
    }
    case ODL_KS_DEPTHWISE_CONV2D_F16_FORWARD:
        convf_from(&fp, w);
        MEASURE(odl_depthwise_conv2d_f16_forward(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1),
                                                 w[15] ? (const odl_f16 *)S(2) : NULL, (odl_f16 *)S(3)));
        break;
    case ODL_KS_DEPTHWISE_CONV2D_F16_WEIGHT_GRAD:
        convf_from(&fp, w);
        MEASURE(odl_depthwise_conv2d_f16_weight_grad(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1),
                                                     (odl_f16 *)S(2), w[15] ? (odl_f16 *)S(3) : NULL));
        break;
    case ODL_KS_DEPTHWISE_CONV2D_F16_INPUT_GRAD:
        convf_from(&fp, w);
        MEASURE(odl_depthwise_conv2d_f16_input_grad(&fp, (const odl_f16 *)S(0), (const odl_f16 *)S(1),
                                                    (odl_f16 *)S(2)));
        break;
    case ODL_KS_CONV2D_S8_INPUT_GRAD_F32: {
        convf_from(&fp, w);
        size_t sb = (size_t)(uint32_t)w[16];
        if (sb > ks_scratch_bytes) return ODL_ERR_SCRATCH;
        MEASURE(odl_conv2d_s8_input_grad_f32((const float *)S(0), (const int8_t *)S(1), (const float *)S(2), fp.out_c,
                                             &fp.in, &fp.win, (float *)S(3), sb ? ks_scratch : NULL, sb));
        break;
    }
    case ODL_KS_CONV2D_S8_WEIGHT_GRAD_F32: {
        convf_from(&fp, w);
        size_t sb = (size_t)(uint32_t)w[16];
        if (sb > ks_scratch_bytes) return ODL_ERR_SCRATCH;
        float x_scale;
        memcpy(&x_scale, &w[17], 4);
        MEASURE(odl_conv2d_s8_weight_grad_f32((const float *)S(0), fp.out_c, (const int8_t *)S(1), x_scale, w[18],
                                              &fp.in, &fp.win, (const float *)S(2), (const int32_t *)S(3), w[19],
                                              (float *)S(4), w[15] ? (float *)S(5) : NULL, sb ? ks_scratch : NULL,
                                              sb));
        break;
    }
    default:
        return ODL_ERR_UNSUPPORTED;
    }
    return st;
}

static int32_t run_handler(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len) {
    (void)ctx;
    if (n_in != 4u + 4u * ODL_KS_PARAMS || out_cap < 16) return -1;
    if (!ks_slot[0]) return -2; /* no SLOTS request yet */
    uint32_t code = (uint32_t)in[0] | (uint32_t)in[1] << 8;
    int32_t w[ODL_KS_PARAMS];
    for (int i = 0; i < ODL_KS_PARAMS; i++) w[i] = (int32_t)rd32(in + 4 + 4 * i);
    odl_status st = odl_path_select((odl_path_id)in[2]);
    uint64_t n = 0;
    if (st == ODL_OK) {
        uint32_t irq = odl_irq_save();
        ks_count = 0;
        st = run(code, w);
        odl_irq_restore(irq);
        n = ks_count;
    }
    wr32(out, (uint32_t)st);
    wr32(out + 4, (uint32_t)n);
    wr32(out + 8, (uint32_t)(n >> 32));
#if defined(__riscv)
    out[12] = 1;
#else
    out[12] = 0;
#endif
    out[13] = out[14] = out[15] = 0;
    *out_len = 16;
    return 0;
}

void odl_kernel_service_register(odl_device *dev) {
    odl_device_register_kernel(dev, ODL_KS_ID_RUN, run_handler, dev);
    odl_device_register_kernel(dev, ODL_KS_ID_SLOTS, slots_handler, dev);
}
