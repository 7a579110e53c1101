"""Sparse-update search (toolkit.search, `odl search`).

Checks: the group-knapsack DP equals a brute force on random additive instances; budget strings; the searched
scheme's planner peak SRAM (re-planned from the written TOML, the way `odl plan` would) is within budget; on the
digits example (the example's data and pre-trained CNN; the search sees 300 adaptation samples for training
and 150 for validation, 2 epochs per analysed scheme, a small evolutionary search) the searched scheme beats the
"last k layers" baseline given the same memory, on held-out samples; a second run hits the cache; clear errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import OdlError
from toolkit.search import (Scheme, SearchError, brute_force, evolve, knapsack, last_k, parse_budget,
                            pareto_frontier)

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT) not in sys.path:  # for examples/_load.py
    sys.path.insert(0, str(ROOT))
from examples._load import load_example_module  # noqa: E402

groups_st = st.lists(st.lists(st.tuples(st.integers(0, 60), st.integers(-20, 40)), min_size=1, max_size=4),
                     min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(groups_st, st.integers(0, 200))
def test_dp_matches_brute_force(groups, budget):
    got, want = knapsack(groups, budget), brute_force(groups, budget)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got[1] == want[1]                              # same optimal gain
    cost = sum(groups[g][j][0] for g, j in enumerate(got[2]))
    gain = sum(groups[g][j][1] for g, j in enumerate(got[2]))
    assert (cost, gain) == (got[0], got[1]) and cost <= budget


@settings(max_examples=50, deadline=None)
@given(groups_st)
def test_pareto_frontier_is_non_dominated_and_complete(groups):
    import itertools

    front = pareto_frontier(groups)
    pts = {(sum(groups[g][j][0] for g, j in enumerate(ch)), sum(groups[g][j][1] for g, j in enumerate(ch)))
           for ch in itertools.product(*[range(len(o)) for o in groups])}
    for c, v, _ in front:
        assert (c, v) in pts
        assert not any((c2 <= c and v2 > v) or (c2 < c and v2 >= v) for c2, v2 in pts)
    for c, v in pts:   # every point is dominated by (or equal to) a frontier point
        assert any(fc <= c and fv >= v for fc, fv, _ in front)


def test_evolution_respects_budget_on_additive_instance():
    rng = np.random.default_rng(3)
    n = 5
    cost = rng.integers(1, 50, size=(n, 5)) * (np.arange(5) > 0)
    gain = rng.integers(0, 30, size=(n, 5)) * (np.arange(5) > 0)
    bias_cost, bias_gain = np.arange(n + 1) * 7, np.array([0, 5, 9, 12, 14, 15])

    def memory(s):
        return int(bias_cost[s.bias_k] + sum(cost[i, r] for i, r in enumerate(s.ratios)))

    def fitness(s):
        return float(bias_gain[s.bias_k] + sum(gain[i, r] for i, r in enumerate(s.ratios)))

    budget = 80
    best, info = evolve(fitness, memory, budget, n, population=30, generations=40, seed=1)
    assert memory(best) <= budget
    # the exact optimum of this additive instance (bias depth as one more group)
    groups = [[(int(bias_cost[k]), int(bias_gain[k])) for k in range(n + 1)]]
    groups += [[(int(cost[i, r]), int(gain[i, r])) for r in range(5)] for i in range(n)]
    opt = knapsack(groups, budget)
    assert fitness(best) <= opt[1]
    assert fitness(best) >= 0.8 * opt[1]   # the evolutionary search gets close on a small instance


def test_parse_budget():
    assert parse_budget("64KB") == 65536
    assert parse_budget("64k") == 65536
    assert parse_budget("0.5MB") == 524288
    assert parse_budget("1000") == 1000
    assert parse_budget(" 2 KiB ") == 2048
    for bad in ("64 parsecs", "", "KB", "-1KB", "0"):
        with pytest.raises(SearchError):
            parse_budget(bad)


# ---------------------------------------------------------------------------------------- digits example ----


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    D, P = load_example_module("digits", "data"), load_example_module("digits", "pretrain")
    from toolkit.host.build import cache_root

    # the example's deterministic splits and 30-epoch pre-training, kept between runs (pretrain() reuses its file
    # when the settings match)
    work = cache_root() / "test-search-digits"
    paths = {k: work / f"{k}.npz" for k in ("pretrain", "adapt_train", "adapt_test", "calib")}
    if not all(p.exists() for p in paths.values()):
        paths = D.make_splits(work)
    model, _ = P.pretrain(work, work / "model.pt2")
    from toolkit.emulate import load_npz

    tr, te, cal = load_npz(paths["adapt_train"]), load_npz(paths["adapt_test"]), load_npz(paths["calib"])
    return {"model": model, "train": (tr[0][:300], tr[1][:300]), "val": (tr[0][300:], tr[1][300:]),
            "train_all": tr, "test": te, "calib": cal[0], "work": work}


def _search(d, budget, cache_dir, **kw):
    from toolkit.search import search

    return search(d["model"], d["train"], d["val"], budget=budget, precision="int8", calib=d["calib"], epochs=2,
                  population=12, generations=6, progress=False, cache_dir=cache_dir, **kw)


def test_digits_search_within_budget_beats_last_k_and_caches(digits, tmp_path):
    from toolkit.emulate import load_graph, prepare_graph, to_model_input
    from toolkit.plan import plan_memory
    from toolkit.search import MemoryModel, Trainer, layer_names
    from toolkit.search.search import DEFAULT_BASE
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    graph = prepare_graph(load_graph(digits["model"]), "int8", digits["calib"])
    layers = layer_names(graph)
    base = UpdateSpec(**DEFAULT_BASE)
    k = 3
    baseline = last_k(k, len(layers))
    # the budget is what the last-k baseline needs (planner, same optimizer settings as the search's analysis)
    last_spec = UpdateSpec(last_weights=k, biases=k, **DEFAULT_BASE)
    budget = plan_memory(build_program(graph, last_spec, "int8"), mode="train").peak_sram_bytes
    assert MemoryModel(graph, layers, "int8", None, base)(baseline) == budget

    res = _search(digits, budget, tmp_path)
    assert res["cache"]["hit"] is False and res["cache"]["schemes_trained"] > 0
    for name in ("dp", "evolution", "chosen"):
        assert res[name] is not None and res[name]["peak_sram_bytes"] <= budget
    # the written scheme, read back and re-planned from scratch, fits the budget
    path = tmp_path / "scheme.toml"
    path.write_text(res["chosen"]["toml"])
    spec = UpdateSpec.parse(path)
    peak = plan_memory(build_program(graph, spec, "int8"), mode="train").peak_sram_bytes
    assert peak == res["chosen"]["peak_sram_bytes"] <= budget

    # held-out comparison at equal memory: train both on all 450 adaptation samples, test on the shifted test set
    tr_full = digits["train_all"]
    x_tr = to_model_input(graph, tr_full[0], "int8")
    x_te = to_model_input(graph, digits["test"][0], "int8")
    trainer = Trainer(graph, layers, "int8", base, (x_tr, tr_full[1]), (x_te, digits["test"][1]), epochs=2, seeds=2)
    acc_search, acc_last = trainer.accuracy(res["_scheme"]), trainer.accuracy(baseline)
    assert acc_search > acc_last, (res["chosen"]["scheme"], acc_search, acc_last)
    # and the search predicted it: the chosen scheme's summed gain is at least the baseline's
    from toolkit.search import predicted_gain

    assert res["chosen"]["predicted_gain"] >= predicted_gain(res["analysis"], baseline)

    # a second run with the same model, data and settings: no training for the analysis, no planner calls
    again = _search(digits, budget, tmp_path)
    assert again["cache"]["hit"] is True and again["cache"]["schemes_trained"] == 0
    assert again["planner_calls"] == 0
    assert again["chosen"]["toml"] == res["chosen"]["toml"]


def test_errors(digits, tmp_path):
    from toolkit.cli import main

    with pytest.raises(SearchError, match="smaller than the frozen model's inference needs"):
        _search(digits, "1KB", tmp_path)
    with pytest.raises(OdlError, match="unknown board"):
        _search(digits, "64KB", tmp_path, board="no-such-board")
    with pytest.raises(SearchError, match="not a size"):
        _search(digits, "lots", tmp_path)
    with pytest.raises(SearchError, match="give a budget"):
        _search(digits, None, tmp_path)
    # the CLI turns them into one-line errors, exit code 1
    w = digits["work"]
    args = ["search", str(digits["model"]), "--data", str(w / "adapt_train.npz"), "--val", str(w / "adapt_test.npz")]
    assert main(args + ["--budget", "64 parsecs"]) == 1
    assert main(args + ["--budget", "64KB", "--board", "no-such-board"]) == 1
    assert main(args[:3] + [str(w / "missing.npz"), "--val", str(w / "adapt_test.npz"), "--budget", "64KB"]) == 1


def test_scheme_to_spec_round_trip():
    from toolkit.train.spec import UpdateSpec

    layers = ["a", "b", "c"]
    s = Scheme(2, (0, 3, 4))
    spec = UpdateSpec.parse(s.to_spec(layers, UpdateSpec(lr=0.005)).to_toml())
    assert spec.biases == 2 and spec.lr == 0.005
    assert [(w.layer, str(w.ratio)) for w in spec.weights] == [("b", "1/2"), ("c", "1")]
    assert s.describe(layers) == "biases of last 2, b 1/2, c 1"
