/* The generated model (model.c / model.h from toolkit.codegen) behind the serial protocol.
 *
 * TRAIN_STEP (0x30) request: u16 n, u16 flags (0), then n records of i32 label + INPUT_BYTES sample bytes;
 *   n = 0 trains once on the sample already written to the input tensor, with the label in a trailing i32.
 *   reply: u16 steps done, u16 0, then per step f32 loss + OUTPUT_BYTES raw logits of the training forward pass.
 * EVAL (0x31) request: u16 n, u16 0, then n samples -> reply: n x OUTPUT_BYTES raw logits.
 * INFER (0x40) request: one sample (or nothing: the input tensor) -> reply: OUTPUT_BYTES raw logits.
 * Samples are NHWC in the dtype of the model's input (int8 for int8 models). A failing step NAKs the message with
 * ODL_PERR_HANDLER and the model's status; steps before it in the same message have been applied.
 */
#include <string.h>

#include "model.h"
#include "board.h"
#include "model_service.h"

/* Benchmarks (RUN_KERNEL): one training step / one inference between the kernel service's instruction-count markers
 * (the QEMU insncount plugin counts between them on Cortex-M; RUN_KERNEL's reply carries the board's cycle and
 * instret deltas), and the stack high-water mark measured by painting. */
#define ODL_MODEL_KERNEL_TRAIN 0x0D10u /* args: i32 label [+ sample] -> f32 loss, u64 instret delta */
#define ODL_MODEL_KERNEL_INFER 0x0D11u /* args: [sample] -> u64 instret delta (no sample: the input tensor) */
#define ODL_MODEL_KERNEL_STACK 0x0D12u /* -> u32 stack bytes used (high-water), u32 stack size, u32 arena bytes */
#define ODL_STACK_PAINT 0xA5u
void odl_ks_mark_begin(void);
void odl_ks_mark_end(void);
extern uint8_t __stack_bottom__[], __stack_top__[];

static uint8_t sample[ODL_MODEL_INPUT_BYTES] __attribute__((aligned(16)));
static uint8_t logits[ODL_MODEL_OUTPUT_BYTES] __attribute__((aligned(16)));
/* The training logits live in the model's io table entry named ODL_MODEL_LOGITS_NAME (set by toolkit.device). */
static const uint8_t *train_logits;

uint32_t odl_model_service_signature(void) { return odl_model_signature(); }

static int32_t train_handler(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                             uint32_t *out_len) {
    (void)ctx;
    if (n_in < 4) return -100;
    uint16_t n;
    memcpy(&n, in, 2);
    const uint32_t rec = 4u + ODL_MODEL_INPUT_BYTES, res = 4u + ODL_MODEL_OUTPUT_BYTES;
    uint32_t count = n ? n : 1u;
    if (n ? (n_in != 4u + (uint32_t)n * rec) : (n_in != 8u)) return -101;
    if (4u + count * res > out_cap) return -102;
    memset(out, 0, 4);
    for (uint32_t i = 0; i < count; ++i) {
        int32_t label;
        if (n) {
            memcpy(&label, in + 4 + i * rec, 4);
            memcpy(sample, in + 8 + i * rec, ODL_MODEL_INPUT_BYTES);
        } else {
            memcpy(&label, in + 4, 4);
        }
        float loss = 0.0f;
        int32_t st = odl_model_train_step(sample, label, &loss);
        if (st != 0) return st;
        uint8_t *o = out + 4 + i * res;
        memcpy(o, &loss, 4);
        if (train_logits) memcpy(o + 4, train_logits, ODL_MODEL_OUTPUT_BYTES);
        else memset(o + 4, 0, ODL_MODEL_OUTPUT_BYTES);
        uint16_t done = (uint16_t)(i + 1);
        memcpy(out, &done, 2);
    }
    *out_len = 4u + count * res;
    return 0;
}

static int32_t eval_handler(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len) {
    (void)ctx;
    if (n_in < 4) return -100;
    uint16_t n;
    memcpy(&n, in, 2);
    if (n_in != 4u + (uint32_t)n * ODL_MODEL_INPUT_BYTES) return -101;
    if ((uint32_t)n * ODL_MODEL_OUTPUT_BYTES > out_cap) return -102;
    for (uint32_t i = 0; i < n; ++i) {
        memcpy(sample, in + 4 + i * ODL_MODEL_INPUT_BYTES, ODL_MODEL_INPUT_BYTES);
        int32_t st = odl_model_infer(sample, out + i * ODL_MODEL_OUTPUT_BYTES);
        if (st != 0) return st;
    }
    *out_len = (uint32_t)n * ODL_MODEL_OUTPUT_BYTES;
    return 0;
}

