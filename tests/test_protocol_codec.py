"""CRC-32, COBS and the frame codec: C (csrc/runtime) and Python (toolkit.link.frame) against independent
references (zlib, a COBS written from the paper's definition) and against each other in both directions."""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.host import get_lib
from toolkit.link import frame as fr


@pytest.fixture(scope="module")
def lib():
    return get_lib()


def ref_cobs_encode(data: bytes) -> bytes:
    """COBS by its definition: each zero-terminated segment becomes runs of at most 254 data bytes, each led by
    (run length + 1); a run of 254 (code 0xFF) carries no zero after it."""
    out = bytearray()
    for seg in data.split(b"\x00"):
        while len(seg) >= 254:
            out += b"\xff" + seg[:254]
            seg = seg[254:]
        out += bytes([len(seg) + 1]) + seg
    return bytes(out)


def c_cobs_encode(lib, data: bytes) -> bytes:
    ffi, l = lib
    cap = l.odl_cobs_max_encoded(len(data))
    out = ffi.new("uint8_t[]", cap + 1)
    n = l.odl_cobs_encode(data, len(data), out, cap)
    assert n > 0
    return bytes(ffi.buffer(out, n))


def c_cobs_decode(lib, data: bytes, cap: int | None = None):
    ffi, l = lib
    cap = len(data) if cap is None else cap
    out = ffi.new("uint8_t[]", max(cap, 1))
    n = l.odl_cobs_decode(data, len(data), out, cap)
    return None if n < 0 else bytes(ffi.buffer(out, n))


# zero-heavy and long-run data, where COBS has its edge cases (runs of exactly 254)
blobs = st.one_of(
    st.binary(max_size=1200),
    st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff", b"a" * 253, b"b" * 254, b"c" * 255]), max_size=12).map(
        b"".join),
)


@settings(max_examples=400, deadline=None)
@given(data=blobs, seed=st.integers(0, 2**32 - 1))
def test_crc32_matches_zlib_and_chains(lib, data, seed):
    ffi, l = lib
    assert l.odl_crc32(0, data, len(data)) == zlib.crc32(data)
    assert fr.crc32(data) == zlib.crc32(data)
    k = seed % (len(data) + 1)
    assert l.odl_crc32(l.odl_crc32(0, data[:k], k), data[k:], len(data) - k) == zlib.crc32(data)


def test_crc32_check_value(lib):
    # the catalogue check value of CRC-32/ISO-HDLC (the zlib CRC)
    assert lib[1].odl_crc32(0, b"123456789", 9) == 0xCBF43926


@settings(max_examples=400, deadline=None)
@given(data=blobs)
def test_cobs_c_and_python_match_the_reference(lib, data):
    want = ref_cobs_encode(data)
    assert 0 not in want
    assert len(want) <= lib[1].odl_cobs_max_encoded(len(data))
    assert fr.cobs_encode(data) == want
    assert c_cobs_encode(lib, data) == want
    assert fr.cobs_decode(want) == data
    assert c_cobs_decode(lib, want) == data


def test_cobs_rejects_malformed_and_small_buffers(lib):
    assert c_cobs_decode(lib, b"\x05ab") is None  # block promises 4 bytes, has 2
    assert c_cobs_decode(lib, b"\x02a\x00") is None  # zero inside
    assert c_cobs_decode(lib, b"\x03ab\x02c", cap=3) is None  # decodes to 4 bytes
    ffi, l = lib
    out = ffi.new("uint8_t[]", 4)
    assert l.odl_cobs_encode(b"abcdef", 6, out, 4) == 0
    with pytest.raises(ValueError):
        fr.cobs_decode(b"\x05ab")


def frame_strategy(version):
    return st.builds(fr.Frame, type=st.integers(0, 255), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=1024),
                     flags=st.integers(0, 255), status=st.integers(0, 255), version=version)


frames = frame_strategy(st.one_of(st.just(fr.PROTO_VERSION), st.integers(0, 255)))
frames_v1 = frame_strategy(st.just(fr.PROTO_VERSION))


def c_encode(lib, f: fr.Frame) -> bytes:
    ffi, l = lib
    h = ffi.new("odl_frame_header *", {"version": f.version, "type": f.type, "flags": f.flags,
                                        "status": f.status, "seq": f.seq})
    cap = 2000
    out = ffi.new("uint8_t[]", cap)
    n = l.odl_frame_encode(h, f.payload, len(f.payload), out, cap)
    assert n > 0
    return bytes(ffi.buffer(out, n))


