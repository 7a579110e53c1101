"""Boards as data: every folder ``boards/<name>/`` with a ``board.toml`` is a board.

``load_board(name)`` reads one, ``list_boards()`` all of them. A :class:`Board` knows its CPU flags, toolchain,
memory (Flash/SRAM origin and size), UART, clock and how it runs (a QEMU machine, or a flash tool). Adding a board
means adding a folder; nothing here names a board.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import OdlError

REPO = Path(__file__).resolve().parents[2]
BOARDS_DIR = REPO / "boards"

ARCHES = ("arm", "riscv")
TOOLCHAINS = ("arm-none-eabi-gcc", "riscv32-clang")


class BoardError(OdlError):
    """An unknown board, or a board.toml that is missing something."""


@dataclass(frozen=True)
class Memory:
    flash_origin: int
    flash_size: int
    sram_origin: int
    sram_size: int
    stack_size: int


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int = 115200
    tx_pin: int | None = None
    rx_pin: int | None = None


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    emulated: bool
    arch: str
    cpu: str
    toolchain: str
    cflags: tuple[str, ...]
    simd_paths: tuple[str, ...]
    startup: str
    clock_hz: int
    counter: str
    memory: Memory
    uart: Uart
    run: dict
    multilib: str | None = None
    defines: tuple[str, ...] = ()  # extra -D for the firmware and the library (protocol sizes, test tensors)
    build_type: str = "Release"
    path: Path = field(default=BOARDS_DIR, compare=False)

    @property
    def linker_script(self) -> Path:
        return self.path / "linker.ld"

    @property
    def toolchain_file(self) -> Path:
        return REPO / "cmake" / f"{self.toolchain}.cmake"

    @property
    def qemu(self) -> dict | None:
        """The QEMU section of ``[run]`` for emulated boards, else None."""
        return self.run if self.run.get("kind") == "qemu" else None

    @property
    def flash_tool(self) -> str | None:
        return self.run.get("tool") if self.run.get("kind") == "flash" else None

    def summary(self) -> dict:
        """Plain-data view (for ``odl boards --json``)."""
        return {
            "name": self.name,
            "description": self.description,
            "emulated": self.emulated,
            "arch": self.arch,
            "cpu": self.cpu,
            "toolchain": self.toolchain,
            "clock_hz": self.clock_hz,
            "flash_bytes": self.memory.flash_size,
            "sram_bytes": self.memory.sram_size,
            "flash_origin": self.memory.flash_origin,
            "sram_origin": self.memory.sram_origin,
            "uart": {"driver": self.uart.driver, "base": self.uart.base, "baud": self.uart.baud},
            "counter": self.counter,
            "simd_paths": list(self.simd_paths),
            "run": dict(self.run),
        }


def _req(d: dict, key: str, where: str):
    if key not in d:
        raise BoardError(f"{where}: missing key {key!r}")
    return d[key]


def parse_board(path: Path) -> Board:
    """Read and check one ``board.toml``."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BoardError(f"cannot read {where}: {e}") from e
    mem = _req(data, "memory", where)
    uart = _req(data, "uart", where)
    run = _req(data, "run", where)
    arch = _req(data, "arch", where)
    if arch not in ARCHES:
        raise BoardError(f"{where}: arch {arch!r} is not one of {', '.join(ARCHES)}")
    toolchain = _req(data, "toolchain", where)
    if toolchain not in TOOLCHAINS:
        raise BoardError(f"{where}: toolchain {toolchain!r} is not one of {', '.join(TOOLCHAINS)}")
    if run.get("kind") not in ("qemu", "flash"):
        raise BoardError(f"{where}: [run] kind must be 'qemu' or 'flash'")
    name = _req(data, "name", where)
    if name != path.parent.name:
        raise BoardError(f"{where}: name {name!r} differs from its folder {path.parent.name!r}")
    return Board(
        name=name,
        description=data.get("description", ""),
        emulated=bool(data.get("emulated", run.get("kind") == "qemu")),
        arch=arch,
        cpu=_req(data, "cpu", where),
        toolchain=toolchain,
        cflags=tuple(_req(data, "cflags", where)),
        simd_paths=tuple(data.get("simd_paths", ())),
        startup=data.get("startup", "cortexm" if arch == "arm" else "riscv"),
        clock_hz=int(_req(data, "clock_hz", where)),
        counter=data.get("counter", ""),
        memory=Memory(
            flash_origin=int(_req(mem, "flash_origin", where)),
            flash_size=int(_req(mem, "flash_size", where)),
            sram_origin=int(_req(mem, "sram_origin", where)),
            sram_size=int(_req(mem, "sram_size", where)),
            stack_size=int(mem.get("stack_size", 0x2000)),
        ),
        uart=Uart(
            driver=_req(uart, "driver", where),
            base=int(_req(uart, "base", where)),
            baud=int(uart.get("baud", 115200)),
            tx_pin=uart.get("tx_pin"),
            rx_pin=uart.get("rx_pin"),
        ),
        run=dict(run),
        multilib=data.get("multilib"),
        defines=tuple(data.get("defines", ())),
        build_type=data.get("build_type", "Release"),
        path=path.parent,
    )


def board_names(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(p.parent.name for p in Path(boards_dir).glob("*/board.toml"))


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[Board]:
    return [parse_board(Path(boards_dir) / n / "board.toml") for n in board_names(boards_dir)]


def load_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    path = Path(boards_dir) / name / "board.toml"
    if not path.is_file():
        names = board_names(boards_dir)
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(names) or '(none)'}")
    return parse_board(path)


def emulated_boards(boards_dir: Path = BOARDS_DIR) -> list[Board]:
    return [b for b in list_boards(boards_dir) if b.qemu]
