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
