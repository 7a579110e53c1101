"""Firmware: boards as data (``boards/<name>/board.toml``), CMake builds of the firmware ELF with size reports,
QEMU for the emulated boards and pyOCD/OpenOCD for the real ones."""

from toolkit.firmware.boards import Board, BoardError, list_boards, load_board
from toolkit.firmware.build import FirmwareBuild, FirmwareTooLarge, build_firmware

__all__ = ["Board", "BoardError", "FirmwareBuild", "FirmwareTooLarge", "build_firmware", "list_boards", "load_board"]
