"""Frames of the odl serial protocol in pure Python: COBS, CRC-32, header, and a byte-at-a-time parser.

This mirrors ``csrc/runtime/{cobs,crc32,frame}.c`` (docs/protocol.md, section 1); tests check the two against each
other in both directions.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

PROTO_VERSION = 1
HEADER = struct.Struct("<BBBBHH")  # version, type, flags, status, seq, length
HEADER_SIZE = 8
CRC_SIZE = 4
FLAG_RESPONSE = 0x01
DEFAULT_MAX_PAYLOAD = 1024
STALE_WINDOW = 1024
WRITE_CHUNK_HEADER = 12
READ_CHUNK_HEADER = 8
RUN_KERNEL_HEADER = 16


class Msg(enum.IntEnum):
    HELLO = 0x01
    PING = 0x02
    INFO = 0x03
    STATS = 0x04
    RESET = 0x05
    TENSOR_INFO = 0x10
    WRITE_BEGIN = 0x11
    WRITE_CHUNK = 0x12
    WRITE_COMMIT = 0x13
    WRITE_ABORT = 0x14
    READ_CHUNK = 0x15
    RUN_KERNEL = 0x20
    TRAIN_STEP = 0x30
    EVAL = 0x31
    USER_FIRST = 0x40
    USER_LAST = 0x7E
    NAK = 0x7F


class Status(enum.IntEnum):
    OK = 0
    CRC = 1
    VERSION = 2
    TOO_LARGE = 3
    TRUNCATED = 4
    COBS = 5
    UNKNOWN_TYPE = 6
    BAD_ARGS = 7
    NO_TENSOR = 8
    READ_ONLY = 9
    SIZE = 10
    OFFSET = 11
    CHUNK_CRC = 12
    TENSOR_CRC = 13
    NO_TRANSFER = 14
    INCOMPLETE = 15
    NO_SPACE = 16
    NO_KERNEL = 17
    HANDLER = 18
    STALE = 19
    REPLY_TOO_LARGE = 20


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"status {code}"


# Line errors: the frame was damaged on the way, sending it again may work.
LINE_ERRORS = frozenset({Status.CRC, Status.TOO_LARGE, Status.TRUNCATED, Status.COBS})

# Link counters reported by STATS, in order (docs/protocol.md, section 6).
STAT_COUNTERS = (
    "frames_ok", "crc_errors", "cobs_errors", "oversized", "truncated", "version_errors", "duplicates", "stale",
    "naks_sent", "bytes_rx", "bytes_tx", "tensors_committed", "transfers_aborted", "kernel_runs", "resets", "ignored",
)


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32/IEEE as zlib computes it (the protocol's CRC)."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter appended)."""
    out = bytearray([0])
    code_pos, code = 0, 1
    for b in data:
        if b == 0:
            out[code_pos] = code
            code_pos, code = len(out), 1
            out.append(0)
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos, code = len(out), 1
                out.append(0)
    out[code_pos] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode COBS bytes (without the delimiter); ValueError if malformed."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0:
            raise ValueError("COBS: zero byte inside a frame")
        block = data[i:i + code - 1]
        if len(block) != code - 1 or 0 in block:
            raise ValueError("COBS: block shorter than its code")
        out += block
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    status: int = 0
    version: int = PROTO_VERSION

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)

    def raw(self) -> bytes:
        """header | payload | crc, before COBS."""
        if len(self.payload) > 0xFFFF:
            raise ValueError("payload longer than 65535 bytes")
        head = HEADER.pack(self.version, self.type, self.flags, self.status, self.seq & 0xFFFF, len(self.payload))
        body = head + bytes(self.payload)
        return body + struct.pack("<I", crc32(body))

    def encode(self) -> bytes:
        """The bytes on the wire: COBS(raw) followed by the 0x00 delimiter."""
        return cobs_encode(self.raw()) + b"\x00"


