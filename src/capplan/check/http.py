"""Timed HTTP GETs against an endpoint: latency percentiles and the error rate.

A request that times out counts in the error rate and, at the timeout, in the latency
percentiles: a p95 must not read OK while one request in ten never answered. An answer with an
error status counts at the time it took; a request that got no answer at all (connection
refused, no such host) counts only in the error rate.
"""

from __future__ import annotations

import http.client
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

from capplan.metrics import Measurement

if TYPE_CHECKING:
    from capplan.check.targets import Http


def _timed_out(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)


def _one(target: Http, timeout: float) -> tuple[float | None, str | None]:
    """Milliseconds to count in the latency (None: no answer), and what went wrong (None for a
    2xx or 3xx answer)."""
    request = urllib.request.Request(target.url)
    for name, value in target.headers:  # never forwarded to where a redirect points
        request.add_unredirected_header(name, value)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            problem = None
    except urllib.error.HTTPError as error:
        problem = f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        if _timed_out(error):
            return timeout * 1000, f"timed out after {timeout:g} s"
        reason = getattr(error, "reason", None) or error
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return None, target.scrub(text)
    return (time.perf_counter() - start) * 1000, problem


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def probe(target: Http, requests: int, timeout: float) -> Iterator[Measurement]:
    labels = {"url": target.shown}
    times: list[float] = []
    problems: dict[str, int] = {}
    for _ in range(requests):
        elapsed, problem = _one(target, timeout)
        if elapsed is not None:
            times.append(elapsed)
        if problem is not None:
            problems[problem] = problems.get(problem, 0) + 1
    failed = sum(problems.values())
    seen = "; ".join(f"{count} x {text}" for text, count in problems.items())
    counted = f"{len(times)} of {requests} requests" + (f" ({seen})" if seen else "")
    missing = f"no answer ({seen})"
    for name, q in (("api_p50_ms", 50), ("api_p95_ms", 95), ("api_p99_ms", 99)):
        if times:
            yield Measurement(name, percentile(times, q), labels, detail=counted)
        else:
            yield Measurement(name, None, labels, reason=missing)
    if times:
        yield Measurement("api_avg_ms", statistics.fmean(times), labels, detail=counted)
    else:
        yield Measurement("api_avg_ms", None, labels, reason=missing)
    yield Measurement("api_error_rate_percent", 100 * failed / requests, labels, detail=seen)
