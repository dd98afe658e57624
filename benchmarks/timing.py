"""What the benchmark scripts share: the median wall time of repeated runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def median_ms(action: Callable[[], object] | Sequence[str], runs: int) -> float:
    """Median milliseconds of `runs` runs of a callable or a command (its output discarded)."""
    if not callable(action):
        command = list(action)

        def action() -> object:
            return subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
