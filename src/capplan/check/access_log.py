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
import gzip
import math
import re
import statistics
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from capplan import durations
from capplan.check.http import percentile
from capplan.errors import InputError
from capplan.metrics import Measurement

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline

BLOCK = 256 * 1024
SLACK_S = 60  # lines are written when a request ends: a little out of order
FUTURE_SKEW_S = 60  # a line stamped later than this after now is in the future: left out
GZIP_MAGIC = b"\x1f\x8b"
ROTATED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)(?:\.gz)?$")  # access.log.3, access.log.3.gz
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
NUMBER = re.compile(r"^\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")


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
    read: int = 0  # lines that matched the format, in the window or not
    endpoints: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    clients: set[str] = field(default_factory=set)
    durations_ms: list[float] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    covered: bool = False  # a line before the window's start was read: the log covers it whole
    oldest: float | None = None  # the oldest moment counted in the window
    future: int = 0  # lines stamped after now (beyond FUTURE_SKEW_S): left out
    latest_future: float | None = None
    left_out: list[str] = field(default_factory=list)  # why older files were not read

    def add(self, other: Tally) -> None:
        """Take in what one file held."""
        self.requests += other.requests
        self.malformed += other.malformed
        self.read += other.read
        self.endpoints.update(other.endpoints)
        self.statuses.update(other.statuses)
        self.clients |= other.clients
        self.durations_ms += other.durations_ms
        self.covered = self.covered or other.covered
        self.oldest = _known(min, self.oldest, other.oldest)
        self.future += other.future
        self.latest_future = _known(max, self.latest_future, other.latest_future)


def _known(pick: Callable[..., float | None], *values: float | None) -> float | None:
    """The least or the greatest of the values that are known."""
    return pick((value for value in values if value is not None), default=None)


class DeadlinePassed(Exception):
    """The run's deadline passed while a file was read: says which."""


def _due(deadline: RunDeadline) -> None:
    if deadline.passed:
        raise DeadlinePassed(deadline.reached)


Tick = Callable[[], None]  # called before each block is read: raises DeadlinePassed when due


def lines_backwards(path: Path, tick: Tick | None = None) -> Iterator[bytes]:
    """The file's lines, last first, read in blocks from the end."""
    with path.open("rb") as stream:
        position = stream.seek(0, 2)
        rest = b""
        while position > 0:
            if tick is not None:
                tick()
            size = min(BLOCK, position)
            position -= size
            stream.seek(position)
            block = stream.read(size) + rest
            lines = block.split(b"\n")
            rest = lines[0]
            yield from reversed(lines[1:])
        yield rest


def blocks_forward(path: Path, tick: Tick | None = None) -> Iterator[list[bytes]]:
    """A gzip file's lines, first first, a decompressed block of them at a time."""
    with gzip.open(path, "rb") as stream:
        rest = b""
        while True:
            if tick is not None:
                tick()
            block = stream.read(BLOCK)
            if not block:
                break
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield lines
        if rest:
            yield [rest]


