"""Contribution analysis: how much accuracy each part of a sparse update buys, measured by training.

Training is the exact step the device runs: the scheme is lowered to its Program (same channel selection, QAS,
rounding, reordered updates) and trained sample by sample (batch 1, the sample order of ``odl emulate`` for a seed)
by ``toolkit.train.ProgramRunner`` -- the same C kernels the generated firmware calls, through cffi, about 1 ms a
step for the digits CNN. ``engine="torch"`` uses ``toolkit.train.torch_sim.TorchInt8Sim`` instead (int8 only, the
float PyTorch model of the same Program; ~20x slower on this host, kept as an independent cross-check).

Gains (paper's definition, accuracy as a fraction):
  bias_gains[k]        accuracy(biases of the last k layers) - accuracy(no update), k = 0..L
  best_bias_k          argmax_k bias_gains[k] over the k whose training fits the budget (ties: smaller k)
  weight_gains[i][r]   accuracy(biases of the last best_bias_k + layer i's weights at ratio r)
                       - accuracy(biases of the last best_bias_k), r in 1/8, 1/4, 1/2, 1
Measured accuracies are cached (JSON under ``<cache>/search``) per model + data + settings hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from toolkit.search.space import RATIO_CHOICES, Scheme, SearchError

CACHE_VERSION = 1


def graph_hash(graph) -> str:
    h = hashlib.sha256(graph.to_json().encode())
    for t in graph.params():
        h.update(t.name.encode())
        h.update(np.ascontiguousarray(t.data).tobytes())
    return h.hexdigest()


def data_hash(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def scheme_key(s: Scheme) -> str:
    return f"{s.bias_k}:" + "".join(str(r) for r in s.ratios)


class Trainer:
    """accuracy(scheme): val accuracy after ``epochs`` of batch-1 training on the train samples (mean over
    ``seeds`` sample orders); memoised in ``self.acc`` (the cache's contents)."""

    def __init__(self, graph, layers, precision, base_spec, train, val, epochs: int = 2, seeds: int = 1,
                 engine: str = "c"):
        if engine not in ("c", "torch"):
            raise SearchError(f"engine {engine!r} unknown; use 'c' (the exact C step) or 'torch'")
        if engine == "torch" and precision != "int8":
            raise SearchError("engine 'torch' simulates int8 programs only; use engine 'c' for fp32/fp16")
        self.graph, self.layers, self.precision, self.base = graph, layers, precision, base_spec
        self.tx, self.ty = train
        self.vx, self.vy = val
        self.epochs, self.seeds, self.engine = epochs, seeds, engine
        self.acc: dict[str, float] = {}
        self.trained = 0   # schemes trained in this process (0 on a full cache hit)

    def _probe(self) -> Scheme:
        s = Scheme(1, (0,) * len(self.layers))
        if not s.to_spec(self.layers, self.base).resolve(self.graph).trainable():
            s = Scheme(0, (0,) * (len(self.layers) - 1) + (1,))
        return s

    def _runner(self, scheme: Scheme):
        from toolkit.train.lower import build_program

        prog = build_program(self.graph, scheme.to_spec(self.layers, self.base), self.precision)
        if self.engine == "torch":
            from toolkit.train.torch_sim import TorchInt8Sim

            sim = TorchInt8Sim(prog)
            return (lambda x, y: sim.train_step(x[None], y)), (lambda x: sim.infer(x[None]))
        from toolkit.train.executor import ProgramRunner

        r = ProgramRunner(prog)
        return r.train_step, r.infer

    def _evaluate(self, infer) -> float:
        pred = np.array([int(np.argmax(infer(x))) for x in self.vx])
        return float((pred == self.vy).mean()) if len(self.vy) else 0.0

    def accuracy(self, scheme: Scheme) -> float:
        key = scheme_key(scheme)
        if key not in self.acc:
            scores = []
            for seed in range(self.seeds if not scheme.empty else 1):
                step, infer = self._runner(scheme if not scheme.empty else self._probe())   # infer only
                if not scheme.empty:
                    rng = np.random.default_rng(seed)
                    for _ in range(self.epochs):
                        for i in rng.permutation(len(self.ty)):
                            step(self.tx[i], int(self.ty[i]))
                scores.append(self._evaluate(infer))
            self.acc[key] = float(np.mean(scores))
            self.trained += 1
        return self.acc[key]


def analysis_schemes(n_layers: int, best_k: int | None = None) -> list[Scheme]:
    """The schemes the analysis trains: nothing, biases of the last k (k=1..L); with best_k, also best_k biases +
    one layer's weights at each ratio."""
    out = [Scheme(k, (0,) * n_layers) for k in range(n_layers + 1)]
    if best_k is not None:
        for i in range(n_layers):
            for r in range(1, len(RATIO_CHOICES)):
                out.append(Scheme(best_k, tuple(r if j == i else 0 for j in range(n_layers))))
    return out


def contribution_analysis(trainer: Trainer, progress: bool = True, memory=None, budget: int | None = None) -> dict:
    """The gain tables (see module doc). With ``memory`` (scheme -> bytes) and ``budget``, ``best_bias_k`` is the
    best bias depth whose training step fits the budget (the weight gains are measured on top of a bias update the
    budget allows)."""
    n = len(trainer.layers)
    bar = _bar(progress, total=n + 1 + 4 * n, desc="contribution analysis")
    accs = []
    for s in analysis_schemes(n):
        accs.append(trainer.accuracy(s))
        bar.update(1)
    base = accs[0]
    bias_gains = [a - base for a in accs]
    ks = [k for k in range(n + 1) if memory is None or budget is None or k == 0
          or memory(Scheme(k, (0,) * n)) <= budget]
    best_k = int(max(ks, key=lambda k: (bias_gains[k], -k)))
    ref = trainer.accuracy(Scheme(best_k, (0,) * n))
    weight_gains = []
    for i in range(n):
        row = [0.0]
        for r in range(1, len(RATIO_CHOICES)):
            s = Scheme(best_k, tuple(r if j == i else 0 for j in range(n)))
            row.append(trainer.accuracy(s) - ref)
            bar.update(1)
        weight_gains.append(row)
    bar.close()
    return {"baseline_accuracy": base, "bias_gains": bias_gains, "best_bias_k": best_k,
            "weight_gains": weight_gains}


def predicted_gain(analysis: dict, s: Scheme) -> float:
    """Sum of parts: bias gain of s.bias_k + each layer's weight gain at its ratio."""
    return analysis["bias_gains"][s.bias_k] + sum(analysis["weight_gains"][i][r] for i, r in enumerate(s.ratios))


class Cache:
    """Measured accuracies per settings hash, one JSON file each."""

    def __init__(self, key: str, root=None, enabled: bool = True):
        from toolkit.host.build import cache_root

        self.dir = Path(root) if root is not None else cache_root() / "search"
        self.path = self.dir / f"{key[:32]}.json"
        self.key, self.enabled = key, enabled

    def load(self) -> tuple[dict[str, float], dict[str, int]]:
        """(accuracy per scheme key, planner peak SRAM per scheme key) from an earlier run with the same key."""
        if not self.enabled or not self.path.exists():
            return {}, {}
        try:
            d = json.loads(self.path.read_text())
            if d.get("key") != self.key or d.get("version") != CACHE_VERSION:
                return {}, {}
            return ({str(k): float(v) for k, v in d.get("accuracy", {}).items()},
                    {str(k): int(v) for k, v in d.get("memory", {}).items()})
        except (OSError, ValueError, AttributeError):
            return {}, {}

    def save(self, acc: dict[str, float], memory: dict[str, int], settings: dict) -> None:
        if not self.enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": self.key, "version": CACHE_VERSION, "settings": settings,
                                   "accuracy": dict(sorted(acc.items())),
                                   "memory": dict(sorted(memory.items()))}, indent=1))
        tmp.replace(self.path)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="scheme", file=sys.stderr, leave=False)
