"""docs/protocol.md is the specification: its tables of message types, status codes and STATS counters must match
the C header (through the cffi build) and the Python tables, value for value."""

import re
from pathlib import Path

from toolkit.host import get_lib
from toolkit.link import frame as fr

SPEC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()


def section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", SPEC, re.S | re.M)
    assert m, title
    return m.group(1)


def test_message_types_match_the_spec():
    ffi, lib = get_lib()
    rows = re.findall(r"^\| (0x[0-9A-Fa-f]{2}) +\| ([A-Z_]+) +\|", section("4. Messages"), re.M)
    assert len(rows) >= 14
    for code, name in rows:
        assert getattr(lib, f"ODL_MSG_{name}") == int(code, 16), name
        assert fr.Msg[name] == int(code, 16), name
    # and nothing in the C enum is missing from the spec (the user range bounds are described in prose)
    c_names = {n[len("ODL_MSG_"):] for n in dir(lib) if n.startswith("ODL_MSG_")}
    assert c_names - {n for _, n in rows} <= {"USER_FIRST", "USER_LAST"}


def test_status_codes_match_the_spec():
    ffi, lib = get_lib()
    rows = re.findall(r"^\| +(\d+) +\| ([A-Z_]+) +\|", section("5. Status codes"), re.M)
    assert len(rows) == len(fr.Status)
    for code, name in rows:
        assert getattr(lib, f"ODL_PERR_{name}") == int(code), name
        assert fr.Status[name] == int(code), name


def test_stats_counters_match_the_spec_and_the_struct():
    ffi, _ = get_lib()
    text = section("6. STATS counters")
    listed = re.search(r"in this order.*?:\s*(.*?)\.\s*$", text, re.S | re.M).group(1)
    names = [n.strip() for n in listed.replace("\n", " ").split(",")]
    assert tuple(names) == fr.STAT_COUNTERS
    assert tuple(f for f, _ in ffi.typeof("odl_link_stats").fields) == fr.STAT_COUNTERS


def test_header_layout_and_constants():
    ffi, lib = get_lib()
    assert lib.ODL_PROTO_VERSION == fr.PROTO_VERSION == 1
    assert lib.ODL_FLAG_RESPONSE == fr.FLAG_RESPONSE
    assert lib.ODL_PROTO_STALE_WINDOW == fr.STALE_WINDOW == int(re.search(r"seq is 1\.\.(\d+) behind", SPEC).group(1))
    assert (lib.ODL_WRITE_CHUNK_HEADER, lib.ODL_READ_CHUNK_HEADER, lib.ODL_RUN_KERNEL_HEADER) == (
        fr.WRITE_CHUNK_HEADER, fr.READ_CHUNK_HEADER, fr.RUN_KERNEL_HEADER)
    assert ffi.sizeof("odl_frame_header") == fr.HEADER.size == fr.HEADER_SIZE == 8
    fields = re.findall(r"^\| (\d+) +\| (\d+) +\| `(\w+)`", section("1. Framing"), re.M)
    assert [(int(o), int(s), n) for o, s, n in fields] == [
        (0, 1, "version"), (1, 1, "type"), (2, 1, "flags"), (3, 1, "status"), (4, 2, "seq"), (6, 2, "length")]
    assert [f for f, _ in ffi.typeof("odl_frame_header").fields] == [n for _, _, n in fields]
