"""Every emulated board boots in QEMU and serves the odl protocol over its UART (socket://): HELLO/PING, tensors
of several sizes round-trip bit-exactly, faults injected by a FaultProxy between host and QEMU are survived, and a
reset or a QEMU restart in the middle of a tensor write never leaves a mix of old and new contents.

Expected values come from outside the firmware: zlib.crc32 for CRCs, numpy for the data, the power-on fill
pattern and the Flash constant written out here. One firmware build per board (cached), one QEMU per test.
"""

import struct
import zlib

import numpy as np
import pytest

from toolkit.firmware import build_firmware, list_boards
from toolkit.firmware.qemu import QemuBoard
from toolkit.link import Faults, FaultProxy, Msg, NakError, SerialLink, Status

pytestmark = pytest.mark.qemu

EMULATED = [b.name for b in list_boards() if b.qemu]
TENSOR_SIZES = {1: 16, 2: 256, 3: 4096, 4: 16384}  # firmware/main.c defaults
DIAG_KERNEL = 0xFFF0
FLASH_CONSTANT = bytes([
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87, 0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F]) + \
    b"odl test tensor\x00" + bytes([0xFF, 0x00, 0xFF, 0x00, 0x55, 0xAA, 0x55, 0xAA, 0x80, 0x7F, 0x80, 0x7F, 0x01,
                                    0xFE, 0x01, 0xFE])


def power_on_pattern(tid: int, n: int) -> bytes:
    return bytes((tid * 31 + i) & 0xFF for i in range(n))


@pytest.fixture(scope="module")
def firmware():
    return {name: build_firmware(name) for name in EMULATED}


@pytest.fixture(params=EMULATED)
def board(request, firmware):
    fw = firmware[request.param]
    with QemuBoard(fw.board, fw.elf) as q:
        yield q


def connect(url: str, timeout: float = 3.0, retries: int = 5) -> SerialLink:
    link = SerialLink(url, timeout=timeout, retries=retries)
    link.hello()
    return link


def diag(link: SerialLink, x: int = 1, y: float = 1.0) -> dict:
    """RUN_KERNEL 0xFFF0 of firmware/main.c."""
    out = link.run_kernel(DIAG_KERNEL, struct.pack("<if", x, y)).output
    n = out[4]
    twice, vbytes, f, hbits, _, g, h2bits, h2_on_vector = struct.unpack_from("<iIfHHfHH", out, 5 + n)
    return {"boots": struct.unpack_from("<I", out)[0], "source": out[5:5 + n].decode(), "twice": twice,
            "vector_bytes": vbytes, "y15": f, "half_bits": hbits, "half_as_float": g, "half_doubled_bits": h2bits,
            "half_doubled_on_vector": h2_on_vector}


def check_fp16_conversions(link: SerialLink, values) -> None:
    """(_Float16)y and back on the device against numpy's IEEE conversions (round to nearest even)."""
    for y in np.asarray(values, dtype=np.float32):
        d = diag(link, 3, float(y))
        with np.errstate(over="ignore"):
            want = np.array([y], dtype=np.float32).astype(np.float16)
        if np.isnan(want[0]):
            assert (d["half_bits"] & 0x7C00) == 0x7C00 and (d["half_bits"] & 0x3FF), (y, hex(d["half_bits"]))
            assert np.isnan(d["half_as_float"])
            continue
        assert d["half_bits"] == int(want.view(np.uint16)[0]), (float(y), hex(d["half_bits"]))
        assert np.float32(d["half_as_float"]).tobytes() == want.astype(np.float32).tobytes(), float(y)
        with np.errstate(over="ignore"):
            doubled = want + want  # fp16 arithmetic in numpy
        assert d["half_doubled_bits"] == int(doubled.view(np.uint16)[0]), (float(y), hex(d["half_doubled_bits"]))


FP16_EDGES = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 6.1035156e-05, 6.0e-05, 5.9604645e-08,
              2.9802322e-08, 2.9802326e-08, 8.940697e-08, 1e-10, 2049.0, 2051.0, 1.00048828125, 1.0009765625,
              float("inf"), float("-inf"), float("nan"), 3.1415927, -1.1754944e-38]


