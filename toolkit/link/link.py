"""SerialLink: the host end of the odl serial protocol (docs/protocol.md) over any byte transport."""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from toolkit.link import frame as fr
from toolkit.link.errors import (LinkCrcError, LinkTimeout, NakError, PayloadTooLarge, ProtocolError,
                                 TensorCommitError, VersionMismatch)
from toolkit.link.frame import Msg, Status
from toolkit.link.transport import InProcessTransport, SerialTransport, Transport


@dataclass(frozen=True)
class Hello:
    protocol_version: int
    max_payload: int
    model_signature: int
    staging_size: int
    fw_version: str
    board: str


@dataclass(frozen=True)
class TensorInfo:
    id: int
    size: int
    writable: bool
    shadowed: bool
    crc: int | None = None  # CRC-32 of the current contents (TENSOR_INFO only)


@dataclass(frozen=True)
class DeviceInfo:
    tensors: list[TensorInfo]
    kernels: list[int]
    handlers: list[int]


@dataclass(frozen=True)
class KernelResult:
    cycles: int
    instret: int
    output: bytes


@dataclass
class LinkCounters:
    """What the host saw: useful to check that faults were really injected and repaired."""

    requests: int = 0
    retransmissions: int = 0
    timeouts: int = 0
    damaged_responses: int = 0
    line_naks: int = 0
    stale_naks: int = 0
    write_restarts: int = 0
    read_retries: int = 0
    extra: dict = field(default_factory=dict)


