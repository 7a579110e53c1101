/* The device main loop: bytes from the UART go to the protocol handler (csrc/runtime), whose replies go back out
 * through the UART; STATS reads the board's counters; RESET resets the chip.
 *
 * Until a generated model is linked in, the firmware exposes test tensors for the link tests:
 *   id 1..4: writable, ODL_FW_TENSOR{1..4}_BYTES bytes (4 absent when 0), committed through one staging buffer
 *   id 5:    read-only, 64 bytes in Flash
 * and RUN_KERNEL 0xFFF0 (diagnostics: boots since power-on, counter source).
 * The writable tensors live in .noinit and survive a warm reset (a RESET message, a fault, QEMU's system_reset):
 * a write interrupted by a reset leaves the old contents, since only a commit copies staging into the tensor.
 * At power-on (no valid marker) they are filled with the pattern byte[i] = (id * 31 + i) & 0xFF.
 */
#include <string.h>

#include "board.h"
#include "kernel_service.h"
#include "odl/protocol.h"
#ifdef ODL_WITH_MODEL
#include "model_service.h" /* the generated model: TRAIN_STEP / EVAL / INFER */
#endif

#ifndef ODL_BOARD_NAME
#define ODL_BOARD_NAME "unknown"
#endif
#ifndef ODL_FW_VERSION
#define ODL_FW_VERSION "0.1.0"
#endif
#ifndef ODL_FW_TENSOR1_BYTES
#define ODL_FW_TENSOR1_BYTES 16
#endif
#ifndef ODL_FW_TENSOR2_BYTES
#define ODL_FW_TENSOR2_BYTES 256
#endif
#ifndef ODL_FW_TENSOR3_BYTES
#define ODL_FW_TENSOR3_BYTES 4096
#endif
#ifndef ODL_FW_TENSOR4_BYTES
#define ODL_FW_TENSOR4_BYTES 16384
#endif
/* Extra bytes of Flash / SRAM, to test that an image that does not fit the chip is refused at link time. */
#ifndef ODL_FW_FILLER_FLASH_BYTES
#define ODL_FW_FILLER_FLASH_BYTES 0
#endif
#ifndef ODL_FW_FILLER_SRAM_BYTES
#define ODL_FW_FILLER_SRAM_BYTES 0
#endif

#define ODL_FW_MAX2(a, b) ((a) > (b) ? (a) : (b))
#ifndef ODL_FW_STAGING_BYTES /* a model build sets it to its largest writable tensor (toolkit.device) */
#define ODL_FW_STAGING_BYTES \
    ODL_FW_MAX2(ODL_FW_MAX2(ODL_FW_TENSOR1_BYTES, ODL_FW_TENSOR2_BYTES), \
                ODL_FW_MAX2(ODL_FW_TENSOR3_BYTES, ODL_FW_TENSOR4_BYTES))
#endif
#define ODL_FW_RETAIN_MAGIC 0x6F646C31u /* "odl1" */

typedef struct {
    uint32_t magic;
    uint32_t boots;
    uint8_t t1[ODL_FW_TENSOR1_BYTES];
    uint8_t t2[ODL_FW_TENSOR2_BYTES];
    uint8_t t3[ODL_FW_TENSOR3_BYTES];
#if ODL_FW_TENSOR4_BYTES > 0
    uint8_t t4[ODL_FW_TENSOR4_BYTES];
#endif
} odl_fw_retained;

static odl_fw_retained retained __attribute__((section(".noinit"), aligned(8)));
static uint8_t staging[ODL_FW_STAGING_BYTES] __attribute__((aligned(8)));
static odl_device device;

static const uint8_t constant_tensor[64] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87, 0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F,
    0x6F, 0x64, 0x6C, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x74, 0x65, 0x6E, 0x73, 0x6F, 0x72, 0x00,
    0xFF, 0x00, 0xFF, 0x00, 0x55, 0xAA, 0x55, 0xAA, 0x80, 0x7F, 0x80, 0x7F, 0x01, 0xFE, 0x01, 0xFE};

