#!/bin/sh
# Build the RVV test image: ./build.sh OUT.elf [extra cflags, e.g. -DODL_SINGLE_ROUNDING]  (used by tests/test_simd_rvv.py; needs clang-19, ld.lld-19 and
# Debian's picolibc-riscv64-unknown-elf + gcc-riscv64-unknown-elf for libc / libgcc of rv32imafc/ilp32f).
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-/tmp/odl_test_rvv.elf}
[ $# -gt 0 ] && shift
multilib=rv32imafc/ilp32f
picolibc=/usr/lib/picolibc/riscv64-unknown-elf
libgcc=$(ls /usr/lib/gcc/riscv64-unknown-elf/*/$multilib/libgcc.a | head -n 1)
k=$root/csrc/kernels
exec clang-19 --target=riscv32-unknown-elf -march=rv32imafc_zicsr_zfh_zve32f_zvfh -mabi=ilp32f -mcmodel=medany \
    -O2 -g -ffp-contract=off -fno-strict-aliasing -ffreestanding -fno-builtin -nostdlib -nostdlibinc -isystem "$picolibc/include" -DODL_WITH_RVV "$@" \
    -I"$root/csrc/include" -I"$k" -I"$k/ref" -I"$here" -Wall -Wno-unused-function \
    -fuse-ld=lld-19 -T "$here/link.ld" -Wl,--gc-sections \
    "$here/start.S" "$here/test_rvv.c" \
    "$k/simd/rvv/"*.c "$k/dispatch.c" "$k/layer_dispatch.c" "$k/ref/common.c" "$k/ref/quant.c" \
    "$k/ref/matmul_ref.c" "$k/ref/s8_conv2d.c" "$k/ref/s8_im2col.c" "$k/ref/s8_depthwise_conv2d.c" \
    "$k/ref/fp_depthwise_conv2d.c" \
    -L"$picolibc/lib/release/$multilib" -Wl,--start-group -lc "$libgcc" -Wl,--end-group -o "$out"
