/* Minimal bare-metal runtime for the ARM DSP test programs: vector table, .data/.bss init, FPU on, semihosting
 * output and exit (QEMU -semihosting-config enable=on,target=native). */
#include <stdint.h>
#include <string.h>

#include "harness.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);
void odl_test_reset(void);

void odl_test_putx(uint32_t v);

/* Print the faulting PC (from the exception frame on the main stack) and stop. */
__attribute__((used)) static void odl_test_fault_report(const uint32_t *frame) {
    odl_test_puts("FAULT pc=");
    odl_test_putx(frame[6]);
    odl_test_puts("\n");
    odl_test_exit(3);
}

__attribute__((naked)) static void odl_test_fault(void) {
    __asm__ volatile("mrs r0, msp\n\tb odl_test_fault_report");
}

__attribute__((section(".vectors"), used)) static const void *const odl_test_vectors[16] = {
    &__stack_top, (const void *)odl_test_reset, (const void *)odl_test_fault, (const void *)odl_test_fault,
    (const void *)odl_test_fault, (const void *)odl_test_fault, (const void *)odl_test_fault};

static int odl_semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void odl_test_puts(const char *s) { odl_semihost(0x04, s); /* SYS_WRITE0 */ }

void odl_test_exit(int code) {
    const uint32_t args[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    odl_semihost(0x20, args); /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

void odl_test_reset(void) {
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20; /* CP10/CP11 full access */
    __asm__ volatile("dsb\n\tisb");
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
    odl_test_exit(main());
}

/* Instruction-count markers: the QEMU plugin snapshots its counter when these addresses execute. */
__attribute__((noinline, used)) void odl_mark_start(int id) { __asm__ volatile("" ::"r"(id)); }
__attribute__((noinline, used)) void odl_mark_stop(int id) { __asm__ volatile("" ::"r"(id)); }

/* printf-free output helpers. */
void odl_test_putd(int64_t v) {
    char buf[24];
    int i = 23;
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) buf[--i] = '-';
    odl_test_puts(buf + i);
}

void odl_test_putx(uint32_t v) {
    char buf[9];
    for (int i = 0; i < 8; ++i) buf[i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    buf[8] = 0;
    odl_test_puts(buf);
}