def c_parse(lib, stream: bytes, cap: int = 8 + 1024 + 4):
    """Run the C byte-at-a-time parser over a stream: list of ('frame', Frame) / ('error', status, seq|None)."""
    ffi, l = lib
    buf = ffi.new("uint8_t[]", cap)
    p = ffi.new("odl_frame_parser *")
    assert l.odl_parser_init(p, buf, cap) == 0
    events = []
    for b in stream:
        ev = l.odl_parser_feed_byte(p, b)
        if ev == l.ODL_PARSE_FRAME:
            h = p.header
            payload = bytes(ffi.buffer(l.odl_parser_payload(p), h.length))
            events.append(("frame", fr.Frame(h.type, h.seq, payload, h.flags, h.status, h.version)))
        elif ev == l.ODL_PARSE_ERROR:
            events.append(("error", p.error, p.header.seq if p.header_valid else None))
    return events


def py_parse(stream: bytes, max_payload: int = 1024):
    out = []
    for ev in fr.FrameParser(max_payload).feed(stream):
        if isinstance(ev, fr.Frame):
            out.append(("frame", ev))
        else:
            out.append(("error", int(ev.status), ev.seq))
    return out


@settings(max_examples=300, deadline=None)
@given(f=frames)
def test_frame_encoding_identical_in_c_and_python(lib, f):
    wire = f.encode()
    assert c_encode(lib, f) == wire
    # the layout of docs/protocol.md, checked by hand
    raw = fr.cobs_decode(wire[:-1])
    assert raw[:8] == struct.pack("<BBBBHH", f.version, f.type, f.flags, f.status, f.seq, len(f.payload))
    assert raw[8:-4] == f.payload
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(raw[:-4])


@settings(max_examples=200, deadline=None)
@given(f=frames_v1, junk=st.binary(max_size=30))
def test_c_parser_reads_python_frames_and_back(lib, f, junk):
    # junk then a delimiter, then the frame: whatever the junk was, the frame itself is recovered
    stream = junk + b"\x00" + f.encode()
    c_events = c_parse(lib, stream)
    assert c_events[-1] == ("frame", f)
    py_events = py_parse(c_encode(lib, f))
    assert py_events == [("frame", f)]


@settings(max_examples=500, deadline=None)
@given(stream=st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(frames.map(lambda f: f.encode()), st.binary(max_size=20)), max_size=6).map(b"".join),
))
def test_c_and_python_parsers_agree_on_any_stream(lib, stream):
    assert c_parse(lib, stream) == py_parse(stream)


def test_parser_reports_each_rejection_reason(lib):
    good = fr.Frame(fr.Msg.PING, 7, b"abc").encode()
    raw = fr.Frame(fr.Msg.PING, 7, b"abc").raw()
    bad_crc = bytearray(raw)
    bad_crc[9] ^= 0x10
    cases = {
        fr.Status.CRC: fr.cobs_encode(bytes(bad_crc)) + b"\x00",
        fr.Status.TRUNCATED: fr.cobs_encode(raw[:-2]) + b"\x00",
        fr.Status.VERSION: fr.Frame(fr.Msg.PING, 7, b"abc", version=2).encode(),
        fr.Status.COBS: b"\x09abc\x00",
        fr.Status.TOO_LARGE: fr.Frame(fr.Msg.PING, 7, bytes(1100)).encode(),
    }
    for status, wire in cases.items():
        ev = c_parse(lib, wire + good)
        assert ev[0][:2] == ("error", status), status
        assert ev[1] == ("frame", fr.Frame(fr.Msg.PING, 7, b"abc")), status  # resynchronised
        assert py_parse(wire)[0][:2] == ("error", status)
    # repeated delimiters are idle line, not errors
    assert c_parse(lib, b"\x00\x00\x00" + good + b"\x00\x00") == [("frame", fr.Frame(fr.Msg.PING, 7, b"abc"))]


def test_parsers_agree_on_huge_candidates(lib):
    # far longer than any buffer: both discard it unread, report TOO_LARGE with the header's seq, and resync
    big = fr.Frame(fr.Msg.PING, 4321, bytes(range(1, 256)) * 40).encode()
    junk = bytes(range(1, 256)) * 30 + b"\x00"
    good = fr.Frame(fr.Msg.PING, 1, b"ok").encode()
    stream = big + junk + good
    c_events = c_parse(lib, stream)
    assert c_events == py_parse(stream)
    assert c_events[0] == ("error", fr.Status.TOO_LARGE, 4321)
    assert c_events[-1] == ("frame", fr.Frame(fr.Msg.PING, 1, b"ok"))
