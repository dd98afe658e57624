"""The web server's access log over the last --window: requests per second overall and per
endpoint, requests per status and the error rates, latency percentiles from the logged request
time, and active sessions.

Only the end of the file that the window needs is read: blocks are read backwards from the end
until a line is older than the window (less a minute of slack, for lines written out of order),
so a 10 GB log costs what its last minutes cost. When the window reaches past the beginning of
the file, the rotated file beside it (`access.log.1`) is read too. A line that cannot be read is
counted, never fatal.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from capplan.check.http import percentile
from capplan.errors import InputError
from capplan.metrics import Measurement

BLOCK = 256 * 1024
SLACK_S = 60  # lines are written when a request ends: a little out of order
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
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
DURATIONS = {"seconds": 1000.0, "ms": 1.0, "microseconds": 0.001, "duration": 0.0}
WINDOW = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NUMBER = re.compile(r"^\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")


def window_seconds(text: str) -> int:
    """--window: 30s, 5m, 1h, 1d."""
    match = WINDOW.match(text)
    if match is None or int(match[1]) == 0:
        raise InputError("window", text, "expected a duration such as 30s, 5m, 1h")
    return int(match[1]) * UNITS_S[match[2]]


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


def endpoint(request: str) -> str:
    """`GET /products/123?x=1 HTTP/1.1` -> `GET /products/:id`: query strings dropped; numbers,
    UUIDs and hashes replaced, so that one route is one endpoint."""
    parts = request.split()
    if len(parts) < 2 or not parts[1].startswith("/"):
        return "(not a request)"
    method, path = parts[0], parts[1].split("?", 1)[0].split("#", 1)[0]
    segments = []
    for segment in path.split("/"):
        if NUMBER.match(segment):
            segment = ":id"
        elif UUID.match(segment):
            segment = ":uuid"
        else:
            segment = HEX_RUN.sub(":hash", segment)
        segments.append(segment)
    return f"{method} {'/'.join(segments)}"


@dataclass
class Tally:
    requests: int = 0
    malformed: int = 0
    read: int = 0  # lines that matched the format, in the window or before it
    endpoints: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    clients: set[str] = field(default_factory=set)
    durations_ms: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def lines_backwards(path: Path) -> Iterator[bytes]:
    """The file's lines, last first, read in blocks from the end."""
    with path.open("rb") as stream:
        position = stream.seek(0, 2)
        rest = b""
        while position > 0:
            size = min(BLOCK, position)
            position -= size
            stream.seek(position)
            block = stream.read(size) + rest
            lines = block.split(b"\n")
            rest = lines[0]
            yield from reversed(lines[1:])
        yield rest


class _Times:
    """CLF timestamps to epoch seconds, each distinct text parsed once."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def __call__(self, text: str) -> float:
        found = self.seen.get(text)
        if found is None:
            found = self.seen[text] = dt.datetime.strptime(text, CLF_TIME).timestamp()
        return found


def read(path: Path, compiled: re.Pattern[str], start: float) -> Tally:
    """Every line of the log (and of its rotated predecessor) from `start` on."""
    tally = Tally()
    parse_time = _Times()
    for source in (path, path.with_name(path.name + ".1")):
        if source != path and not source.is_file():
            break
        tally.files.append(str(source))
        if _read_one(source, compiled, start, tally, parse_time):
            break  # the window starts within this file
    return tally


def _read_one(
    source: Path, compiled: re.Pattern[str], start: float, tally: Tally, parse_time: _Times
) -> bool:
    """Count the lines of one file from `start` on; True when an older line was reached."""
    for raw in lines_backwards(source):
        if not raw.strip():
            continue
        match = compiled.match(raw.decode("utf-8", "replace"))
        if match is None:
            tally.malformed += 1
            continue
        try:
            moment = parse_time(match["time"])
        except ValueError:
            tally.malformed += 1
            continue
        tally.read += 1
        if moment < start - SLACK_S:
            return True
        if moment < start:
            continue
        _count(match, tally)
    return False


def _count(match: re.Match[str], tally: Tally) -> None:
    groups = match.groupdict()
    tally.requests += 1
    request = groups.get("request") or f"- {groups.get('path') or ''}"
    tally.endpoints[endpoint(request)] += 1
    tally.statuses[match["status"]] += 1
    if groups.get("client"):
        tally.clients.add(groups["client"])
    for name, to_ms in DURATIONS.items():
        value = groups.get(name)
        if value is not None:
            if name == "duration":  # auto: nginx's seconds or Apache's microseconds
                to_ms = 1000.0 if "." in value else 0.001
            tally.durations_ms.append(float(value) * to_ms)
            break


def measure(
    path: Path, *, window: int, top: int, log_format: str, now: dt.datetime
) -> tuple[list[Measurement], list[str]]:
    """The access log's metrics and notes for the `window` seconds up to `now`."""
    compiled = pattern(log_format)
    labels = {"log": str(path)}
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a file"
        return [Measurement("access_requests_per_second", None, labels, reason=reason)], []
    try:
        tally = read(path, compiled, now.timestamp() - window)
    except OSError as error:
        reason = f"cannot read: {error.strerror or error}"
        return [Measurement("access_requests_per_second", None, labels, reason=reason)], []
    if tally.malformed and not tally.read:
        return _unreadable(path, tally, log_format), []
    span = f"the last {window // 60} min" if window % 60 == 0 else f"the last {window} s"
    files = " and ".join(Path(f).name for f in tally.files)
    measurements = [
        Measurement(
            "access_requests_per_second",
            tally.requests / window,
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
    ]
    for name, count in tally.endpoints.most_common(top):
        measurements.append(
            Measurement(
                "access_endpoint_requests",
                count,
                {**labels, "endpoint": name},
                detail=f"{count / window:.3g}/s",
            )
        )
    for status, count in sorted(tally.statuses.items()):
        measurements.append(
            Measurement("access_status_requests", count, {**labels, "status": status})
        )
    notes = []
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
    return measurements, notes


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
