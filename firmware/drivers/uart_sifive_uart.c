/* SiFive UART (FE310): txdata (bit31 full), rxdata (bit31 empty), txctrl/rxctrl (bit0 enable), div
 * (baud = clock / (div + 1)). The pins (GPIO16 RX, GPIO17 TX) are handed to the UART through the GPIO IOF
 * registers. */
#include "board.h"

#define UART_TXDATA (ODL_UART_BASE + 0x00u)
#define UART_RXDATA (ODL_UART_BASE + 0x04u)
#define UART_TXCTRL (ODL_UART_BASE + 0x08u)
#define UART_RXCTRL (ODL_UART_BASE + 0x0Cu)
#define UART_DIV (ODL_UART_BASE + 0x18u)
#define GPIO_IOF_EN 0x10012038u
#define GPIO_IOF_SEL 0x1001203Cu

void odl_uart_init(void) {
    const uint32_t pins = (1u << 16) | (1u << 17);
    ODL_REG32(GPIO_IOF_SEL) &= ~pins;
    ODL_REG32(GPIO_IOF_EN) |= pins;
    ODL_REG32(UART_DIV) = ODL_CLOCK_HZ / ODL_UART_BAUD - 1u;
    ODL_REG32(UART_TXCTRL) = 0x1u;
    ODL_REG32(UART_RXCTRL) = 0x1u;
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (ODL_REG32(UART_TXDATA) & 0x80000000u) {
        }
        ODL_REG32(UART_TXDATA) = bytes[i];
    }
}

int odl_uart_read(void) {
    uint32_t v = ODL_REG32(UART_RXDATA);
    if (v & 0x80000000u) return -1;
    return (int)(v & 0xFFu);
}