def encode_frame(type: int, seq: int, payload: bytes = b"", flags: int = 0, status: int = 0,
                 version: int = PROTO_VERSION) -> bytes:
    return Frame(int(type), seq, bytes(payload), flags, status, version).encode()


@dataclass(frozen=True)
class FrameError:
    """A non-empty frame candidate that was rejected: ``status`` says why (a Status line error or VERSION)."""

    status: int
    header: tuple | None = None  # (version, type, flags, status, seq, length) if 8 bytes were decoded
    raw: bytes = b""

    @property
    def seq(self) -> int | None:
        return self.header[4] if self.header else None


def check_raw(raw: bytes, max_frame: int | None = None) -> Frame | FrameError:
    """Validate decoded frame bytes in the order of docs/protocol.md section 1."""
    header = HEADER.unpack_from(raw) if len(raw) >= HEADER_SIZE else None
    if max_frame is not None and len(raw) > max_frame:
        return FrameError(Status.TOO_LARGE, header, raw)
    if len(raw) < HEADER_SIZE + CRC_SIZE or header[5] + HEADER_SIZE + CRC_SIZE != len(raw):
        return FrameError(Status.TRUNCATED, header, raw)
    if crc32(raw[:-CRC_SIZE]) != struct.unpack_from("<I", raw, len(raw) - CRC_SIZE)[0]:
        return FrameError(Status.CRC, header, raw)
    version, type_, flags, status, seq, length = header
    if version != PROTO_VERSION:
        return FrameError(Status.VERSION, header, raw)
    return Frame(type_, seq, bytes(raw[HEADER_SIZE:HEADER_SIZE + length]), flags, status, version)


def _cobs_decode_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode like the C streaming decoder: (bytes decoded, whether the last block was incomplete)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        block = data[i:i + code - 1]
        out += block
        i += code - 1
        if len(block) != code - 1:
            return bytes(out), True
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out), False


def decode_frame(wire: bytes, max_frame: int | None = None) -> Frame | FrameError:
    """Decode one frame candidate (with or without its trailing 0x00), as the C parser would."""
    if wire.endswith(b"\x00"):
        wire = wire[:-1]
    if 0 in wire:
        return FrameError(Status.COBS)
    raw, incomplete = _cobs_decode_lenient(wire)
    if max_frame is not None and len(raw) > max_frame:
        return FrameError(Status.TOO_LARGE, HEADER.unpack_from(raw) if len(raw) >= HEADER_SIZE else None, raw)
    if incomplete:
        return FrameError(Status.COBS, HEADER.unpack_from(raw) if len(raw) >= HEADER_SIZE else None, raw)
    return check_raw(raw, max_frame)


class FrameParser:
    """Incremental parser: ``feed(bytes)`` returns the Frames and FrameErrors that ended in those bytes.

    Splits on 0x00 like the C parser; empty candidates are ignored; a candidate longer than ``max_encoded`` is
    discarded unread and reported as TOO_LARGE.
    """

    def __init__(self, max_payload: int = 65535):
        self.max_frame = HEADER_SIZE + max_payload + CRC_SIZE
        # beyond this many encoded bytes a candidate surely decodes to more than max_frame: stop storing it
        self.max_encoded = 2 * (self.max_frame + self.max_frame // 254 + 2)
        self._buf = bytearray()
        self._overflow = False
        self._overflow_header = None

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        start = 0
        while True:
            z = data.find(b"\x00", start)
            piece = data[start:] if z < 0 else data[start:z]
            if not self._overflow:
                self._buf += piece
                if len(self._buf) > self.max_encoded:
                    self._overflow = True
                    head = _cobs_decode_lenient(bytes(self._buf[:16]))[0]
                    self._overflow_header = HEADER.unpack_from(head) if len(head) >= HEADER_SIZE else None
                    self._buf.clear()
            if z < 0:
                return out
            if self._overflow:
                out.append(FrameError(Status.TOO_LARGE, self._overflow_header))
            elif self._buf:
                out.append(decode_frame(bytes(self._buf), self.max_frame))
            self._buf.clear()
            self._overflow = False
            start = z + 1
