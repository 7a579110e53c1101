"""Every on-target kernel x every code path compiled for the board (reference + SIMD) x every emulated board, run by
the firmware's kernel service in QEMU, against expected outputs computed on the host by the reference C
(toolkit.target.kernels.reference, path ``reference`` of the cffi build): int8 outputs bit-exact, float outputs
within the documented tolerance (fp32 1e-4, fp16 3e-2 of max(|ref|, 1)). One QEMU boot per board.

Also checks the instruction counts: the QEMU plugin's count agrees with RISC-V minstret on the same call, and on
Cortex-M with the -icount + SysTick cross-check (1 instruction = 1 ns of virtual time).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from toolkit.firmware import load_board
from toolkit.target import KERNELS, TargetError, TargetSession, make_inputs, reference
from toolkit.target.kernels import spec_of, tolerance

pytestmark = pytest.mark.qemu

BOARDS = ["qemu-cm4", "qemu-cm7", "qemu-cm55", "qemu-rv32"]
TOOLS = {"arm": ["arm-none-eabi-gcc", "qemu-system-arm"], "riscv": ["clang-19", "ld.lld-19", "qemu-system-riscv32"]}

CONV = [dict(h=6, w=5, c=3, out_c=5, k=3, padding="same"),
        dict(h=7, w=7, c=4, out_c=3, k=3, stride=2, padding="valid", bias=False)]
DW = [dict(h=6, w=5, c=5, k=3), dict(h=7, w=7, c=8, k=3, stride=2, padding="valid")]

CASES = [
    ("matmul_s8", dict(m=5, n=7, k=19, a_offset=3, output_offset=-4, act_min=-100, act_max=90)),
    ("matmul_s8", dict(m=16, n=16, k=144, a_offset=128, per_channel=0, bias=False)),
    ("conv2d_s8_forward", dict(h=7, w=6, c=5, out_c=6, k=3, input_offset=5, output_offset=-3)),
    ("conv2d_s8_forward", dict(h=9, w=9, c=8, out_c=4, k=3, stride=2, padding="valid", per_channel=0, block_rows=5,
                               bias=False, act_min=0)),
    ("depthwise_conv2d_s8_forward", dict(h=7, w=6, c=5, k=3, input_offset=-2)),
    ("depthwise_conv2d_s8_forward", dict(h=8, w=8, c=4, depth_multiplier=2, stride=2, padding="valid",
                                         input_offset=7)),
    ("fully_connected_s8_forward", dict(batch=1, n=13, k=37, input_offset=11)),
    ("fully_connected_s8_forward", dict(batch=3, n=8, k=64, per_channel=0)),
    ("conv2d_s8_input_grad_f32", dict(CONV[0])),
    ("conv2d_s8_input_grad_f32", dict(CONV[1])),
    ("conv2d_s8_weight_grad_f32", dict(CONV[0], x_zero_point=-3, count=3)),
    ("conv2d_s8_weight_grad_f32", dict(CONV[1], x_zero_point=5)),
]
for layout in ("nt", "nn", "tn"):
    for tag in ("f32", "f16"):
        CASES.append((f"matmul_{tag}", dict(layout=layout, m=5, n=7, k=13)))
        CASES.append((f"matmul_{tag}", dict(layout=layout, m=8, n=9, k=16, accumulate=1)))
for tag in ("f32", "f16"):
    for p in ("forward", "weight_grad", "input_grad"):
        for shape in CONV:
            CASES.append((f"conv2d_{tag}_{p}", dict(shape)))
for p in ("forward", "weight_grad", "input_grad"):
    for shape in DW:
        CASES.append((f"depthwise_conv2d_f16_{p}", dict(shape)))


def _fix(kernel, params):
    """conv2d_s8_input_grad_f32 has no bias parameter."""
    if kernel == "conv2d_s8_input_grad_f32":
        params = {k: v for k, v in params.items() if k != "bias"}
    return params


CASES = [(k, _fix(k, p)) for k, p in CASES]


def test_every_kernel_is_covered():
    assert {k for k, _ in CASES} == set(KERNELS)


@pytest.fixture(scope="module", params=BOARDS)
def session(request):
    board = load_board(request.param)
    missing = [t for t in TOOLS[board.arch] if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}")
    with TargetSession(board) as t:
        yield t


def _check(kernel, got, want, where):
    spec = spec_of(kernel)
    assert set(got) == set(want)
    for name, ref in want.items():
        out = got[name]
        assert out.dtype == ref.dtype and out.shape == ref.shape, (where, name)
        if ref.dtype == np.int8:
            if not np.array_equal(out, ref):
                bad = np.argwhere(out != ref)
                raise AssertionError(f"{where} {name}: {len(bad)} int8 outputs differ, first at {bad[0]}: "
                                     f"{out[tuple(bad[0])]} vs {ref[tuple(bad[0])]}")
        else:
            r = ref.astype(np.float64)
            o = out.astype(np.float64)
            assert np.all(np.isfinite(o)), (where, name)
            scale = max(float(np.max(np.abs(r))), 1.0)
            err = float(np.max(np.abs(o - r)))
            assert err <= tolerance(spec) * scale, f"{where} {name}: max error {err} > {tolerance(spec)} * {scale}"


@pytest.mark.parametrize("kernel,params", CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_kernel_on_target(session, kernel, params):
    spec = spec_of(kernel)
    rng = np.random.default_rng(abs(hash((kernel, repr(sorted(params.items()))))) % 2**32)
    inputs = make_inputs(spec, params, rng)
    want = reference(kernel, inputs, params)
    counts = {}
    for path in session.paths:
        got, n = session.run(kernel, path, inputs, params)
        _check(kernel, got, want, f"{session.board.name} {path} {kernel} {params}")
        assert n > 0
        counts[path] = n
    assert len(counts) >= 2, f"{session.board.name} compiled no SIMD path"


def test_unsupported_path_is_refused(session):
    other = "arm_mve" if session.board.arch == "riscv" else "rvv"
    spec = spec_of("matmul_s8")
    inputs = make_inputs(spec, {}, np.random.default_rng(1))
    with pytest.raises(TargetError, match="UNSUPPORTED"):
        session.run("matmul_s8", other, inputs, {})


def test_input_larger_than_staging_is_refused(session):
    spec = spec_of("matmul_f32")
    params = dict(m=4, n=1, k=4096 + 16)  # a: 65 KB of fp32
    inputs = make_inputs(spec, params, np.random.default_rng(2))
    with pytest.raises(TargetError, match="staging"):
        session.run("matmul_f32", "reference", inputs, params)


def test_plugin_count_matches_minstret():
    """On RISC-V both counters exist: the plugin's count between the markers equals minstret around the call up to
    the counter reads themselves."""
    if not shutil.which("qemu-system-riscv32") or not shutil.which("clang-19"):
        pytest.skip("no RISC-V tools")
    params = dict(h=8, w=8, c=8, out_c=8, k=3)
    spec = spec_of("conv2d_s8_forward")
    inputs = make_inputs(spec, params, np.random.default_rng(3))
    with TargetSession("qemu-rv32", plugin=True) as t:
        for path in t.paths:
            _, n = t.run("conv2d_s8_forward", path, inputs, params)
            assert t.last_counter_exact
            assert t.last_plugin_count is not None
            assert 0 <= n - t.last_plugin_count <= 16, (path, n, t.last_plugin_count)


def test_icount_systick_crosscheck():
    """Cortex-M4: with -icount shift=0 one instruction is 1 ns, so the SysTick cycles the firmware measures around
    the whole handler (25 MHz: 40 instructions a tick) bound the plugin's count of the kernel call alone."""
    if not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("no Arm tools")
    params = dict(h=16, w=16, c=16, out_c=16, k=3)
    spec = spec_of("conv2d_s8_forward")
    inputs = make_inputs(spec, params, np.random.default_rng(4))
    with TargetSession("qemu-cm4") as t:
        per_tick = 1e9 / t.board.clock_hz
        for path in t.paths:
            _, n = t.run("conv2d_s8_forward", path, inputs, params)
            from_ticks = t.last_cycles * per_tick
            assert n <= from_ticks + 2 * per_tick, (path, n, from_ticks)
            assert from_ticks - n <= 0.01 * n + 5000, (path, n, from_ticks)


