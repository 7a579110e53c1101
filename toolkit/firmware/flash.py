"""Flash a real board: pyOCD for Cortex-M, OpenOCD for RISC-V (the tool and its target come from board.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from toolkit.errors import OdlError, ToolMissingError
from toolkit.firmware.boards import Board


class FlashError(OdlError):
    """The flash tool ran and failed (no probe attached, wrong target, ...)."""


def flash_command(board: Board, elf: Path, probe: str | None = None) -> list[str]:
    """The command that flashes ``elf`` onto ``board``; ToolMissingError if its tool is not installed."""
    tool = board.flash_tool
    target = board.run.get("target", "")
    if tool is None:
        raise OdlError(f"{board.name} is emulated: nothing to flash; run it with `odl run --board {board.name}`")
    if tool == "pyocd":
        exe = shutil.which("pyocd")
        if exe:
            cmd = [exe]
        else:
            try:
                import pyocd  # noqa: F401
                cmd = [sys.executable, "-m", "pyocd"]
            except ImportError:
                raise ToolMissingError(
                    f"flashing {board.name} needs pyOCD, which is not installed: `pip install pyocd`, then "
                    f"`pyocd pack install {target}` for the target support, and connect the board's debug probe "
                    "over USB") from None
        cmd += ["flash", "--target", target, "--format", "elf"]
        if probe:
            cmd += ["--uid", probe]
        return cmd + [str(elf)]
    if tool == "openocd":
        exe = shutil.which("openocd")
        if not exe:
            raise ToolMissingError(
                f"flashing {board.name} needs OpenOCD, which is not installed: `apt-get install openocd` (it "
                f"provides {target}), and connect the board's USB debug port")
        return [exe, "-f", target, "-c", f"program {elf} verify reset exit"]
    raise OdlError(f"{board.name}: unknown flash tool {tool!r} in board.toml (pyocd or openocd)")


def flash(board: Board, elf: Path, probe: str | None = None) -> str:
    """Flash ``elf``; returns the tool's output. FlashError if the tool fails."""
    cmd = flash_command(board, Path(elf), probe)
    res = subprocess.run(cmd, capture_output=True, text=True)
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0:
        raise FlashError(f"{cmd[0]} could not flash {board.name} (is the board connected?):\n{out[-2000:]}")
    return out
