"""Fuzzing the C device with thousands of random and mutated byte streams (hypothesis).

Invariants, checked after every slice of input: the device never crashes or emits a malformed frame; a tensor is
always exactly its old contents or one of the complete new contents the stream tried to write (never a mix); and
afterwards the device answers a valid HELLO + PING. A second pass runs the same C under AddressSanitizer and
UBSan in a standalone binary over a few thousand seeded streams."""

import random
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.link import frame as fr
from toolkit.link.device import HostDevice
from toolkit.link.frame import Msg

SIZE_A = 1500  # staged tensor (staging buffer 2048)
SIZE_B = 2600  # shadowed tensor
OLD_A = bytes([0xA0]) * SIZE_A
OLD_B = bytes([0xB0]) * SIZE_B
NEW_A = [bytes(np.random.default_rng(i).integers(0, 256, SIZE_A, dtype=np.uint8)) for i in (1, 2)]
NEW_B = [bytes(np.random.default_rng(i).integers(0, 256, SIZE_B, dtype=np.uint8)) for i in (3, 4)]


def write_frames(tid, data, seq, xfer, chunk=700):
    """Frames of a complete write. The transfer id is what the device will hand out (it counts from 1)."""
    out = [fr.Frame(Msg.WRITE_BEGIN, seq, struct.pack("<HHII", tid, 0, len(data), zlib.crc32(data)))]
    for off in range(0, len(data), chunk):
        piece = data[off:off + chunk]
        seq += 1
        out.append(fr.Frame(Msg.WRITE_CHUNK, seq, struct.pack("<HHII", xfer, 0, off, zlib.crc32(piece)) + piece))
    seq += 1
    out.append(fr.Frame(Msg.WRITE_COMMIT, seq, struct.pack("<H", xfer)))
    return out, seq + 1


def session_frames() -> list[bytes]:
    frames = [fr.Frame(Msg.HELLO, 1), fr.Frame(Msg.PING, 2, b"\x00abc\x00")]
    seq, xfer = 3, 1
    for a, b in zip(NEW_A, NEW_B):
        f, seq = write_frames(1, a, seq, xfer)
        frames += f
        f, seq = write_frames(2, b, seq, xfer + 1)
        frames += f
        xfer += 2
    frames += [fr.Frame(Msg.READ_CHUNK, seq, struct.pack("<HHIH", 1, 0, 0, 100)),
               fr.Frame(Msg.RUN_KERNEL, seq + 1, b"\x00\x00\x00\x00echo"),
               fr.Frame(Msg.RESET, seq + 2), fr.Frame(Msg.STATS, seq + 3)]
    return [f.encode() for f in frames]


SESSION = session_frames()


def new_device():
    dev = HostDevice(staging_size=2048, out_capacity=1 << 18)
    dev.register_tensor(1, np.frombuffer(bytearray(OLD_A), np.uint8))
    dev.register_tensor_shadowed(2, np.frombuffer(bytearray(OLD_B), np.uint8))
    return dev


def check_invariants(dev, out: bytes, parser: fr.FrameParser):
    assert dev.tensor_bytes(1) in (OLD_A, *NEW_A)
    assert dev.tensor_bytes(2) in (OLD_B, *NEW_B)
    for ev in parser.feed(out):
        assert isinstance(ev, fr.Frame), f"device emitted a malformed frame: {ev}"
        assert ev.is_response


def check_recovers(dev, parser):
    hello = fr.Frame(Msg.HELLO, 40000).encode()
    ping = fr.Frame(Msg.PING, 40001, b"still there").encode()
    got = [e for e in parser.feed(dev.feed(b"\x00" + hello + ping))]
    assert all(isinstance(e, fr.Frame) for e in got)
    tail = [(e.type, e.seq, e.status) for e in got[-2:]]
    assert tail == [(Msg.HELLO, 40000, 0), (Msg.PING, 40001, 0)], got
    assert got[-1].payload == b"still there"


def run_stream(stream: bytes, cuts: list[int]):
    dev = new_device()
    parser = fr.FrameParser()
    pos = 0
    for c in sorted(set(cuts)) + [len(stream)]:
        c = min(c, len(stream))
        if c <= pos:
            continue
        check_invariants(dev, dev.feed(stream[pos:c]), parser)
        pos = c
    check_invariants(dev, b"", parser)
    check_recovers(dev, parser)
    return dev


def test_clean_session_commits_everything():
    dev = run_stream(b"".join(SESSION), [])
    assert dev.tensor_bytes(1) == NEW_A[-1] and dev.tensor_bytes(2) == NEW_B[-1]
    assert dev.stats["tensors_committed"] == 4


