"""`odl bench kernels --board qemu-*`: exact instruction counts of every on-target kernel, reference C next to the
board's SIMD path, as MACs per instruction (QEMU models no pipeline: these are instructions, not cycles).

Each record: board, kernel, dtype, pass, path, shape (label), params, macs, instructions, macs_per_instruction; SIMD
records also carry speedup (reference instructions / SIMD instructions) and ideal (the ISA's MACs per instruction
for one full-width multiply-accumulate instruction of that dtype). The shapes include the CMSIS-NN anchor shapes of
../shared/anchors.md, whose figures are printed next to ours. Outputs of every run are checked against the host
reference C (int8 bit-exact, float within tolerance) so a fast but wrong kernel never makes the table.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.bench.kernels import RESULTS_DIR
from toolkit.errors import OdlError

EMULATED = ("qemu-cm4", "qemu-cm7", "qemu-cm55", "qemu-rv32")


@dataclass(frozen=True)
class Item:
    label: str
    kernel: str
    params: dict = field(default_factory=dict)
    anchor: str | None = None  # key into CMSIS_NN


_CONV3 = dict(h=16, w=16, c=16, out_c=16, k=3, padding="same")
_DW = dict(h=16, w=16, c=32, k=3, padding="same")

# The anchor shapes (CMSIS-NN int8 kernels, anchors.md), the matmul cores, and the training passes on the conv 3x3
# anchor shape. Inputs must fit the firmware's 16 KB staging buffer (so the fp32 conv3x3 uses exactly 16 KB).
ITEMS = [
    Item("conv3x3 16x16x16->16", "conv2d_s8_forward", dict(_CONV3, block_rows=32), "conv3x3"),
    Item("conv1x1 16x16x32->32", "conv2d_s8_forward", dict(h=16, w=16, c=32, out_c=32, k=1, block_rows=32), "conv1x1"),
    Item("dw3x3 16x16x32", "depthwise_conv2d_s8_forward", _DW, "dw3x3"),
    Item("fc 256->64", "fully_connected_s8_forward", dict(batch=1, n=64, k=256), "fc"),
    Item("matmul 64x16x144", "matmul_s8", dict(m=64, n=16, k=144), "conv3x3_core"),
    Item("matmul 16x16x144 NT", "matmul_f32", dict(layout="nt", m=16, n=16, k=144)),
    Item("matmul 16x144x16 NN", "matmul_f32", dict(layout="nn", m=16, n=144, k=16)),
    Item("matmul 16x144x16 TN", "matmul_f32", dict(layout="tn", m=16, n=144, k=16)),
    Item("matmul 32x16x144 NT", "matmul_f16", dict(layout="nt", m=32, n=16, k=144)),
    Item("matmul 32x144x16 NN", "matmul_f16", dict(layout="nn", m=32, n=144, k=16)),
    Item("matmul 16x144x32 TN", "matmul_f16", dict(layout="tn", m=16, n=144, k=32)),
    Item("conv3x3 16x16x16->16", "conv2d_f32_forward", _CONV3),
    Item("conv3x3 16x16x16->16", "conv2d_f32_weight_grad", _CONV3),
    Item("conv3x3 16x16x16->16", "conv2d_f32_input_grad", _CONV3),
    Item("conv3x3 16x16x16->16", "conv2d_f16_forward", _CONV3),
    Item("conv3x3 16x16x16->16", "conv2d_f16_weight_grad", _CONV3),
    Item("conv3x3 16x16x16->16", "conv2d_f16_input_grad", _CONV3),
    Item("dw3x3 16x16x32", "depthwise_conv2d_f16_forward", _DW),
    Item("dw3x3 16x16x32", "depthwise_conv2d_f16_weight_grad", _DW),
    Item("dw3x3 16x16x32", "depthwise_conv2d_f16_input_grad", _DW),
    Item("conv3x3 16x16x16->16", "conv2d_s8_input_grad_f32", {k: v for k, v in _CONV3.items()}),
    Item("conv3x3 16x16x16->16", "conv2d_s8_weight_grad_f32", _CONV3),
]
QUICK_ITEMS = [i for i in ITEMS if i.anchor]

# CMSIS-NN MACs/instruction on the same shapes (anchors.md): Cortex-M4 DSP on qemu-cm4, Cortex-M55 MVE on qemu-cm55.
CMSIS_NN = {
    "qemu-cm4": {"conv3x3": 0.430, "conv1x1": 0.370, "dw3x3": 0.114, "fc": 0.482},
    "qemu-cm55": {"conv3x3": 2.579, "conv1x1": 1.612, "dw3x3": 0.372, "fc": 1.900, "conv3x3_core": 3.57},
}

# MACs of one full-width multiply-accumulate instruction (int8 / fp16 / fp32): SMLAD = 2 int8 MACs, VFMA.F32 = 1
# (Cortex-M4/M7 have no fp16 arithmetic: 1 after conversion); MVE 128-bit: VMLADAV.S8 16, VFMA.F16 8, VFMA.F32 4;
# RVV at VLEN 128, LMUL 1: 16 / 8 / 4 lanes (a larger LMUL multiplies it, with proportionally more beats).
IDEAL = {
    "qemu-cm4": {"int8": 2, "fp16": 1, "fp32": 1},
    "qemu-cm7": {"int8": 2, "fp16": 1, "fp32": 1},
    "qemu-cm55": {"int8": 16, "fp16": 8, "fp32": 4},
    "qemu-rv32": {"int8": 16, "fp16": 8, "fp32": 4},
}


def _arith(spec) -> str:
    return "fp32" if spec.family in ("s8_input_grad", "s8_weight_grad") else spec.dtype


def bench_board(board: str, items=None, dtypes=None, passes=None, check: bool = True, progress=None) -> list[dict]:
    """Run every item on the reference and each SIMD path of ``board``; one record per (item, path)."""
    from toolkit.target import TargetSession, make_inputs, reference
    from toolkit.target.kernels import macs, spec_of, tolerance

    say = progress or (lambda s: None)
    items = ITEMS if items is None else items
    records: list[dict] = []
    with TargetSession(board) as t:
        for it in items:
            spec = spec_of(it.kernel)
            if dtypes and spec.dtype not in dtypes:
                continue
            if passes and spec.pass_ not in passes:
                continue
            inputs = make_inputs(spec, it.params, np.random.default_rng(0))
            want = reference(it.kernel, inputs, it.params) if check else None
            n_macs = macs(spec, it.params)
            ref_n = None
            for path in t.paths:
                t0 = time.perf_counter()
                got, n = t.run(it.kernel, path, inputs, it.params)
                if want is not None:
                    for name, ref in want.items():
                        o = got[name]
                        if ref.dtype == np.int8:
                            ok = np.array_equal(o, ref)
                        else:
                            scale = max(float(np.max(np.abs(ref.astype(np.float64)))), 1.0)
                            ok = float(np.max(np.abs(o.astype(np.float64) - ref))) <= tolerance(spec) * scale
                        if not ok:
                            raise OdlError(f"{board} {path} {it.kernel} {it.label}: output {name!r} differs from "
                                           "the host reference; not benchmarking a wrong kernel")
                rec = {"board": board, "kernel": it.kernel, "dtype": spec.dtype, "pass": spec.pass_, "path": path,
                       "shape": it.label, "params": it.params, "macs": n_macs, "instructions": n,
                       "macs_per_instruction": n_macs / n, "ideal": IDEAL.get(board, {}).get(_arith(spec))}
                if path == "reference":
                    ref_n = n
                else:
                    rec["speedup"] = ref_n / n if ref_n else None
                cm = CMSIS_NN.get(board, {}).get(it.anchor or "")
                if cm is not None:
                    rec["cmsis_nn_macs_per_instruction"] = cm
                records.append(rec)
                say(f"{board:10s} {it.kernel:34s} {it.label:22s} {path:10s} {n:10d} instr "
                    f"{n_macs / n:6.3f} MAC/instr ({time.perf_counter() - t0:.1f} s)")
    return records


def _rows(records: list[dict]) -> tuple[tuple, list[tuple]]:
    head = ("board", "kernel", "shape", "ref MAC/i", "SIMD path", "SIMD MAC/i", "speed-up", "ideal", "CMSIS-NN")
    rows = []
    by: dict = {}
    for r in records:
        by.setdefault((r["board"], r["kernel"], r["shape"]), []).append(r)
    for (board, kernel, shape), rs in by.items():
        ref = next((r for r in rs if r["path"] == "reference"), None)
        for s in [r for r in rs if r["path"] != "reference"] or [None]:
            cm = (s or ref or {}).get("cmsis_nn_macs_per_instruction")
            rows.append((board, kernel, shape, f"{ref['macs_per_instruction']:.3f}" if ref else "-",
                         s["path"] if s else "-", f"{s['macs_per_instruction']:.3f}" if s else "-",
                         f"{s['speedup']:.2f}x" if s and s.get("speedup") else "-",
                         str((s or ref)["ideal"]), f"{cm:.3f}" if cm is not None else ""))
    return head, rows


def format_table(records: list[dict]) -> str:
    """One line per (board, kernel, shape): reference and SIMD MACs/instruction, speed-up, ISA ideal, CMSIS-NN."""
    head, rows = _rows(records)
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def format_markdown(records: list[dict]) -> str:
    """The same table in Markdown (docs/benchmarks.md)."""
    head, rows = _rows(records)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def save_results(records: list[dict], board: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{board}-kernels.json"
    meta = {"board": board, "machine": platform.machine(), "counting": "exact instructions (QEMU insncount plugin on "
            "Cortex-M, minstret on RISC-V), one call, no warm-up needed (QEMU has no caches)"}
    path.write_text(json.dumps({"meta": meta, "records": records}, indent=1) + "\n")
    return path


def plot(records: list[dict], png: Path | str) -> Path:
    """Horizontal bars of MACs/instruction, reference vs SIMD, one panel per board."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boards = list(dict.fromkeys(r["board"] for r in records))
    keys = list(dict.fromkeys((r["kernel"], r["shape"]) for r in records))
    fig, axes = plt.subplots(1, len(boards), figsize=(5.5 * len(boards), 0.32 * len(keys) + 1.5), sharey=True,
                             squeeze=False)
    y = np.arange(len(keys))
    for ax, board in zip(axes[0], boards):
        ref = {(r["kernel"], r["shape"]): r["macs_per_instruction"] for r in records
               if r["board"] == board and r["path"] == "reference"}
        simd = {(r["kernel"], r["shape"]): r["macs_per_instruction"] for r in records
                if r["board"] == board and r["path"] != "reference"}
        cm = {(r["kernel"], r["shape"]): r.get("cmsis_nn_macs_per_instruction") for r in records
              if r["board"] == board}
        ax.barh(y - 0.2, [ref.get(k, 0) for k in keys], 0.4, label="reference C")
        ax.barh(y + 0.2, [simd.get(k, 0) for k in keys], 0.4, label="SIMD path")
        marks = [(cm[k], i) for i, k in enumerate(keys) if cm.get(k)]
        if marks:
            ax.plot([m for m, _ in marks], [i for _, i in marks], "k|", markersize=14, markeredgewidth=2,
                    linestyle="none", label="CMSIS-NN (anchors.md)")
        ax.set_title(board)
        ax.set_xlabel("MACs per instruction (QEMU, exact)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels([f"{k} {s}" for k, s in keys], fontsize=7)
    axes[0][0].invert_yaxis()
    for ax in axes[0]:
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
