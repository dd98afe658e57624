"""The history of checks: one SQLite file (WAL, busy timeout) that many cron jobs may write at once.

A record is one value of one series (a metric of `capplan check` and its labels) at one moment,
with its status when it came from a check. A record is unique by (moment, metric, labels): the
same moment recorded or imported again is "already there" and keeps its first value; one that
comes again with another value is counted apart, so that an import says so.

This module is what the commands use: record, import, prune, and read the records or a sample of
each series. The file itself (layout, upgrades, transactions) is `history_store`; the CSV form is
`history_csv`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from capplan import atomic, history_csv
from capplan import history_store as store
from capplan.durations import LONGEST, LONGEST_TEXT
from capplan.errors import CapplanError, ConfigError, InputError
from capplan.formulas import DAYS_PER_MONTH
from capplan.history_csv import CLOCK_SKEW, UTC, canonical_labels, from_micros, micros
from capplan.metrics import METRICS, Metric, Status, label_text

HISTORY_ENV = "CAPPLAN_HISTORY"
AGE_UNITS = {"h": 1 / 24, "d": 1, "w": 7, "m": DAYS_PER_MONTH, "y": 365}
LONGEST_AGE = LONGEST  # every duration option's bound: capplan.durations


@dataclass(frozen=True, slots=True)
class Record:
    """One value of one metric at one time; its fields are the JSON contract's keys."""

    timestamp: dt.datetime
    metric: str
    labels: Mapping[str, str]
    value: float
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """One metric with one set of labels: how many records it has, and an even sample of them."""

    metric: str
    labels: Mapping[str, str]
    count: int  # records, each at its own moment
    sample: tuple[tuple[dt.datetime, float], ...]  # oldest first; the first and last included


@dataclass(frozen=True, slots=True)
class Pruned:
    removed: int
    remaining: int
    before: dt.datetime