def test_bench_cli_records(tmp_path):
    """`odl bench kernels --board qemu-rv32 --quick --json`: one record per anchor shape and path, MACs/instruction
    consistent with the counts, the SIMD record carrying its speed-up over the reference and the ISA ideal."""
    import json
    import subprocess
    import sys

    if not shutil.which("qemu-system-riscv32") or not shutil.which("clang-19"):
        pytest.skip("no RISC-V tools")
    png = tmp_path / "bench.png"
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "bench", "kernels", "--board", "qemu-rv32", "--quick",
                        "--dtype", "int8", "--json", "--no-save", "--plot", str(png)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    recs = json.loads(r.stdout)
    from toolkit.bench.targets import QUICK_ITEMS

    assert len(recs) == 2 * len(QUICK_ITEMS)
    for rec in recs:
        for key in ("kernel", "dtype", "pass", "path", "shape", "macs", "instructions", "macs_per_instruction"):
            assert key in rec
        assert rec["macs_per_instruction"] == pytest.approx(rec["macs"] / rec["instructions"])
        assert rec["ideal"] == 16
    simd = [r for r in recs if r["path"] == "rvv"]
    ref = {(r["kernel"], r["shape"]): r["instructions"] for r in recs if r["path"] == "reference"}
    for rec in simd:
        assert rec["speedup"] == pytest.approx(ref[(rec["kernel"], rec["shape"])] / rec["instructions"])
    assert png.stat().st_size > 1000


def test_words_larger_than_the_slots_are_refused(session):
    """The firmware checks every slot against the sizes the parameter words imply (no kernel runs past a slot)."""
    import struct

    from toolkit.target import kernels as K
    from toolkit.target.session import ID_RUN, ID_SLOTS

    spec = spec_of("matmul_s8")
    session.link.run_kernel(ID_SLOTS, struct.pack("<8I", 16, 16, 16, 16, 16, 16, 0, 0))
    w = K.words(spec, dict(m=4, n=4, k=8))  # a needs 32 bytes, the slot has 16
    r = session.link.run_kernel(ID_RUN, struct.pack("<HBx", spec.code, 0) + struct.pack(f"<{K.N_WORDS}i", *w))
    assert struct.unpack_from("<i", r.output)[0] == -2  # ODL_ERR_SHAPE
    w = K.words(spec, dict(m=2, n=2, k=4))
    r = session.link.run_kernel(ID_RUN, struct.pack("<HBx", spec.code, 0) + struct.pack(f"<{K.N_WORDS}i", *w))
    assert struct.unpack_from("<i", r.output)[0] == 0