class _Times:
    """CLF timestamps to epoch seconds, each distinct text parsed once."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def __call__(self, text: str) -> float:
        found = self.seen.get(text)
        if found is None:
            found = self.seen[text] = dt.datetime.strptime(text, CLF_TIME).timestamp()
        return found


def is_gzip(path: Path) -> bool:
    """Content decides, not the name."""
    with path.open("rb") as stream:
        return stream.read(2) == GZIP_MAGIC


def rotations(path: Path) -> Iterator[Path]:
    """The files older than `path` in its numbered rotation series, newest first: for access.log,
    access.log.1, access.log.2.gz, access.log.3.gz, ... (each plain or gzip, as logrotate leaves
    them with or without delaycompress), up to the first number missing. For access.log.2.gz,
    the series goes on from access.log.3."""
    numbered = ROTATED.match(path.name)
    base, number = (numbered["base"], int(numbered["n"])) if numbered else (path.name, 0)
    while True:
        number += 1
        found = [
            candidate
            for candidate in (
                path.with_name(f"{base}.{number}"),
                path.with_name(f"{base}.{number}.gz"),
            )
            if candidate.is_file()
        ]
        if not found:
            return
        yield found[0]  # both while logrotate compresses: the plain one is whole


@dataclass(frozen=True, slots=True)
class _Window:
    compiled: re.Pattern[str]
    start: float  # the window's first moment (epoch seconds)
    latest: float  # a line stamped after this is in the future
    parse_time: _Times


def read(
    path: Path,
    compiled: re.Pattern[str],
    start: float,
    *,
    latest: float = math.inf,
    tick: Tick | None = None,
) -> Tally:
    """Every line of the log from `start` to `latest`, and of the rotated files before it as far
    as the window reaches: the log itself must be readable (OSError), an older file that cannot
    be read ends the series with a word in `left_out`."""
    tally = Tally()
    window = _Window(compiled, start, latest, _Times())
    tally.files.append(str(path))
    tally.add(_read_file(path, window, tick))
    for source in rotations(path):
        if tally.covered:
            break  # the window starts within the files read
        try:
            found = _read_file(source, window, tick)
        except (OSError, EOFError, zlib.error) as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            tally.left_out.append(f"{source.name} could not be read ({reason})")
            return tally
        tally.files.append(str(source))
        tally.add(found)
    if not tally.covered:
        tally.left_out += _others(path, tally.files)
    return tally


def _others(path: Path, read_files: list[str]) -> list[str]:
    """Files beside the log that look like its older rotations but are not in its numbered
    series (dateext names, a gap in the numbers): named, never read in silence."""
    numbered = ROTATED.match(path.name)
    base, given = (numbered["base"], int(numbered["n"])) if numbered else (path.name, 0)
    done = {Path(name).name for name in read_files}

    def older(name: str) -> bool:
        """Not the log itself, nor a newer member of its series (access.log.1 beside .2.gz)."""
        member = ROTATED.match(name)
        if name == base or (member is not None and member["base"] == base):
            return member is not None and int(member["n"]) > given
        return name.startswith(base)

    try:
        names = sorted(
            entry.name
            for entry in path.parent.iterdir()
            if older(entry.name) and entry.name not in done and entry.is_file()
        )
    except OSError:
        return []
    if not names:
        return []
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return [f"not read: {shown} (rotations are followed by number: {base}.1, {base}.2.gz, ...)"]


def _read_file(source: Path, window: _Window, tick: Tick | None) -> Tally:
    try:
        return _read_lines(source, window, tick)
    except DeadlinePassed as stop:
        raise DeadlinePassed(f"{stop} while reading {source.name}") from None


def _read_lines(source: Path, window: _Window, tick: Tick | None) -> Tally:
    tally = Tally()
    if is_gzip(source):
        for lines in blocks_forward(source, tick):
            if _before(lines, window):
                tally.read += 1
                tally.covered = True
                continue  # the whole block is older than the window: skipped unparsed
            for raw in lines:
                _take(raw, window, tally)
        return tally
    for raw in lines_backwards(source, tick):
        moment = _take(raw, window, tally)
        if moment is not None and moment < window.start - SLACK_S:
            break  # older than the window and its slack: the rest of the file is older still
    return tally


def _before(lines: list[bytes], window: _Window) -> bool:
    """Whether the last line of a block that can be read is older than the window and its
    slack, so that the block can be skipped."""
    for raw in reversed(lines):
        match = window.compiled.match(raw.decode("utf-8", "replace"))
        if match is not None:
            try:
                return window.parse_time(match["time"]) < window.start - SLACK_S
            except ValueError:
                continue
    return False


def _take(raw: bytes, window: _Window, tally: Tally) -> float | None:
    """Count one line: in the window, before it, or in the future; the moment it is stamped with
    (None for a blank line or one that cannot be read)."""
    if not raw.strip():
        return None
    match = window.compiled.match(raw.decode("utf-8", "replace"))
    if match is None:
        tally.malformed += 1
        return None
    try:
        moment = window.parse_time(match["time"])
    except ValueError:
        tally.malformed += 1
        return None
    tally.read += 1
    if moment < window.start:
        tally.covered = True
    elif moment > window.latest:
        tally.future += 1
        tally.latest_future = _known(max, tally.latest_future, moment)
    else:
        tally.oldest = moment if tally.oldest is None else min(tally.oldest, moment)
        _count(match, tally)
    return moment


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
    tick = None if deadline is None else functools.partial(_due, deadline)
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
