"""Wall-clock timing for host benchmarks: best of several repeats, each long enough to be measurable."""

from __future__ import annotations

import time
from typing import Callable


def seconds_per_call(fn: Callable[[], object], min_time: float = 0.05, repeats: int = 3) -> float:
    """Best-of-``repeats`` time of one call, each repeat looping until ``min_time`` has passed."""
    fn()  # warm-up (builds, caches, page faults)
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time / 4 or n >= 1 << 20:
            break
        n *= 4
    per = max(1, int(n * min_time / max(dt, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per):
            fn()
        best = min(best, (time.perf_counter() - t0) / per)
    return best
