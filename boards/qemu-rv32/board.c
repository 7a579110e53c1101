/* QEMU riscv virt: reset through the SiFive test device (0x100000), a warm reset that keeps RAM. */
#include "board.h"

#define VIRT_TEST 0x00100000u

void odl_board_reset(void) {
    ODL_REG32(VIRT_TEST) = 0x7777u; /* FINISHER_RESET */
    for (;;) {
    }
}
