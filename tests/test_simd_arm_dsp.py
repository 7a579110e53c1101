"""ARM DSP path (csrc/kernels/simd/arm_dsp) on the emulated Cortex-M4 and Cortex-M7 boards.

The C programs in tests/target/arm_dsp/ are built with arm-none-eabi-gcc and run bare-metal in QEMU (semihosting):
- test_matmul.c runs every int8 case through the reference C and the DSP matmul on the target (bit-exact compare)
  and prints an FNV-1a hash of the DSP output; here the same inputs are regenerated (same xorshift32) and the hash
  is recomputed from a numpy model of TFLite's arithmetic, so the target's result is also checked off the target.
  fp32 cases are checked on the target against a double-precision sum (|err| <= (K+1) 2^-24 (sum|ab| + |c|)),
  fp16 cases against the reference within one fp16 ulp (fp32 accumulation in both, one rounding per output).
- bench_matmul.c runs the anchor shapes' matmuls between two marker functions; the QEMU TCG plugin
  tools/qemu_plugin/insncount.c counts the instructions executed in between, exactly (out=stderr).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "tests" / "target" / "arm_dsp"
PLUGIN_SRC = ROOT / "tools" / "qemu_plugin" / "insncount.c"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm") and shutil.which("gcc")),
        reason="needs arm-none-eabi-gcc, qemu-system-arm and gcc",
    ),
]

BOARDS = {
    "qemu-cm4": ("mps2-an386", ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"]),
    "qemu-cm7": ("mps2-an500", ["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16"]),
}

# CMSIS-NN's Cortex-M4 figures for the same shapes (/work/shared/anchors.md), whole conv kernels, MAC/instruction.
CMSIS_M4 = {(256, 16, 144): 0.430, (256, 32, 32): 0.370, (1, 64, 256): 0.482}


# the reference C and dispatch tables the programs link against
REF_SOURCES = ["csrc/kernels/ref/matmul_ref.c", "csrc/kernels/ref/s8_depthwise_conv2d.c", "csrc/kernels/ref/common.c",
               "csrc/kernels/dispatch.c", "csrc/kernels/layer_dispatch.c"]  # fmt: skip


def _build(tmp: Path, board: str, program: str, extra: list[str] = (), opt: str = "-O2") -> Path:
    flags = BOARDS[board][1]
    elf = tmp / f"{Path(program).stem}-{board}{opt}.elf"
    kernels = sorted((ROOT / "csrc/kernels/simd/arm_dsp").glob("*.c"))
    cmd = [
        # the firmware library's flags (CMakeLists.txt) on the board's CPU flags
        "arm-none-eabi-gcc", opt, "-std=gnu11", "-ffp-contract=off", "-fno-strict-aliasing", "-mthumb",
        "-mfloat-abi=hard", "-mfp16-format=ieee", *flags, "-Wall", "-Werror",
        "-DODL_WITH_ARM_DSP", *extra,
        f"-I{ROOT / 'csrc/include'}", f"-I{ROOT / 'csrc/kernels'}", f"-I{SRC}",
        str(SRC / "startup.c"), str(SRC / program), *map(str, kernels), *(str(ROOT / f) for f in REF_SOURCES),
        "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", f"-T{SRC / 'link.ld'}", "-Wl,--gc-sections",
        "-lm", "-o", str(elf),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return elf


def _run(board: str, elf: Path, plugin: Path | None = None) -> subprocess.CompletedProcess:
    machine = BOARDS[board][0]
    cmd = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]  # fmt: skip
    if plugin is not None:
        syms = subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True, text=True).stdout
        addr = {name: int(a, 16) for a, _, name in (line.split() for line in syms.splitlines() if len(line.split()) == 3)}
        cmd += ["-plugin", f"{plugin},start={addr['odl_mark_start']:#x},stop={addr['odl_mark_stop']:#x},out=stderr"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plugin") / "insncount.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(PLUGIN_SRC)], check=True)
    return out


# ----------------------------------------------------------------------------------------------- host side model


def _xorshift(seed: int, count: int) -> tuple[np.ndarray, int]:
    """`count` successive outputs of xorshift32 (odl_test_rand in harness.h) and the final state."""
    out = np.empty(count, dtype=np.uint32)
    x = seed
    for i in range(count):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x
    return out, x


def _fnv1a(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


def _requant_numpy(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier with gemmlowp double rounding, elementwise in int64 (a numpy model
    independent of the C code)."""
    ls = np.maximum(shift, 0)
    rs = np.maximum(-shift, 0)
    x = _wrap32(acc.astype(np.int64) << ls)
    ab = x * mult.astype(np.int64)
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    r = np.where(t >= 0, t >> 31, -((-t) >> 31))  # division truncating toward zero
    r = np.where((x == mult) & (x == -(1 << 31)), (1 << 31) - 1, r)
    mask = (np.int64(1) << rs) - 1
    rem = r & mask
    thr = (mask >> 1) + (r < 0)
    return (r >> rs) + (rem > thr)


