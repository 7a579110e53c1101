/* firmware/board.h - what the device main loop needs from a board: a UART, a counter, a reset.
 *
 * Implemented by firmware/startup/<arch>.c (boot, counters, reset), firmware/drivers/uart_<driver>.c (the UART
 * named in board.toml, written against the chip's registers) and optionally boards/<name>/board.c (clocks, pins).
 * Board parameters arrive as -D macros generated from board.toml: ODL_BOARD_NAME, ODL_CLOCK_HZ, ODL_UART_BASE,
 * ODL_UART_BAUD (and ODL_UART_TX_PIN / ODL_UART_RX_PIN where the chip routes pins).
 */
#ifndef ODL_FIRMWARE_BOARD_H
#define ODL_FIRMWARE_BOARD_H

#include <stddef.h>
#include <stdint.h>

#define ODL_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define ODL_REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))

/* Clocks and pins of the chip; called once before the UART is set up. Weak no-op default (QEMU boards). */
void odl_board_early_init(void);

/* UART driver. odl_uart_read() returns the next received byte or -1 when none is waiting (never blocks). */
void odl_uart_init(void);
void odl_uart_write(const uint8_t *bytes, size_t n);
int odl_uart_read(void);

/* Counters: odl_counters_init() picks the best source the core offers; odl_cycles() is monotonic and 64-bit;
 * odl_instructions() is 0 where the core has no instruction counter (Cortex-M). odl_counter_source() names the
 * source used ("dwt", "systick", "mcycle"). */
void odl_counters_init(void);
uint64_t odl_cycles(void);
uint64_t odl_instructions(void);
const char *odl_counter_source(void);

/* Reset the whole chip (a warm reset: SRAM keeps its contents, .noinit survives). */
void odl_board_reset(void) __attribute__((noreturn));

/* Mask interrupts around a measured call (returns the previous state) / restore it. */
static inline uint32_t odl_irq_save(void) {
#if defined(__arm__)
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
#elif defined(__riscv)
    uint32_t mstatus;
    __asm volatile("csrrci %0, mstatus, 8" : "=r"(mstatus)::"memory");
    return mstatus & 8u;
#else
    return 0;
#endif
}

static inline void odl_irq_restore(uint32_t s) {
#if defined(__arm__)
    __asm volatile("msr primask, %0" ::"r"(s) : "memory");
#elif defined(__riscv)
    if (s) __asm volatile("csrsi mstatus, 8" ::: "memory");
#else
    (void)s;
#endif
}

#endif