@st.composite
def mutated_sessions(draw):
    frames = list(SESSION)
    # frame-level mutations: drop, duplicate, swap, replace by garbage
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(frames) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "garbage", "truncate"]))
        if op == "drop":
            frames.pop(i)
        elif op == "dup":
            frames.insert(draw(st.integers(0, len(frames))), frames[i])
        elif op == "swap":
            j = draw(st.integers(0, len(frames) - 1))
            frames[i], frames[j] = frames[j], frames[i]
        elif op == "garbage":
            frames.insert(i, draw(st.binary(min_size=1, max_size=60)))
        else:
            frames[i] = frames[i][: draw(st.integers(0, len(frames[i]) - 1))] + b"\x00"
        if not frames:
            frames = [b"\x00"]
    stream = bytearray(b"".join(frames))
    # byte-level mutations: bit flips, deletions, insertions
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(stream) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            stream[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del stream[pos:pos + draw(st.integers(1, 8))]
        else:
            stream[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        if not stream:
            stream = bytearray(b"\x00")
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=8))
    return bytes(stream), cuts


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated_sessions())
def test_mutated_sessions_never_mix_tensors_and_recover(case):
    run_stream(*case)


@settings(max_examples=2000, deadline=None)
@given(stream=st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(st.sampled_from(SESSION[:4]), st.binary(max_size=40), st.just(b"\x00")),
             max_size=8).map(b"".join),
    # valid frames of random type / payload: exercises every message parser with arbitrary payloads
    st.lists(st.builds(lambda t, s, p: fr.Frame(t, s, p).encode(), st.integers(0, 255), st.integers(0, 0xFFFF),
                       st.binary(max_size=40)), max_size=6).map(b"".join),
), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_random_streams_never_mix_tensors_and_recover(stream, cuts):
    run_stream(stream, cuts)


# ---- the same C under AddressSanitizer + UBSan -----------------------------------------------------------------

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "odl/protocol.h"

static uint8_t out[1 << 20];
static odl_bytebuf ob = {out, sizeof out, 0, 0};

int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    static uint8_t stream[1 << 16];
    uint32_t n;
    long cases = 0;
    while (fread(&n, 4, 1, f) == 1) {
        if (n > sizeof stream || fread(stream, 1, n, f) != n) return 3;
        static odl_device dev;
        static uint8_t staging[2048], a[1500], b[2600], bs[2600];
        odl_device_config cfg = {0};
        cfg.board_name = "asan"; cfg.fw_version = "0";
        cfg.write = odl_bytebuf_write; cfg.write_ctx = &ob;
        cfg.staging = staging; cfg.staging_size = sizeof staging;
        if (odl_device_init(&dev, &cfg) != ODL_OK) return 4;
        memset(a, 0xA0, sizeof a); memset(b, 0xB0, sizeof b);
        odl_device_register_tensor(&dev, 1, a, sizeof a, ODL_TENSOR_WRITABLE);
        odl_device_register_tensor_shadowed(&dev, 2, b, bs, sizeof b);
        /* feed in uneven slices */
        uint32_t pos = 0, step = 1;
        while (pos < n) {
            uint32_t k = n - pos < step ? n - pos : step;
            odl_device_feed(&dev, stream + pos, k);
            pos += k;
            step = step * 3 % 1021 + 1;
            ob.len = 0;
        }
        /* the parser's own entry points too */
        static uint8_t pbuf[64];
        odl_frame_parser p;
        odl_parser_init(&p, pbuf, sizeof pbuf);
        for (uint32_t i = 0; i < n; i++) odl_parser_feed_byte(&p, stream[i]);
        static uint8_t dec[1 << 16];
        odl_cobs_decode(stream, n, dec, n / 2);
        cases++;
    }
    printf("%ld\n", cases);
    return 0;
}
"""


def _fuzz_corpus(n_cases: int, seed: int) -> bytes:
    rng = random.Random(seed)
    session = b"".join(SESSION)
    out = bytearray()
    for i in range(n_cases):
        kind = i % 3
        if kind == 0:
            s = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
        else:
            s = bytearray(session if kind == 1 else b"".join(rng.sample(SESSION, k=min(len(SESSION), 6))))
            for _ in range(rng.randrange(1, 12)):
                p = rng.randrange(len(s))
                op = rng.randrange(3)
                if op == 0:
                    s[p] ^= 1 << rng.randrange(8)
                elif op == 1:
                    del s[p:p + rng.randrange(1, 20)]
                else:
                    s[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
                if not s:
                    s = bytearray(b"\x00")
            s = bytes(s)
        out += struct.pack("<I", len(s)) + s
    return bytes(out)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_device_under_address_sanitizer(tmp_path: Path):
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "fuzz.c"
    src.write_text(HARNESS)
    runtime = sorted((root / "csrc" / "runtime").glob("*.c"))
    exe = tmp_path / "fuzz"
    cmd = ["gcc", "-std=gnu11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-Wall", "-I", str(root / "csrc" / "include"), "-I", str(root / "csrc" / "runtime"), str(src),
           *map(str, runtime), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 and "sanitizer" in res.stderr.lower() and "cannot find" in res.stderr.lower():
        pytest.skip("the sanitizer runtime (libasan/libubsan) is not installed")
    assert res.returncode == 0, res.stderr
    corpus = tmp_path / "corpus.bin"
    corpus.write_bytes(_fuzz_corpus(3000, seed=2026))
    run = subprocess.run([str(exe), str(corpus)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.strip() == "3000"
