# RV32 toolchain: clang-19 + ld.lld-19, with Debian's picolibc (picolibc-riscv64-unknown-elf, which carries the
# rv32 multilibs) for libc/libm and libgcc from gcc-riscv64-unknown-elf for the runtime helpers. The multilib
# directory (e.g. rv32imafc/ilp32f) and the CPU flags come from the board (ODL_BOARD_CONFIG).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ODL_BOARD_CONFIG)

find_program(ODL_CLANG NAMES clang-19 clang)
find_program(ODL_LLD NAMES ld.lld-19 ld.lld)
if(NOT ODL_CLANG OR NOT ODL_LLD)
  message(FATAL_ERROR "clang-19 / ld.lld-19 not found: apt-get install clang-19 lld-19")
endif()
set(CMAKE_C_COMPILER ${ODL_CLANG})
set(CMAKE_ASM_COMPILER ${ODL_CLANG})
set(CMAKE_C_COMPILER_TARGET riscv32-unknown-elf)
set(CMAKE_ASM_COMPILER_TARGET riscv32-unknown-elf)
find_program(ODL_SIZE_TOOL NAMES llvm-size-19 llvm-size)
find_program(CMAKE_OBJCOPY NAMES llvm-objcopy-19 llvm-objcopy)

if(ODL_BOARD_CONFIG)
  include(${ODL_BOARD_CONFIG})
endif()
if(NOT ODL_RISCV_MULTILIB)
  set(ODL_RISCV_MULTILIB "rv32imac/ilp32")
endif()
set(ODL_PICOLIBC "/usr/lib/picolibc/riscv64-unknown-elf" CACHE PATH "picolibc for riscv (include/, lib/release/)")
set(ODL_PICOLIBC_LIBDIR "${ODL_PICOLIBC}/lib/release/${ODL_RISCV_MULTILIB}")
file(GLOB ODL_LIBGCC_CANDIDATES "/usr/lib/gcc/riscv64-unknown-elf/*/${ODL_RISCV_MULTILIB}/libgcc.a")
if(NOT EXISTS "${ODL_PICOLIBC_LIBDIR}/libc.a" OR NOT ODL_LIBGCC_CANDIDATES)
  message(FATAL_ERROR "picolibc / libgcc for ${ODL_RISCV_MULTILIB} not found: "
                      "apt-get install picolibc-riscv64-unknown-elf (pulls gcc-riscv64-unknown-elf)")
endif()
list(GET ODL_LIBGCC_CANDIDATES 0 ODL_LIBGCC)

# picolibc keeps libm inside libc.a; its libm.a is a 64-bit placeholder lld rejects. csrc links `m`, so give the
# linker an empty archive of that name first.
set(ODL_EMPTY_LIBM_DIR "${CMAKE_BINARY_DIR}/odl-empty-libm")
if(NOT EXISTS "${ODL_EMPTY_LIBM_DIR}/libm.a")
  file(WRITE "${ODL_EMPTY_LIBM_DIR}/libm.a" "!<arch>\n")
endif()

string(JOIN " " ODL_CPU_FLAGS_STR ${ODL_CPU_FLAGS})
set(CMAKE_C_FLAGS_INIT
    "${ODL_CPU_FLAGS_STR} -ffunction-sections -fdata-sections -nostdlibinc -isystem ${ODL_PICOLIBC}/include")
set(CMAKE_ASM_FLAGS_INIT "${ODL_CPU_FLAGS_STR}")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "${ODL_CPU_FLAGS_STR} -fuse-ld=${ODL_LLD} -nostdlib -Wl,--gc-sections -L${ODL_EMPTY_LIBM_DIR} -L${ODL_PICOLIBC_LIBDIR}")
set(CMAKE_C_STANDARD_LIBRARIES "-Wl,--start-group -lc ${ODL_LIBGCC} -Wl,--end-group")
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "")
set(CMAKE_C_FLAGS_MINSIZEREL "-Os -DNDEBUG" CACHE STRING "")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
