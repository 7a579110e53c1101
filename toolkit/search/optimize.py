"""Optimisers over the sparse-update space: an exact group knapsack (Pareto-frontier DP) for additive gains and
costs, a brute force to check it, and an evolutionary search whose constraint is the planner's real peak SRAM.

Group knapsack: ``groups[g]`` lists the options of group g as (cost, gain); exactly one option per group is taken.
The DP keeps, after each group, every (cost, gain) pair not dominated by another (lower-or-equal cost and
higher-or-equal gain), so it is exact for any integer or real costs (no cost discretisation).
"""

from __future__ import annotations

import itertools
import random

from toolkit.search.space import Scheme


def pareto_frontier(groups: list[list[tuple[float, float]]]) -> list[tuple[float, float, tuple[int, ...]]]:
    """Every non-dominated (total cost, total gain, choice per group), sorted by cost."""
    front: list[tuple[float, float, tuple[int, ...]]] = [(0, 0.0, ())]
    for opts in groups:
        cand = [(c + oc, g + og, ch + (j,)) for c, g, ch in front for j, (oc, og) in enumerate(opts)]
        # sort by cost, then gain descending, then the choice (deterministic ties)
        cand.sort(key=lambda t: (t[0], -t[1], t[2]))
        front, best = [], float("-inf")
        for t in cand:
            if t[1] > best:
                front.append(t)
                best = t[1]
    return front


def knapsack(groups: list[list[tuple[float, float]]], budget: float) -> tuple[float, float, tuple[int, ...]] | None:
    """The (cost, gain, choice) of maximum gain with cost <= budget (ties: lower cost), None if nothing fits."""
    best = None
    for t in pareto_frontier(groups):
        if t[0] <= budget and (best is None or t[1] > best[1]):
            best = t
    return best


def brute_force(groups, budget):
    """Reference for tests: enumerate every choice."""
    best = None
    for ch in itertools.product(*[range(len(o)) for o in groups]):
        c = sum(groups[g][j][0] for g, j in enumerate(ch))
        v = sum(groups[g][j][1] for g, j in enumerate(ch))
        if c <= budget and (best is None or v > best[1] or (v == best[1] and c < best[0])):
            best = (c, v, ch)
    return best


def evolve(fitness, memory, budget: int, n_layers: int, population: int = 40, generations: int = 30,
           mutation: float = 0.2, seed: int = 0, seeds: list[Scheme] = (), progress=None) -> tuple[Scheme, dict]:
    """Evolutionary search (MCUNet-style: keep the best, cross over and mutate parents, reject over-budget
    children) maximising ``fitness(scheme)`` subject to ``memory(scheme) <= budget``. ``seeds``: schemes placed in
    the first population when they fit (e.g. the DP's answer, biases-only). Deterministic for ``seed``."""
    rng = random.Random(seed)

    def fits(s):   # a scheme that trains nothing is no answer
        return not s.empty and memory(s) <= budget

    def random_scheme():
        k = rng.randint(0, n_layers)
        # sparse: each layer frozen with probability 1/2, else a random ratio
        return Scheme(k, tuple(0 if rng.random() < 0.5 else rng.randint(1, 4) for _ in range(n_layers)))

    def mutate(s: Scheme) -> Scheme:
        k = s.bias_k if rng.random() >= mutation else rng.randint(0, n_layers)
        r = tuple(x if rng.random() >= mutation else rng.randint(0, 4) for x in s.ratios)
        return Scheme(k, r)

    def cross(a: Scheme, b: Scheme) -> Scheme:
        return Scheme(rng.choice((a.bias_k, b.bias_k)), tuple(rng.choice(p) for p in zip(a.ratios, b.ratios)))

    pop: list[Scheme] = []
    for s in seeds:
        if s not in pop and fits(s):
            pop.append(s)
    tries = 0
    while len(pop) < population and tries < population * 50:
        tries += 1
        s = random_scheme()
        if s not in pop and fits(s):
            pop.append(s)
    if not pop:
        pop = [Scheme(0, (0,) * n_layers)]
    evaluated = set(pop)
    n_parents = max(2, population // 4)
    for gen in range(generations):
        pop.sort(key=lambda s: (-fitness(s), memory(s), s))
        parents = pop[:n_parents]
        children: list[Scheme] = []
        tries = 0
        while len(children) < population - n_parents and tries < population * 50:
            tries += 1
            c = mutate(rng.choice(parents)) if rng.random() < 0.5 else cross(rng.choice(parents),
                                                                           rng.choice(parents))
            if c in children or c in parents:
                continue
            evaluated.add(c)
            if fits(c):
                children.append(c)
        pop = parents + children
        if progress is not None:
            progress(gen + 1, generations)
    pop.sort(key=lambda s: (-fitness(s), memory(s), s))
    return pop[0], {"evaluated": len(evaluated), "generations": generations, "population": population}
