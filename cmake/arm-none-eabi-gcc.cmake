# Cortex-M toolchain: Debian's gcc-arm-none-eabi with newlib-nano. CPU flags come from the board
# (ODL_BOARD_CONFIG, written by toolkit.firmware from boards/<name>/board.toml).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ODL_BOARD_CONFIG)

find_program(ODL_ARM_GCC arm-none-eabi-gcc)
if(NOT ODL_ARM_GCC)
  message(FATAL_ERROR "arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
endif()
set(CMAKE_C_COMPILER ${ODL_ARM_GCC})
set(CMAKE_ASM_COMPILER ${ODL_ARM_GCC})
find_program(ODL_SIZE_TOOL arm-none-eabi-size)
find_program(CMAKE_OBJCOPY arm-none-eabi-objcopy)

if(ODL_BOARD_CONFIG)
  include(${ODL_BOARD_CONFIG})
endif()
string(JOIN " " ODL_CPU_FLAGS_STR ${ODL_CPU_FLAGS})
set(CMAKE_C_FLAGS_INIT "${ODL_CPU_FLAGS_STR} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${ODL_CPU_FLAGS_STR}")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "${ODL_CPU_FLAGS_STR} --specs=nano.specs --specs=nosys.specs -nostartfiles -Wl,--gc-sections")
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "")
set(CMAKE_C_FLAGS_MINSIZEREL "-Os -DNDEBUG" CACHE STRING "")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