#if ODL_FW_FILLER_FLASH_BYTES > 0
__attribute__((used)) static const uint8_t filler_flash[ODL_FW_FILLER_FLASH_BYTES] = {1};
#endif
#if ODL_FW_FILLER_SRAM_BYTES > 0
__attribute__((used)) static uint8_t filler_sram[ODL_FW_FILLER_SRAM_BYTES];
#endif

static void fill_pattern(uint8_t *p, uint32_t n, uint32_t id) {
    for (uint32_t i = 0; i < n; ++i) p[i] = (uint8_t)((id * 31u + i) & 0xFFu);
}

static void uart_write_cb(void *ctx, const uint8_t *bytes, uint32_t n) {
    (void)ctx;
    odl_uart_write(bytes, n);
}

static uint64_t cycles_cb(void *ctx) {
    (void)ctx;
    return odl_cycles();
}

static uint64_t instret_cb(void *ctx) {
    (void)ctx;
    return odl_instructions();
}

/* RUN_KERNEL ODL_FW_KERNEL_DIAG: proves what the board really runs. Input: optional i32 x, f32 y (default 1, 1.0).
 * Output: u32 boots since power-on (grows on every warm reset), u8 n + the counter source ("dwt", "systick",
 * "mcycle"), i32 2x computed on the vector unit (MVE or RVV; scalar where the core has none), u32 vector register
 * bytes (16 for MVE and VLEN 128; 0 without), f32 y * 1.5 (FPU, or soft-float), u16 bits of (_Float16)y, u16 0,
 * f32 (float)(_Float16)y (Zfh / Arm fp16 conversions, or the soft helpers), u16 bits of 2 * (_Float16)y computed
 * in fp16 lanes of the vector unit (RVV Zvfh, MVE-FP) or by scalar code, u16 1 if a vector unit did it. An FPU or
 * vector unit left disabled by the startup code faults here, and the board resets. */
#define ODL_FW_KERNEL_DIAG 0xFFF0u
#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#elif defined(__riscv_vector)
#include <riscv_vector.h>
#endif

static int32_t vector_double(int32_t x, uint32_t *vbytes) {
#if defined(__ARM_FEATURE_MVE)
    int32x4_t v = vdupq_n_s32(x);
    v = vaddq_s32(v, v);
    *vbytes = 16;
    return vgetq_lane_s32(v, 3);
#elif defined(__riscv_vector)
    size_t vl = __riscv_vsetvl_e32m1(4);
    vint32m1_t v = __riscv_vmv_v_x_i32m1(x, vl);
    v = __riscv_vadd_vv_i32m1(v, v, vl);
    uint32_t vlenb;
    __asm volatile("csrr %0, vlenb" : "=r"(vlenb));
    *vbytes = vlenb;
    return __riscv_vmv_x_s_i32m1_i32(v);
#else
    *vbytes = 0;
    return x * 2;
#endif
}

static _Float16 vector_f16_double(_Float16 h, uint16_t *on_vector) {
#if defined(__riscv_zvfh)
    size_t vl = __riscv_vsetvl_e16m1(8);
    vfloat16m1_t v = __riscv_vfmv_v_f_f16m1(h, vl);
    v = __riscv_vfadd_vv_f16m1(v, v, vl);
    *on_vector = 1;
    return __riscv_vfmv_f_s_f16m1_f16(v);
#elif defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
    float16x8_t v = vdupq_n_f16(h);
    v = vaddq_f16(v, v);
    *on_vector = 1;
    return vgetq_lane_f16(v, 7);
#else
    volatile _Float16 a = h;
    *on_vector = 0;
    return (_Float16)(a + a);
#endif
}

