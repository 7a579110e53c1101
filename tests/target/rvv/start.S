/* Minimal machine-mode boot for the RVV kernel test programs: stack, FPU + vector unit on, call main, exit QEMU
 * through the virt machine's test finisher (0x100000) with main's return code. Everything is loaded in RAM. */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la t0, trap
    csrw mtvec, t0
    li t0, (3 << 13) | (3 << 9)      /* mstatus.FS = dirty, mstatus.VS = dirty */
    csrs mstatus, t0
    csrwi fcsr, 0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call main
    call rvv_exit
3:  j 3b

    .align 4
trap:
    csrr a0, mcause
    csrr a1, mepc
    call rvv_trap
4:  j 4b
