"""External tools the firmware path needs, where to find them and how to install them (``odl doctor``)."""

from __future__ import annotations

import glob
import shutil
import subprocess
from dataclasses import dataclass

from toolkit.errors import ToolMissingError


@dataclass(frozen=True)
class Tool:
    name: str
    purpose: str
    candidates: tuple[str, ...]  # executables (first found wins) or, with kind="path", glob patterns
    hint: str
    kind: str = "exe"
    version_args: tuple[str, ...] = ("--version",)


PICOLIBC_RISCV = "/usr/lib/picolibc/riscv64-unknown-elf"

TOOLS: tuple[Tool, ...] = (
    Tool("cmake", "configure firmware builds", ("cmake",), "apt-get install cmake"),
    Tool("ninja", "run firmware builds", ("ninja", "ninja-build"), "apt-get install ninja-build"),
    Tool("arm-none-eabi-gcc", "compile Cortex-M firmware", ("arm-none-eabi-gcc",), "apt-get install gcc-arm-none-eabi"),
    Tool("newlib-arm", "C library for Cortex-M firmware", ("/usr/lib/arm-none-eabi/newlib/thumb",),
         "apt-get install libnewlib-arm-none-eabi", kind="path"),
    Tool("arm-none-eabi-size", "Cortex-M image sizes", ("arm-none-eabi-size",),
         "apt-get install binutils-arm-none-eabi"),
    Tool("clang-19", "compile RISC-V firmware", ("clang-19",), "apt-get install clang-19"),
    Tool("ld.lld-19", "link RISC-V firmware", ("ld.lld-19",), "apt-get install lld-19"),
    Tool("llvm-size-19", "RISC-V image sizes", ("llvm-size-19", "llvm-size"), "apt-get install llvm-19"),
    Tool("picolibc-riscv", "C library for RISC-V firmware", (PICOLIBC_RISCV + "/lib/release",),
         "apt-get install picolibc-riscv64-unknown-elf", kind="path"),
    Tool("libgcc-riscv", "compiler runtime for RISC-V firmware", ("/usr/lib/gcc/riscv64-unknown-elf/*/libgcc.a",),
         "apt-get install gcc-riscv64-unknown-elf", kind="path"),
    Tool("qemu-system-arm", "run the emulated Cortex-M boards", ("qemu-system-arm",),
         "apt-get install qemu-system-arm"),
    Tool("qemu-system-riscv32", "run the emulated RISC-V board", ("qemu-system-riscv32",),
         "apt-get install qemu-system-misc"),
    Tool("pyocd", "flash Cortex-M boards", ("pyocd",), "pip install pyocd (then `pyocd pack install <target>`)"),
    Tool("openocd", "flash RISC-V boards", ("openocd",), "apt-get install openocd", version_args=("--version",)),
)

_BY_NAME = {t.name: t for t in TOOLS}


def locate(tool: Tool | str) -> str | None:
    """Path of the tool (or of the first matching file for a library), or None."""
    t = _BY_NAME[tool] if isinstance(tool, str) else tool
    for c in t.candidates:
        if t.kind == "path":
            hits = sorted(glob.glob(c))
            if hits:
                return hits[0]
        else:
            p = shutil.which(c)
            if p:
                return p
    return None


def version(tool: Tool, path: str) -> str:
    if tool.kind == "path":
        return ""
    try:
        res = subprocess.run([path, *tool.version_args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    out = (res.stdout or res.stderr).strip().splitlines()
    return out[0].strip() if out else ""


def require(name: str) -> str:
    """Path of a tool, or a ToolMissingError that says how to install it."""
    t = _BY_NAME[name]
    p = locate(t)
    if p is None:
        raise ToolMissingError(f"{t.name} is needed to {t.purpose} but was not found; install it: {t.hint}")
    return p


def doctor(with_versions: bool = True) -> list[dict]:
    """Every tool, found or missing, with its path, version and install hint."""
    rows = []
    for t in TOOLS:
        p = locate(t)
        rows.append({
            "name": t.name,
            "purpose": t.purpose,
            "found": p is not None,
            "path": p,
            "version": version(t, p) if (p and with_versions) else "",
            "hint": t.hint,
        })
    return rows


def toolchain_tools(toolchain: str) -> list[str]:
    """The tools a board's toolchain needs."""
    if toolchain == "arm-none-eabi-gcc":
        return ["cmake", "ninja", "arm-none-eabi-gcc", "newlib-arm"]
    return ["cmake", "ninja", "clang-19", "ld.lld-19", "picolibc-riscv", "libgcc-riscv"]
