"""Boards as data: every boards/<name>/board.toml parses, agrees with its linker script, names files that exist;
`odl boards`, `odl doctor` and `odl flash` report what they should. No builds here (see test_firmware_build.py)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from toolkit.cli import main
from toolkit.errors import ToolMissingError
from toolkit.firmware.boards import BOARDS_DIR, REPO, BoardError, list_boards, load_board, parse_board
from toolkit.firmware.build import _overflow, board_cmake
from toolkit.firmware.size import parse_berkeley

EMULATED = {"qemu-cm4": "mps2-an386", "qemu-cm7": "mps2-an500", "qemu-cm55": "mps3-an547", "qemu-rv32": "virt"}
REAL = {"stm32f746g-disco", "nrf52840-dk", "rpi-pico2", "hifive1-revb"}


def test_every_board_of_the_issue_is_there():
    boards = {b.name: b for b in list_boards()}
    assert set(EMULATED) | REAL <= set(boards)
    for name, machine in EMULATED.items():
        assert boards[name].emulated and boards[name].qemu["machine"] == machine
    for name in REAL:
        assert not boards[name].emulated and boards[name].flash_tool in ("pyocd", "openocd")
    assert boards["hifive1-revb"].memory.sram_size == 16 * 1024
    assert boards["stm32f746g-disco"].memory.sram_size == 320 * 1024
    assert boards["qemu-cm55"].uart.base == 0x49303000
    assert boards["qemu-rv32"].uart.base == 0x10000000 and boards["qemu-rv32"].toolchain == "riscv32-clang"


def _linker_memory(path: Path) -> dict:
    text = path.read_text()
    out = {}
    for region, origin, length in re.findall(r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*"
                                             r"(0x[0-9A-Fa-f]+)", text):
        out[region] = (int(origin, 16), int(length, 16))
    m = re.search(r"__stack_size\s*=\s*(0x[0-9A-Fa-f]+)", text)
    out["stack"] = int(m.group(1), 16)
    return out


@pytest.mark.parametrize("board", [b.name for b in list_boards()])
def test_board_folder_is_complete_and_consistent(board):
    b = load_board(board)
    mem = _linker_memory(b.linker_script)
    assert mem["FLASH"] == (b.memory.flash_origin, b.memory.flash_size), "linker.ld FLASH differs from board.toml"
    assert mem["SRAM"] == (b.memory.sram_origin, b.memory.sram_size), "linker.ld SRAM differs from board.toml"
    assert mem["stack"] == b.memory.stack_size
    assert f"sections_{b.arch}.ld" in b.linker_script.read_text()
    assert (REPO / "firmware" / "drivers" / f"uart_{b.uart.driver}.c").is_file()
    assert (REPO / "firmware" / "startup" / f"{b.startup}.c").is_file()
    assert b.toolchain_file.is_file()
    assert b.clock_hz > 0 and b.uart.baud > 0 and b.memory.stack_size < b.memory.sram_size
    cm = board_cmake(b)
    assert f'set(ODL_BOARD "{b.name}")' in cm and f"ODL_UART_BASE=0x{b.uart.base:08X}u" in cm
    if b.arch == "riscv":
        assert b.multilib and "-mabi=" + b.multilib.split("/")[1] in b.cflags


def test_adding_a_board_is_adding_a_folder(tmp_path):
    src = BOARDS_DIR / "qemu-cm4"
    dst = tmp_path / "my-cm4"
    shutil.copytree(src, dst)
    toml = (dst / "board.toml").read_text().replace('name = "qemu-cm4"', 'name = "my-cm4"')
    (dst / "board.toml").write_text(toml)
    names = [b.name for b in list_boards(tmp_path)]
    assert names == ["my-cm4"]
    assert load_board("my-cm4", tmp_path).memory.flash_size == 0x100000


def test_bad_boards_are_refused_clearly(tmp_path):
    with pytest.raises(BoardError, match="unknown board 'nope'.*qemu-cm4"):
        load_board("nope")
    d = tmp_path / "broken"
    d.mkdir()
    (d / "board.toml").write_text('name = "broken"\narch = "mips"\n')
    with pytest.raises(BoardError, match="missing key"):
        parse_board(d / "board.toml")
    text = (BOARDS_DIR / "qemu-cm4" / "board.toml").read_text().replace('name = "qemu-cm4"', 'name = "broken"')
    (d / "board.toml").write_text(text.replace('arch = "arm"', 'arch = "mips"'))
    with pytest.raises(BoardError, match="arch 'mips'"):
        parse_board(d / "board.toml")


def test_size_and_overflow_parsers():
    out = "   text\t   data\t    bss\t    dec\t    hex\tfilename\n   6472\t      8\t  49216\t  55696\t   d990\tfw.elf\n"
    assert parse_berkeley(out) == (6472, 8, 49216)
    b = load_board("qemu-cm4")
    gnu = "/usr/bin/ld: fw.elf section `.text' will not fit in region `FLASH'\n" \
          "/usr/bin/ld: region `FLASH' overflowed by 957900 bytes\ncollect2: error: ld returned 1 exit status"
    e = _overflow(b, gnu)
    assert e.region == "FLASH" and e.overflow == 957900 and "does not fit qemu-cm4" in str(e)
    lld = "ld.lld-19: error: section '.bss' will not fit in region 'SRAM': overflowed by 87312 bytes"
    e = _overflow(load_board("qemu-rv32"), lld)
    assert e.region == "SRAM" and e.overflow == 87312
    assert _overflow(b, "undefined reference to `foo'") is None


def test_odl_boards_json(capsys):
    assert main(["boards", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["qemu-cm4"]["flash_bytes"] == 1024 * 1024 and rows["qemu-cm4"]["sram_bytes"] == 256 * 1024
    assert rows["rpi-pico2"]["run"]["tool"] == "pyocd" and rows["hifive1-revb"]["run"]["tool"] == "openocd"
    assert main(["boards"]) == 0
    assert "QEMU mps3-an547" in capsys.readouterr().out


def test_odl_doctor_reports_every_tool(capsys):
    code = main(["doctor", "--json"])
    rep = json.loads(capsys.readouterr().out)
    names = {t["name"]: t for t in rep["tools"]}
    for n in ("cmake", "arm-none-eabi-gcc", "clang-19", "ld.lld-19", "qemu-system-arm", "qemu-system-riscv32",
              "picolibc-riscv", "pyocd", "openocd"):
        assert n in names and names[n]["hint"]
    for n in ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"):
        assert names[n]["found"] == (shutil.which(n) is not None)
    assert code == (0 if rep["ok"] else 1)
    assert names["pyocd"]["found"] == (shutil.which("pyocd") is not None)


@pytest.mark.skipif(shutil.which("pyocd") is not None, reason="pyOCD is installed here")
def test_flash_without_pyocd_says_what_it_needs(capsys):
    from toolkit.firmware.flash import flash_command

    with pytest.raises(ToolMissingError, match="pip install pyocd"):
        flash_command(load_board("stm32f746g-disco"), Path("fw.elf"))
    assert main(["flash", "--board", "nrf52840-dk"]) == 1
    assert "needs pyOCD" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("openocd") is not None, reason="OpenOCD is installed here")
def test_flash_without_openocd_says_what_it_needs(capsys):
    assert main(["flash", "--board", "hifive1-revb"]) == 1
    assert "apt-get install openocd" in capsys.readouterr().err


def test_emulated_boards_refuse_flash_and_real_boards_refuse_run(capsys):
    assert main(["flash", "--board", "qemu-cm4"]) == 1
    assert "emulated" in capsys.readouterr().err
    assert main(["run", "--board", "stm32f746g-disco"]) == 1
    assert "real board" in capsys.readouterr().err
