/* ARM CMSDK APB UART (MPS2 / MPS3 FPGA images): DATA, STATE (bit0 TX full, bit1 RX full), CTRL (bit0 TX enable,
 * bit1 RX enable), BAUDDIV (clock / baud, at least 16). */
#include "board.h"

#define UART_DATA (ODL_UART_BASE + 0x00u)
#define UART_STATE (ODL_UART_BASE + 0x04u)
#define UART_CTRL (ODL_UART_BASE + 0x08u)
#define UART_BAUDDIV (ODL_UART_BASE + 0x10u)

void odl_uart_init(void) {
    uint32_t div = ODL_CLOCK_HZ / ODL_UART_BAUD;
    ODL_REG32(UART_BAUDDIV) = div < 16 ? 16 : div;
    ODL_REG32(UART_CTRL) = 0x3u;
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (ODL_REG32(UART_STATE) & 0x1u) {
        }
        ODL_REG32(UART_DATA) = bytes[i];
    }
}

int odl_uart_read(void) {
    if (!(ODL_REG32(UART_STATE) & 0x2u)) return -1;
    return (int)(ODL_REG32(UART_DATA) & 0xFFu);
}
