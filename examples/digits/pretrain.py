"""Pre-train the digits CNN on the clean pre-training split in PyTorch and save it with torch.export.save.

``pretrain(data_dir, out)`` trains (AdamW, weight decay 1e-4, label smoothing 0.1, batch 32, cosine schedule,
30 epochs, fixed seed, one thread: deterministic), sets eval mode and writes ``out`` (model.pt2) with a batch-1
example input. Returns (path, accuracy on the training split). A second call with the same settings reuses the file
(the settings are stored next to it, in model.json): the cache of pre-trained weights per run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

if str(_ROOT := Path(__file__).resolve().parents[2]) not in sys.path:  # the repository root, for examples/_load.py
    sys.path.insert(0, str(_ROOT))
from examples._load import load_example_module  # noqa: E402

M = load_example_module("digits", "model")


def train_torch(x: np.ndarray, y: np.ndarray, epochs: int = 30, seed: int = 0, width: int = 8, lr: float = 3e-3):
    torch.set_num_threads(1)
    net = M.build(seed, width).train()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(yt), generator=g)
        for i in range(0, len(yt), 32):
            b = perm[i:i + 32]
            opt.zero_grad()
            # label smoothing keeps the logits moderate, so batch-1 SGD fine-tuning starts from sane gradients
            torch.nn.functional.cross_entropy(net(xt[b]), yt[b], label_smoothing=0.1).backward()
            opt.step()
        sched.step()
    return net.eval()


def accuracy(net, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((net(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def pretrain(data_dir, out, epochs: int = 30, seed: int = 0, width: int = 8) -> tuple[Path, float]:
    out = Path(out)
    meta = out.with_suffix(".json")
    cfg = {"epochs": epochs, "seed": seed, "width": width, "data": str(Path(data_dir).resolve())}
    if out.exists() and meta.exists():
        m = json.loads(meta.read_text())
        if m.get("config") == cfg:
            return out, m["train_accuracy"]
    with np.load(Path(data_dir) / "pretrain.npz") as z:
        x, y = z["x"], z["y"]
    net = train_torch(x, y, epochs, seed, width)
    acc = accuracy(net, x, y)
    ep = torch.export.export(net, (torch.from_numpy(x[:1]),))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(ep, str(out))
    meta.write_text(json.dumps({"config": cfg, "train_accuracy": acc}, indent=1))
    return out, acc


def load_module(path, width: int = 8) -> torch.nn.Module:
    """The pre-trained model as an eval-mode DigitsCNN with the .pt2's weights (any batch size), for the PyTorch
    baselines."""
    ep = torch.export.load(str(path))
    net = M.DigitsCNN(width)
    state = {**ep.state_dict, **getattr(ep, "constants", {})}
    net.load_state_dict({k: v for k, v in state.items() if k in net.state_dict()}, strict=True)
    return net.eval()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="pre-train the digits CNN and save model.pt2")
    ap.add_argument("--data", default="/tmp/odl-digits")
    ap.add_argument("--out", default="/tmp/odl-digits/model.pt2")
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args(argv)
    if not (Path(a.data) / "pretrain.npz").exists():
        load_example_module("digits", "data").make_splits(a.data)
    p, acc = pretrain(a.data, a.out, a.epochs)
    print(f"saved {p} (training accuracy {acc:.3f})")


if __name__ == "__main__":
    main()
