/* im2col / whole int8 conv2d on the Helium path (qemu-cm55): see tests/target/im2col_common.h. Instructions are
 * counted by the insncount QEMU plugin between odl_mark_start / odl_mark_stop. */
#include <stdint.h>

#include "odl/matmul.h"

void sh_puts(const char *s); /* startup_semihost.c */
__attribute__((noinline, used)) void odl_mark_start(int id) { __asm__ volatile("" ::"r"(id)); }
__attribute__((noinline, used)) void odl_mark_stop(int id) { __asm__ volatile("" ::"r"(id)); }

static void t_puts(const char *s) { sh_puts(s); }
static void t_bench_begin(void) { odl_mark_start(0); }
static uint32_t t_bench_end(void) {
    odl_mark_stop(0);
    return 0;
}
#define T_SIMD_PATH ODL_PATH_ARM_MVE
#include "../im2col_common.h"

int main(void) { return t_main(); }