def test_boots_and_answers_hello_ping_stats(board):
    with connect(board.url) as link:
        h = link.device
        assert h.board == board.board.name and h.protocol_version == 1 and h.fw_version == "0.1.0"
        assert h.max_payload == 1024 and h.staging_size == max(TENSOR_SIZES.values())
        rng = np.random.default_rng(1)
        for n in (0, 1, 7, 255, 256, h.max_payload):
            link.ping(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        info = link.info()
        assert {(t.id, t.size, t.writable) for t in info.tensors} == \
            {(i, n, True) for i, n in TENSOR_SIZES.items()} | {(5, 64, False)}
        assert DIAG_KERNEL in info.kernels
        s1 = link.stats()
        link.ping(b"x" * 100)
        s2 = link.stats()
        assert s2["cycles"] > s1["cycles"] > 0
        assert s2["frames_ok"] > s1["frames_ok"] and s2["crc_errors"] == 0
        d = diag(link, -123456, 2.75)
        assert d["boots"] == 1
        if board.board.arch == "riscv":
            assert d["source"] == "mcycle" and s2["instret"] > s1["instret"] > 0
        else:
            # QEMU 7.2 does not model DWT CYCCNT: the firmware's boot check sees it stand still and uses SysTick.
            assert d["source"] == "systick" and s2["instret"] == 0


def test_fpu_vector_unit_and_fp16_are_enabled(board):
    """The startup code switched on the FPU (and MVE / RVV): instructions that would fault otherwise give the right
    answers, and fp16 conversions are IEEE round-to-nearest-even."""
    want_vector = {"qemu-cm55": 16, "qemu-rv32": 16}.get(board.board.name, 0)  # MVE, RVV with VLEN 128
    rng = np.random.default_rng(5)
    with connect(board.url) as link:
        for x, y in [(1, 1.0), (-123456, 2.75), (2**30 - 1, -1e-3), (0, 65504.0)]:
            d = diag(link, x, y)
            assert d["twice"] == np.int32(x) * 2 and d["vector_bytes"] == want_vector
            assert d["half_doubled_on_vector"] == (want_vector > 0)  # fp16 lanes: MVE-FP, RVV Zvfh
            assert d["y15"] == np.float32(y) * np.float32(1.5)
        check_fp16_conversions(link, FP16_EDGES + list(rng.standard_normal(20) * 10.0 ** rng.integers(-8, 5, 20)))


def test_tensors_round_trip_bit_exactly(board):
    rng = np.random.default_rng(abs(hash(board.board.name)) % 2**32)
    with connect(board.url) as link:
        for tid, n in TENSOR_SIZES.items():
            assert link.read_tensor(tid) == power_on_pattern(tid, n)
        for tid, n in TENSOR_SIZES.items():
            data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            assert link.write_tensor(tid, data) == zlib.crc32(data)
            assert link.tensor_info(tid).crc == zlib.crc32(data)
            assert link.read_tensor(tid) == data
        # typed round trip: float32 bits (NaN payloads, -0.0, denormals) come back unchanged
        f = rng.standard_normal(TENSOR_SIZES[3] // 4).astype(np.float32)
        f[:4] = [np.float32("nan"), -0.0, np.float32(1e-45), np.float32("inf")]
        link.write_tensor(3, f)
        back = link.read_tensor(3, dtype=np.float32)
        assert back.tobytes() == f.tobytes()
        assert link.read_tensor(5) == FLASH_CONSTANT
        with pytest.raises(NakError) as e:
            link.write_tensor(5, bytes(64))
        assert e.value.code == Status.READ_ONLY
        with pytest.raises(NakError) as e:
            link.write_tensor(2, bytes(255))
        assert e.value.code == Status.SIZE


def test_link_survives_injected_faults(board):
    faults = Faults.all(0.04, max_faults=8)
    rng = np.random.default_rng(7)
    with FaultProxy(board.port, to_device=faults, to_host=faults, seed=3) as proxy:
        with SerialLink(proxy.url, timeout=0.6, retries=12) as link:
            link.hello()
            data = rng.integers(0, 256, TENSOR_SIZES[3], dtype=np.uint8).tobytes()
            link.write_tensor(3, data)
            for _ in range(10):
                link.ping(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
            assert link.read_tensor(3) == data
            stats = link.stats()
        assert proxy.injected, "the proxy injected no fault: the test tested nothing"
    with connect(board.url) as link:  # straight to QEMU: the device is healthy and holds the data
        assert link.read_tensor(3) == data
    kinds = {k for _, _, k in proxy.injected}
    assert kinds and stats["frames_ok"] > 0


def _start_partial_write(link: SerialLink, tid: int, data: bytes, upto: int) -> None:
    """WRITE_BEGIN and the chunks covering data[:upto], without commit."""
    p = link.request(Msg.WRITE_BEGIN, struct.pack("<HHII", tid, 0, len(data), zlib.crc32(data)))
    xfer, max_chunk = struct.unpack_from("<HH", p)
    off = 0
    while off < upto:
        piece = data[off:min(off + max_chunk, upto)]
        link.request(Msg.WRITE_CHUNK, struct.pack("<HHII", xfer, 0, off, zlib.crc32(piece)) + piece)
        off += len(piece)


def test_warm_reset_in_the_middle_of_a_write_keeps_the_old_tensor(board):
    rng = np.random.default_rng(11)
    old = rng.integers(0, 256, TENSOR_SIZES[4], dtype=np.uint8).tobytes()
    new = rng.integers(0, 256, TENSOR_SIZES[4], dtype=np.uint8).tobytes()
    # bytes in flight while the board reboots are lost (QEMU resets the UART): the host retransmits after 1 s
    with connect(board.url, timeout=1.0, retries=8) as link:
        link.write_tensor(4, old)
        _start_partial_write(link, 4, new, len(new) // 2)
        board.system_reset()  # QEMU's reset button: the CPU reboots, SRAM keeps its contents
        link.hello()
        assert diag(link)["boots"] == 2, "the board did not reboot"
        assert link.read_tensor(4) == old
        # the device's own RESET message, also mid-write
        _start_partial_write(link, 4, new, 3 * len(new) // 4)
        link.reset()
        link.hello()
        assert diag(link)["boots"] == 3
        assert link.read_tensor(4) == old
        link.write_tensor(4, new)
        assert link.read_tensor(4) == new


def test_qemu_restart_in_the_middle_of_a_write_never_mixes(board):
    rng = np.random.default_rng(12)
    new = rng.integers(0, 256, TENSOR_SIZES[3], dtype=np.uint8).tobytes()
    link = connect(board.url)
    _start_partial_write(link, 3, new, len(new) // 2)
    link.close()
    board.restart()  # power cycle: QEMU killed and booted again on the same port; SRAM starts blank
    with connect(board.url) as link:
        assert diag(link)["boots"] == 1
        assert link.read_tensor(3) == power_on_pattern(3, TENSOR_SIZES[3])
        link.write_tensor(3, new)
        assert link.read_tensor(3) == new


def test_cli_ping_boots_pings_and_shuts_down(firmware, capsys):
    import json

    from toolkit.cli import main

    assert main(["ping", "--board", "qemu-rv32", "--json", "--count", "2", "--size", "100"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["board"] == "qemu-rv32" and rep["protocol_version"] == 1 and len(rep["rtt_s"]) == 2
    assert rep["ping_bytes"] == 100 and rep["instret"] > 0


def test_cli_run_serves_the_uart_until_interrupted(firmware):
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from toolkit.cli import main

    exe = shutil.which("odl") or os.path.join(os.path.dirname(sys.executable), "odl")
    elf = str(firmware["qemu-cm4"].elf)  # the module's build: no rebuild inside the subprocess
    proc = subprocess.Popen([exe, "run", "--board", "qemu-cm4", "--elf", elf], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if "socket://127.0.0.1:" not in line:
            proc.wait(timeout=20)
            pytest.fail(f"odl run printed {line!r}; stderr: {proc.stderr.read()[-3000:]}")
        url = line.split("at ")[-1].strip()
        assert proc.stdout.readline().startswith("HELLO from qemu-cm4")
        assert main(["ping", "--port", url, "--count", "1"]) == 0
        with connect(url) as link:  # a second client after the first disconnected
            assert link.device.board == "qemu-cm4"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    assert code == 0


def test_out_of_tree_rv32imac_board_soft_fp16(tmp_path):
    """A board is a folder, even outside the repo: qemu-rv32 rebuilt as a plain rv32imac core (no F, no Zfh, no V,
    like the HiFive1's FE310) boots on the same QEMU machine and converts fp16 with the firmware's soft helpers,
    bit-exactly against numpy."""
    import re
    import shutil

    from toolkit.firmware.boards import BOARDS_DIR, load_board

    dst = tmp_path / "rv32imac-virt"
    shutil.copytree(BOARDS_DIR / "qemu-rv32", dst)
    toml = (dst / "board.toml").read_text()
    toml = toml.replace('name = "qemu-rv32"', 'name = "rv32imac-virt"')
    toml = re.sub(r'"-march=[^"]*"', '"-march=rv32imac_zicsr_zifencei"', toml)
    toml = re.sub(r'"-mabi=[^"]*"', '"-mabi=ilp32"', toml)
    toml = toml.replace('multilib = "rv32imafc/ilp32f"', 'multilib = "rv32imac/ilp32"')
    toml = toml.replace('simd_paths = ["RVV"]', "simd_paths = []")
    (dst / "board.toml").write_text(toml)
    board = load_board("rv32imac-virt", tmp_path)
    assert board.cflags[1:3] == ("-march=rv32imac_zicsr_zifencei", "-mabi=ilp32")
    fw = build_firmware(board, out_dir=tmp_path / "build")
    assert b"__truncsfhf2" in fw.elf.read_bytes()  # the soft conversions are really linked in and used
    rng = np.random.default_rng(6)
    with QemuBoard(board, fw.elf) as q, connect(q.url) as link:
        assert link.device.board == "rv32imac-virt"
        d = diag(link, 21, 1.5)
        assert d["vector_bytes"] == 0 and d["twice"] == 42 and d["y15"] == np.float32(2.25)
        subnormals = rng.uniform(-7e-5, 7e-5, 60).astype(np.float32)
        ties = (np.arange(1, 40, dtype=np.float32) + 0.5) * np.float32(2.0 ** -24)  # exact half-way subnormals
        check_fp16_conversions(link, FP16_EDGES + list(subnormals) + list(ties)
                               + list(rng.standard_normal(40) * 10.0 ** rng.integers(-6, 5, 40)))


def test_wrong_version_and_garbage_leave_the_device_healthy(board):
    import socket

    from toolkit.link import VersionMismatch

    with pytest.raises(VersionMismatch):
        with SerialLink(board.url, timeout=1.0, retries=2, protocol_version=2) as link:
            link.hello()
    rng = np.random.default_rng(9)
    with socket.create_connection(("127.0.0.1", board.port), timeout=5) as s:  # raw bytes: noise, zeros, long junk
        s.sendall(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes() + bytes(10) + b"\x01" * 5000 + b"\x00")
    with connect(board.url) as link:
        link.ping(b"still alive")
        stats = link.stats()
        assert stats["version_errors"] >= 1 and stats["cobs_errors"] + stats["crc_errors"] + stats["oversized"] > 0
        assert link.read_tensor(5) == FLASH_CONSTANT


def test_no_qemu_outlives_a_killed_host(firmware):
    """A test run killed with SIGKILL (no cleanup code runs) still takes its QEMU with it."""
    import os
    import subprocess
    import sys
    import time

    script = ("import os, sys\nfrom toolkit.firmware.qemu import QemuBoard\n"
              f"q = QemuBoard('qemu-cm4', {str(firmware['qemu-cm4'].elf)!r}).start()\n"
              "print(q.proc.pid, flush=True)\nos.kill(os.getpid(), 9)\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(res.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # exited; a zombie until whatever reaps orphans here gets to it
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    pytest.fail("QEMU kept running after the process that started it was killed")
