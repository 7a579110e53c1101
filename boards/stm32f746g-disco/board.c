/* STM32F746G-DISCO: clocks and pins for the ST-Link virtual COM port (USART1: TX PA9, RX PB7, alternate
 * function 7). The core runs from the 16 MHz HSI the chip starts on (no PLL), which is what board.toml's
 * clock_hz says and what the USART baud divisor is computed from. */
#include "board.h"

#define RCC_AHB1ENR 0x40023830u
#define RCC_APB2ENR 0x40023844u
#define GPIOA 0x40020000u
#define GPIOB 0x40020400u
#define GPIO_MODER 0x00u
#define GPIO_AFRL 0x20u
#define GPIO_AFRH 0x24u

void odl_board_early_init(void) {
    ODL_REG32(RCC_AHB1ENR) |= (1u << 0) | (1u << 1); /* GPIOA, GPIOB */
    ODL_REG32(RCC_APB2ENR) |= 1u << 4;               /* USART1 */
    (void)ODL_REG32(RCC_APB2ENR);
    /* PA9: alternate function 7 */
    ODL_REG32(GPIOA + GPIO_MODER) = (ODL_REG32(GPIOA + GPIO_MODER) & ~(3u << 18)) | (2u << 18);
    ODL_REG32(GPIOA + GPIO_AFRH) = (ODL_REG32(GPIOA + GPIO_AFRH) & ~(0xFu << 4)) | (7u << 4);
    /* PB7: alternate function 7 */
    ODL_REG32(GPIOB + GPIO_MODER) = (ODL_REG32(GPIOB + GPIO_MODER) & ~(3u << 14)) | (2u << 14);
    ODL_REG32(GPIOB + GPIO_AFRL) = (ODL_REG32(GPIOB + GPIO_AFRL) & ~(0xFu << 28)) | (7u << 28);
}
