/* im2col / whole int8 conv2d on the ARM DSP path (qemu-cm4): see tests/target/im2col_common.h. Instructions are
 * counted by the insncount QEMU plugin between odl_mark_start / odl_mark_stop (startup.c). */
#include "harness.h"
#include "odl/matmul.h"

static void t_puts(const char *s) { odl_test_puts(s); }
static void t_bench_begin(void) { odl_mark_start(0); }
static uint32_t t_bench_end(void) {
    odl_mark_stop(0);
    return 0;
}
#define T_SIMD_PATH ODL_PATH_ARM_DSP
#include "../im2col_common.h"

int main(void) { return t_main(); }
