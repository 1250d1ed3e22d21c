"""Timing shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(fn, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls, in seconds (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