def default_path() -> Path:
    """--history, else $CAPPLAN_HISTORY, else $XDG_DATA_HOME or ~/.local/share, capplan/."""
    from_env = os.environ.get(HISTORY_ENV)
    if from_env:
        return Path(from_env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "capplan" / "history.db"


def record_to(
    option: str | None,
    metrics: Iterable[Metric],
    moment: dt.datetime,
    run_labels: Mapping[str, str] | None = None,
) -> int:
    """`check --record`: into the history file, or the shared PostgreSQL history, that
    --history (else $CAPPLAN_HISTORY, else the default file) names. A shared history keeps
    each record's host: the run's labels (--label instance=web-1), else this machine's name."""
    from capplan.history_source import location_of

    location = location_of(option)
    if location.kind == "postgresql":
        from capplan import history_postgres

        return history_postgres.record_metrics(
            history_postgres.history(location.text), metrics, moment, run_labels or {}
        )
    return record_metrics(resolve(option, "check --record"), metrics, moment)


def resolve(option: str | Path | None, doing: str = "this command") -> Path:
    """The history file named by --history or $CAPPLAN_HISTORY, else the default one. A URL is
    never taken for a path: a server history is refused here, for what only a file does."""
    from capplan.history_source import locate, sqlite_path

    if isinstance(option, Path):
        return option
    text = option if option is not None else os.environ.get(HISTORY_ENV)
    if not text:
        return default_path()
    return sqlite_path(locate(text), doing)


# --- moments and ages -----------------------------------------------------------------------


def parse_age(text: str, subject: str) -> dt.timedelta | None:
    """36h, 30d, 6w, 3m (30 days), 1y, up to 100 years; None when `text` is not an age."""
    stripped = text.strip().lower()
    digits, unit = stripped[:-1], stripped[-1:]
    if not (digits.isdecimal() and unit in AGE_UNITS):
        return None
    days = int(digits) * AGE_UNITS[unit] if len(digits) <= 9 else math.inf
    if days > LONGEST_AGE.days:
        raise InputError(subject, text, f"expected an age of at most {LONGEST_TEXT}")
    return dt.timedelta(days=days)


def parse_moment(text: str, subject: str) -> dt.datetime:
    try:
        return history_csv.parse_timestamp(text)
    except ValueError:
        raise InputError(subject, text, "expected an ISO 8601 date (2026-11-01)") from None


def parse_since(text: str, now: dt.datetime, subject: str = "since") -> dt.datetime:
    """An ISO 8601 date or time, or an age: 36h, 30d, 6w, 3m (30 days), 1y."""
    age = parse_age(text, subject)
    if age is not None:
        return now - age
    try:
        moment = history_csv.parse_timestamp(text)
    except ValueError:
        raise InputError(
            subject, text, "expected an ISO 8601 date (2026-11-01) or an age (30d, 6w, 3m)"
        ) from None
    if moment > now + CLOCK_SKEW:
        raise InputError(subject, text, "is in the future: expected a past date or an age")
    return moment


# --- writing --------------------------------------------------------------------------------


def record_metrics(path: Path, metrics: Iterable[Metric], moment: dt.datetime) -> int:
    """Append every measured metric of one check, in one transaction; the new records.

    A moment in the future (past the clock's skew) is refused: it would read as a forecast."""
    now = dt.datetime.now(UTC)
    if moment > now + CLOCK_SKEW:
        raise CapplanError(
            f"{path}: refusing to record at {moment.isoformat(timespec='seconds')}, which is in "
            f"the future (this machine's clock says {now.isoformat(timespec='seconds')})"
        )
    at = micros(moment)
    rows = [
        (m.name, canonical_labels(m.labels), at, float(m.value), m.status.value)
        for m in metrics
        if m.value is not None
    ]
    return store.write(path, lambda connection: store.insert(connection, rows)).new


def import_csv(history: Path, source: Path, now: dt.datetime | None = None) -> store.Imported:
    """Import a CSV export: every line is checked, and a bad one anywhere imports nothing.

    The file is streamed into one transaction that is rolled back at the first bad line, so
    memory stays flat. A history that does not exist yet is built beside its place and linked
    there when complete, so that a bad file leaves nothing behind."""
    now = now or dt.datetime.now(UTC)
    try:
        if history.exists():
            return _add(history, source, now)
        return _import_new(history, source, now)
    except ConfigError as error:
        raise ConfigError(
            error.source, f"{error.problem}; nothing was imported", line=error.line
        ) from None


def _add(history: Path, source: Path, now: dt.datetime) -> store.Imported:
    return store.write(history, lambda c: store.insert(c, history_csv.read(source, now=now)))


def _import_new(history: Path, source: Path, now: dt.datetime) -> store.Imported:
    """A new history, built in a temporary file without a journal (on failure the file goes)."""
    missing = [
        folder for folder in (history.parent, *history.parent.parents) if not folder.exists()
    ]
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        atomic.remove_abandoned(history.parent)
        handle, name = tempfile.mkstemp(
            dir=history.parent, prefix=atomic.temporary_prefix(history), suffix=atomic.TEMP_SUFFIX
        )
        os.close(handle)
    except OSError as error:
        raise InputError("history", history, str(error.strerror or error)) from None
    temporary = Path(name)
    done = False
    try:
        result = store.build(temporary, history_csv.read(source, now=now))
        with temporary.open("rb+") as stream:
            os.fsync(stream.fileno())
        try:
            os.link(temporary, history)  # fails if another process made the history meanwhile
        except FileExistsError:
            result = _add(history, source, now)
        except OSError:  # a file system without hard links
            if history.exists():
                result = _add(history, source, now)
            else:
                temporary.replace(history)
        done = True
        return result
    except (OSError, sqlite3.Error) as error:
        raise InputError(
            "history", history, str(getattr(error, "strerror", None) or error)
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
        for folder in [] if done else missing:
            with contextlib.suppress(OSError):
                folder.rmdir()


def prune(path: Path, before: dt.datetime, now: dt.datetime | None = None) -> Pruned:
    """Remove every record older than `before`, and the series left without records."""
    now = now or dt.datetime.now(UTC)
    if before > now:
        raise InputError(
            "before", before.isoformat(timespec="seconds"), "is in the future: expected a past date"
        )
    limit = micros(before)

    def remove(connection: sqlite3.Connection) -> Pruned:
        removed = 0
        for (series,) in connection.execute("SELECT id FROM series").fetchall():
            cursor = connection.execute(
                "DELETE FROM records WHERE series = ? AND at < ?", (series, limit)
            )
            removed += cursor.rowcount
        connection.execute(
            "DELETE FROM series WHERE NOT EXISTS "
            "(SELECT 1 FROM records WHERE records.series = series.id)"
        )
        remaining = connection.execute("SELECT count(*) FROM records").fetchone()[0]
        return Pruned(removed, remaining, before)

    return store.write(path, remove, create=False)


# --- reading --------------------------------------------------------------------------------


def where(
    metric: str | None,
    since: dt.datetime | None,
    *,
    columns: tuple[str, str] = ("series.metric", "records.at"),
    placeholder: str = "?",
) -> tuple[str, list[object]]:
    """The SQL condition (and its parameters) for --metric and --since, on the metric and
    moment `columns`, for SQLite's placeholder or another driver's (PostgreSQL: %s)."""
    if metric is not None and metric not in METRICS:
        raise InputError("metric", metric, f"expected one of {', '.join(METRICS)}")
    clauses: list[str] = ["1 = 1"]
    parameters: list[object] = []
    if metric is not None:
        clauses.append(f"{columns[0]} = {placeholder}")
        parameters.append(metric)
    if since is not None:
        clauses.append(f"{columns[1]} >= {placeholder}")
        parameters.append(micros(since))
    return " AND ".join(clauses), parameters


StoredRow = tuple[int, str, str, float, str | None]


def rows(path: Path, *, metric: str | None = None, since: dt.datetime | None = None) -> Rows:
    """(at, metric, canonical labels, value, status), oldest first: what history_csv.write
    takes. The history is opened (or refused) now, before the first row is asked for."""
    condition, parameters = where(metric, since)
    connection = store.connect(path, create=False)
    try:
        cursor = connection.execute(
            "SELECT records.at, series.metric, series.labels, records.value, records.status "
            f"FROM records JOIN series ON series.id = records.series WHERE {condition} "
            "ORDER BY records.at, series.metric, series.labels",
            parameters,
        )
    except sqlite3.Error as error:
        connection.close()
        raise InputError("history", path, str(error)) from None
    return Rows(path, connection, cursor)


def count(path: Path, *, metric: str | None = None, since: dt.datetime | None = None) -> int:
    """How many records `rows` would give."""
    condition, parameters = where(metric, since)
    connection = store.connect(path, create=False)
    try:
        found: int = connection.execute(
            "SELECT count(*) FROM records JOIN series ON series.id = records.series "
            f"WHERE {condition}",
            parameters,
        ).fetchone()[0]
    except sqlite3.Error as error:
        raise InputError("history", path, str(error)) from None
    finally:
        connection.close()
    return found


class Rows(Iterator[StoredRow]):
    """Rows streamed from the history; the file is closed at their end, or by `close` (a `with`
    block), whichever comes first."""

    def __init__(self, path: Path, connection: sqlite3.Connection, cursor: sqlite3.Cursor):
        self._path, self._connection, self._cursor = path, connection, cursor
        self._closed = False

    def __next__(self) -> StoredRow:
        try:
            row: StoredRow = next(self._cursor)
        except StopIteration:
            self.close()
            raise
        except sqlite3.Error as error:
            self.close()
            raise InputError("history", self._path, str(error)) from None
        return row

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cursor.close()  # an open statement would keep the file open past close()
            self._connection.close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def records(
    path: Path, *, metric: str | None = None, since: dt.datetime | None = None
) -> Iterator[Record]:
    """The records, oldest first."""
    with rows(path, metric=metric, since=since) as found:
        yield from records_of(found)


def records_of(found: Iterable[StoredRow]) -> Iterator[Record]:
    """Stored rows as records (from a history file or a shared history)."""
    labels_of: dict[str, dict[str, str]] = {}
    for at, name, labels, value, status in found:
        if labels not in labels_of:
            labels_of[labels] = json.loads(labels)
        state = None if status is None else Status(status)
        yield Record(from_micros(at), name, labels_of[labels], value, state)


def evenly(count: int, most: int) -> list[int]:
    """Which of `count` ordered items to keep so that at most `most` remain, evenly spread; the
    first and the last always kept."""
    assert most >= 2
    if count <= most:
        return list(range(count))
    steps, span = most - 1, count - 1
    return [(j * span + steps // 2) // steps for j in range(most)]


def series(
    path: Path, *, most: int, metric: str | None = None, since: dt.datetime | None = None
) -> Iterator[Series]:
    """Every series (by metric, then labels), with at most `most` of its records, evenly spread.

    SQLite counts and orders the records; only the sample becomes Python objects, so memory
    stays flat whatever the size of the history."""
    condition, parameters = where(metric, since)
    connection = store.connect(path, create=False)
    try:
        connection.execute("BEGIN")  # one snapshot: a check recorded meanwhile is not half seen
        found = [
            (name, json.loads(labels), series_id, count)
            for series_id, name, labels, count in connection.execute(
                "SELECT series.id, series.metric, series.labels, count(*) FROM records "
                f"JOIN series ON series.id = records.series WHERE {condition} GROUP BY series.id",
                parameters,
            )
        ]
        found.sort(key=lambda item: (item[0], _label_key(item[1])))
        for name, labels, series_id, count in found:
            sample = _sample(connection, series_id, since, evenly(count, most))
            yield Series(name, labels, count, sample)
    except sqlite3.Error as error:
        raise InputError("history", path, str(error)) from None
    finally:
        connection.close()


def _label_key(labels: Mapping[str, str]) -> str:
    return label_text(dict(sorted(labels.items())))


def _sample(
    connection: sqlite3.Connection, series: int, since: dt.datetime | None, keep: list[int]
) -> tuple[tuple[dt.datetime, float], ...]:
    cursor = connection.execute(
        "SELECT at, value FROM records WHERE series = ? AND at >= ? ORDER BY at",
        (series, micros(since) if since is not None else -(2**63)),
    )
    kept: list[tuple[int, float]] = []
    start = 0  # the index of the chunk's first row
    wanted = iter(keep)
    index = next(wanted, None)
    while index is not None:
        chunk = cursor.fetchmany(4096)
        if not chunk:
            break
        end = start + len(chunk)
        while index is not None and index < end:
            kept.append(chunk[index - start])
            index = next(wanted, None)
        start = end
    cursor.close()
    return tuple((from_micros(at), value) for at, value in kept)
