"""``search()``: contribution analysis, then the best sparse update under a peak-SRAM budget, two ways.

1. Exact DP (``dp``): gains AND memory treated as additive. For each bias depth k, each layer's options cost the
   planner's extra peak SRAM over "biases of the last k" (one planner call per (k, layer, ratio)); the group
   knapsack's Pareto frontier is then walked from the highest predicted gain down and the first scheme whose real
   planner peak fits the budget is taken (memory is not additive -- the arena peak is a max over time).
2. Evolutionary search (``evolution``): maximises the same predicted gain with the planner's real peak SRAM as the
   constraint for every candidate (memoised), seeded with the DP's answer and the baselines that fit.

Both answers are then trained for real (same settings as the analysis); ``additivity`` compares each one's measured
gain with its sum of parts. ``chosen`` is the one with the higher measured accuracy (ties: less memory).
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np

from toolkit.search.analysis import (Cache, Trainer, contribution_analysis, data_hash, graph_hash, predicted_gain,
                                     scheme_key)
from toolkit.search.optimize import evolve, pareto_frontier
from toolkit.search.space import RATIO_CHOICES, MemoryModel, Scheme, SearchError, biases_only, last_k, parse_budget


# The optimizer settings the analysis trains with unless the caller gives a base spec. "master" rounding keeps an
# fp32 copy of each trained int8 slice (its SRAM is in the planner's figure); with "nearest" rounding at lr 1e-3
# the int8 digits CNN's classifier weights collapse (measured: last:1 11 % vs 60 % with master copies).
DEFAULT_BASE = {"lr": 0.001, "momentum": 0.0, "qas": True, "rounding": "master"}


def _parse_key(k: str) -> Scheme:
    b, r = k.split(":")
    return Scheme(int(b), tuple(int(c) for c in r))


def layer_names(graph) -> list[str]:
    from toolkit.train.spec import LAYER_OPS

    return [n.name for n in graph.nodes if n.op in LAYER_OPS]


def dp_search(analysis: dict, memory: MemoryModel, budget: int, n_layers: int, max_checks: int = 400):
    """The DP answer (see module doc) -> (scheme or None, info)."""
    best, info = None, {"frontier_points": 0, "planner_checks": 0}
    wg = analysis["weight_gains"]
    for k in range(n_layers + 1):
        base = Scheme(k, (0,) * n_layers)
        m0 = memory(base)
        groups = []
        for i in range(n_layers):
            opts = [(0, 0.0)]
            for r in range(1, len(RATIO_CHOICES)):
                s = Scheme(k, tuple(r if j == i else 0 for j in range(n_layers)))
                opts.append((max(0, memory(s) - m0), wg[i][r]))
            groups.append(opts)
        front = pareto_frontier(groups)
        info["frontier_points"] += len(front)
        bias_gain = analysis["bias_gains"][k]
        checks = 0
        for cost, gain, choice in sorted(front, key=lambda t: (-t[1], t[0], t[2])):
            if m0 + cost > budget * 2 or checks >= max_checks:   # hopeless, or enough tries for this k
                continue
            cand = Scheme(k, tuple(choice))
            if cand.empty:   # trains nothing: no answer
                continue
            checks += 1
            if memory(cand) <= budget:
                total = bias_gain + gain
                if best is None or (total, -memory(cand)) > (best[1], -memory(best[0])):
                    best = (cand, total)
                break
        info["planner_checks"] += checks
    return (best[0] if best else None), info


def search(model, train, val, budget=None, board=None, precision: str = "int8", calib=None, base_spec=None,
           epochs: int = 2, seeds: int = 1, engine: str = "c", population: int = 24, generations: int = 20,
           seed: int = 0, cache: bool = True, cache_dir=None, progress: bool = True) -> dict:
    """Search the sparse update of ``model`` that maximises accuracy gain under ``budget`` (bytes or '64KB';
    default: the board's SRAM). ``train`` / ``val``: (x, y) in the model's own layout (NCHW for PyTorch models).
    ``base_spec``: UpdateSpec giving lr / momentum / int8 options (default ``DEFAULT_BASE``: lr 0.001, QAS, master
    rounding).
    Returns a JSON-ready dict (``result["chosen"]["toml"]`` is the scheme file); ``result["_spec"]`` the UpdateSpec."""
    from toolkit.emulate import _check_xy, load_graph, prepare_graph, to_model_input
    from toolkit.train.spec import UpdateSpec

    t0 = time.perf_counter()
    if board is not None and isinstance(board, str):
        from toolkit.firmware.boards import load_board

        board = load_board(board)
    if budget is None:
        if board is None:
            raise SearchError("give a budget (e.g. --budget 64KB) or a board (--board) whose SRAM is the budget")
        budget_bytes = int(board.memory.sram_size)
    else:
        budget_bytes = parse_budget(budget)
    if epochs < 1 or seeds < 1:
        raise SearchError("epochs and seeds must be >= 1")
    tx, ty = train
    graph = prepare_graph(load_graph(model, np.asarray(tx).shape[1:]), precision, calib, tx)
    layers = layer_names(graph)
    if not layers:
        raise SearchError(f"graph {graph.name} has no layers with parameters")
    base = base_spec if base_spec is not None else UpdateSpec(**DEFAULT_BASE)
    if isinstance(base, str):
        base = UpdateSpec.parse(base)
    memory = MemoryModel(graph, layers, precision, board, base)
    if budget_bytes < memory.infer_bytes:
        raise SearchError(f"budget {budget_bytes} B ({budget_bytes / 1024:.1f} KB) is smaller than the frozen "
                          f"model's inference needs ({memory.infer_bytes} B = {memory.infer_bytes / 1024:.1f} KB "
                          f"peak SRAM from the planner); no update can fit")
    lb = memory.program(memory.probe())
    ncls = int(np.prod(lb.buffers[lb.logits].shape))
    in_dtype = lb.buffers[lb.input].dtype
    tx, ty = _check_xy(tx, ty, "train", ncls)
    vx, vy = _check_xy(val[0], val[1], "val", ncls)
    xtr, xva = to_model_input(graph, tx, in_dtype), to_model_input(graph, vx, in_dtype)

    settings = {"precision": precision, "board": board.name if board is not None else None, "epochs": epochs,
                "seeds": seeds, "engine": engine, "optimizer": base.to_dict()["optimizer"], "int8": base.to_dict()["int8"]}
    key = hashlib.sha256((data_hash(xtr, ty, xva, vy) + graph_hash(graph)
                          + repr(sorted(settings.items()))).encode()).hexdigest()
    store = Cache(key, cache_dir, cache)
    trainer = Trainer(graph, layers, precision, base, (xtr, ty), (xva, vy), epochs, seeds, engine)
    acc_cached, mem_cached = store.load()
    trainer.acc.update(acc_cached)
    memory.cache.update({_parse_key(k): v for k, v in mem_cached.items()})
    cached_before = len(trainer.acc)

    def save():
        store.save(trainer.acc, {scheme_key(s): v for s, v in memory.cache.items()}, settings)

    t_an = time.perf_counter()
    an = contribution_analysis(trainer, progress, memory, budget_bytes)
    analysis_trained = trainer.trained
    save()
    t_an = time.perf_counter() - t_an

    def fitness(s):
        return predicted_gain(an, s)

    t_opt = time.perf_counter()
    dp, dp_info = dp_search(an, memory, budget_bytes, len(layers))
    t_dp = time.perf_counter() - t_opt
    baselines = [s for k in range(1, len(layers) + 1) for s in (last_k(k, len(layers)), biases_only(k, len(layers)))]
    seeds_ = ([dp] if dp is not None else []) + baselines
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=generations, desc="evolutionary search", unit="gen", file=sys.stderr, leave=False)
        except ImportError:
            bar = None
    evo, evo_info = evolve(fitness, memory, budget_bytes, len(layers), population, generations, seed=seed,
                           seeds=seeds_, progress=(lambda g, n: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    t_evo = time.perf_counter() - t_opt - t_dp

    def report(s: Scheme | None, info: dict) -> dict | None:
        if s is None or memory(s) > budget_bytes:
            return None
        acc = trainer.accuracy(s)
        return {"scheme": s.describe(layers), "key": scheme_key(s), "peak_sram_bytes": memory(s),
                "predicted_gain": predicted_gain(an, s), "accuracy": acc,
                "measured_gain": acc - an["baseline_accuracy"],
                "toml": s.to_spec(layers, base).to_toml(), **info}

    res_dp = report(dp, dp_info)
    res_evo = report(evo, evo_info)
    save()
    cands = [(r, s) for r, s in ((res_evo, evo), (res_dp, dp)) if r is not None]
    if not cands:
        raise SearchError(f"nothing trainable fits {budget_bytes} B")
    chosen_r, chosen_s = max(cands, key=lambda t: (t[0]["accuracy"], -t[0]["peak_sram_bytes"]))
    chosen_r = dict(chosen_r, method="evolution" if chosen_s == evo else "dp")
    additivity = {name: {"predicted_gain": r["predicted_gain"], "measured_gain": r["measured_gain"],
                         "error": r["measured_gain"] - r["predicted_gain"]}
                  for name, r in (("evolution", res_evo), ("dp", res_dp)) if r is not None}
    return {
        "model": graph.name, "precision": precision, "layers": layers, "board": board.name if board else None,
        "budget_bytes": budget_bytes, "infer_peak_sram_bytes": memory.infer_bytes,
        "settings": settings, "train_samples": int(len(ty)), "val_samples": int(len(vy)),
        "analysis": {**an, "ratios": [str(r) for r in RATIO_CHOICES]},
        "dp": res_dp, "evolution": res_evo, "chosen": chosen_r, "additivity": additivity,
        "cache": {"path": str(store.path), "hit": analysis_trained == 0 and cached_before > 0,
                  "schemes_cached_before": cached_before, "schemes_trained": trainer.trained},
        "planner_calls": memory.calls,
        "seconds": {"analysis": t_an, "dp": t_dp, "evolution": t_evo, "total": time.perf_counter() - t0},
        "_spec": chosen_s.to_spec(layers, base), "_scheme": chosen_s, "_memory": memory, "_trainer": trainer,
    }
