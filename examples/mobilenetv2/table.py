"""The MCUNet-class memory table: MobileNetV2-w0.35 at 128x128 planned by odl for a full update, a sparse update and a
sparse update with operator reordering, next to the numbers of Lin et al. 2022 (2939 / 335 / 141 KB).

    python examples/mobilenetv2/table.py [--precision int8] [--json out.json]

The model (model.py, random weights) is read by odl's torch frontend, quantized to int8 (PTQ on a few random
images: memory does not depend on the values), lowered for each update spec and planned by toolkit.plan; the
numbers are the planner's peak training SRAM (arena + SRAM-resident trainable tensors and optimizer state + stack
estimate). Rows:

- full update:            every weight and bias (``full``), updates after the whole backward (no reordering)
- sparse update:          sparse.toml, updates after the whole backward
- sparse + reordering:    sparse.toml, each update applied right after its gradient (and int8 weight gradients
                          computed in chunks of output channels)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if str(_ROOT := Path(__file__).resolve().parents[2]) not in sys.path:  # the repository root, for examples/_load.py
    sys.path.insert(0, str(_ROOT))
from examples._load import load_example_module  # noqa: E402

HERE = Path(__file__).resolve().parent

M = load_example_module("mobilenetv2", "model")

PAPER_KB = {"full": 2939, "sparse": 335, "sparse+reorder": 141}
SPARSE = HERE / "sparse.toml"


def graph(precision: str = "int8", resolution: int = 128, seed: int = 0, calib: int = 2):
    from toolkit.frontends import from_torch

    g = from_torch(M.build(seed), (1, 3, resolution, resolution), name="mobilenetv2_w035")
    if precision == "int8":
        from toolkit.quant.ptq import quantize

        x = np.random.default_rng(seed).uniform(-1, 1, (calib, 3, resolution, resolution)).astype(np.float32)
        g = quantize(g, x)
    return g


def rows(precision: str = "int8", resolution: int = 128, sparse: Path = SPARSE, g=None) -> list[dict]:
    from toolkit.plan import plan_memory
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    g = g if g is not None else graph(precision, resolution)
    sp = UpdateSpec.parse(Path(sparse))
    out = []
    for key, name, spec, reorder in (("full", "full update", UpdateSpec.parse("full"), False),
                                     ("sparse", "sparse update", sp, False),
                                     ("sparse+reorder", "sparse update + reordering", sp, True)):
        prog = build_program(g, spec, precision, reorder=reorder)
        plan = plan_memory(prog, mode="train")
        out.append({"key": key, "config": name, "precision": precision, "reorder": reorder,
                    "peak_sram_bytes": plan.peak_sram_bytes, "arena_bytes": plan.arena_bytes,
                    "sram_breakdown": dict(plan.sram), "flash_bytes": plan.flash_bytes,
                    "paper_kb": PAPER_KB[key]})
    return out


def markdown(rs: list[dict]) -> str:
    lines = ["| update | odl peak SRAM (KB) | of which arena (KB) | paper (KB) |", "|---|---|---|---|"]
    for r in rs:
        lines.append(f"| {r['config']} | {r['peak_sram_bytes'] / 1024:.0f} | {r['arena_bytes'] / 1024:.0f} "
                     f"| {r['paper_kb']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="MobileNetV2-w0.35 training memory: full / sparse / sparse+reorder")
    ap.add_argument("--precision", default="int8", choices=["int8", "fp32", "fp16"])
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rs = rows(a.precision, a.resolution)
    print(markdown(rs))
    for r in rs:
        print(f"{r['config']}: " + ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in r["sram_breakdown"].items()))
    if a.json:
        Path(a.json).write_text(json.dumps(rs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