class SerialLink:
    """Talk to an odl device.

    ``SerialLink("/dev/ttyACM0")``, ``SerialLink("socket://127.0.0.1:4321")``, ``SerialLink("loop://")`` use pyserial;
    ``SerialLink(transport=...)`` any Transport; ``SerialLink.in_process(HostDevice(...))`` the host-compiled C
    device. Each request waits ``timeout`` seconds per attempt and is sent at most ``retries`` times (the same
    bytes, so the device answers a retransmission from its reply cache instead of executing it twice).
    """

    def __init__(self, url: str | None = None, baudrate: int = 115200, timeout: float = 1.0, retries: int = 5, *,
                 transport: Transport | None = None, protocol_version: int = fr.PROTO_VERSION, seq: int | None = None,
                 max_payload: int | None = None):
        if (url is None) == (transport is None):
            raise ValueError("give exactly one of url or transport")
        self.transport = transport if transport is not None else SerialTransport(url, baudrate)
        self.timeout = timeout
        self.retries = max(1, retries)
        self.protocol_version = protocol_version
        # a random start makes it unlikely that a new host process repeats the (seq, CRC) of the last request an
        # earlier process sent, which the device would answer from its reply cache
        self._seq = (int.from_bytes(os.urandom(2), "little") if seq is None else seq) & 0xFFFF
        self._parser = fr.FrameParser()
        self.max_payload = max_payload  # learned from HELLO
        self.device: Hello | None = None
        self.counters = LinkCounters()

    @classmethod
    def in_process(cls, device=None, **kwargs) -> "SerialLink":
        """A link to a toolkit.link.device.HostDevice in this process (a new default one if None)."""
        return cls(transport=InProcessTransport(device), **kwargs)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- requests ---------------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def request(self, type: int, payload: bytes = b"", timeout: float | None = None,
                retries: int | None = None) -> bytes:
        """Send one request and return the payload of its ACK; raise NakError for a NAK, LinkTimeout /
        LinkCrcError when every attempt failed, VersionMismatch for a device of another protocol version."""
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else max(1, retries)
        payload = bytes(payload)
        if self.max_payload is not None and len(payload) > self.max_payload:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds the device's max payload "
                                  f"{self.max_payload}")
        seq = self._next_seq()
        wire = b"\x00" + fr.encode_frame(type, seq, payload, version=self.protocol_version)
        self.counters.requests += 1
        damaged = False
        for attempt in range(retries):
            if attempt:
                self.counters.retransmissions += 1
            self.transport.write(wire)
            deadline = time.monotonic() + timeout
            resend = False
            while not resend:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                data = self.transport.read(min(left, 0.05))
                if not data:
                    if self.transport.synchronous:
                        break
                    continue
                for ev in self._parser.feed(data):
                    if isinstance(ev, fr.FrameError):
                        if ev.status == Status.VERSION and ev.header and ev.header[2] & fr.FLAG_RESPONSE:
                            raise VersionMismatch(f"device answered with protocol version {ev.header[0]}, "
                                                  f"this host speaks {fr.PROTO_VERSION}", ev.header[0])
                        damaged = True
                        self.counters.damaged_responses += 1
                        continue
                    if not ev.is_response:
                        continue  # our own request echoed (loop://) or noise
                    if ev.type == Msg.NAK:
                        if ev.status == Status.VERSION:
                            dv = ev.payload[0] if ev.payload else None
                            raise VersionMismatch(f"device speaks protocol version {dv}, this request used "
                                                  f"version {self.protocol_version}", dv)
                        if ev.seq in (seq, 0xFFFF):
                            self.counters.line_naks += 1
                            damaged = True
                            resend = True
                        continue
                    if ev.seq != seq:
                        continue  # a late answer to an earlier attempt
                    if ev.status == Status.OK:
                        if ev.type != type:
                            raise ProtocolError(f"response of type {ev.type:#x} to a request of type {type:#x}")
                        return ev.payload
                    if ev.status in fr.LINE_ERRORS:
                        self.counters.line_naks += 1
                        damaged = True
                        resend = True
                        continue
                    if ev.status == Status.STALE and len(ev.payload) >= 2:
                        # a new host meeting an old session: continue after the device's last seq
                        self.counters.stale_naks += 1
                        self._seq = struct.unpack_from("<H", ev.payload)[0]
                        seq = self._next_seq()
                        wire = b"\x00" + fr.encode_frame(type, seq, payload, version=self.protocol_version)
                        resend = True
                        continue
                    raise NakError(f"device refused {_msg_name(type)}: {fr.status_name(ev.status)}"
                                   f"{_detail(ev.status, ev.payload)}", ev.status, ev.payload)
            if not resend:
                self.counters.timeouts += 1
        what = _msg_name(type)
        if damaged:
            raise LinkCrcError(f"{what}: frames kept arriving damaged (CRC/COBS/truncated) after {retries} attempts")
        raise LinkTimeout(f"{what}: no response after {retries} attempts of {timeout:g} s")

    # ---- messages ---------------------------------------------------------------------------------------------
    def hello(self) -> Hello:
        """Start a session; learn the device's protocol version, max payload, firmware, board and model."""
        p = self.request(Msg.HELLO)
        if len(p) < 14:
            raise ProtocolError(f"HELLO reply of {len(p)} bytes is too short")
        ver, _, max_payload, sig, staging = struct.unpack_from("<BBHII", p)
        if ver != fr.PROTO_VERSION:
            raise VersionMismatch(f"device speaks protocol version {ver}, this host {fr.PROTO_VERSION}", ver)
        o = 12
        fw, o = _get_str(p, o)
        board, o = _get_str(p, o)
        self.device = Hello(ver, max_payload, sig, staging, fw, board)
        self.max_payload = max_payload
        return self.device

    def _limits(self) -> int:
        if self.max_payload is None:
            self.hello()
        return self.max_payload

    def ping(self, payload: bytes = b"") -> float:
        """Round-trip time in seconds; the device must echo ``payload`` exactly."""
        t0 = time.perf_counter()
        got = self.request(Msg.PING, payload)
        dt = time.perf_counter() - t0
        if got != bytes(payload):
            raise ProtocolError("PING echo differs from what was sent")
        return dt

    def info(self) -> DeviceInfo:
        tensors: list[TensorInfo] = []
        first = 0
        while True:
            p = self.request(Msg.INFO, bytes([first]))
            nt, nk, nh = p[0], p[1], p[2]
            o = 3
            kernels = list(struct.unpack_from(f"<{nk}H", p, o))
            o += 2 * nk
            handlers = list(p[o:o + nh])
            o += nh
            got_first, count = p[o], p[o + 1]
            o += 2
            for i in range(count):
                tid, flags, _, size = struct.unpack_from("<HBBI", p, o + 8 * i)
                tensors.append(TensorInfo(tid, size, bool(flags & 1), bool(flags & 2)))
            first = got_first + count
            if count == 0 or first >= nt:
                return DeviceInfo(tensors, kernels, handlers)

    def stats(self) -> dict:
        """cycles, instret and the link counters of docs/protocol.md section 6."""
        p = self.request(Msg.STATS)
        cycles, instret, n = struct.unpack_from("<QQB", p)
        vals = struct.unpack_from(f"<{n}I", p, 17)
        out = {"cycles": cycles, "instret": instret}
        for i, v in enumerate(vals):
            out[fr.STAT_COUNTERS[i] if i < len(fr.STAT_COUNTERS) else f"counter{i}"] = v
        return out

    def reset(self) -> None:
        """Reset the device (it answers first). The session is gone: call hello() again before tensor I/O."""
        self.request(Msg.RESET)
        self.max_payload = None

    def tensor_info(self, tid: int) -> TensorInfo:
        p = self.request(Msg.TENSOR_INFO, struct.pack("<H", tid))
        tid2, flags, _, size, crc = struct.unpack_from("<HBBII", p)
        return TensorInfo(tid2, size, bool(flags & 1), bool(flags & 2), crc)

    def write_tensor(self, tid: int, data, attempts: int = 4) -> int:
        """Replace tensor ``tid`` with ``data`` (bytes or an array, sent in C order) all-or-nothing; return its CRC.

        The write is restarted from WRITE_BEGIN if the device lost the transfer (reset, HELLO from elsewhere) or
        the whole-tensor CRC did not match; TensorCommitError after ``attempts`` starts (the old contents stay).
        """
        blob = _as_bytes(data)
        crc = fr.crc32(blob)
        max_payload = self._limits()
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                self.counters.write_restarts += 1
            try:
                p = self.request(Msg.WRITE_BEGIN, struct.pack("<HHII", tid, 0, len(blob), crc))
                xfer, max_chunk = struct.unpack_from("<HH", p)
                chunk = max(1, min(max_chunk, max_payload - fr.WRITE_CHUNK_HEADER))
                off = 0
                chunk_crc_failures = 0
                while True:
                    while off < len(blob):
                        piece = blob[off:off + chunk]
                        try:
                            p = self.request(Msg.WRITE_CHUNK, struct.pack("<HHII", xfer, 0, off, fr.crc32(piece))
                                             + piece)
                            off = struct.unpack_from("<I", p)[0]
                        except NakError as e:
                            if e.code == Status.OFFSET and len(e.payload) >= 4:
                                off = struct.unpack_from("<I", e.payload)[0]  # resume where the device is
                            elif e.code == Status.CHUNK_CRC and chunk_crc_failures < self.retries:
                                chunk_crc_failures += 1  # damaged in memory or on the way: send it again
                                continue
                            else:
                                raise
                    try:
                        p = self.request(Msg.WRITE_COMMIT, struct.pack("<H", xfer))
                    except NakError as e:
                        if e.code == Status.INCOMPLETE and len(e.payload) >= 4:
                            off = struct.unpack_from("<I", e.payload)[0]
                            continue
                        raise
                    got = struct.unpack_from("<I", p)[0]
                    if got != crc:
                        raise ProtocolError(f"device committed CRC {got:#010x}, expected {crc:#010x}")
                    return crc
            except NakError as e:
                if e.code not in (Status.NO_TRANSFER, Status.TENSOR_CRC):
                    raise
                last = e
        raise TensorCommitError(f"tensor {tid}: write not committed after {attempts} attempts ({last}); "
                                "the device keeps the old contents")

    def read_tensor(self, tid: int, dtype=None, shape=None, attempts: int = 4):
        """Read tensor ``tid``: bytes, or an ndarray when ``dtype`` is given (reshaped to ``shape`` if given).
        Every chunk and the whole are CRC-checked; a tensor that changed during the read is read again."""
        max_payload = self._limits()
        room = max_payload - fr.READ_CHUNK_HEADER
        for _ in range(attempts):
            info = self.tensor_info(tid)
            buf = bytearray()
            while len(buf) < info.size:
                want = min(room, info.size - len(buf), 0xFFFF)
                for _try in range(attempts):
                    p = self.request(Msg.READ_CHUNK, struct.pack("<HHIH", tid, 0, len(buf), want))
                    off, ccrc = struct.unpack_from("<II", p)
                    data = p[fr.READ_CHUNK_HEADER:]
                    if off == len(buf) and fr.crc32(data) == ccrc and data:
                        buf += data
                        break
                    self.counters.read_retries += 1
                else:
                    raise ProtocolError(f"tensor {tid}: chunk at {len(buf)} kept failing its CRC")
            if fr.crc32(bytes(buf)) == info.crc:
                blob = bytes(buf)
                if dtype is None:
                    return blob
                arr = np.frombuffer(blob, dtype=dtype).copy()
                return arr.reshape(shape) if shape is not None else arr
            self.counters.read_retries += 1
        raise ProtocolError(f"tensor {tid}: contents kept changing while being read")

    def run_kernel(self, kernel_id: int, args: bytes = b"", timeout: float | None = None) -> KernelResult:
        """Run a registered on-target kernel (id 0 = built-in echo); returns cycles, instret and its output."""
        p = self.request(Msg.RUN_KERNEL, struct.pack("<HH", kernel_id, 0) + _as_bytes(args), timeout=timeout)
        cycles, instret = struct.unpack_from("<QQ", p)
        return KernelResult(cycles, instret, p[fr.RUN_KERNEL_HEADER:])


def _as_bytes(data) -> bytes:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).tobytes()
    return bytes(data)


def _get_str(p: bytes, o: int) -> tuple[str, int]:
    n = p[o]
    return p[o + 1:o + 1 + n].decode("utf-8", "replace"), o + 1 + n


def _msg_name(t: int) -> str:
    try:
        return Msg(t).name
    except ValueError:
        return f"message {t:#x}"


def _detail(status: int, payload: bytes) -> str:
    if status in (Status.OFFSET, Status.INCOMPLETE) and len(payload) >= 4:
        return f" (device at byte {struct.unpack_from('<I', payload)[0]})"
    if status == Status.HANDLER and len(payload) >= 4:
        return f" (handler returned {struct.unpack_from('<i', payload)[0]})"
    return ""
