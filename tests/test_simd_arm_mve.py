"""Helium (MVE) path on the emulated Cortex-M55 (QEMU mps3-an547).

One standalone program (tests/target/arm_mve/) is built with arm-none-eabi-gcc for the M55 with every case below
compiled in; it runs each kernel through the reference path and the MVE path and prints the outputs over
semihosting. Expected values come from numpy (int8: TFLite's fixed-point requantization written here in int64
numpy; fp16/fp32: float64 with an error bound), never from the code under test; the target's reference path is
checked against the same numpy model. The insncount QEMU plugin (tools/qemu_plugin/insncount.c, counts written to
the -D log) counts the instructions of every kernel call exactly, and the test asserts the MAC/instruction targets
of issue 4 on the CMSIS-NN anchor shapes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.qemu

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "target" / "arm_mve"
PLUGIN_SRC = ROOT / "tools" / "qemu_plugin" / "insncount.c"
# -O2 is the firmware's Release build; ODL_MVE_OPT=-O0 / -Os checks the inline assembly under other register
# allocations (the instruction-count targets then do not apply).
OPT = os.environ.get("ODL_MVE_OPT", "-O2")
CFLAGS = ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-mfp16-format=ieee", OPT, "-ffunction-sections",
          "-fdata-sections", "-DODL_WITH_ARM_MVE", "-Wall"]
K_MM_S8, K_MM_F16, K_MM_F32, K_DW_S8, K_DW_F16_FWD, K_DW_F16_WGRAD, K_DW_F16_IGRAD, K_NOP = range(8)
NT, NN, TN = 0, 1, 2

need = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc") if not shutil.which(t)]
if need:
    pytest.skip(f"missing tools: {', '.join(need)}", allow_module_level=True)


# ---------------------------------------------------------------- numpy models (independent of the C code)

def wrap32(x):
    return ((np.asarray(x, np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def srdhm(a, b):
    ab = a.astype(np.int64) * b.astype(np.int64)
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C's truncating division by 2^31
    return np.where((a == b) & (a == -(1 << 31)), (1 << 31) - 1, q)


def rdbpot(x, e):
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def requant(acc, mult, shift, out_off, lo, hi):
    """TFLite MultiplyByQuantizedMultiplier (double rounding) + offset + clamp; mult/shift broadcast on the last
    axis."""
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    x = wrap32(wrap32(acc) << np.maximum(shift, 0))
    v = rdbpot(srdhm(x, mult), np.maximum(-shift, 0)) + out_off
    return np.clip(v, lo, hi).astype(np.int8)


def mm_f64(layout, a, b, m, n, k):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    A = a.reshape(m, k) if layout != TN else a.reshape(k, m).T
    B = b.reshape(n, k).T if layout == NT else b.reshape(k, n)
    return A @ B, np.abs(A) @ np.abs(B)


def dw_windows(h, w, kh, kw, sh, sw, dh, dw, same):
    """TFLite output size and leading padding."""
    def one(size, k, s, d):
        eff = (k - 1) * d + 1
        if same:
            out = (size + s - 1) // s
            pad = max(0, ((out - 1) * s + eff - size) // 2)
        else:
            out = (size - eff + s) // s
            pad = 0
        return out, pad
    (oh, pt), (ow, pl) = one(h, kh, sh, dh), one(w, kw, sw, dw)
    return oh, ow, pt, pl


def dw_taps(p):
    """For each tap (ky, kx): (valid mask over outputs [oh, ow], input rows, input cols)."""
    oy = np.arange(p["oh"]) * p["sh"] - p["pt"]
    ox = np.arange(p["ow"]) * p["sw"] - p["pl"]
    for ky in range(p["kh"]):
        for kx in range(p["kw"]):
            iy, ix = oy + ky * p["dh"], ox + kx * p["dw"]
            vy, vx = (iy >= 0) & (iy < p["h"]), (ix >= 0) & (ix < p["w"])
            yield ky, kx, vy[:, None] & vx[None, :], np.clip(iy, 0, p["h"] - 1), np.clip(ix, 0, p["w"] - 1)


def dw_s8_model(x, f, bias, p, mult, shift, q):
    """int8 depthwise (any depth multiplier) with int64 sums, TFLite requantization."""
    c, dm = p["c"], p["dm"]
    acc = np.zeros((p["n"], p["oh"], p["ow"], c * dm), np.int64)
    xs = x.astype(np.int64) + p["off"]
    fs = f.astype(np.int64).reshape(p["kh"], p["kw"], c * dm)
    for ky, kx, valid, iy, ix in dw_taps(p):
        tap = np.repeat(xs[:, iy][:, :, ix], dm, axis=-1)  # [n, oh, ow, c*dm]
        acc += np.where(valid[None, :, :, None], tap * fs[ky, kx], 0)
    if bias is not None:
        acc += bias
    return requant(acc, mult, shift, *q)


def dw_f_model(kind, p, a, b, bias=None):
    """float64 depthwise forward / weight grad / input grad and the matching sum of |terms| (error scale)."""
    C = p["c"]
    if kind == K_DW_F16_FWD:
        x, w = a.astype(np.float64), b.astype(np.float64).reshape(p["kh"], p["kw"], C)
        y = np.zeros((p["n"], p["oh"], p["ow"], C))
        s = np.zeros_like(y)
        if bias is not None:
            y += bias.astype(np.float64)
            s += np.abs(bias.astype(np.float64))
        for ky, kx, valid, iy, ix in dw_taps(p):
            t = np.where(valid[None, :, :, None], x[:, iy][:, :, ix] * w[ky, kx], 0)
            y, s = y + t, s + np.abs(t)
        return y, s
    if kind == K_DW_F16_WGRAD:
        x, dy = a.astype(np.float64), b.astype(np.float64)
        dw_, s = np.zeros((p["kh"], p["kw"], C)), np.zeros((p["kh"], p["kw"], C))
        for ky, kx, valid, iy, ix in dw_taps(p):
            t = np.where(valid[None, :, :, None], x[:, iy][:, :, ix] * dy, 0)
            dw_[ky, kx], s[ky, kx] = t.sum((0, 1, 2)), np.abs(t).sum((0, 1, 2))
        return dw_, s
    dy, w = a.astype(np.float64), b.astype(np.float64).reshape(p["kh"], p["kw"], C)
    dx, s = np.zeros((p["n"], p["h"], p["w"], C)), np.zeros((p["n"], p["h"], p["w"], C))
    for ky, kx, valid, iy, ix in dw_taps(p):  # scatter form (the kernels gather)
        t = np.where(valid[None, :, :, None], dy * w[ky, kx], 0)
        for oy in range(p["oh"]):
            for ox in range(p["ow"]):
                if valid[oy, ox]:
                    dx[:, iy[oy], ix[ox]] += t[:, oy, ox]
                    s[:, iy[oy], ix[ox]] += np.abs(t[:, oy, ox])
    return dx, s


# ---------------------------------------------------------------- cases

class Case:
    def __init__(self, kind, ints, inputs, out_shape, out_dtype, *, init=None, out2_shape=None, label="",
                 macs=0, expect=None, bound=None, expect2=None, bound2=None):
        self.kind, self.ints, self.inputs, self.init = kind, ints, inputs, init
        self.out_shape, self.out_dtype, self.out2_shape = out_shape, np.dtype(out_dtype), out2_shape
        self.label, self.macs = label, macs
        self.expect, self.bound, self.expect2, self.bound2 = expect, bound, expect2, bound2

    @property
    def out_bytes(self):
        return int(np.prod(self.out_shape)) * self.out_dtype.itemsize

    @property
    def out2_bytes(self):
        return int(np.prod(self.out2_shape)) * self.out_dtype.itemsize if self.out2_shape else 0


def s8_quant(rng, n, per_channel, right_only=False):
    """Multipliers and shifts; right_only: every shift in [-31, -1] (the usual case, a shorter kernel path)."""
    cnt = n if per_channel else 1
    mult = rng.integers(1 << 30, (1 << 31) - 1, cnt, dtype=np.int64).astype(np.int32)
    shift = rng.integers(-12, -1 if right_only else 2, cnt).astype(np.int32)
    if cnt > 2 and right_only:  # edges: the largest multiplier, the shallowest and deepest right shifts
        mult[0], shift[0], shift[1] = (1 << 31) - 1, -1, -31
    elif cnt > 2:  # edges: the largest multiplier, no shift, a left shift, a deep right shift
        mult[0], shift[0], shift[1], shift[2] = (1 << 31) - 1, 0, 3, -31
    return mult, shift


def case_mm_s8(rng, m, n, k, label="", per_channel=True, bias=True, off=None, right_only=False):
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    bi = rng.integers(-(1 << 16), 1 << 16, n, dtype=np.int32) if bias else None
    off = int(rng.integers(-127, 129)) if off is None else off
    mult, shift = s8_quant(rng, n, per_channel, right_only)
    out_off = int(rng.integers(-20, 20))
    lo, hi = (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
    acc = (a.astype(np.int64) + off) @ b.astype(np.int64).T + (bi if bias else 0)
    exp = requant(acc, mult if per_channel else mult[0], shift if per_channel else shift[0], out_off, lo, hi)
    ints = [m, n, k, off, int(per_channel), out_off, lo, hi]
    label = label or f"matmul_s8 {m}x{n}x{k}{' right' if right_only else ''}"
    return Case(K_MM_S8, ints, [a, b, bi, mult, shift], (m, n), np.int8, label=label, macs=m * n * k, expect=exp)


def case_mm_f(rng, dtype, layout, m, n, k, accumulate, label=""):
    ash = (k, m) if layout == TN else (m, k)
    bsh = (n, k) if layout == NT else (k, n)
    a = rng.uniform(-1, 1, ash).astype(dtype)
    b = rng.uniform(-1, 1, bsh).astype(dtype)
    c0 = rng.uniform(-1, 1, (m, n)).astype(dtype) if accumulate else None
    ref, s = mm_f64(layout, a, b, m, n, k)
    if accumulate:
        ref, s = ref + c0.astype(np.float64), s + np.abs(c0.astype(np.float64))
    u = 2.0 ** -11 if dtype == np.float16 else 2.0 ** -24
    kind = K_MM_F16 if dtype == np.float16 else K_MM_F32
    name = "NT NN TN".split()[layout]
    return Case(kind, [layout, m, n, k, int(accumulate)], [a, b], (m, n), dtype, init=c0,
                label=label or f"matmul_{np.dtype(dtype).name} {name} {m}x{n}x{k}{' acc' if accumulate else ''}",
                macs=m * n * k, expect=ref, bound=(k + 3 + k // 64) * u * s + 2.0 ** -24)


def dw_params(rng, n, h, w, c, kh, kw, s=(1, 1), d=(1, 1), same=True, dm=1):
    oh, ow, pt, pl = dw_windows(h, w, kh, kw, s[0], s[1], d[0], d[1], same)
    return dict(n=n, h=h, w=w, c=c, kh=kh, kw=kw, sh=s[0], sw=s[1], dh=d[0], dw=d[1], same=same, oh=oh, ow=ow,
                pt=pt, pl=pl, dm=dm)


def case_dw_s8(rng, p, label="", per_channel=True, bias=True, right_only=False):
    cout = p["c"] * p["dm"]
    x = rng.integers(-128, 128, (p["n"], p["h"], p["w"], p["c"]), dtype=np.int8)
    f = rng.integers(-128, 128, (1, p["kh"], p["kw"], cout), dtype=np.int8)
    bi = rng.integers(-(1 << 16), 1 << 16, cout, dtype=np.int32) if bias else None
    p["off"] = int(rng.integers(-127, 129))
    mult, shift = s8_quant(rng, cout, per_channel, right_only)
    q = (int(rng.integers(-20, 20)), -128, 127)
    exp = dw_s8_model(x, f, bi, p, mult if per_channel else mult[0], shift if per_channel else shift[0], q)
    ints = [p["n"], p["h"], p["w"], p["c"], p["kh"], p["kw"], p["dm"], p["sh"], p["sw"], p["dh"], p["dw"],
            int(p["same"]), p["off"], int(per_channel), *q, 0, 0, p["oh"], p["ow"]]
    macs = p["n"] * p["oh"] * p["ow"] * cout * p["kh"] * p["kw"]
    return Case(K_DW_S8, ints, [x, f, bi, mult, shift], exp.shape, np.int8, macs=macs, expect=exp,
                label=label or f"depthwise_s8 {p['h']}x{p['w']}x{p['c']} k{p['kh']}x{p['kw']} s{p['sh']} m{p['dm']}")


def case_dw_f16(rng, kind, p, label="", bias=True, db=True):
    C = p["c"]
    x = rng.uniform(-1, 1, (p["n"], p["h"], p["w"], C)).astype(np.float16)
    w = rng.uniform(-1, 1, (1, p["kh"], p["kw"], C)).astype(np.float16)
    dy = rng.uniform(-1, 1, (p["n"], p["oh"], p["ow"], C)).astype(np.float16)
    bi = rng.uniform(-1, 1, C).astype(np.float16) if bias else None
    ints = [p["n"], p["h"], p["w"], C, C, p["kh"], p["kw"], p["sh"], p["sw"], p["dh"], p["dw"], p["pt"], p["pl"],
            p["oh"], p["ow"]]
    taps = p["kh"] * p["kw"]
    u = 2.0 ** -11
    macs = p["n"] * p["oh"] * p["ow"] * C * taps
    geo = f"{p['h']}x{p['w']}x{C} k{p['kh']}x{p['kw']} s{p['sh']}"
    if kind == K_DW_F16_FWD:
        ref, s = dw_f_model(kind, p, x, w, bi)
        return Case(kind, ints, [x, w, bi], ref.shape, np.float16, macs=macs, expect=ref,
                    bound=(taps + 3) * u * s + 2.0 ** -24, label=label or f"depthwise_f16 forward {geo}")
    if kind == K_DW_F16_WGRAD:
        ref, s = dw_f_model(kind, p, x, dy)
        pix = p["n"] * p["oh"] * p["ow"]
        e2 = dy.astype(np.float64).reshape(-1, C).sum(0) if db else None
        b2 = (u + (pix + 2) * 2.0 ** -24) * np.abs(dy.astype(np.float64)).reshape(-1, C).sum(0) if db else None
        return Case(kind, ints, [x, dy], ref.shape, np.float16, out2_shape=(C,) if db else None, macs=macs,
                    expect=ref, bound=(10 * u + (pix + 2) * 2.0 ** -24) * s + 2.0 ** -24, expect2=e2,
                    bound2=None if b2 is None else b2 + 2.0 ** -24, label=label or f"depthwise_f16 weight_grad {geo}")
    ref, s = dw_f_model(kind, p, dy, w)
    return Case(kind, ints, [dy, w], ref.shape, np.float16, macs=macs, expect=ref,
                bound=(taps + 3) * u * s + 2.0 ** -24, label=label or f"depthwise_f16 input_grad {geo}")


def make_cases():
    rng = np.random.default_rng(int(os.environ.get("ODL_MVE_SEED", "2026")))  # other seeds: same shapes, new data
    cases = [Case(K_NOP, [], [], (0,), np.int8, label="nop")]  # calibrates the marker overhead
    # CMSIS-NN anchor shapes (the matmul each layer reduces to) -- asserted below
    # (TFLite's convolution shifts are right shifts: scale products below 1)
    cases += [case_mm_s8(rng, 256, 16, 144, "anchor conv3x3 16x16x16->16 (im2col matmul)", right_only=True),
              case_mm_s8(rng, 256, 32, 32, "anchor conv1x1 16x16x32->32", right_only=True),
              case_mm_s8(rng, 1, 64, 256, "anchor fully connected 256->64", right_only=True)]
    # tails of M, N, K; per-tensor; no bias; zero offset
    for m, n, k in [(1, 1, 1), (2, 3, 15), (3, 2, 16), (4, 5, 17), (5, 33, 31), (7, 31, 40), (6, 65, 3), (3, 1, 100),
                    (4, 5, 32), (9, 7, 16), (11, 33, 32), (8, 2, 16), (7, 1, 32), (13, 64, 32)]:
        cases.append(case_mm_s8(rng, m, n, k))
        cases.append(case_mm_s8(rng, m, n, k, right_only=True))
    cases.append(case_mm_s8(rng, 4, 7, 20, per_channel=False, label="matmul_s8 per-tensor"))
    cases.append(case_mm_s8(rng, 7, 9, 32, per_channel=False, right_only=True, label="matmul_s8 per-tensor right"))
    cases.append(case_mm_s8(rng, 5, 6, 33, bias=False, off=0, label="matmul_s8 no bias, offset 0"))
    for dt in (np.float16, np.float32):
        for lay in (NT, NN, TN):
            m = 256 if dt == np.float16 else 64
            cases.append(case_mm_f(rng, dt, lay, m, 16, 144, False, f"{'NT NN TN'.split()[lay]} "
                                   f"{np.dtype(dt).name} anchor {m}x16x144"))
            for (m, n, k), acc in [((1, 1, 1), False), ((5, 19, 13), True), ((4, 9, 7), False), ((3, 33, 17), True),
                                   ((7, 21, 150), True), ((9, 16, 64), False)]:
                cases.append(case_mm_f(rng, dt, lay, m, n, k, acc))
    cases.append(case_dw_s8(rng, dw_params(rng, 1, 16, 16, 32, 3, 3), "anchor depthwise 3x3 16x16x32", right_only=True))
    cases.append(case_dw_s8(rng, dw_params(rng, 1, 5, 6, 37, 3, 3), right_only=True))
    cases.append(case_dw_s8(rng, dw_params(rng, 1, 5, 6, 16, 3, 3), per_channel=False, right_only=True))
    for args, kw in [((1, 7, 6, 13, 3, 3), dict(s=(2, 2))), ((2, 5, 5, 8, 3, 2), dict(same=False)),
                     ((1, 6, 7, 5, 3, 3), dict(d=(2, 1))), ((1, 4, 4, 3, 3, 3), dict(dm=2)),
                     ((2, 5, 6, 21, 3, 3), dict(s=(2, 1))), ((1, 4, 5, 40, 5, 5), dict()),
                     ((1, 3, 3, 16, 3, 3), dict(d=(3, 3))), ((1, 4, 4, 17, 2, 2), dict(dm=3))]:
        cases.append(case_dw_s8(rng, dw_params(rng, *args, **kw)))
    cases.append(case_dw_s8(rng, dw_params(rng, 1, 5, 5, 9, 3, 3), per_channel=False, bias=False))
    for kind in (K_DW_F16_FWD, K_DW_F16_WGRAD, K_DW_F16_IGRAD):
        cases.append(case_dw_f16(rng, kind, dw_params(rng, 1, 16, 16, 32, 3, 3)))
        for args, kw in [((1, 7, 6, 13, 3, 3), dict(s=(2, 2))), ((2, 5, 5, 8, 3, 2), dict(same=False)),
                         ((1, 6, 7, 5, 3, 3), dict(d=(2, 1))), ((1, 5, 4, 21, 3, 3), dict(s=(1, 2)))]:
            cases.append(case_dw_f16(rng, kind, dw_params(rng, *args, **kw), bias=False, db=False))
    return cases


# ---------------------------------------------------------------- C emission, build, run

CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.float16): "uint16_t",
          np.dtype(np.float32): "uint32_t"}


def c_array(name, arr):
    arr = np.ascontiguousarray(arr)
    ctype = CTYPES[arr.dtype]
    flat = arr.reshape(-1)
    if arr.dtype in (np.float16, np.float32):
        flat = flat.view(np.uint16 if arr.dtype == np.float16 else np.uint32)
    body = ",".join(str(int(v)) for v in flat)
    return f"static const {ctype} {name}[{max(1, flat.size)}] __attribute__((aligned(16))) = {{{body or '0'}}};\n"


def emit(cases, path):
    out = ["/* generated by tests/test_simd_arm_mve.py */\n"]
    rows = []
    for ci, c in enumerate(cases):
        ins = []
        for j, arr in enumerate(c.inputs):
            if arr is None:
                ins.append("0")
            else:
                out.append(c_array(f"c{ci}_in{j}", arr))
                ins.append(f"c{ci}_in{j}")
        ins += ["0"] * (5 - len(ins))
        init = "0"
        if c.init is not None:
            out.append(c_array(f"c{ci}_init", c.init))
            init = f"c{ci}_init"
        ints = ",".join(str(int(v)) for v in c.ints) or "0"
        rows.append(f"  {{{c.kind}, {{{ints}}}, {{{', '.join(ins)}}}, {init}, {c.out_bytes}u, {c.out2_bytes}u}},")
    out.append("static const odl_case ODL_CASES[] = {\n" + "\n".join(rows) + "\n};\n")
    out.append(f"#define ODL_N_CASES {len(cases)}\n")
    out.append(f"#define ODL_OUT_MAX {max(c.out_bytes for c in cases)}\n")
    out.append(f"#define ODL_OUT2_MAX {max(c.out2_bytes for c in cases)}\n")
    path.write_text("".join(out))


def build(tmp: Path, cases):
    emit(cases, tmp / "cases.h")
    srcs = sorted((ROOT / "csrc" / "kernels").glob("*.c")) + sorted((ROOT / "csrc" / "kernels" / "ref").glob("*.c"))
    srcs += sorted((ROOT / "csrc" / "kernels" / "simd" / "arm_mve").glob("*.c"))
    srcs += [HERE / "startup_semihost.c", HERE / "mve_kernels.c"]
    elf = tmp / "mve_kernels.elf"
    cmd = ["arm-none-eabi-gcc", *CFLAGS, f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'csrc' / 'kernels'}",
           f"-I{tmp}", *map(str, srcs), "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
           f"-T{HERE / 'mve_test.ld'}", "-Wl,--gc-sections", "-o", str(elf), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    plugin = tmp / "insncount.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(plugin), str(PLUGIN_SRC)], check=True)
    return elf, plugin


def symbol(elf, name):
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise KeyError(name)


def run_qemu(elf, plugin, log):
    start, stop = symbol(elf, "odl_mark_start"), symbol(elf, "odl_mark_stop")
    cmd = ["qemu-system-arm", "-M", "mps3-an547", "-display", "none", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
           "-plugin", f"{plugin},start={start:#x},stop={stop:#x}", "-d", "plugin", "-D", str(log)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    counts = [int(v) for v in re.findall(r"^insncount (\d+)$", log.read_text(), re.M)]
    return r, counts


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("arm_mve")
    cases = make_cases()
    try:
        elf, plugin = build(tmp, cases)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"build failed:\n{e.stderr}")
    r, counts = run_qemu(elf, plugin, tmp / "plugin.log")
    out = r.stdout + r.stderr  # QEMU writes semihosting console output to stderr
    if "DONE" not in out:
        last = [ln[:120] for ln in out.splitlines()[-3:]]
        pytest.fail(f"program did not finish (rc {r.returncode}): {last}")
    rows = re.findall(r"^R (\d+) (\w+) (-?\d+) ([0-9a-f]*)(?: ([0-9a-f]+))?$", out, re.M)
    assert len(rows) == 2 * len(cases) and len(counts) == 2 * len(cases)
    overhead = min(counts[0], counts[1])  # NOP case: the markers alone
    res = {}
    for (ci, path, st, hx, hx2), n in zip(rows, counts):
        c = cases[int(ci)]
        res[(int(ci), path)] = dict(status=int(st), out=bytes.fromhex(hx), out2=bytes.fromhex(hx2 or ""),
                                    insns=n - overhead)
    return cases, res


def decode(c, raw, shape, nbytes):
    assert raw[nbytes:] == b"\x5a" * 16, "kernel wrote past the end of its output"
    return np.frombuffer(raw[:nbytes], c.out_dtype).reshape(shape)


def check_case(c, r):
    assert r["status"] == 0
    got = decode(c, r["out"], c.expect.shape, c.out_bytes)
    if c.out_dtype == np.int8:
        bad = np.argwhere(got != c.expect)
        assert bad.size == 0, f"{c.label}: {len(bad)} int8 mismatches, first at {tuple(bad[0])}: " \
                              f"{got[tuple(bad[0])]} != {c.expect[tuple(bad[0])]}"
    else:
        err = np.abs(got.astype(np.float64) - c.expect)
        worst = np.unravel_index(np.argmax(err / c.bound), err.shape)
        assert np.all(np.isfinite(got)) and np.all(err <= c.bound), \
            f"{c.label}: |err| {err[worst]:.3g} > bound {c.bound[worst]:.3g} at {worst}"
        # the worst-case bounds are loose; typical errors must also be small (a dropped tap or a wrong element
        # is 1e-2 .. 1 of the output's size; FP16 accumulation gives ~1e-3, FP32 ~1e-7)
        rel = np.sqrt(np.mean(err ** 2)) / (np.sqrt(np.mean(c.expect ** 2)) + 1e-30)
        assert rel <= (1e-2 if c.out_dtype == np.float16 else 2e-6), f"{c.label}: rms relative error {rel:.3g}"
    if c.out2_shape:
        got2 = decode(c, r["out2"], c.out2_shape, c.out2_bytes).astype(np.float64)
        assert np.all(np.abs(got2 - c.expect2) <= c.bound2), f"{c.label}: bias gradient out of bound"


def test_every_case_matches_numpy_on_both_paths(results):
    cases, res = results
    for ci, c in enumerate(cases):
        if c.kind == K_NOP:
            continue
        for path in ("reference", "mve"):
            check_case(c, res[(ci, path)])


def test_int8_bit_exact_with_reference_path(results):
    cases, res = results
    for ci, c in enumerate(cases):
        if c.out_dtype == np.int8 and c.kind != K_NOP:
            assert res[(ci, "mve")]["out"] == res[(ci, "reference")]["out"], c.label


def test_instruction_count_targets(results):
    """Issue 4 targets on the CMSIS-NN anchor shapes (docs/simd.md has the table; /work/shared/anchors.md the
    CMSIS-NN figures: conv3x3 matmul core 3.57, conv1x1 1.612, FC 1.900, depthwise 0.372 MAC/instruction)."""
    if OPT != "-O2":
        pytest.skip("instruction-count targets are for the -O2 (Release) build")
    cases, res = results
    table = []
    for ci, c in enumerate(cases):
        if c.kind == K_NOP or not c.macs:
            continue
        ref, mve = res[(ci, "reference")]["insns"], res[(ci, "mve")]["insns"]
        table.append(dict(label=c.label, macs=c.macs, ref_insns=ref, mve_insns=mve, ref_mpi=c.macs / ref,
                          mve_mpi=c.macs / mve, speedup=ref / mve))
    if os.environ.get("ODL_MVE_TABLE"):
        Path(os.environ["ODL_MVE_TABLE"]).write_text(json.dumps(table, indent=1))
    by = {t["label"]: t for t in table}

    def mpi(label):
        return by[label]["mve_mpi"]

    # issue 4: int8 matmul >= 4 MAC/instruction (reached for K = 144; with K = 32 the per-block overhead of the
    # 6-accumulator VMLADAVA kernel and the requantization dominate, see docs/simd.md) and above CMSIS-NN
    assert mpi("anchor conv3x3 16x16x16->16 (im2col matmul)") >= 4.0
    assert mpi("anchor conv1x1 16x16x32->32") > 1.612
    assert mpi("anchor fully connected 256->64") > 1.900
    for lay in ("NT", "NN", "TN"):
        assert mpi(f"{lay} float16 anchor 256x16x144") >= 2.0, lay
    assert mpi("anchor depthwise 3x3 16x16x32") > 0.372
    for t in table:
        if t["macs"] >= 4096:
            assert t["speedup"] >= 3.0, t
