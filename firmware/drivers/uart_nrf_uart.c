/* nRF52 UART0 (the legacy, non-DMA UART): tasks STARTRX/STARTTX, events RXDRDY/TXDRDY, PSEL.TXD/RXD, BAUDRATE,
 * ENABLE = 4. */
#include "board.h"

#define UART_STARTRX (ODL_UART_BASE + 0x000u)
#define UART_STARTTX (ODL_UART_BASE + 0x008u)
#define UART_RXDRDY (ODL_UART_BASE + 0x108u)
#define UART_TXDRDY (ODL_UART_BASE + 0x11Cu)
#define UART_ENABLE (ODL_UART_BASE + 0x500u)
#define UART_PSELTXD (ODL_UART_BASE + 0x50Cu)
#define UART_PSELRXD (ODL_UART_BASE + 0x514u)
#define UART_RXD (ODL_UART_BASE + 0x518u)
#define UART_TXD (ODL_UART_BASE + 0x51Cu)
#define UART_BAUDRATE (ODL_UART_BASE + 0x524u)
#define UART_CONFIG (ODL_UART_BASE + 0x56Cu)

void odl_uart_init(void) {
    ODL_REG32(UART_PSELTXD) = ODL_UART_TX_PIN;
    ODL_REG32(UART_PSELRXD) = ODL_UART_RX_PIN;
    ODL_REG32(UART_BAUDRATE) = 0x01D7E000u; /* 115200 */
    ODL_REG32(UART_CONFIG) = 0;
    ODL_REG32(UART_ENABLE) = 4;
    ODL_REG32(UART_STARTRX) = 1;
    ODL_REG32(UART_STARTTX) = 1;
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        ODL_REG32(UART_TXDRDY) = 0;
        ODL_REG32(UART_TXD) = bytes[i];
        while (!ODL_REG32(UART_TXDRDY)) {
        }
    }
}

int odl_uart_read(void) {
    if (!ODL_REG32(UART_RXDRDY)) return -1;
    ODL_REG32(UART_RXDRDY) = 0;
    return (int)(ODL_REG32(UART_RXD) & 0xFFu);
}
