/* ARM PL011 UART (RP2350 UART0/1): DR, FR (RXFE bit4, TXFF bit5), IBRD/FBRD (clock / (16 baud) in 16.6 fixed
 * point), LCR_H (8 bits, FIFOs), CR (UARTEN, TXE, RXE). Clocks, resets and pin functions are the board's. */
#include "board.h"

#define UART_DR (ODL_UART_BASE + 0x00u)
#define UART_FR (ODL_UART_BASE + 0x18u)
#define UART_IBRD (ODL_UART_BASE + 0x24u)
#define UART_FBRD (ODL_UART_BASE + 0x28u)
#define UART_LCR_H (ODL_UART_BASE + 0x2Cu)
#define UART_CR (ODL_UART_BASE + 0x30u)

void odl_uart_init(void) {
    /* 64 * clock / (16 * baud), rounded: integer part in IBRD, 6-bit fraction in FBRD */
    uint32_t div64 = (uint32_t)(((uint64_t)ODL_CLOCK_HZ * 4u + ODL_UART_BAUD / 2u) / ODL_UART_BAUD);
    ODL_REG32(UART_CR) = 0;
    ODL_REG32(UART_IBRD) = div64 >> 6;
    ODL_REG32(UART_FBRD) = div64 & 0x3Fu;
    ODL_REG32(UART_LCR_H) = (3u << 5) | (1u << 4); /* 8 bits, FIFOs on (also latches the divisors) */
    ODL_REG32(UART_CR) = (1u << 0) | (1u << 8) | (1u << 9);
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (ODL_REG32(UART_FR) & (1u << 5)) {
        }
        ODL_REG32(UART_DR) = bytes[i];
    }
}

int odl_uart_read(void) {
    if (ODL_REG32(UART_FR) & (1u << 4)) return -1;
    return (int)(ODL_REG32(UART_DR) & 0xFFu);
}
