"""Sparse-update search: contribution analysis, exact DP and evolutionary search under the planner's peak SRAM.

    from toolkit.search import search
    res = search("model.pt2", (x, y), (vx, vy), budget="64KB", precision="int8")
    open("scheme.toml", "w").write(res["chosen"]["toml"])
"""

from toolkit.search.analysis import Cache, Trainer, contribution_analysis, predicted_gain
from toolkit.search.optimize import brute_force, evolve, knapsack, pareto_frontier
from toolkit.search.search import dp_search, layer_names, search
from toolkit.search.space import RATIO_CHOICES, MemoryModel, Scheme, SearchError, biases_only, last_k, parse_budget

__all__ = ["search", "dp_search", "layer_names", "contribution_analysis", "predicted_gain", "Trainer", "Cache",
           "knapsack", "pareto_frontier", "brute_force", "evolve", "Scheme", "MemoryModel", "SearchError",
           "RATIO_CHOICES", "last_k", "biases_only", "parse_budget"]
