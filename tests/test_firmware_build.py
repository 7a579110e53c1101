"""Firmware builds for every board (real boards must link within their memory), images that do not fit are refused
at link time with a clear message, and `odl firmware build` reports sizes. Builds are cached under
~/.cache/odl/fw (or $ODL_CACHE_DIR/fw), so a second run only re-links what changed."""

import json
import struct
import subprocess

import pytest

from toolkit.cli import main
from toolkit.firmware import FirmwareTooLarge, build_firmware, list_boards, load_board

BOARDS = [b.name for b in list_boards()]
EM_ARM, EM_RISCV = 40, 243


@pytest.fixture(scope="module")
def builds():
    return {name: build_firmware(name) for name in BOARDS}


def _elf_header(path):
    """(class, machine, entry) and the loadable segments (vaddr, paddr, filesz, memsz), read with struct."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF"
    ei_class = data[4]
    machine, _, entry, phoff = struct.unpack_from("<HIII", data, 18)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    segs = []
    for i in range(phnum):
        p_type, p_off, vaddr, paddr, filesz, memsz = struct.unpack_from("<IIIIII", data, phoff + i * phentsize)
        if p_type == 1:
            segs.append((p_off, vaddr, paddr, filesz, memsz))
    return ei_class, machine, entry, segs, data


@pytest.mark.parametrize("board", BOARDS)
def test_firmware_builds_and_fits(builds, board):
    fw = builds[board]
    b = fw.board
    assert fw.elf.is_file() and fw.bin.is_file() and fw.hex.is_file()
    s = fw.size
    assert s.fits, s.report()
    assert 0 < s.flash_used <= b.memory.flash_size
    assert 0 < s.sram_used <= b.memory.sram_size
    assert s.bss >= b.memory.stack_size  # the stack is reserved inside SRAM by the linker script

    # Independent check of the image layout: parse the ELF program headers ourselves.
    ei_class, machine, entry, segs, data = _elf_header(fw.elf)
    assert ei_class == 1  # 32-bit
    assert machine == (EM_ARM if b.arch == "arm" else EM_RISCV)
    flash = (b.memory.flash_origin, b.memory.flash_origin + b.memory.flash_size)
    sram = (b.memory.sram_origin, b.memory.sram_origin + b.memory.sram_size)
    assert flash[0] <= (entry & ~1) < flash[1]
    for off, vaddr, paddr, filesz, memsz in segs:
        if filesz:  # everything stored in the image is loaded into Flash
            assert flash[0] <= paddr and paddr + filesz <= flash[1], hex(paddr)
        assert (flash[0] <= vaddr and vaddr + memsz <= flash[1]) or (sram[0] <= vaddr and vaddr + memsz <= sram[1])
    if b.arch == "arm":
        # Cortex-M vector table at the start of Flash: initial SP at the top of the stack inside SRAM, reset vector
        # a Thumb address inside Flash.
        text = next(s for s in segs if s[2] == b.memory.flash_origin)
        sp, reset = struct.unpack_from("<II", data, text[0])
        assert sram[0] < sp <= sram[1] and sp % 8 == 0
        assert reset & 1 and flash[0] <= (reset & ~1) < flash[1]


def test_hifive1_fits_its_16k_sram(builds):
    s = builds["hifive1-revb"].size
    assert s.sram_used <= 16 * 1024 and s.fits


def test_size_report_agrees_with_the_size_tool(builds):
    fw = builds["qemu-cm4"]
    res = subprocess.run(["arm-none-eabi-size", "-A", str(fw.elf)], capture_output=True, text=True, check=True)
    sections = {ln.split()[0]: int(ln.split()[1]) for ln in res.stdout.splitlines()[2:] if len(ln.split()) == 3}
    assert fw.size.bss == sections[".bss"] + sections[".noinit"] + sections[".stack"]
    assert fw.size.text >= sections[".text"]


@pytest.mark.parametrize("board,define,region", [
    ("qemu-cm4", "ODL_FW_FILLER_FLASH_BYTES=2000000", "FLASH"),   # GNU ld
    ("qemu-rv32", "ODL_FW_FILLER_SRAM_BYTES=300000", "SRAM"),     # ld.lld
])
def test_image_that_does_not_fit_is_refused(board, define, region):
    with pytest.raises(FirmwareTooLarge) as e:
        build_firmware(board, defines=(define,))
    assert e.value.region == region and e.value.overflow > 0
    assert f"does not fit {board}" in str(e.value) and f"{region} overflowed by" in str(e.value)


def test_cli_firmware_build_json_and_refusal(builds, capsys):
    assert main(["firmware", "build", "--board", "qemu-cm4", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["fits"] and rep["text"] == builds["qemu-cm4"].size.text
    assert rep["flash_size"] == load_board("qemu-cm4").memory.flash_size
    code = main(["firmware", "build", "--board", "qemu-cm4", "-D", "ODL_FW_FILLER_FLASH_BYTES=2000000"])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not fit qemu-cm4" in err and "FLASH overflowed by" in err


def test_cli_firmware_build_text_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["firmware", "build", "--board", "hifive1-revb", "-o", "b"]) == 0  # a relative build directory
    out = capsys.readouterr().out
    assert "Flash" in out and "SRAM" in out and "of     16384 B" in out
    assert (tmp_path / "b" / "firmware" / "firmware.elf").is_file()
