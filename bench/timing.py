"""One timing rule for every steady-state number in the suite (cold start has its own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """How long to time a call: `repeats` rounds, each calling until `min_time` seconds have passed."""

    min_time: float = 0.3
    repeats: int = 5

    def seconds_per_call(self, call: Callable[[], object]) -> float:
        """The fastest round's seconds per call.

        The fastest, as `timeit` advises: on a shared machine the slower rounds
        measure the other jobs, not the code. One untimed call first pays for
        allocations and thread-pool start-up, which steady state never sees.
        """
        call()
        best = float("inf")
        for _ in range(self.repeats):
            calls, start = 0, time.perf_counter()
            while True:
                call()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= self.min_time:
                    break
            best = min(best, elapsed / calls)
        return best
