"""Sparse-update search vs baselines: accuracy vs planner peak SRAM (docs/search.md's table and plot).

    python bench/search_pareto.py [--model digits|mbnet] [--work DIR] [--json out.json] [--plot docs/img/search_pareto.png]

Per model: the digits splits (examples/digits/data.py), pre-training in PyTorch on clean digits, int8 PTQ.
The search sees adapt_train[:300] (training) and adapt_train[300:] (validation); every scheme in the table --
searched ones and the baselines "last k layers" (weights + biases) and "biases of the last k" -- is then trained
the same way on all 450 adaptation samples (the exact C step, 2 epochs, batch 1, 2 sample orders averaged) and
tested on the 449 held-out shifted test samples. Memory is the planner's peak SRAM of the training step (no board:
2 KB stack estimate). Budgets: the memory of each baseline point.

Models: ``digits`` = examples/digits/model.py (6 layers); ``mbnet`` = a MobileNetV2-like CNN on the same 16x16
digits (3 inverted residual blocks with residual adds, 11 layers), defined here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from examples._load import load_example_module  # noqa: E402


D, P = load_example_module("digits", "data"), load_example_module("digits", "pretrain")


class IR(nn.Module):
    """Inverted residual: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project (+ input when shapes match)."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        h = cin * expand
        self.expand = nn.Conv2d(cin, h, 1)
        self.dw = nn.Conv2d(h, h, 3, stride, 1, groups=h)
        self.project = nn.Conv2d(h, cout, 1)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(nn.functional.relu6(self.dw(nn.functional.relu6(self.expand(x)))))
        return x + y if self.res else y


class MBNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, 1, 1)
        self.b1 = IR(8, 8, 1, 2)
        self.b2 = IR(8, 16, 2, 2)
        self.b3 = IR(16, 16, 1, 2)
        self.last = nn.Conv2d(16, 32, 1)
        self.fc = nn.Linear(32, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = nn.functional.relu6(self.stem(x))
        x = self.b3(self.b2(self.b1(x)))
        x = nn.functional.relu6(self.last(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def pretrain_mbnet(work: Path, epochs: int = 15, seed: int = 0) -> Path:
    out = work / "mbnet.pt2"
    if out.exists():
        return out
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    with np.load(work / "pretrain.npz") as z:
        x, y = torch.from_numpy(z["x"]), torch.from_numpy(z["y"])
    net = MBNetLike().train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 32):
            b = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[b]), y[b], label_smoothing=0.1).backward()
            opt.step()
        sched.step()
    net.eval()
    torch.export.save(torch.export.export(net, (x[:1],)), str(out))
    return out


def run(model_name: str, work: Path, epochs: int = 2, seeds: int = 2, progress: bool = False) -> dict:
    from toolkit.emulate import load_graph, load_npz, prepare_graph, to_model_input
    from toolkit.search import MemoryModel, Trainer, biases_only, last_k, layer_names, search
    from toolkit.search.search import DEFAULT_BASE
    from toolkit.train.spec import UpdateSpec

    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    paths = {k: work / f"{k}.npz" for k in ("pretrain", "adapt_train", "adapt_test", "calib")}
    if not all(p.exists() for p in paths.values()):
        paths = D.make_splits(work)
    model = P.pretrain(work, work / "model.pt2")[0] if model_name == "digits" else pretrain_mbnet(work)
    tr, te, cal = load_npz(paths["adapt_train"]), load_npz(paths["adapt_test"]), load_npz(paths["calib"])
    graph = prepare_graph(load_graph(model), "int8", cal[0])
    layers = layer_names(graph)
    n = len(layers)
    base = UpdateSpec(**DEFAULT_BASE)
    memory = MemoryModel(graph, layers, "int8", None, base)
    final = Trainer(graph, layers, "int8", base, (to_model_input(graph, tr[0], "int8"), tr[1]),
                    (to_model_input(graph, te[0], "int8"), te[1]), epochs=epochs, seeds=seeds)
    rows = {"last-k": [], "biases-only": [], "searched": []}
    for k in range(1, n + 1):
        for name, s in (("last-k", last_k(k, n)), ("biases-only", biases_only(k, n))):
            rows[name].append({"k": k, "scheme": s.describe(layers), "peak_sram_bytes": memory(s),
                               "accuracy": final.accuracy(s)})
    if n <= 6:   # every baseline point's memory
        budgets = sorted({r["peak_sram_bytes"] for r in rows["last-k"] + rows["biases-only"]})
    else:        # deeper models: the last-k points for k = 1, 2, 3, 4, 6, 8, ... (bounded run time)
        budgets = sorted({r["peak_sram_bytes"] for r in rows["last-k"] if r["k"] <= 4 or r["k"] % 2 == 0})
    search_times = []
    for b in budgets:
        t = time.perf_counter()
        res = search(model, (tr[0][:300], tr[1][:300]), (tr[0][300:], tr[1][300:]), budget=b, precision="int8",
                     calib=cal[0], epochs=epochs, seeds=1, progress=progress)
        search_times.append(time.perf_counter() - t)
        s = res["_scheme"]
        rows["searched"].append({"budget_bytes": b, "scheme": s.describe(layers), "method": res["chosen"]["method"],
                                 "peak_sram_bytes": memory(s), "accuracy": final.accuracy(s),
                                 "val_predicted_gain": res["chosen"]["predicted_gain"],
                                 "val_measured_gain": res["chosen"]["measured_gain"],
                                 "dp": res["dp"]["scheme"] if res["dp"] else None,
                                 "evolution": res["evolution"]["scheme"] if res["evolution"] else None,
                                 "seconds": search_times[-1], "cache_hit": res["cache"]["hit"]})
        if progress:
            print(f"{model_name} budget {b}: {s.describe(layers)} -> {rows['searched'][-1]['accuracy']:.3f}",
                  file=sys.stderr)
    return {"model": model_name, "layers": layers, "no_update_accuracy": final.accuracy(biases_only(0, n)),
            "infer_peak_sram_bytes": memory.infer_bytes, "rows": rows, "search_seconds": search_times,
            "total_seconds": time.perf_counter() - t0, "epochs": epochs, "seeds": seeds}


