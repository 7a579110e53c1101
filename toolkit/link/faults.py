"""Deterministic, bounded fault injection on a stream of COBS frames (docs/protocol.md, section 2).

A FaultInjector cuts the byte stream at each 0x00 delimiter and, for every complete frame, draws at most one fault
from a ``random.Random(seed)``: the same seed and the same frames give the same faults, whatever the chunking of
the stream. After ``max_faults`` faults it passes everything through unchanged, so a link retrying enough always
gets through. Used in-process (FaultyTransport) and between the host and QEMU (FaultProxy).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from toolkit.link import frame as fr


@dataclass
class Faults:
    """Probability per frame of each fault (at most one fault per frame)."""

    flip: float = 0.0        # flip 1-3 random bits (may hit the delimiter or create new zeros)
    drop: float = 0.0        # drop the whole frame
    drop_bytes: float = 0.0  # drop 1-4 random bytes of the frame
    duplicate: float = 0.0   # deliver the frame twice
    reorder: float = 0.0     # hold the frame back and deliver it after the next one
    truncate: float = 0.0    # cut the frame short (its delimiter is kept)
    garbage: float = 0.0     # insert 1-40 random bytes (zeros included) before the frame
    oversize: float = 0.0    # insert a junk frame longer than any device accepts before the frame
    version: float = 0.0     # re-encode the frame as another protocol version (with a valid CRC)
    max_faults: int = 50     # stop injecting after this many faults

    def kinds(self):
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name != "max_faults"]

    @classmethod
    def all(cls, p: float, max_faults: int = 50, version: bool = False) -> "Faults":
        """Every line fault with probability ``p`` each (version faults only if asked: they are not retryable)."""
        kw = {f.name: p for f in fields(cls) if f.name not in ("max_faults", "version")}
        return cls(**kw, version=p if version else 0.0, max_faults=max_faults)


class FaultInjector:
    def __init__(self, faults: Faults, seed: int = 0, oversize_len: int = 4096):
        self.faults = faults
        self.rng = random.Random(seed)
        self.oversize_len = oversize_len
        self._partial = bytearray()
        self._held: bytes | None = None
        self.count = 0
        self.log: list[tuple[int, str]] = []  # (frame index, fault)
        self.frames = 0

    def process(self, data: bytes) -> bytes:
        """Bytes in, bytes to forward out (complete frames only; a partial frame waits for its delimiter)."""
        out = bytearray()
        self._partial += data
        while True:
            z = self._partial.find(0)
            if z < 0:
                break
            frame = bytes(self._partial[:z + 1])
            del self._partial[:z + 1]
            out += self._one(frame)
        return bytes(out)

    def flush(self) -> bytes:
        """Everything still held (a partial frame, a frame held for reordering)."""
        out = bytes(self._partial) + (self._held or b"")
        self._partial.clear()
        self._held = None
        return out

    def _pick(self) -> str | None:
        if self.count >= self.faults.max_faults:
            return None
        r = self.rng.random()
        acc = 0.0
        for name, p in self.faults.kinds():
            acc += p
            if r < acc:
                return name
        return None

    def _one(self, frame: bytes) -> bytes:
        if frame == b"\x00":  # empty candidate (a sync byte): passes untouched
            return frame
        self.frames += 1
        kind = self._pick()
        rng = self.rng
        out = frame
        if kind == "flip":
            b = bytearray(frame)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            out = bytes(b)
        elif kind == "drop":
            out = b""
        elif kind == "drop_bytes":
            b = bytearray(frame[:-1])
            for _ in range(min(rng.randint(1, 4), len(b))):
                del b[rng.randrange(len(b))]
            out = bytes(b) + b"\x00"
        elif kind == "duplicate":
            out = frame + frame
        elif kind == "reorder":
            if self._held is None:
                self._held = frame
                out = b""
            else:
                kind = None
        elif kind == "truncate":
            out = frame[: rng.randrange(0, max(1, len(frame) - 1))] + b"\x00"
        elif kind == "garbage":
            out = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) + frame
        elif kind == "oversize":
            out = bytes(rng.randrange(1, 256) for _ in range(self.oversize_len)) + b"\x00" + frame
        elif kind == "version":
            got = fr.decode_frame(frame)
            if isinstance(got, fr.Frame):
                out = fr.Frame(got.type, got.seq, got.payload, got.flags, got.status,
                               version=rng.choice([0, 2, 3, 255])).encode()
            else:
                kind = None
        if kind is not None:
            self.count += 1
            self.log.append((self.frames, kind))
        if kind != "reorder" and self._held is not None:
            out = out + self._held  # the held frame comes after the one that overtook it
            self._held = None
        return out
