"""Timed HTTP GETs against an endpoint: latency percentiles and the error rate."""

from __future__ import annotations

import http.client
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from capplan.errors import InputError
from capplan.metrics import Measurement


def _one(url: str, timeout: float) -> tuple[float, str | None]:
    """Milliseconds taken, and what went wrong (None for a 2xx or 3xx answer)."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            problem = None
    except urllib.error.HTTPError as error:
        problem = f"HTTP {error.code}"
    except urllib.error.URLError as error:
        problem = str(error.reason)
    except (TimeoutError, OSError, http.client.HTTPException) as error:
        problem = str(error) or type(error).__name__
    return (time.perf_counter() - start) * 1000, problem


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def probe(url: str, requests: int, timeout: float) -> Iterator[Measurement]:
    if not url.startswith(("http://", "https://")):
        raise InputError("url", url, "expected an http:// or https:// URL")
    labels = {"url": url}
    times: list[float] = []
    problems: dict[str, int] = {}
    for _ in range(requests):
        elapsed, problem = _one(url, timeout)
        if problem is None:
            times.append(elapsed)
        else:
            problems[problem] = problems.get(problem, 0) + 1
    failed = sum(problems.values())
    seen = "; ".join(f"{count} x {text}" for text, count in problems.items())
    answered = f"{len(times)} answered"
    missing = f"no successful response ({seen})"
    for name, q in (("api_p50_ms", 50), ("api_p95_ms", 95), ("api_p99_ms", 99)):
        if times:
            yield Measurement(name, percentile(times, q), labels, detail=answered)
        else:
            yield Measurement(name, None, labels, reason=missing)
    if times:
        yield Measurement("api_avg_ms", statistics.fmean(times), labels, detail=answered)
    else:
        yield Measurement("api_avg_ms", None, labels, reason=missing)
    yield Measurement("api_error_rate_percent", 100 * failed / requests, labels, detail=seen)
