/* Raspberry Pi Pico 2 (RP2350): the IMAGE_DEF block the boot ROM looks for in the first 4 KB of Flash, then the
 * crystal oscillator (12 MHz) as clk_ref/clk_sys/clk_peri, UART0 and the GPIO banks out of reset, and GP0/GP1
 * handed to UART0. Not run here (no emulator for the RP2350): built and size-checked only. */
#include "board.h"

/* PICOBIN block: IMAGE_TYPE item = executable, Arm, RP2350, secure; then LAST item, link to itself, end marker. */
__attribute__((section(".boot_block"), used)) const uint32_t odl_rp2350_image_def[5] = {
    0xFFFFDED3u, 0x10210142u, 0x000001FFu, 0x00000000u, 0xAB123579u};

#define RESETS_BASE 0x40020000u
#define RESETS_RESET (RESETS_BASE + 0x0u)
#define RESETS_DONE (RESETS_BASE + 0x8u)
#define RESETS_CLR (RESETS_BASE + 0x3000u) /* atomic clear alias of RESET */
#define RESET_IO_BANK0 (1u << 6)
#define RESET_PADS_BANK0 (1u << 9)
#define RESET_UART0 (1u << 26)

#define XOSC_BASE 0x40048000u
#define XOSC_CTRL (XOSC_BASE + 0x00u)
#define XOSC_STATUS (XOSC_BASE + 0x04u)
#define XOSC_STARTUP (XOSC_BASE + 0x0Cu)

#define CLOCKS_BASE 0x40010000u
#define CLK_REF_CTRL (CLOCKS_BASE + 0x30u)
#define CLK_REF_SELECTED (CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL (CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_SELECTED (CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL (CLOCKS_BASE + 0x48u)

#define IO_BANK0_GPIO_CTRL(n) (0x40028000u + 0x004u + 8u * (n))
#define PADS_BANK0_GPIO(n) (0x40038000u + 0x004u + 4u * (n))

void odl_board_early_init(void) {
    /* 12 MHz crystal: range 1-15 MHz, ~1 ms startup delay, enable, wait until stable. */
    ODL_REG32(XOSC_STARTUP) = 47u;
    ODL_REG32(XOSC_CTRL) = (0xFABu << 12) | 0xAA0u;
    while (!(ODL_REG32(XOSC_STATUS) & (1u << 31))) {
    }
    ODL_REG32(CLK_REF_CTRL) = 2u; /* clk_ref <- xosc */
    while (!(ODL_REG32(CLK_REF_SELECTED) & (1u << 2))) {
    }
    ODL_REG32(CLK_SYS_CTRL) = 0u; /* clk_sys <- clk_ref */
    while (!(ODL_REG32(CLK_SYS_SELECTED) & 1u)) {
    }
    ODL_REG32(CLK_PERI_CTRL) = 1u << 11; /* enable, source clk_sys */

    const uint32_t mask = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0;
    ODL_REG32(RESETS_CLR) = mask;
    while ((ODL_REG32(RESETS_DONE) & mask) != mask) {
    }
    for (uint32_t pin = 0; pin < 2; ++pin) {
        ODL_REG32(PADS_BANK0_GPIO(pin)) = (ODL_REG32(PADS_BANK0_GPIO(pin)) & ~(1u << 8)) | (1u << 6); /* ISO off, IE */
        ODL_REG32(IO_BANK0_GPIO_CTRL(pin)) = 2u; /* FUNCSEL = UART */
    }
}
