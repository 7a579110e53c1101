/* im2col / whole int8 conv2d on the RVV path (qemu-rv32): see tests/target/im2col_common.h. Instructions are
 * counted with minstret (exact: QEMU runs with -icount shift=0). */
#include "harness.h"
#include "odl/matmul.h"

void rvv_exit(int code) { rvv_exit_now(code); }
void rvv_trap(uint32_t cause, uint32_t epc) {
    h_puts("TRAP mcause=");
    h_putd(cause);
    h_puts(" mepc=");
    h_putd(epc);
    h_puts("\n");
    rvv_exit_now(3);
}

static uint32_t t_start;
static void t_puts(const char *s) { h_puts(s); }
static void t_bench_begin(void) { t_start = h_instret(); }
static uint32_t t_bench_end(void) { return h_instret() - t_start; }
#define T_SIMD_PATH ODL_PATH_RVV
#include "../im2col_common.h"

int main(void) { return t_main(); }
