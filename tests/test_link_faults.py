"""SerialLink against the host-compiled C device (in-process) through every fault of docs/protocol.md: flipped
bits, dropped bytes and frames, truncated and oversized frames, duplicated and out-of-order frames, garbage between
frames, a wrong protocol version, and a reset in the middle of a WRITE_TENSOR. Expected tensor contents are the
bytes sent; the device's and the injector's counters show each fault really happened and was repaired."""

import struct

import numpy as np
import pytest

from toolkit.link import (FaultInjector, Faults, FaultyTransport, HostDevice, InProcessTransport, LinkCrcError,
                          LinkTimeout, NakError, SerialLink, Status, TensorCommitError, VersionMismatch)
from toolkit.link import frame as fr


def make(faults_down=None, faults_up=None, seed=0, retries=10, staging=1 << 16, on_write=None, **devkw):
    dev = HostDevice(staging_size=staging, **devkw)
    up = FaultInjector(faults_down, seed=seed) if faults_down else None
    down = FaultInjector(faults_up, seed=seed + 1000) if faults_up else None
    tr = FaultyTransport(InProcessTransport(dev), to_device=up, to_host=down, on_write=on_write)
    return dev, SerialLink(transport=tr, retries=retries, timeout=0.5), up, down


@pytest.mark.parametrize("size", [1, 2, 255, 1012, 1013, 4096, 10_000, 65_536])
def test_round_trip_sizes_bit_exact(size):
    dev = HostDevice()
    t = dev.register_tensor(1, np.zeros(size, np.uint8))
    link = SerialLink.in_process(dev)
    hello = link.hello()
    assert hello.max_payload == 1024 and hello.board == "host"
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
    crc = link.write_tensor(1, data)
    assert crc == fr.crc32(data.tobytes())
    assert np.array_equal(t, data)  # the device's memory holds exactly the bytes sent
    back = link.read_tensor(1, np.uint8)
    assert np.array_equal(back, data)
    assert link.tensor_info(1).crc == crc


def test_typed_tensors_round_trip():
    dev = HostDevice()
    w = dev.register_tensor(7, np.zeros((3, 5, 5, 8), np.int8))
    b = dev.register_tensor(8, np.zeros(8, np.int32))
    h = dev.register_tensor(9, np.zeros((4, 4), np.float16))
    link = SerialLink.in_process(dev)
    rng = np.random.default_rng(0)
    wv = rng.integers(-128, 128, w.shape, dtype=np.int8)
    bv = rng.integers(-2**31, 2**31 - 1, 8, dtype=np.int32)
    hv = rng.standard_normal((4, 4)).astype(np.float16)
    for tid, v in ((7, wv), (8, bv), (9, hv)):
        link.write_tensor(tid, v)
    assert np.array_equal(w, wv) and np.array_equal(b, bv) and np.array_equal(h.view(np.uint16), hv.view(np.uint16))
    assert np.array_equal(link.read_tensor(7, np.int8, wv.shape), wv)
    assert np.array_equal(link.read_tensor(9, np.float16, (4, 4)).view(np.uint16), hv.view(np.uint16))
    info = link.info()
    assert [(t.id, t.size, t.writable) for t in info.tensors] == [(7, 600, True), (8, 32, True), (9, 32, True)]


FAULT_KINDS = ["flip", "drop", "drop_bytes", "duplicate", "reorder", "truncate", "garbage", "oversize"]


