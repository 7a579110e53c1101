/* Minimal Cortex-M55 start-up for standalone test programs: vector table, FPU/MVE enable, .data/.bss, main(),
 * then exit through Arm semihosting (QEMU -semihosting-config enable=on). Faults exit with status 1. */
#include <stdint.h>

extern uint32_t __data_start__, __data_end__, __data_load__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);

static inline uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

__attribute__((noreturn)) void sh_exit(int code) {
    const uint32_t block[2] = {code ? 0x20024u /* RunTimeErrorUnknown */ : 0x20026u /* ApplicationExit */, 0};
    semihost(0x18, (const void *)(uintptr_t)block[0]); /* SYS_EXIT (32-bit: reason in r1) */
    for (;;) {
    }
}

void Reset_Handler(void) __attribute__((naked, noreturn));
void reset_c(void) __attribute__((noreturn, used));
void fault_c(const uint32_t *frame) __attribute__((noreturn, used));
void fault_c(const uint32_t *frame) { /* print the faulting PC (stacked frame word 6) */
    static const char hx[] = "0123456789abcdef";
    char msg[] = "FAULT pc=0x00000000\n";
    for (int i = 0; i < 8; ++i) msg[11 + i] = hx[(frame[6] >> (28 - 4 * i)) & 15];
    sh_puts(msg);
    sh_exit(1);
}
void Fault_Handler(void) __attribute__((naked));
void Fault_Handler(void) { __asm volatile("mrs r0, msp\n b fault_c\n"); }

void Reset_Handler(void) {
    __asm volatile("ldr r0, =0xE000ED88\n"
                   "ldr r1, [r0]\n"
                   "orr r1, r1, #(0xF << 20)\n" /* CP10/CP11 full access: FPU and MVE */
                   "str r1, [r0]\n"
                   "dsb\n"
                   "isb\n"
                   "ldr r0, =__stack_top__\n"
                   "mov sp, r0\n"
                   "b reset_c\n");
}

void reset_c(void) {
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
    sh_exit(main());
}

__attribute__((section(".isr_vector"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top__, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};
