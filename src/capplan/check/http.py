"""Timed HTTP GETs against an endpoint: latency percentiles and the error rate.

A request that times out counts in the error rate and, at the timeout, in the latency
percentiles: a p95 must not read OK while one request in ten never answered. An answer with an
error status counts at the time it took; a request that got no answer at all (connection
refused, no such host) counts only in the error rate.

--timeout bounds each request as a whole, from the connection to the last byte of the body (not
each read from the socket, which a server trickling one byte at a time would stretch without
end). The run's deadline bounds them all: a request it cuts short is not counted, and the
target's figures are UNKNOWN with the reason.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capplan.metrics import Measurement

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline
    from capplan.check.targets import Http


def _timed_out(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, TimeoutError) or "timed out" in str(reason)


class _Watch:
    """One request's time limit over its whole life: connect, TLS, headers and body, redirects
    included. Each connection is made with the time left as its timeout, and a timer shuts every
    socket of the request down when the limit passes, so that a server that trickles a byte at a
    time cannot stretch the request past it (a socket's own timeout bounds each read alone)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source: tuple[str, int] | None = None,
    ) -> socket.socket:
        """http.client's connection factory: its own timeout gives way to the time left."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock = socket.create_connection(address, left, source)
        with self._lock:
            if self.fired:
                sock.close()
                raise TimeoutError("timed out")
            # a duplicate: TLS takes the socket over, and shutting it down still reaches it
            self._sockets.append(sock.dup())
        return sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watch:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


class _Http(http.client.HTTPConnection):
    def __init__(self, *args: Any, watch: _Watch, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = watch.connect


class _Https(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watch: _Watch, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = watch.connect


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_Http, req, watch=self.watch)  # type: ignore[arg-type]


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.watch = watch

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_Https, req, watch=self.watch)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: milliseconds to count in the latency (None: no answer), what went wrong
    (None for a 2xx or 3xx answer), and whether the run's deadline cut it short (then it counts
    nowhere)."""

    ms: float | None
    problem: str | None
    cut: bool = False


def one(target: Http, timeout: float, limit: float | None = None) -> Answer:
    """One GET, over in `limit` seconds (default `timeout`) from its start to its last byte. A
    request stopped at `timeout` timed out; one stopped sooner, at a shorter `limit` (what is
    left of the run's deadline), was cut."""
    limit = timeout if limit is None else min(limit, timeout)
    request = urllib.request.Request(target.url)
    for name, value in target.headers:  # never forwarded to where a redirect points
        request.add_unredirected_header(name, value)
    problem: str | None = None
    error: BaseException | None = None
    with _Watch(limit) as watch:
        opener = urllib.request.build_opener(_HttpHandler(watch), _HttpsHandler(watch))
        start = time.perf_counter()
        try:
            with opener.open(request, timeout=limit) as response:
                response.read()
        except urllib.error.HTTPError as failed:
            problem = f"HTTP {failed.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as failed:
            error = failed
        elapsed = (time.perf_counter() - start) * 1000
    if watch.fired or (error is not None and _timed_out(error)):
        if limit < timeout:
            return Answer(None, None, cut=True)
        return Answer(timeout * 1000, f"timed out after {timeout:g} s")
    if error is not None:
        reason = getattr(error, "reason", None) or error
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return Answer(None, target.scrub(text))
    return Answer(elapsed, problem)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def probe(
    target: Http, requests: int, timeout: float, deadline: RunDeadline | None = None
) -> Iterator[Measurement]:
    """`requests` GETs, one after the other. When the run's deadline passes before they are all
    done, every figure of the target is UNKNOWN and says after how many requests it stopped."""
    labels = {"url": target.shown}
    times: list[float] = []
    problems: dict[str, int] = {}
    for done in range(requests):
        if deadline is not None and deadline.passed:
            when = f"after {done} of {requests} requests" if done else "before it was measured"
            yield from _stopped(labels, f"{deadline.reached} {when}")
            return
        answer = one(target, timeout, None if deadline is None else deadline.bound(timeout))
        if answer.cut and deadline is not None:  # only the deadline cuts a request short
            yield from _stopped(labels, f"{deadline.reached} after {done} of {requests} requests")
            return
        if answer.ms is not None:
            times.append(answer.ms)
        if answer.problem is not None:
            problems[answer.problem] = problems.get(answer.problem, 0) + 1
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


FIGURES = ("api_p50_ms", "api_p95_ms", "api_p99_ms", "api_avg_ms", "api_error_rate_percent")


def _stopped(labels: dict[str, str], reason: str) -> Iterator[Measurement]:
    """A target the deadline stopped: none of its figures, each UNKNOWN with the reason."""
    for name in FIGURES:
        yield Measurement(name, None, labels, reason=reason)
