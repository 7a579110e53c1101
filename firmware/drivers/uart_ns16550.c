/* NS16550A UART with byte-spaced registers (QEMU riscv virt): RBR/THR, IER, FCR, LCR, LSR (bit0 data ready,
 * bit5 THR empty); divisor latch through LCR.DLAB. */
#include "board.h"

#define U_RBR (ODL_UART_BASE + 0u)
#define U_THR (ODL_UART_BASE + 0u)
#define U_DLL (ODL_UART_BASE + 0u)
#define U_IER (ODL_UART_BASE + 1u)
#define U_DLM (ODL_UART_BASE + 1u)
#define U_FCR (ODL_UART_BASE + 2u)
#define U_LCR (ODL_UART_BASE + 3u)
#define U_LSR (ODL_UART_BASE + 5u)

void odl_uart_init(void) {
    uint32_t div = ODL_CLOCK_HZ / (16u * ODL_UART_BAUD);
    if (div == 0) div = 1;
    ODL_REG8(U_IER) = 0x00;
    ODL_REG8(U_LCR) = 0x80; /* DLAB */
    ODL_REG8(U_DLL) = (uint8_t)(div & 0xFF);
    ODL_REG8(U_DLM) = (uint8_t)(div >> 8);
    ODL_REG8(U_LCR) = 0x03; /* 8N1 */
    ODL_REG8(U_FCR) = 0x07; /* FIFO on, both cleared */
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (!(ODL_REG8(U_LSR) & 0x20)) {
        }
        ODL_REG8(U_THR) = bytes[i];
    }
}

int odl_uart_read(void) {
    if (!(ODL_REG8(U_LSR) & 0x01)) return -1;
    return ODL_REG8(U_RBR);
}