static int32_t infer_handler(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                             uint32_t *out_len) {
    (void)ctx;
    if (n_in != 0 && n_in != ODL_MODEL_INPUT_BYTES) return -101;
    if (out_cap < ODL_MODEL_OUTPUT_BYTES) return -102;
    if (n_in) memcpy(sample, in, ODL_MODEL_INPUT_BYTES);
    int32_t st = odl_model_infer(sample, logits);
    if (st != 0) return st;
    memcpy(out, logits, ODL_MODEL_OUTPUT_BYTES);
    *out_len = ODL_MODEL_OUTPUT_BYTES;
    return 0;
}


static void paint_stack(void) {
    uint8_t here;
    uint8_t *lim = &here - 256; /* leave the live frames alone */
    for (uint8_t *p = __stack_bottom__; p < lim; ++p) *(volatile uint8_t *)p = ODL_STACK_PAINT;
}

static int32_t bench_train(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len) {
    (void)ctx;
    if ((n_in != 4u && n_in != 4u + ODL_MODEL_INPUT_BYTES) || out_cap < 12) return -101;
    int32_t label;
    memcpy(&label, in, 4);
    if (n_in > 4u) memcpy(sample, in + 4, ODL_MODEL_INPUT_BYTES); /* else: the sample in the input tensor */
    float loss = 0.0f;
    uint32_t irq = odl_irq_save();
    uint64_t i0 = odl_instructions();
    odl_ks_mark_begin();
    int32_t st = odl_model_train_step(sample, label, &loss);
    odl_ks_mark_end();
    uint64_t n = odl_instructions() - i0;
    odl_irq_restore(irq);
    if (st != 0) return st;
    memcpy(out, &loss, 4);
    memcpy(out + 4, &n, 8);
    *out_len = 12;
    return 0;
}

static int32_t bench_infer(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len) {
    (void)ctx;
    if ((n_in != 0 && n_in != ODL_MODEL_INPUT_BYTES) || out_cap < 8) return -101;
    if (n_in) memcpy(sample, in, ODL_MODEL_INPUT_BYTES);
    uint32_t irq = odl_irq_save();
    uint64_t i0 = odl_instructions();
    odl_ks_mark_begin();
    int32_t st = odl_model_infer(sample, logits);
    odl_ks_mark_end();
    uint64_t n = odl_instructions() - i0;
    odl_irq_restore(irq);
    if (st != 0) return st;
    memcpy(out, &n, 8);
    *out_len = 8;
    return 0;
}

static int32_t bench_stack(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len) {
    (void)ctx;
    (void)in;
    (void)n_in;
    if (out_cap < 12) return -102;
    const uint8_t *p = __stack_bottom__;
    while (p < __stack_top__ && *p == ODL_STACK_PAINT) ++p;
    uint32_t used = (uint32_t)(__stack_top__ - p), size = (uint32_t)(__stack_top__ - __stack_bottom__);
    uint32_t arena = (uint32_t)odl_model_arena_size();
    memcpy(out, &used, 4);
    memcpy(out + 4, &size, 4);
    memcpy(out + 8, &arena, 4);
    *out_len = 12;
    return 0;
}

odl_status odl_model_service_register(odl_device *dev) {
    odl_status st = ODL_OK;
    paint_stack();
    for (int32_t i = 0; i < odl_model_tensor_count(); ++i) {
        const odl_model_tensor *t = odl_model_tensor_at(i);
        if (strcmp(t->buffer, ODL_MODEL_LOGITS_NAME) == 0) train_logits = (const uint8_t *)t->data;
        if (t->id < 0) continue;
        odl_status s;
        if (t->data == NULL) /* the sample input: owned here */
            s = odl_device_register_tensor(dev, (uint16_t)t->id, sample, sizeof sample, ODL_TENSOR_WRITABLE);
        else
            s = odl_device_register_tensor(dev, (uint16_t)t->id, t->data, t->nbytes,
                                           t->writable ? ODL_TENSOR_WRITABLE : ODL_TENSOR_READ_ONLY);
        if (s != ODL_OK && st == ODL_OK) st = s;
    }
    odl_status s = odl_device_register_handler(dev, ODL_MSG_TRAIN_STEP, train_handler, 0);
    if (s != ODL_OK && st == ODL_OK) st = s;
    s = odl_device_register_handler(dev, ODL_MSG_EVAL, eval_handler, 0);
    if (s != ODL_OK && st == ODL_OK) st = s;
    s = odl_device_register_handler(dev, ODL_MSG_INFER, infer_handler, 0);
    if (s != ODL_OK && st == ODL_OK) st = s;
    odl_device_register_kernel(dev, ODL_MODEL_KERNEL_TRAIN, bench_train, 0);
    odl_device_register_kernel(dev, ODL_MODEL_KERNEL_INFER, bench_infer, 0);
    odl_device_register_kernel(dev, ODL_MODEL_KERNEL_STACK, bench_stack, 0);
    return st;
}