def _reference_hash(m, n, k, a_offset, per_channel, bias_mode, shmin, shmax, out_off, act_min, act_max, seed):
    """Regenerate one int8 case exactly as test_matmul.c does, compute it with the numpy model, hash the output."""
    r, s = _xorshift(seed, m * k + n * k)
    a = (r[: m * k] >> 24).astype(np.uint8).view(np.int8).astype(np.int64).reshape(m, k)
    b = (r[m * k :] >> 24).astype(np.uint8).view(np.int8).astype(np.int64).reshape(n, k)
    r, s = _xorshift(s, n)
    if bias_mode == 1:
        bias = (r % 65536).astype(np.int64) - 32768
    elif bias_mode == 2:
        bias = (r % 1024).astype(np.int64)
    elif bias_mode == 3:
        bias = r.view(np.int32).astype(np.int64)
    else:
        bias = np.zeros(n, dtype=np.int64)
    r, s = _xorshift(s, 2 * n)
    mult = (np.uint32(0x40000000) | (r[0::2] >> 2)).astype(np.int64)
    shift = shmin + (r[1::2] % np.uint32(shmax - shmin + 1)).astype(np.int64)
    if not per_channel:
        mult, shift = np.full(n, mult[0]), np.full(n, shift[0])
    acc = _wrap32((a + a_offset) @ b.T + bias[None, :])
    out = np.clip(_requant_numpy(acc, mult[None, :], shift[None, :]) + out_off, act_min, act_max)
    return _fnv1a(out.astype(np.int8).tobytes())


def _out_size(size: int, k: int, stride: int, dil: int, same: bool) -> tuple[int, int]:
    """TFLite output size and leading padding."""
    eff = (k - 1) * dil + 1
    if same:
        out = (size + stride - 1) // stride
        return out, max((out - 1) * stride + eff - size, 0) // 2
    return (size - eff + stride) // stride, 0


def _depthwise_hash(h, w, c, kh, kw, stride, dil, same, dm, in_off, bias_mode, shmin, shmax, out_off, act_min,
                    act_max, seed):
    """Regenerate one case of test_depthwise.c and compute it with a numpy depthwise model (TFLite semantics:
    padded taps contribute nothing)."""
    cout = c * dm
    r, s = _xorshift(seed, h * w * c + kh * kw * cout)
    x = (r[: h * w * c] >> 24).astype(np.uint8).view(np.int8).astype(np.int64).reshape(h, w, c)
    f = (r[h * w * c :] >> 24).astype(np.uint8).view(np.int8).astype(np.int64).reshape(kh, kw, cout)
    r, s = _xorshift(s, cout)
    bias = (r % 65536).astype(np.int64) - 32768 if bias_mode == 1 else r.view(np.int32).astype(np.int64)
    if not bias_mode:
        bias = np.zeros(cout, dtype=np.int64)
    r, s = _xorshift(s, 2 * cout)
    mult = (np.uint32(0x40000000) | (r[0::2] >> 2)).astype(np.int64)
    shift = shmin + (r[1::2] % np.uint32(shmax - shmin + 1)).astype(np.int64)
    oh, pt = _out_size(h, kh, stride, dil, bool(same))
    ow, pl = _out_size(w, kw, stride, dil, bool(same))
    xin = np.repeat(x, dm, axis=2) + in_off  # input channel of output channel oc is oc // dm
    acc = np.zeros((oh, ow, cout), dtype=np.int64) + bias
    for ky in range(kh):
        ys = np.arange(oh) * stride - pt + ky * dil
        for kx in range(kw):
            xs = np.arange(ow) * stride - pl + kx * dil
            valid = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]
            tap = xin[np.clip(ys, 0, h - 1)][:, np.clip(xs, 0, w - 1)] * f[ky, kx]
            acc += np.where(valid[:, :, None], tap, 0)
    out = np.clip(_requant_numpy(_wrap32(acc), mult, shift) + out_off, act_min, act_max)
    return _fnv1a(out.astype(np.int8).tobytes())


def test_xorshift_first_value():
    # seed 1: 1 ^ 1 << 13 = 8193; 8193 ^ 8193 >> 17 = 8193; 8193 ^ 8193 << 5 = 270369
    assert int(_xorshift(1, 1)[0][0]) == 270369


# ---------------------------------------------------------------------------------------------------- the tests


