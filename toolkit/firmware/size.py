"""Size of a firmware image (text / data / bss from the ELF) against the board's Flash and SRAM.

Uses the toolchain's ``size`` (arm-none-eabi-size or llvm-size, Berkeley format): Flash holds text + data (the
initial values of .data), SRAM holds data + bss, where bss includes the retained (.noinit) area and the stack.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import BuildError
from toolkit.firmware import tools


@dataclass(frozen=True)
class ImageSize:
    text: int
    data: int
    bss: int
    flash_size: int
    sram_size: int

    @property
    def flash_used(self) -> int:
        return self.text + self.data

    @property
    def sram_used(self) -> int:
        return self.data + self.bss

    @property
    def fits(self) -> bool:
        return self.flash_used <= self.flash_size and self.sram_used <= self.sram_size

    def as_dict(self) -> dict:
        return {
            "text": self.text, "data": self.data, "bss": self.bss,
            "flash_used": self.flash_used, "flash_size": self.flash_size,
            "sram_used": self.sram_used, "sram_size": self.sram_size, "fits": self.fits,
        }

    def report(self) -> str:
        def pct(a, b):
            return f"{100.0 * a / b:5.1f}%" if b else "  n/a"
        return (f"  text {self.text:>9} B   data {self.data:>8} B   bss {self.bss:>8} B\n"
                f"  Flash {self.flash_used:>8} B of {self.flash_size:>9} B ({pct(self.flash_used, self.flash_size)})\n"
                f"  SRAM  {self.sram_used:>8} B of {self.sram_size:>9} B ({pct(self.sram_used, self.sram_size)})")


def size_tool(arch: str) -> str:
    return tools.require("arm-none-eabi-size" if arch == "arm" else "llvm-size-19")


def parse_berkeley(output: str) -> tuple[int, int, int]:
    """text, data, bss from `size` (Berkeley format) output."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        cols = ln.split()
        if cols[:3] == ["text", "data", "bss"] and i + 1 < len(lines):
            vals = lines[i + 1].split()
            return int(vals[0]), int(vals[1]), int(vals[2])
    raise BuildError(f"cannot parse the size report:\n{output}")


def image_size(elf: Path, board) -> ImageSize:
    res = subprocess.run([size_tool(board.arch), "-B", str(elf)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"reading the size of {elf} failed: {res.stderr.strip()}")
    text, data, bss = parse_berkeley(res.stdout)
    return ImageSize(text, data, bss, board.memory.flash_size, board.memory.sram_size)
