/* C part of the RISC-V boot code and the counters: mcycle / minstret (64-bit through the *h halves). Under QEMU
 * both count instructions exactly when it runs with -icount (odl's launcher always passes `-icount shift=0`). */
#include "board.h"

extern uint32_t __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__;
extern int main(void);
extern void _start(void);

void odl_start_c(void) __attribute__((noreturn, used));

/* Thread-local storage of the single thread (tp points here): picolibc's errno lives in it. */
uint8_t odl_tls_area[256] __attribute__((aligned(16)));

__attribute__((weak)) void odl_board_early_init(void) {}

void odl_start_c(void) {
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    if (src != dst)
        while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
    odl_board_early_init();
    main();
    odl_board_reset();
}

/* Default reset: restart from _start (RAM keeps its contents). Boards with a reset device override this. */
__attribute__((weak, noreturn)) void odl_board_reset(void) {
    __asm volatile("fence\n fence.i\n j _start");
    __builtin_unreachable();
}

void odl_counters_init(void) {}

#define ODL_READ_CSR64(lo, hi)                                                                                \
    do {                                                                                                      \
        uint32_t h0, l, h1;                                                                                   \
        do {                                                                                                  \
            __asm volatile("csrr %0, " #hi : "=r"(h0));                                                       \
            __asm volatile("csrr %0, " #lo : "=r"(l));                                                        \
            __asm volatile("csrr %0, " #hi : "=r"(h1));                                                       \
        } while (h0 != h1);                                                                                   \
        return ((uint64_t)h1 << 32) | l;                                                                      \
    } while (0)

uint64_t odl_cycles(void) { ODL_READ_CSR64(mcycle, mcycleh); }
uint64_t odl_instructions(void) { ODL_READ_CSR64(minstret, minstreth); }
const char *odl_counter_source(void) { return "mcycle"; }

#if !defined(__riscv_zfh) && !defined(__riscv_zfhmin)
/* _Float16 <-> float conversions for cores without Zfh: clang calls these, and the libgcc of Debian's
 * gcc-riscv64-unknown-elf 12 does not have them. IEEE binary16, round to nearest even, NaN stays NaN. */
static uint32_t odl_f32_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    return u;
}

float __extendhfsf2(_Float16 h) {
    uint16_t b;
    __builtin_memcpy(&b, &h, 2);
    uint32_t s = (uint32_t)(b >> 15) << 31, e = (b >> 10) & 0x1Fu, m = b & 0x3FFu, u;
    if (e == 0x1F) {
        u = s | 0x7F800000u | (m << 13) | (m ? 0x00400000u : 0);
    } else if (e) {
        u = s | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0) {
        u = s;
    } else { /* subnormal half: normalise */
        int32_t ee = 1;
        while (!(m & 0x400u)) {
            m <<= 1;
            ee--;
        }
        u = s | ((uint32_t)(ee + 112) << 23) | ((m & 0x3FFu) << 13);
    }
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

_Float16 __truncsfhf2(float f) {
    uint32_t u = odl_f32_bits(f);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000u), h;
    uint32_t e = (u >> 23) & 0xFFu, m = u & 0x7FFFFFu;
    int32_t E = (int32_t)e - 127;
    if (e == 0xFF) {
        h = (uint16_t)(s | 0x7C00u | (m ? (0x200u | (m >> 13)) : 0));
    } else if (E > 15) {
        h = (uint16_t)(s | 0x7C00u);
    } else if (E >= -14) {
        uint32_t r = m & 0x1FFFu, v = ((uint32_t)(E + 15) << 10) | (m >> 13);
        if (r > 0x1000u || (r == 0x1000u && (v & 1u))) v++; /* a carry into the exponent is still right */
        h = (uint16_t)(s | v);
    } else if (E >= -25) {
        uint32_t M = m | 0x800000u, sh = (uint32_t)(-(E + 1)), v = M >> sh;
        uint32_t r = M & ((1u << sh) - 1u), half = 1u << (sh - 1u);
        if (r > half || (r == half && (v & 1u))) v++;
        h = (uint16_t)(s | v);
    } else {
        h = s;
    }
    _Float16 out;
    __builtin_memcpy(&out, &h, 2);
    return out;
}
#endif