# -O2 is the firmware's Release build; -Os (MinSizeRel) and -O0 (the asm needs the optimizer: -O0 runs the
# reference / C loops) must stay correct too.
BUILDS = [("qemu-cm4", "-O2"), ("qemu-cm7", "-O2"), ("qemu-cm4", "-Os"), ("qemu-cm4", "-O0")]


@pytest.mark.parametrize("board,opt", BUILDS)
def test_matmul_bit_exact_on_target(board, opt, tmp_path):
    elf = _build(tmp_path, board, "test_matmul.c", opt=opt)
    res = _run(board, elf)
    lines = res.stderr.splitlines()  # semihosting console output goes to stderr
    assert lines and lines[-1] == "PASSED", res.stderr
    assert res.returncode == 0
    s8 = [line.split() for line in lines if line.startswith("s8 ")]
    f32 = [line.split() for line in lines if line.startswith("f32 ")]
    f16 = [line.split() for line in lines if line.startswith("f16 ")]
    assert len(s8) >= 20 and len(f32) >= 12 and len(f16) >= 12
    for fields in s8:
        params = [int(v) for v in fields[1:13]]
        assert fields[13] == "ok", fields
        assert int(fields[14], 16) == _reference_hash(*params), f"target output differs from the numpy model: {fields}"
    for fields in f32 + f16:
        assert fields[7] == "ok", fields
    for fields in f16:
        assert int(fields[8]) <= 1, fields  # within one fp16 ulp of the reference on the target


@pytest.mark.parametrize("board,opt", BUILDS[:2] + BUILDS[3:])
def test_depthwise_bit_exact_on_target(board, opt, tmp_path):
    elf = _build(tmp_path, board, "test_depthwise.c", opt=opt)
    res = _run(board, elf)
    lines = res.stderr.splitlines()
    assert lines and lines[-1] == "PASSED", res.stderr
    cases = [line.split() for line in lines if line.startswith("dw ")]
    assert len(cases) >= 11
    for fields in cases:
        assert fields[18] == "ok", fields
        params = [int(v) for v in fields[1:18]]
        assert int(fields[19], 16) == _depthwise_hash(*params), f"target output differs from the numpy model: {fields}"


def _counts(res) -> tuple[list[list[str]], list[int]]:
    labels = [line.split() for line in res.stderr.splitlines() if line.startswith("bench ")]
    counts = [int(v) for v in re.findall(r"^insncount (\d+)$", res.stderr, re.M)]
    assert len(labels) == len(counts) and labels[0][1] == "empty"
    return labels, counts


def test_depthwise_instruction_counts_cm4(plugin, tmp_path):
    elf = _build(tmp_path, "qemu-cm4", "test_depthwise.c", ["-DODL_BENCH"])
    res = _run("qemu-cm4", elf, plugin)
    assert res.returncode == 0, res.stderr
    labels, counts = _counts(res)
    (ref_label, ref), (dsp_label, dsp) = zip(labels[1:], (c - counts[0] for c in counts[1:]))
    macs = int(dsp_label[-1])
    print(f"depthwise_s8 16x16x32 3x3: {macs / dsp:.3f} MAC/instr, {ref / dsp:.1f}x reference")
    assert ref / dsp >= 3.0
    assert macs / dsp > 0.114  # CMSIS-NN's Cortex-M4 figure for the same shape (anchors.md)


def test_matmul_instruction_counts_cm4(plugin, tmp_path):
    elf = _build(tmp_path, "qemu-cm4", "bench_matmul.c", ["-DODL_BENCH_F32"])
    res = _run("qemu-cm4", elf, plugin)
    assert res.returncode == 0, res.stderr
    labels, counts = _counts(res)
    overhead = counts[0]
    rows = {}
    for (_, kernel, path, m, n, k, macs), count in zip(labels[1:], counts[1:]):
        rows[(kernel, path, int(m), int(n), int(k))] = (int(macs), count - overhead)
    report = []
    for (kernel, path, m, n, k), (macs, ins) in sorted(rows.items()):
        if path != "dsp":
            continue
        ref = rows[(kernel, "reference", m, n, k)][1]
        mpi = macs / ins
        report.append(f"{kernel} {m}x{n}x{k}: {mpi:.3f} MAC/instr, {ref / ins:.1f}x reference")
        assert ref / ins >= 3.0, report[-1]  # every SIMD path >= 3x its reference C
        if kernel == "matmul_s8":
            assert mpi > CMSIS_M4[(m, n, k)], report[-1]  # beats CMSIS-NN's M4 kernel on the same shape
        # what this path reaches today (exact counts, so these are regression bounds with a small margin)
        floor = {(256, 16, 144): 1.0, (256, 32, 32): 0.72, (1, 64, 256): 0.5}.get((m, n, k)) if kernel == "matmul_s8" else 0.3
        assert mpi >= floor, report[-1]
    print("\n".join(report))
