/* firmware/kernel_service.h - run one csrc kernel on a chosen code path, on inputs written over the link.
 *
 * The on-target test and benchmark harness (toolkit.target, docs/benchmarks.md) talks to this service:
 *   RUN_KERNEL ODL_KS_ID_SLOTS (0x0D01): u32 size x ODL_KS_SLOTS. Lays the tensor slots out in the service's static
 *       arena (16-byte aligned, in order; the rest of the arena is kernel scratch), registers slot i as writable
 *       tensor ODL_KS_TENSOR_BASE + i (a size of 0 registers a 16-byte placeholder) and fills every slot with 0xA5.
 *       -> u32 arena bytes, u32 scratch bytes left, u16 first tensor id, u16 slots.
 *   RUN_KERNEL ODL_KS_ID_RUN (0x0D00): u16 kernel code (odl_ks_kernel), u8 path (odl_path_id), u8 0, then
 *       i32 x ODL_KS_PARAMS parameter words (floats as their bits; the meaning of each word per kernel is listed in
 *       kernel_service.c and mirrored by toolkit/target/kernels.py).
 *       -> i32 odl_status, u64 instructions, u8 counter (1: the u64 is the exact minstret delta around the kernel
 *       call alone; 0: the core has no instruction counter, read the count from the QEMU insncount plugin, which
 *       counts what runs between odl_ks_mark_begin() and odl_ks_mark_end()), u8 x 3 reserved.
 * Interrupts are masked around the kernel call so neither count includes an interrupt handler.
 * Static memory only: the arena is ODL_KS_ARENA_BYTES (default 128 KB) of .bss.
 */
#ifndef ODL_FIRMWARE_KERNEL_SERVICE_H
#define ODL_FIRMWARE_KERNEL_SERVICE_H

#include <stdint.h>

#include "odl/protocol.h"

#define ODL_KS_ID_RUN 0x0D00u
#define ODL_KS_ID_SLOTS 0x0D01u
#define ODL_KS_TENSOR_BASE 0x20u
#define ODL_KS_SLOTS 8
#define ODL_KS_PARAMS 28

/* Kernel codes of ODL_KS_ID_RUN (stable: the host sends them). */
typedef enum {
    ODL_KS_MATMUL_S8 = 1,
    ODL_KS_MATMUL_F32 = 2,
    ODL_KS_MATMUL_F16 = 3,
    ODL_KS_CONV2D_S8_FORWARD = 4,
    ODL_KS_DEPTHWISE_CONV2D_S8_FORWARD = 5,
    ODL_KS_FULLY_CONNECTED_S8_FORWARD = 6,
    ODL_KS_CONV2D_F32_FORWARD = 7,
    ODL_KS_CONV2D_F32_WEIGHT_GRAD = 8,
    ODL_KS_CONV2D_F32_INPUT_GRAD = 9,
    ODL_KS_CONV2D_F16_FORWARD = 10,
    ODL_KS_CONV2D_F16_WEIGHT_GRAD = 11,
    ODL_KS_CONV2D_F16_INPUT_GRAD = 12,
    ODL_KS_DEPTHWISE_CONV2D_F16_FORWARD = 13,
    ODL_KS_DEPTHWISE_CONV2D_F16_WEIGHT_GRAD = 14,
    ODL_KS_DEPTHWISE_CONV2D_F16_INPUT_GRAD = 15,
    ODL_KS_CONV2D_S8_INPUT_GRAD_F32 = 16,
    ODL_KS_CONV2D_S8_WEIGHT_GRAD_F32 = 17
} odl_ks_kernel;

/* Register the two RUN_KERNEL ids (and, on the first SLOTS request, the slot tensors) with the device. */
void odl_kernel_service_register(odl_device *dev);

/* Markers around the measured kernel call (never inlined; the QEMU plugin snapshots its counter at their entry). */
void odl_ks_mark_begin(void);
void odl_ks_mark_end(void);

#endif
