/* Boot code for every RISC-V board (machine mode, no firmware below us): global pointer, stack, trap vector,
 * FPU and vector unit on (mstatus.FS / mstatus.VS), then C. */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top__
    la tp, odl_tls_area              /* picolibc keeps errno in thread-local storage */
    la t0, odl_trap_entry
    csrw mtvec, t0
#if defined(__riscv_flen) || defined(__riscv_vector)
    li t0, (3 << 13) | (3 << 9)      /* FS = dirty, VS = dirty (VS is ignored by cores without V) */
    csrs mstatus, t0
#endif
#if defined(__riscv_flen)
    csrwi fcsr, 0
#endif
    call odl_start_c
1:  j 1b

    .align 4
    .globl odl_trap_entry
odl_trap_entry:
    /* Any exception or interrupt: reset rather than hang, so the host can reconnect. */
    la sp, __stack_top__
    call odl_board_reset
2:  j 2b
