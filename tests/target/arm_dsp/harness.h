/* Shared helpers of the ARM DSP test programs (startup.c). */
#ifndef ODL_TEST_HARNESS_H
#define ODL_TEST_HARNESS_H
#include <stdint.h>

void odl_test_puts(const char *s);
void odl_test_putd(int64_t v);
void odl_test_putx(uint32_t v);
void odl_test_exit(int code);
void odl_mark_start(int id);
void odl_mark_stop(int id);

/* xorshift32: the same generator is re-implemented in tests/test_simd_arm_dsp.py. */
static inline uint32_t odl_test_rand(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}
#endif