static int32_t diag_kernel(void *ctx, const uint8_t *in, uint32_t n_in, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len) {
    (void)ctx;
    int32_t x = 1;
    float y = 1.0f;
    if (n_in >= 4) memcpy(&x, in, 4);
    if (n_in >= 8) memcpy(&y, in + 4, 4);
    const char *src = odl_counter_source();
    uint32_t n = (uint32_t)strlen(src);
    if (out_cap < 5 + n + 24) return -1;
    memcpy(out, &retained.boots, 4);
    out[4] = (uint8_t)n;
    memcpy(out + 5, src, n);
    uint32_t vbytes = 0;
    int32_t twice = vector_double(x, &vbytes);
    volatile float yv = y;
    float f = yv * 1.5f;
    volatile _Float16 h = (_Float16)yv;
    _Float16 hh = h;
    float g = (float)hh;
    uint8_t *o = out + 5 + n;
    memcpy(o, &twice, 4);
    memcpy(o + 4, &vbytes, 4);
    memcpy(o + 8, &f, 4);
    memcpy(o + 12, &hh, 2);
    o[14] = o[15] = 0;
    memcpy(o + 16, &g, 4);
    uint16_t on_vector = 0;
    _Float16 d2 = vector_f16_double(hh, &on_vector);
    memcpy(o + 20, &d2, 2);
    memcpy(o + 22, &on_vector, 2);
    *out_len = 5 + n + 24;
    return 0;
}

static void reset_cb(void *ctx) {
    (void)ctx;
    odl_board_reset();
}

int main(void) {
    odl_uart_init();
    odl_counters_init();

    if (retained.magic != ODL_FW_RETAIN_MAGIC) {
        fill_pattern(retained.t1, sizeof retained.t1, 1);
        fill_pattern(retained.t2, sizeof retained.t2, 2);
        fill_pattern(retained.t3, sizeof retained.t3, 3);
#if ODL_FW_TENSOR4_BYTES > 0
        fill_pattern(retained.t4, sizeof retained.t4, 4);
#endif
        retained.boots = 0;
        retained.magic = ODL_FW_RETAIN_MAGIC;
    }
    retained.boots++;
#if ODL_FW_FILLER_FLASH_BYTES > 0
    (void)*(volatile const uint8_t *)&filler_flash[ODL_FW_FILLER_FLASH_BYTES - 1]; /* keep it past --gc-sections */
#endif
#if ODL_FW_FILLER_SRAM_BYTES > 0
    *(volatile uint8_t *)&filler_sram[ODL_FW_FILLER_SRAM_BYTES - 1] = 0;
#endif

    odl_device_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.board_name = ODL_BOARD_NAME;
    cfg.fw_version = ODL_FW_VERSION;
    cfg.model_signature = 0;
#ifdef ODL_WITH_MODEL
    cfg.model_signature = odl_model_service_signature();
#endif
    cfg.write = uart_write_cb;
    cfg.cycles = cycles_cb;
    cfg.instret = instret_cb;
    cfg.reset = reset_cb;
    cfg.staging = staging;
    cfg.staging_size = sizeof staging;
    odl_device_init(&device, &cfg);
    odl_device_register_tensor(&device, 1, retained.t1, sizeof retained.t1, ODL_TENSOR_WRITABLE);
    odl_device_register_tensor(&device, 2, retained.t2, sizeof retained.t2, ODL_TENSOR_WRITABLE);
    odl_device_register_tensor(&device, 3, retained.t3, sizeof retained.t3, ODL_TENSOR_WRITABLE);
#if ODL_FW_TENSOR4_BYTES > 0
    odl_device_register_tensor(&device, 4, retained.t4, sizeof retained.t4, ODL_TENSOR_WRITABLE);
#endif
    odl_device_register_tensor(&device, 5, (void *)constant_tensor, sizeof constant_tensor, ODL_TENSOR_READ_ONLY);
    odl_device_register_kernel(&device, ODL_FW_KERNEL_DIAG, diag_kernel, 0);
    odl_kernel_service_register(&device); /* RUN_KERNEL 0x0D00/0x0D01: on-target kernel tests and benchmarks */
#ifdef ODL_WITH_MODEL
    odl_model_service_register(&device); /* model tensors (ids from build.json) replace test ids */
#endif

    uint8_t rx[64];
    for (;;) {
        size_t n = 0;
        int c;
        while (n < sizeof rx && (c = odl_uart_read()) >= 0) rx[n++] = (uint8_t)c;
        if (n) odl_device_feed(&device, rx, n);
    }
}