@pytest.mark.parametrize("direction", ["to_device", "to_host"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_is_repaired(kind, direction):
    faults = Faults(**{kind: 0.25}, max_faults=25)
    dev, link, up, down = make(faults if direction == "to_device" else None,
                               faults if direction == "to_host" else None, seed=FAULT_KINDS.index(kind))
    t = dev.register_tensor(1, np.zeros(6000, np.uint8))
    data = np.random.default_rng(5).integers(0, 256, 6000, dtype=np.uint8)
    link.hello()
    for rep in range(2):
        link.write_tensor(1, data)
        assert np.array_equal(t, data)
        assert np.array_equal(link.read_tensor(1, np.uint8), data)
        assert link.ping(b"ping %d" % rep) >= 0
        data = data[::-1].copy()
    inj = up if direction == "to_device" else down
    assert inj.count >= 3, inj.log  # the faults really happened
    assert dev.stats["tensors_committed"] == 2  # each write committed exactly once
    if kind == "duplicate" and direction == "to_device":
        assert dev.stats["duplicates"] > 0  # answered from the cache, not executed twice
    if kind in ("drop", "truncate", "drop_bytes", "reorder"):
        assert link.counters.retransmissions > 0
    if kind in ("flip", "truncate", "drop_bytes", "garbage", "oversize") and direction == "to_device":
        st = dev.stats
        assert st["crc_errors"] + st["truncated"] + st["cobs_errors"] + st["oversized"] > 0


@pytest.mark.parametrize("seed", range(25))
def test_all_faults_mixed_both_directions(seed):
    dev, link, up, down = make(Faults.all(0.05, max_faults=40), Faults.all(0.05, max_faults=40), seed=seed,
                               retries=12)
    t1 = dev.register_tensor(1, np.zeros(20_000, np.uint8))
    t2 = dev.register_tensor_shadowed(2, np.zeros(3000, np.float32))
    rng = np.random.default_rng(seed)
    for _ in range(2):
        d1 = rng.integers(0, 256, t1.size, dtype=np.uint8)
        d2 = rng.standard_normal(3000).astype(np.float32)
        link.write_tensor(1, d1)
        link.write_tensor(2, d2)
        assert np.array_equal(t1, d1)
        assert dev.tensor_bytes(2) == d2.tobytes()
        assert np.array_equal(link.read_tensor(2, np.float32), d2)
        assert link.run_kernel(0, b"echo").output == b"echo"
    assert up.count + down.count > 10


def test_wrong_protocol_version_is_a_clear_error():
    dev = HostDevice()
    link = SerialLink.in_process(dev, protocol_version=2)
    with pytest.raises(VersionMismatch) as e:
        link.ping()
    assert e.value.device_version == 1
    assert dev.stats["frames_ok"] == 0 and dev.stats["version_errors"] == 1  # never executed, not retried
    # a device answering in another version (a newer firmware)
    dev, link, up, down = make(None, Faults(version=1.0, max_faults=1))
    with pytest.raises(VersionMismatch):
        link.ping()


def test_reset_in_the_middle_of_a_write_is_retried_or_keeps_old():
    size = 8000
    old = np.full(size, 9, np.uint8)
    state = {"reset_at": 5}

    def hook(transport, n):
        if n == state["reset_at"]:  # the board reboots after the 3rd chunk went out
            transport.inner.device.reset()

    dev, link, _, _ = make(on_write=hook)
    t = dev.register_tensor(1, old.copy())
    link.hello()  # write 1
    data = np.random.default_rng(9).integers(0, 256, size, dtype=np.uint8)
    link.write_tensor(1, data)  # BEGIN = write 2, chunks from write 3; the reset lands mid-transfer
    assert dev.reset_count == 1 and link.counters.write_restarts == 1
    assert np.array_equal(t, data)

    # with no restart allowed the write fails cleanly and the old contents stay
    dev, link, _, _ = make(on_write=hook)
    t = dev.register_tensor(1, old.copy())
    link.hello()
    with pytest.raises(TensorCommitError):
        link.write_tensor(1, data, attempts=1)
    assert np.array_equal(t, old) and dev.reset_count == 1

    # and a RESET message from the host mid-write: the chunk after it is refused, nothing committed
    dev = HostDevice()
    t = dev.register_tensor(1, old.copy())
    link = SerialLink.in_process(dev)
    link.hello()
    p = link.request(fr.Msg.WRITE_BEGIN, struct.pack("<HHII", 1, 0, size, fr.crc32(data.tobytes())))
    xfer = struct.unpack_from("<H", p)[0]
    piece = data[:1000].tobytes()
    link.request(fr.Msg.WRITE_CHUNK, struct.pack("<HHII", xfer, 0, 0, fr.crc32(piece)) + piece)
    link.reset()
    with pytest.raises(NakError) as e:
        link.request(fr.Msg.WRITE_CHUNK, struct.pack("<HHII", xfer, 0, 1000, fr.crc32(piece)) + piece)
    assert e.value.code == Status.NO_TRANSFER
    assert np.array_equal(t, old)


def test_errors_are_clear():
    dev = HostDevice(staging_size=100)
    dev.register_tensor(1, np.zeros(10, np.uint8), writable=False)
    dev.register_tensor(2, np.zeros(1000, np.uint8))
    link = SerialLink.in_process(dev)
    with pytest.raises(NakError, match="READ_ONLY") as e:
        link.write_tensor(1, bytes(10))
    assert e.value.code == Status.READ_ONLY
    with pytest.raises(NakError, match="NO_SPACE"):
        link.write_tensor(2, bytes(1000))
    with pytest.raises(NakError, match="SIZE"):
        link.write_tensor(2, bytes(999))
    with pytest.raises(NakError, match="NO_TENSOR"):
        link.read_tensor(3)
    with pytest.raises(NakError, match="NO_KERNEL"):
        link.run_kernel(5)
    with pytest.raises(NakError, match="UNKNOWN_TYPE"):
        link.request(0x50)
    with pytest.raises(ValueError):
        link.request(fr.Msg.PING, bytes(2000))  # longer than the device's max payload


def test_dead_line_times_out_and_damaged_line_reports_crc():
    dev, link, up, _ = make(Faults(drop=1.0, max_faults=10**6), retries=3)
    with pytest.raises(LinkTimeout):
        link.ping()
    assert link.counters.retransmissions == 2 and dev.stats["frames_ok"] == 0
    dev, link, up, _ = make(Faults(flip=1.0, max_faults=10**6), retries=3, seed=4)
    with pytest.raises((LinkCrcError, LinkTimeout)):
        link.ping()
    assert dev.stats["frames_ok"] == 0


def test_stale_session_is_resumed():
    """A new host process meeting a device that saw higher sequence numbers continues after them."""
    dev = HostDevice()
    first = SerialLink.in_process(dev, seq=500)
    first.ping()
    second = SerialLink(transport=first.transport, seq=400)
    assert second.ping(b"x") >= 0
    assert second.counters.stale_naks == 1 and dev.stats["stale"] == 1
