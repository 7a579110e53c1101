"""Symbol addresses of an ELF32 file (the firmware), read with the standard library only."""

from __future__ import annotations

import struct
from pathlib import Path

from toolkit.errors import OdlError


def elf_symbols(path: Path | str, names: set[str] | None = None) -> dict[str, int]:
    """name -> st_value of the symbols in .symtab (only ``names`` when given). Thumb functions keep bit 0 set."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise OdlError(f"{path}: not a little-endian ELF32 file")
    e_shoff, = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x2E)
    sections = [struct.unpack_from("<IIIIIIIIII", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    out: dict[str, int] = {}
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        off, size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 16
        stroff = sections[link][4]
        for i in range(size // entsize):
            st_name, st_value, _sz, _info, _other, _shndx = struct.unpack_from("<IIIBBH", data, off + i * entsize)
            if not st_name:
                continue
            end = data.index(b"\0", stroff + st_name)
            name = data[stroff + st_name:end].decode("ascii", "replace")
            if names is None or name in names:
                out[name] = st_value
    return out