def table(res: dict) -> str:
    """Markdown: per last-k point, searched and biases-only at <= that memory; memory saving at equal accuracy."""
    out = [f"**{res['model']}** (no update: {100 * res['no_update_accuracy']:.1f} %)", "",
           "| last k | last-k acc | peak SRAM | searched at that budget | searched acc | best biases-only <= budget "
           "| smallest searched scheme with acc >= last-k | memory saving |", "|---|---|---|---|---|---|---|---|"]
    srch = res["rows"]["searched"]
    for r in res["rows"]["last-k"]:
        m = r["peak_sram_bytes"]
        at = [s for s in srch if s["budget_bytes"] == m]
        s = at[0] if at else None
        bo = [b for b in res["rows"]["biases-only"] if b["peak_sram_bytes"] <= m]
        bo_acc = max((b["accuracy"] for b in bo), default=float("nan"))
        eq = [x for x in srch if x["accuracy"] >= r["accuracy"]]
        best = min(eq, key=lambda x: x["peak_sram_bytes"]) if eq else None
        saving = f"{m / best['peak_sram_bytes']:.2f}x" if best else "-"
        out.append(f"| {r['k']} | {100 * r['accuracy']:.1f} % | {m / 1024:.1f} KB | {s['scheme'] if s else '-'} | "
                   f"{format(100 * s['accuracy'], '.1f') + ' %' if s else '-'} | {100 * bo_acc:.1f} % | "
                   f"{(best['scheme'] + ' (' + format(best['peak_sram_bytes'] / 1024, '.1f') + ' KB)') if best else '-'}"
                   f" | {saving} |")
    return "\n".join(out)


def plot(results: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, res in zip(axes[0], results):
        for name, style in (("last-k", "s-"), ("biases-only", "^-"), ("searched", "o")):
            pts = sorted(res["rows"][name], key=lambda r: r["peak_sram_bytes"])
            ax.plot([p["peak_sram_bytes"] / 1024 for p in pts], [100 * p["accuracy"] for p in pts], style,
                    label=name)
        # Pareto front of the searched schemes
        pts = sorted(res["rows"]["searched"], key=lambda r: (r["peak_sram_bytes"], -r["accuracy"]))
        front, best = [], -1.0
        for p in pts:
            if p["accuracy"] > best:
                front.append(p)
                best = p["accuracy"]
        ax.plot([p["peak_sram_bytes"] / 1024 for p in front], [100 * p["accuracy"] for p in front], "o--",
                color="C2", alpha=0.6)
        ax.axhline(100 * res["no_update_accuracy"], color="gray", lw=0.8, ls=":", label="no update")
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "2358" else ""))
        ax.set_xlabel("planner peak SRAM of the training step (KB, log)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{res['model']} (int8, QAS)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", choices=("digits", "mbnet"))
    ap.add_argument("--work", default="/tmp/odl-search-bench")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None)
    ap.add_argument("--from-json", default=None, help="only redo the table/plot from saved JSON files (a,b)")
    a = ap.parse_args(argv)
    if a.from_json:
        results = [r for f in a.from_json.split(",") for r in json.loads(Path(f).read_text())]
    else:
        results = [run(m, Path(a.work), progress=True) for m in (a.model or ["digits", "mbnet"])]
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=1))
    for r in results:
        print(table(r) + "\n")
        print(f"search seconds per budget: {', '.join(f'{t:.0f}' for t in r['search_seconds'])}; "
              f"total {r['total_seconds']:.0f} s\n")
    if a.plot:
        plot(results, a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
