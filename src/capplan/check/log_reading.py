"""Reading a web server's access log and its rotations over a window: the lines from the window's
start to now, backwards from the end of a plain file and forwards through a gzip one, each line
counted in the window, before it (the window is covered) or in the future (left out)."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline

BLOCK = 256 * 1024
TAIL = 16 * 1024  # where a gzip block's last readable line is looked for
LONGEST_LINE = 1024 * 1024  # longer, a line is read in pieces (memory stays flat)
SLACK_S = 60  # lines are written when a request ends: a little out of order
FUTURE_SKEW_S = 60  # a line stamped later than this after now is in the future: left out
GZIP_MAGIC = b"\x1f\x8b"
ROTATED = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)(?:\.gz)?$")  # access.log.3, access.log.3.gz
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
DURATIONS = {"seconds": 1000.0, "ms": 1.0, "microseconds": 0.001, "duration": 0.0}
NUMBER = re.compile(r"^\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")


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


def due(deadline: RunDeadline) -> None:
    """A tick for a run with a deadline: DeadlinePassed once it has passed."""
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
            if len(rest) > LONGEST_LINE:  # no line is that long: a piece, counted as one
                yield rest
                rest = b""
        yield rest


def blocks_forward(path: Path, tick: Tick | None = None) -> Iterator[bytes]:
    """A gzip file's whole lines, first first, a decompressed block of them at a time."""
    with gzip.open(path, "rb") as stream:
        rest = b""
        while True:
            if tick is not None:
                tick()
            block = stream.read(BLOCK)
            if not block:
                break
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if not cut and len(data) > LONGEST_LINE:  # no line is that long: a piece
                cut = len(data)
            rest = data[cut:]
            if cut:
                yield data[:cut]
        if rest:
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
        for block in blocks_forward(source, tick):
            if _before(block, window):
                tally.read += 1
                tally.covered = True
                continue  # the whole block is older than the window: skipped, not split
            for raw in block.split(b"\n"):
                _take(raw, window, tally)
        return tally
    for raw in lines_backwards(source, tick):
        moment = _take(raw, window, tally)
        if moment is not None and moment < window.start - SLACK_S:
            break  # older than the window and its slack: the rest of the file is older still
    return tally


def _before(block: bytes, window: _Window) -> bool:
    """Whether the last line of a block that can be read (among those of its last TAIL bytes) is
    older than the window and its slack, so that the block can be skipped."""
    tail = block[-TAIL:].split(b"\n")
    for raw in reversed(tail[1:] if len(block) > TAIL else tail):  # the first may be cut
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
