/* STM32F7 USART (v2 register layout): CR1 (UE, RE, TE), BRR, ISR (RXNE bit5, TXE bit7, ORE bit3), ICR, RDR,
 * TDR. Pins and clocks are set up by the board (boards/stm32f746g-disco/board.c). */
#include "board.h"

#define USART_CR1 (ODL_UART_BASE + 0x00u)
#define USART_BRR (ODL_UART_BASE + 0x0Cu)
#define USART_ISR (ODL_UART_BASE + 0x1Cu)
#define USART_ICR (ODL_UART_BASE + 0x20u)
#define USART_RDR (ODL_UART_BASE + 0x24u)
#define USART_TDR (ODL_UART_BASE + 0x28u)

void odl_uart_init(void) {
    ODL_REG32(USART_CR1) = 0;
    ODL_REG32(USART_BRR) = (ODL_CLOCK_HZ + ODL_UART_BAUD / 2u) / ODL_UART_BAUD;
    ODL_REG32(USART_CR1) = (1u << 0) | (1u << 2) | (1u << 3);
}

void odl_uart_write(const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        while (!(ODL_REG32(USART_ISR) & (1u << 7))) {
        }
        ODL_REG32(USART_TDR) = bytes[i];
    }
}

int odl_uart_read(void) {
    uint32_t isr = ODL_REG32(USART_ISR);
    if (isr & (1u << 3)) ODL_REG32(USART_ICR) = 1u << 3; /* overrun: clear, the protocol retransmits */
    if (!(isr & (1u << 5))) return -1;
    return (int)(ODL_REG32(USART_RDR) & 0xFFu);
}
