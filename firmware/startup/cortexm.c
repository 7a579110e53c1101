/* Boot code for every Cortex-M board: vector table, reset handler (FPU/MVE enable, .data copy, .bss clear),
 * fault handlers that reset the chip, and the cycle counter.
 *
 * Counter: DWT CYCCNT where it counts (real M4/M7/M33/M55 parts). QEMU 7.2 does not model CYCCNT (it reads 0),
 * so the firmware checks at boot and falls back to SysTick on the processor clock, extended to 64 bits by its
 * wrap interrupt. Under QEMU with `-icount shift=0` SysTick advances with virtual time, which advances 1 ns per
 * instruction: the count is deterministic, and equals instructions * clock_hz / 1e9.
 */
#include "board.h"

extern uint32_t __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);

#define SCB_CPACR 0xE000ED88u
#define SCB_AIRCR 0xE000ED0Cu
#define SCB_VTOR 0xE000ED08u
#define SCB_CCR 0xE000ED14u
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u
#define DWT_LAR 0xE0001FB0u

void Reset_Handler(void) __attribute__((naked, noreturn));
void odl_reset_c(void) __attribute__((noreturn, used));
void Default_Handler(void);
void SysTick_Handler(void);

__attribute__((weak)) void odl_board_early_init(void) {}

/* First instructions: enable CP10/CP11 (FPU, and MVE on the M55) before any compiled code may touch them. */
void Reset_Handler(void) {
    __asm volatile(
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "ldr r0, =__stack_top__\n"
        "mov sp, r0\n"
        "b odl_reset_c\n");
}

void odl_reset_c(void) {
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__) || defined(__ARM_ARCH_7EM__)
    ODL_REG32(SCB_CCR) |= (1u << 4); /* DIV_0_TRP: a division by zero faults (and resets) instead of returning 0 */
#endif
    odl_board_early_init();
    main();
    odl_board_reset();
}

void odl_board_reset(void) {
    __asm volatile("dsb");
    ODL_REG32(SCB_AIRCR) = (0x05FAu << 16) | (1u << 2); /* VECTKEY | SYSRESETREQ */
    __asm volatile("dsb");
    for (;;) {
    }
}

/* Any fault or unexpected interrupt: reset rather than hang, so the host can reconnect. */
void Default_Handler(void) { odl_board_reset(); }

/* ---- counters ------------------------------------------------------------------------------------------------ */
static volatile uint64_t systick_high;
static uint8_t use_dwt;
static uint32_t dwt_last;
static uint64_t dwt_high;

void SysTick_Handler(void) { systick_high += 1u << 24; }

void odl_counters_init(void) {
    ODL_REG32(DEMCR) |= 1u << 24; /* TRCENA */
#if defined(__ARM_ARCH_7EM__)
    ODL_REG32(DWT_LAR) = 0xC5ACCE55u; /* software lock of the Cortex-M7 DWT (write-ignored on the M4) */
#endif
    ODL_REG32(DWT_CYCCNT) = 0;
    ODL_REG32(DWT_CTRL) |= 1u;    /* CYCCNTENA */
    uint32_t a = ODL_REG32(DWT_CYCCNT);
    for (volatile int i = 0; i < 16; ++i) {
    }
    uint32_t b = ODL_REG32(DWT_CYCCNT);
    use_dwt = (b != a);
    if (!use_dwt) {
        ODL_REG32(SYST_RVR) = 0x00FFFFFFu;
        ODL_REG32(SYST_CVR) = 0;
        ODL_REG32(SYST_CSR) = 0x7u; /* processor clock, interrupt on wrap, enable */
    }
}

uint64_t odl_cycles(void) {
    if (use_dwt) {
        uint32_t now = ODL_REG32(DWT_CYCCNT);
        if (now < dwt_last) dwt_high += 1ull << 32;
        dwt_last = now;
        return dwt_high | now;
    }
    uint64_t hi;
    uint32_t val;
    do {
        hi = systick_high;
        val = ODL_REG32(SYST_CVR);
    } while (hi != systick_high);
    /* Interrupts are never masked in this firmware, so a wrap between the two reads has run its handler by the
     * time systick_high is read again, and the loop retries. */
    return hi + (0x00FFFFFFu - val);
}

uint64_t odl_instructions(void) { return 0; }

const char *odl_counter_source(void) { return use_dwt ? "dwt" : "systick"; }

/* ---- vector table ---------------------------------------------------------------------------------------------- */
typedef void (*odl_vector)(void);

__attribute__((section(".isr_vector"), used)) const odl_vector odl_vectors[16 + 32] = {
    (odl_vector)(uintptr_t)&__stack_top__,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    Default_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    /* external interrupts: none enabled; any that fires resets */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler,
};
