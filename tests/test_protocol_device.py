"""The C device (csrc/runtime/device.c, tensor_store.c) driven with raw frames: every message, every status code,
duplicate and stale detection, and the all-or-nothing tensor commit of docs/protocol.md. Frames are built and read
with the Python codec (itself checked against the C and zlib in test_protocol_codec.py); expected tensor contents
are the bytes the test sent."""

import struct
import zlib

import numpy as np
import pytest

from toolkit.link import frame as fr
from toolkit.link.device import HostDevice
from toolkit.link.frame import Msg, Status


class Raw:
    """Send hand-made request frames to a HostDevice and decode what it answers."""

    def __init__(self, dev: HostDevice):
        self.dev = dev
        self.seq = 100

    def send(self, type, payload=b"", seq=None, version=fr.PROTO_VERSION, wire=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        if wire is None:
            wire = fr.Frame(int(type), seq, bytes(payload), version=version).encode()
        return fr.FrameParser().feed(self.dev.feed(wire))

    def one(self, type, payload=b"", **kw):
        out = self.send(type, payload, **kw)
        assert len(out) == 1, out
        return out[0]

    def ok(self, type, payload=b"", **kw) -> bytes:
        r = self.one(type, payload, **kw)
        assert isinstance(r, fr.Frame) and r.is_response and r.type == type and r.status == 0, r
        return r.payload


@pytest.fixture
def dev():
    return HostDevice(board_name="unit-board", fw_version="9.8.7", model_signature=0x12345678, staging_size=4096)


def test_hello_reports_device(dev):
    p = Raw(dev).ok(Msg.HELLO)
    ver, _, maxp, sig, staging = struct.unpack_from("<BBHII", p)
    assert (ver, maxp, sig, staging) == (1, 1024, 0x12345678, 4096)
    n = p[12]
    assert p[13:13 + n] == b"9.8.7"
    m = p[13 + n]
    assert p[14 + n:14 + n + m] == b"unit-board"


def test_ping_echoes_and_response_header(dev):
    r = Raw(dev)
    for payload in [b"", b"\x00\x00", bytes(range(256)) * 4]:
        f = r.one(Msg.PING, payload)
        assert (f.type, f.seq, f.flags, f.status, f.payload) == (Msg.PING, r.seq, fr.FLAG_RESPONSE, 0, payload)


def test_frame_level_naks(dev):
    r = Raw(dev)
    # wrong version: NAK with the device's version, never executed
    f = r.one(Msg.PING, b"x", version=2)
    assert (f.type, f.status, f.payload) == (Msg.NAK, Status.VERSION, b"\x01")
    # bad CRC
    raw = bytearray(fr.Frame(Msg.PING, 5, b"hello").raw())
    raw[-1] ^= 0xFF
    f = r.one(None, wire=fr.cobs_encode(bytes(raw)) + b"\x00")
    assert (f.type, f.status, f.seq) == (Msg.NAK, Status.CRC, 5)
    # truncated: 3 bytes, no header
    f = r.one(None, wire=b"\x04abc\x00")
    assert (f.type, f.status, f.seq) == (Msg.NAK, Status.TRUNCATED, 0xFFFF)
    # oversized: more than the receive buffer, and a valid frame longer than the device's max payload
    f = r.one(None, wire=b"\x01" * 3000 + b"\x00")
    assert (f.type, f.status) == (Msg.NAK, Status.TOO_LARGE)
    small = HostDevice(max_payload=128)
    f = Raw(small).one(Msg.PING, bytes(200))
    assert (f.type, f.status) == (Msg.NAK, Status.TOO_LARGE)
    st = dev.stats
    assert (st["version_errors"], st["crc_errors"], st["truncated"], st["oversized"]) == (1, 1, 1, 1)
    # and the device still answers
    assert r.ok(Msg.PING, b"alive") == b"alive"


def test_responses_are_never_answered(dev):
    wire = fr.Frame(Msg.PING, 1, b"x", flags=fr.FLAG_RESPONSE).encode()
    assert dev.feed(wire) == b""
    assert dev.stats["ignored"] == 1


def test_duplicate_is_answered_from_cache_not_executed(dev):
    a = dev.register_tensor(3, np.zeros(8, np.uint8))
    r = Raw(dev)
    new = bytes(range(1, 9))
    xfer = struct.unpack_from("<H", r.ok(Msg.WRITE_BEGIN, struct.pack("<HHII", 3, 0, 8, zlib.crc32(new))))[0]
    chunk = fr.Frame(Msg.WRITE_CHUNK, 500, struct.pack("<HHII", xfer, 0, 0, zlib.crc32(new)) + new).encode()
    first = dev.feed(chunk)
    again = dev.feed(chunk)  # the host did not get the ACK and retransmits the same bytes
    assert first == again
    assert dev.stats["duplicates"] == 1
    # executed once: the device is at byte 8, not "offset mismatch"
    r.seq = 500
    assert struct.unpack("<I", r.ok(Msg.WRITE_COMMIT, struct.pack("<H", xfer)))[0] == zlib.crc32(new)
    assert bytes(a) == new


def test_stale_request_is_refused_and_hello_restarts(dev):
    r = Raw(dev)
    r.ok(Msg.PING, seq=1000)
    f = r.one(Msg.PING, b"late", seq=990)
    assert (f.type, f.status, f.payload) == (Msg.PING, Status.STALE, struct.pack("<H", 1000))
    assert dev.stats["stale"] == 1
    # far behind (more than the window) counts as new; wrap-around 65535 -> 0 is "ahead"
    r.ok(Msg.PING, seq=1000 - 2000)
    r.ok(Msg.PING, seq=0xFFFF)
    r.ok(Msg.PING, seq=0)
    # HELLO is exempt and restarts the session
    r.ok(Msg.HELLO, seq=5000)
    r.ok(Msg.HELLO, seq=10)
    r.ok(Msg.PING, seq=11)


def test_info_lists_everything_with_paging():
    dev = HostDevice(max_payload=128)
    arrays = [dev.register_tensor(i + 100, np.zeros(i + 1, np.int8), writable=bool(i % 2)) for i in range(16)]
    assert len(arrays) == 16
    cb = dev.ffi.callback("int32_t(void *, const uint8_t *, uint32_t, uint8_t *, uint32_t, uint32_t *)",
                          lambda *a: 0)
    for k in (3, 9, 65535):
        dev.register_kernel(k, cb)
    dev.register_handler(0x30, cb)
    dev.register_handler(0x41, cb)
    r = Raw(dev)
    seen = []
    first = 0
    while True:
        p = r.ok(Msg.INFO, bytes([first]))
        nt, nk, nh = p[:3]
        assert (nt, nk, nh) == (16, 3, 2)
        assert sorted(struct.unpack_from("<3H", p, 3)) == [3, 9, 65535]
        assert sorted(p[9:11]) == [0x30, 0x41]
        got_first, count = p[11], p[12]
        assert got_first == first and count > 0
        for i in range(count):
            seen.append(struct.unpack_from("<HBBI", p, 13 + 8 * i))
        first += count
        if first >= nt:
            break
    assert sorted(seen) == [(i + 100, i % 2, 0, i + 1) for i in range(16)]
    assert first > 13  # it took more than one page


def test_stats_counters_and_cycles():
    dev = HostDevice()
    ticks = {"n": 0}

    @dev.ffi.callback("uint64_t(void *)")
    def cycles(ctx):
        ticks["n"] += 1000
        return ticks["n"]

    dev.cfg.cycles = cycles
    dev.dev.cfg.cycles = cycles
    r = Raw(dev)
    r.ok(Msg.PING)
    p = r.ok(Msg.STATS)
    cyc, ins, n = struct.unpack_from("<QQB", p)
    vals = dict(zip(fr.STAT_COUNTERS, struct.unpack_from(f"<{n}I", p, 17)))
    assert n == len(fr.STAT_COUNTERS)
    assert cyc == 1000 and ins == 0
    assert vals["frames_ok"] == 2 and vals["naks_sent"] == 0
    # RUN_KERNEL reports the cycle delta around the kernel (the echo here): one tick
    out = r.ok(Msg.RUN_KERNEL, struct.pack("<HH", 0, 0) + b"abc")
    assert struct.unpack_from("<QQ", out) == (1000, 0) and out[16:] == b"abc"


def test_run_kernel_handlers_and_errors(dev):
    ffi = dev.ffi

    @ffi.callback("int32_t(void *, const uint8_t *, uint32_t, uint8_t *, uint32_t, uint32_t *)")
    def reverse(ctx, inp, n, out, cap, out_len):
        data = bytes(ffi.buffer(inp, n))
        if data == b"fail":
            return -7
        if data == b"huge":
            out_len[0] = cap + 1
            return 0
        ffi.memmove(out, data[::-1], n)
        out_len[0] = n
        return 0

    dev.register_kernel(42, reverse)
    dev.register_handler(0x45, reverse)
    r = Raw(dev)
    assert r.ok(Msg.RUN_KERNEL, struct.pack("<HH", 42, 0) + b"abcdef")[16:] == b"fedcba"
    assert r.ok(0x45, b"xyz") == b"zyx"
    f = r.one(Msg.RUN_KERNEL, struct.pack("<HH", 42, 0) + b"fail")
    assert (f.status, struct.unpack("<i", f.payload)[0]) == (Status.HANDLER, -7)
    assert r.one(Msg.RUN_KERNEL, struct.pack("<HH", 42, 0) + b"huge").status == Status.REPLY_TOO_LARGE
    assert r.one(Msg.RUN_KERNEL, struct.pack("<HH", 43, 0)).status == Status.NO_KERNEL
    assert r.one(Msg.RUN_KERNEL, b"\x01").status == Status.BAD_ARGS
    assert r.one(0x46).status == Status.UNKNOWN_TYPE
    assert r.one(0x31).status == Status.UNKNOWN_TYPE  # EVAL: reserved, no handler registered
    # built-in types cannot be taken over, kernel id 0 is the echo
    with pytest.raises(Exception):
        dev.register_handler(Msg.PING, reverse)
    with pytest.raises(Exception):
        dev.register_kernel(0, reverse)


def begin(r, tid, data: bytes, size=None):
    return r.one(Msg.WRITE_BEGIN, struct.pack("<HHII", tid, 0, len(data) if size is None else size,
                                              zlib.crc32(data)))


def chunk(r, xfer, off, data, crc=None):
    return r.one(Msg.WRITE_CHUNK, struct.pack("<HHII", xfer, 0, off, zlib.crc32(data) if crc is None else crc) + data)


def test_write_commit_all_or_nothing(dev):
    old = np.arange(3000, dtype=np.int16).view(np.uint8)[:3000].copy()
    t = dev.register_tensor(1, old.copy())
    r = Raw(dev)
    new = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    f = begin(r, 1, new)
    xfer, max_chunk = struct.unpack("<HH", f.payload)
    assert max_chunk == 1024 - 12
    # out of order: refused with the expected offset
    f = chunk(r, xfer, 1000, new[1000:2000])
    assert (f.status, f.payload) == (Status.OFFSET, struct.pack("<I", 0))
    # bad chunk CRC: refused, not stored
    assert chunk(r, xfer, 0, new[:1000], crc=1).status == Status.CHUNK_CRC
    assert chunk(r, xfer + 1, 0, new[:1000]).status == Status.NO_TRANSFER
    assert chunk(r, xfer, 0, new[:1000]).payload == struct.pack("<I", 1000)
    assert chunk(r, xfer, 1000, new[1000:2000]).status == 0
    # commit too early: INCOMPLETE with the bytes received, transfer kept
    f = r.one(Msg.WRITE_COMMIT, struct.pack("<H", xfer))
    assert (f.status, f.payload) == (Status.INCOMPLETE, struct.pack("<I", 2000))
    assert bytes(t) == old.tobytes()
    # past the end
    assert chunk(r, xfer, 2000, new[2000:] + b"x").status == Status.SIZE
    assert chunk(r, xfer, 2000, new[2000:]).status == 0
    assert bytes(t) == old.tobytes()  # nothing visible before the commit
    assert r.ok(Msg.WRITE_COMMIT, struct.pack("<H", xfer)) == struct.pack("<I", zlib.crc32(new))
    assert bytes(t) == new
    # the transfer is over
    assert r.one(Msg.WRITE_COMMIT, struct.pack("<H", xfer)).status == Status.NO_TRANSFER
    assert dev.stats["tensors_committed"] == 1


def test_commit_with_wrong_whole_crc_keeps_old(dev):
    t = dev.register_tensor(1, np.full(100, 7, np.uint8))
    r = Raw(dev)
    new = bytes(range(100))
    f = r.one(Msg.WRITE_BEGIN, struct.pack("<HHII", 1, 0, 100, zlib.crc32(new) ^ 1))
    xfer = struct.unpack_from("<H", f.payload)[0]
    assert chunk(r, xfer, 0, new).status == 0
    assert r.one(Msg.WRITE_COMMIT, struct.pack("<H", xfer)).status == Status.TENSOR_CRC
    assert bytes(t) == bytes([7]) * 100
    assert r.one(Msg.WRITE_COMMIT, struct.pack("<H", xfer)).status == Status.NO_TRANSFER


@pytest.mark.parametrize("interrupt", ["reset_msg", "board_reset", "hello", "new_begin", "abort"])
def test_interrupted_write_keeps_old(dev, interrupt):
    t = dev.register_tensor(1, np.full(2500, 3, np.uint8))
    dev.register_tensor(2, np.zeros(10, np.uint8))
    r = Raw(dev)
    new = bytes(np.random.default_rng(2).integers(0, 256, 2500, dtype=np.uint8))
    xfer = struct.unpack_from("<H", begin(r, 1, new).payload)[0]
    assert chunk(r, xfer, 0, new[:1000]).status == 0
    if interrupt == "reset_msg":
        r.ok(Msg.RESET)
    elif interrupt == "board_reset":
        dev.reset()
    elif interrupt == "hello":
        r.ok(Msg.HELLO)
    elif interrupt == "new_begin":
        assert begin(r, 2, bytes(10)).status == 0
    else:
        r.ok(Msg.WRITE_ABORT)
    assert not dev.transfer_in_progress or interrupt == "new_begin"
    assert chunk(r, xfer, 1000, new[1000:2000]).status == Status.NO_TRANSFER
    assert r.one(Msg.WRITE_COMMIT, struct.pack("<H", xfer)).status == Status.NO_TRANSFER
    assert bytes(t) == bytes([3]) * 2500


def test_tensor_write_refusals(dev):
    dev.register_tensor(1, np.zeros(10, np.uint8), writable=False)
    dev.register_tensor(2, np.zeros(5000, np.uint8))  # larger than the 4096-byte staging buffer
    r = Raw(dev)
    assert begin(r, 1, bytes(10)).status == Status.READ_ONLY
    assert begin(r, 9, bytes(10)).status == Status.NO_TENSOR
    assert begin(r, 2, bytes(10)).status == Status.SIZE
    assert begin(r, 2, bytes(5000)).status == Status.NO_SPACE
    assert r.one(Msg.WRITE_BEGIN, b"\x01\x00").status == Status.BAD_ARGS
    nostage = HostDevice(staging_size=0)
    nostage.register_tensor(1, np.zeros(4, np.uint8))
    assert begin(Raw(nostage), 1, bytes(4)).status == Status.NO_SPACE


def test_shadowed_tensor_swaps_on_commit(dev):
    dev.register_tensor_shadowed(5, np.full(6000, 1, np.uint8))  # larger than staging: the shadow is used
    r = Raw(dev)
    for fill in (2, 3, 4):
        new = bytes([fill]) * 6000
        xfer = struct.unpack_from("<H", begin(r, 5, new).payload)[0]
        for off in range(0, 6000, 1000):
            assert chunk(r, xfer, off, new[off:off + 1000]).status == 0
            assert dev.tensor_bytes(5) == bytes([fill - 1]) * 6000
        r.ok(Msg.WRITE_COMMIT, struct.pack("<H", xfer))
        assert dev.tensor_bytes(5) == new


def test_read_chunks_and_tensor_info(dev):
    data = np.random.default_rng(3).integers(0, 256, 2100, dtype=np.uint8)
    dev.register_tensor(4, data, writable=False)
    r = Raw(dev)
    tid, flags, _, size, crc = struct.unpack("<HBBII", r.ok(Msg.TENSOR_INFO, struct.pack("<H", 4)))
    assert (tid, flags, size, crc) == (4, 0, 2100, zlib.crc32(data.tobytes()))
    p = r.ok(Msg.READ_CHUNK, struct.pack("<HHIH", 4, 0, 100, 5000))  # clipped to max payload - 8
    off, ccrc = struct.unpack_from("<II", p)
    assert (off, len(p) - 8) == (100, 1016) and p[8:] == data[100:1116].tobytes() and ccrc == zlib.crc32(p[8:])
    p = r.ok(Msg.READ_CHUNK, struct.pack("<HHIH", 4, 0, 2000, 500))  # clipped to the tensor's end
    assert p[8:] == data[2000:].tobytes()
    assert r.ok(Msg.READ_CHUNK, struct.pack("<HHIH", 4, 0, 2100, 10))[8:] == b""
    assert r.one(Msg.READ_CHUNK, struct.pack("<HHIH", 4, 0, 2101, 10)).status == Status.SIZE
    assert r.one(Msg.TENSOR_INFO, struct.pack("<H", 77)).status == Status.NO_TENSOR


def test_init_and_register_reject_bad_arguments():
    dev = HostDevice()
    ffi, lib = dev.ffi, dev.lib
    cfg = ffi.new("odl_device_config *")
    d = ffi.new("odl_device *")
    assert lib.odl_device_init(d, cfg) == lib.ODL_ERR_ARG  # no write callback
    cfg.write = ffi.addressof(lib, "odl_bytebuf_write")
    cfg.max_payload = 64
    assert lib.odl_device_init(d, cfg) == lib.ODL_ERR_ARG
    cfg.max_payload = 2048
    assert lib.odl_device_init(d, cfg) == lib.ODL_ERR_ARG
    assert lib.odl_device_register_tensor(dev.dev, 1, ffi.NULL, 4, 1) == lib.ODL_ERR_ARG
    arr = np.zeros(4, np.uint8)
    for i in range(16):
        dev.register_tensor(i, arr)
    assert lib.odl_device_register_tensor(dev.dev, 99, ffi.from_buffer(arr), 4, 1) == lib.ODL_ERR_UNSUPPORTED
    assert lib.odl_device_register_tensor(dev.dev, 3, ffi.from_buffer(arr), 4, 1) == lib.ODL_OK  # replace


def _journal_check(j) -> int:
    return zlib.crc32(struct.pack("<HHII", j.tensor_id, j.reserved, j.size, j.crc))


def test_commit_journal_finishes_a_copy_interrupted_by_reset():
    dev = HostDevice(staging_size=4096, journal=True)
    lib = dev.lib
    t = dev.register_tensor(1, np.zeros(3000, np.uint8))
    r = Raw(dev)
    new = bytes(np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8))
    xfer = struct.unpack_from("<H", begin(r, 1, new).payload)[0]
    for off in range(0, 3000, 1000):
        assert chunk(r, xfer, off, new[off:off + 1000]).status == 0
    r.ok(Msg.WRITE_COMMIT, struct.pack("<H", xfer))
    j = dev.journal
    # after a complete commit the journal describes it and is no longer pending
    assert (j.magic, j.tensor_id, j.size, j.crc) == (0, 1, 3000, zlib.crc32(new))
    assert j.check == _journal_check(j)
    assert dev.recover() == 0

    # the state a reset leaves in the middle of the memcpy: journal pending, staging = new, tensor half copied
    newer = bytes(np.random.default_rng(8).integers(0, 256, 3000, dtype=np.uint8))
    dev.dev.cfg.staging[0:3000] = newer
    t[:1234] = np.frombuffer(newer[:1234], np.uint8)
    j.tensor_id, j.size, j.crc = 1, 3000, zlib.crc32(newer)
    j.check = _journal_check(j)
    j.magic = lib.ODL_JOURNAL_PENDING
    dev.reset()  # the board came back; the firmware re-registered its tensors and calls recover()
    assert dev.recover() == 1
    assert bytes(t) == newer and j.magic == 0
    assert dev.recover() == 0

    # a pending journal whose staging no longer matches cannot be replayed: reported, tensor left alone
    j.magic = lib.ODL_JOURNAL_PENDING
    dev.dev.cfg.staging[0] ^= 1
    assert dev.recover() == lib.ODL_ERR_SHAPE and j.magic == 0
    # random RAM that happens to look pending is rejected by the check word
    j.magic, j.check = lib.ODL_JOURNAL_PENDING, 12345
    before = bytes(t)
    assert dev.recover() == lib.ODL_ERR_SHAPE and bytes(t) == before
