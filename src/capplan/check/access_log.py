"""The web server's access log over the last --window: requests per second overall and per
endpoint, requests per status and the error rates, latency percentiles from the logged request
time, and active sessions.

Only the end of the file that the window needs is read: blocks are read backwards from the end
until a line is older than the window (less a minute of slack, for lines written out of order),
so a 10 GB log costs what its last minutes cost. When the window reaches past the beginning of
the file, its older rotations are read in turn (`access.log.1`, `access.log.2.gz`, ...: gzip is
told by its content, and read forwards, skipping whole blocks older than the window) until one
covers the window's start. What could not be read is said in a note, never left out in silence.
A log that covers less than the window gives its rates over the part it covers, with a note.
A line that cannot be read is counted, never fatal; a line stamped in the future (more than a
minute after now) is left out and counted apart.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import statistics
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from capplan import durations
from capplan.check.http import percentile
from capplan.check.log_reading import (
    FUTURE_SKEW_S,
    DeadlinePassed,
    Tally,
    due,
    read,
)
from capplan.errors import InputError
from capplan.metrics import Measurement

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline

_COMBINED = (
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"'
)
PRESETS = {
    # nginx's and Apache's "combined", with or without the request time at the end: a number
    # with a decimal point is nginx's $request_time (seconds), a whole number Apache's %D (µs)
    "auto": _COMBINED + r"(?: (?P<duration>\d+(?:\.\d+)?))?\s*$",
    "combined": _COMBINED + r"\s*$",
    "nginx": _COMBINED + r" (?P<seconds>\d+(?:\.\d+)?)\s*$",
    "apache": _COMBINED + r" (?P<microseconds>\d+)\s*$",
}
# How a message names the format the lines were read as.
FORMAT_NAMES = {
    "auto": "nginx or Apache combined",
    "combined": "combined",
    "nginx": "nginx combined with $request_time",
    "apache": "Apache combined with %D",
}


def window_seconds(text: str) -> int:
    """--window: 30s, 5m, 1h, 1d, at most capplan.durations.LONGEST."""
    return durations.seconds(text, "window")


def pattern(log_format: str) -> re.Pattern[str]:
    """A preset (auto, combined, nginx, apache) or a regular expression with the named groups
    time (as in the combined format), request or path, status, and optionally client and
    seconds, ms or microseconds."""
    if log_format in PRESETS:
        return re.compile(PRESETS[log_format])
    try:
        compiled = re.compile(log_format)
    except re.error as error:
        raise InputError("log_format", log_format, f"not a regular expression: {error}") from None
    groups = set(compiled.groupindex)
    if not {"time", "status"} <= groups or not groups & {"request", "path"}:
        presets = ", ".join(PRESETS)
        raise InputError(
            "log_format",
            log_format,
            f"expected a preset ({presets}) or a pattern with the named groups time, status "
            "and request or path",
        )
    return compiled


def measure(
    path: Path,
    *,
    window: int,
    top: int,
    log_format: str,
    now: dt.datetime,
    deadline: RunDeadline | None = None,
) -> tuple[list[Measurement], list[str]]:
    """The access log's metrics and notes for the `window` seconds up to `now`.

    The rates are over the part of the window that the log covers: all of it when a line older
    than the window was read, else from the oldest line read (a log younger than the window).
    Lines stamped more than FUTURE_SKEW_S after `now` are left out and counted apart."""
    compiled = pattern(log_format)
    labels = {"log": str(path)}
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a file"
        return [Measurement("access_requests_per_second", None, labels, reason=reason)], []
    if deadline is not None and deadline.passed:
        return _stopped(labels, f"{deadline.reached} before it was read"), []
    tick = None if deadline is None else functools.partial(due, deadline)
    end = now.timestamp()
    try:
        tally = read(path, compiled, end - window, latest=end + FUTURE_SKEW_S, tick=tick)
    except DeadlinePassed as stop:
        return _stopped(labels, str(stop)), []
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return [
            Measurement("access_requests_per_second", None, labels, reason=f"cannot read: {reason}")
        ], []
    if tally.malformed and not tally.read:
        return _unreadable(path, tally, log_format), []
    span = f"the last {_length(window)}"
    covered = float(window)
    notes = []
    if not tally.covered and tally.oldest is not None:
        covered = max(1.0, end - tally.oldest)
        first = dt.datetime.fromtimestamp(tally.oldest, dt.timezone.utc)
        span = f"the {_length(covered)} of the last {_length(window)} that the log covers"
        notes.append(
            f"{path}: the log covers {_length(covered)} of the {_length(window)} window (from "
            f"its first line, {first:%Y-%m-%d %H:%M:%S} UTC): the rates are over those "
            f"{_length(covered)}"
        )
    if not tally.covered:
        notes += [f"{path}: {why}" for why in tally.left_out]
    files = _listed([Path(f).name for f in tally.files])
    measurements = [
        Measurement(
            "access_requests_per_second",
            tally.requests / covered,
            labels,
            detail=f"{tally.requests:,} requests in {span} ({files})",
        ),
        Measurement(
            "active_sessions",
            len(tally.clients),
            labels,
            detail="an estimate: distinct client addresses in the window",
        ),
        Measurement("access_malformed_lines", tally.malformed, labels),
        Measurement(
            "access_future_lines",
            tally.future,
            labels,
            detail=f"stamped more than {FUTURE_SKEW_S} s after now: left out",
        ),
    ]
    for name, count in tally.endpoints.most_common(top):
        measurements.append(
            Measurement(
                "access_endpoint_requests",
                count,
                {**labels, "endpoint": name},
                detail=f"{count / covered:.3g}/s",
            )
        )
    for status, count in sorted(tally.statuses.items()):
        measurements.append(
            Measurement("access_status_requests", count, {**labels, "status": status})
        )
    if tally.requests:
        for kind in ("4xx", "5xx"):
            errors = sum(c for s, c in tally.statuses.items() if s[0] == kind[0])
            measurements.append(
                Measurement(
                    "access_error_rate_percent",
                    100 * errors / tally.requests,
                    {**labels, "status": kind},
                    detail=f"{errors:,} of {tally.requests:,}",
                )
            )
    else:
        notes.append(f"{path}: no requests in {span}")
    if tally.durations_ms:
        timed = f"{len(tally.durations_ms):,} logged request times"
        for name, q in (("api_p50_ms", 50), ("api_p95_ms", 95), ("api_p99_ms", 99)):
            value = percentile(tally.durations_ms, q)
            measurements.append(Measurement(name, value, labels, detail=timed))
        average = statistics.fmean(tally.durations_ms)
        measurements.append(Measurement("api_avg_ms", average, labels, detail=timed))
    elif tally.requests:
        notes.append(
            f"{path}: no request times in the log; add $request_time (nginx) or %D (Apache) at "
            "the end of its format for latency percentiles"
        )
    if tally.malformed:
        notes.append(f"{path}: {tally.malformed:,} line(s) could not be read (--log-format?)")
    if tally.latest_future is not None:
        ahead = _length(tally.latest_future - end)
        notes.append(
            f"{path}: {tally.future:,} line(s) stamped more than {FUTURE_SKEW_S} s after now were "
            f"left out (access_future_lines; the latest {ahead} ahead): is the clock of the "
            "server that wrote them right?"
        )
    return measurements, notes


def _length(seconds: float) -> str:
    """7 min 12 s, 60 min, 45 s: whole seconds, in minutes from a minute on."""
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes:,} min" + (f" {rest} s" if rest else "")


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _stopped(labels: dict[str, str], reason: str) -> list[Measurement]:
    return [
        Measurement("access_requests_per_second", None, labels, reason=reason),
        Measurement("active_sessions", None, labels, reason=reason),
    ]


def _unreadable(path: Path, tally: Tally, log_format: str) -> list[Measurement]:
    """Not one line matched the format: a wrong --log-format or not a log at all, never an idle
    server."""
    labels = {"log": str(path)}
    files = " or ".join([str(path), *(Path(f).name for f in tally.files[1:])])
    name = FORMAT_NAMES.get(log_format, "the given pattern")
    reason = f"no line of {files} could be read as {name}: check --log-format"
    return [
        Measurement("access_requests_per_second", None, labels, reason=reason),
        Measurement("active_sessions", None, labels, reason=reason),
        Measurement("access_malformed_lines", tally.malformed, labels),
    ]
