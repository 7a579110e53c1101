/* Bare-metal helpers of the RVV test programs on QEMU virt: UART (ns16550 at 0x10000000) output, exit through the
 * test finisher, a deterministic PRNG and the minstret instruction counter (exact when QEMU runs with -icount). */
#ifndef RVV_HARNESS_H
#define RVV_HARNESS_H
#include <stdint.h>

static inline void h_putc(char c) { *(volatile uint8_t *)0x10000000 = (uint8_t)c; }
static inline void h_puts(const char *s) {
    while (*s) h_putc(*s++);
}
static inline void h_putd(int64_t v) {
    char buf[24];
    int i = 0;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    if (v < 0) h_putc('-');
    do {
        buf[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (i) h_putc(buf[--i]);
}
static inline void rvv_exit_now(int code) {
    *(volatile uint32_t *)0x100000 = code ? (((uint32_t)code << 16) | 0x3333) : 0x5555;
    for (;;) {
    }
}
static inline uint32_t h_instret(void) {
    uint32_t n;
    __asm__ volatile("csrr %0, minstret" : "=r"(n));
    return n;
}

static uint32_t h_rng_state = 0x12345678u;
static inline uint32_t h_rand(void) {
    uint32_t x = h_rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return h_rng_state = x;
}
/* uniform integer in [lo, hi] */
static inline int32_t h_randint(int32_t lo, int32_t hi) { return lo + (int32_t)(h_rand() % (uint32_t)(hi - lo + 1)); }
/* uniform float in [-1, 1) */
static inline float h_randf(void) { return (float)(int32_t)(h_rand() >> 8) / 8388608.0f - 1.0f; }
#endif
