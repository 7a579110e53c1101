"""The digits example end to end: data shift, pre-training, fine-tuning on the host, accuracy before and after.

    python examples/digits/run.py [--epochs 5] [--work DIR] [--json out.json]

Steps: write the deterministic splits (data.py), pre-train the CNN in PyTorch on clean digits and save model.pt2
(pretrain.py; cached in --work), then fine-tune on the shifted adaptation set and evaluate on the shifted test set:

- int8 sparse + QAS     odl emulate, int8 PTQ (calibrated on clean pre-training images), schemes/sparse.toml
- int8 sparse, no QAS   the same with [int8] qas = false
- int8 last layer       schemes/last_layer.toml
- fp16 sparse           schemes/sparse.toml in fp16
- fp32 full (PyTorch)   plain torch: every parameter, torch.optim.SGD with the same lr / momentum / epochs / batch 1
                        / sample order

"before" is the same model with no adaptation (int8 rows: the quantized model; fp rows: the fp model).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

if str(_ROOT := Path(__file__).resolve().parents[2]) not in sys.path:  # the repository root, for examples/_load.py
    sys.path.insert(0, str(_ROOT))
from examples._load import load_example_module  # noqa: E402

HERE = Path(__file__).resolve().parent

D = load_example_module("digits", "data")
P = load_example_module("digits", "pretrain")

SCHEMES = HERE / "schemes"


def torch_finetune(model_path, train, test, epochs: int, lr: float, momentum: float, seed: int = 0) -> dict:
    """fp32 full fine-tuning in plain PyTorch (batch 1, the emulator's sample order for ``seed``)."""
    torch.set_num_threads(1)
    net = P.load_module(model_path)
    before = P.accuracy(net, *test)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    x, y = train
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in rng.permutation(len(y)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(torch.from_numpy(x[i:i + 1])), torch.tensor([int(y[i])])).backward()
            opt.step()
    return {"before": before, "after": P.accuracy(net, *test), "seconds": time.perf_counter() - t0}


def configs(sparse: Path, last: Path):
    from toolkit.train.spec import UpdateSpec

    sp = UpdateSpec.parse(sparse)
    return [("int8 sparse + QAS", "int8", sp), ("int8 sparse, no QAS", "int8", replace(sp, qas=False)),
            ("int8 last layer", "int8", UpdateSpec.parse(last)), ("fp16 sparse", "fp16", sp)]


def run(work=None, epochs: int = 5, which=None, sparse: Path = SCHEMES / "sparse.toml",
        last: Path = SCHEMES / "last_layer.toml", pretrain_epochs: int = 30, progress: bool = True) -> dict:
    """Run the example; ``which`` limits the odl rows (names as in the table). Returns the results dict."""
    from toolkit.emulate import emulate, load_npz

    work = Path(work or Path(tempfile.gettempdir()) / "odl-digits")
    paths = {k: work / f"{k}.npz" for k in ("pretrain", "adapt_train", "adapt_test", "calib")}
    if not all(p.exists() for p in paths.values()):
        paths = D.make_splits(work)
    model, pre_acc = P.pretrain(work, work / "model.pt2", epochs=pretrain_epochs)
    tr, te, cal = load_npz(paths["adapt_train"]), load_npz(paths["adapt_test"]), load_npz(paths["calib"])
    rows = []
    for name, prec, spec in configs(sparse, last):
        if which is not None and name not in which:
            continue
        t0 = time.perf_counter()
        h = emulate(model, tr, te, epochs=epochs, spec=spec, precision=prec, calib=cal[0], progress=False)
        rows.append({"method": name, "precision": prec, "qas": spec.qas if prec == "int8" else None,
                     "before": h["before"]["accuracy"], "after": h["after"]["accuracy"],
                     "peak_sram_bytes": h["plan"]["peak_sram_bytes"], "flash_bytes": h["plan"]["flash_bytes"],
                     "seconds": time.perf_counter() - t0})
        if progress:
            print(f"{name}: {rows[-1]['before']:.3f} -> {rows[-1]['after']:.3f}", file=sys.stderr)
    sp = configs(sparse, last)[0][2]
    if which is None or "fp32 full (PyTorch)" in which:
        r = torch_finetune(model, tr, te, epochs, sp.lr, sp.momentum)
        rows.append({"method": "fp32 full (PyTorch)", "precision": "fp32", "qas": None, **r})
    return {"epochs": epochs, "pretrain_train_accuracy": pre_acc, "train_samples": int(len(tr[1])),
            "test_samples": int(len(te[1])), "sparse_scheme": Path(sparse).read_text(), "rows": rows}


def markdown(res: dict) -> str:
    out = ["| method | precision | before | after | peak SRAM (KB) |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        mem = f"{r['peak_sram_bytes'] / 1024:.1f}" if "peak_sram_bytes" in r else "-"
        out.append(f"| {r['method']} | {r['precision']} | {100 * r['before']:.1f} % | {100 * r['after']:.1f} % "
                   f"| {mem} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="digits: pre-train, shift, fine-tune with odl, compare")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--work", default=None, help="cache folder for data and model.pt2 (default: a tmp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args(argv)
    res = run(a.work, a.epochs)
    print(markdown(res))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
