"""The history of checks: one SQLite file (WAL, busy timeout) that many cron jobs may write at once.

Each record is a timestamp in UTC, a metric name of `capplan check`, its labels, its value and,
when it came from a check, its status. `import_csv` takes series from other monitoring systems:
the whole file is validated before anything of it is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capplan.errors import CapplanError, InputError
from capplan.formulas import DAYS_PER_MONTH
from capplan.metrics import METRICS, Metric, Status

HISTORY_ENV = "CAPPLAN_HISTORY"
BUSY_TIMEOUT_MS = 60_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    timestamp TEXT NOT NULL,       -- ISO 8601, UTC, seconds: 2026-11-27T08:00:00+00:00
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,          -- canonical JSON object, sorted keys
    value REAL NOT NULL,
    status TEXT                    -- OK, WARNING, CRITICAL; NULL for imported values
);
CREATE INDEX IF NOT EXISTS records_by_metric ON records (metric, timestamp);
"""


@dataclass(frozen=True, slots=True)
class Record:
    """One value of one metric at one time; its fields are the JSON contract's keys."""

    timestamp: dt.datetime
    metric: str
    labels: Mapping[str, str]
    value: float
    status: Status | None = None


def default_path() -> Path:
    """--history, else $CAPPLAN_HISTORY, else $XDG_DATA_HOME or ~/.local/share, capplan/."""
    from_env = os.environ.get(HISTORY_ENV)
    if from_env:
        return Path(from_env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "capplan" / "history.db"


def resolve(option: Path | None) -> Path:
    return option if option is not None else default_path()


def canonical_labels(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def parse_timestamp(text: str) -> dt.datetime:
    """ISO 8601; a trailing Z is UTC, and a time without an offset is taken as UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


SINCE_UNITS = {"h": 1 / 24, "d": 1, "w": 7, "m": DAYS_PER_MONTH, "y": 365}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 date or time, or an age: 36h, 30d, 6w, 3m (30 days), 1y."""
    stripped = text.strip().lower()
    if stripped[:-1].isdigit() and stripped[-1:] in SINCE_UNITS:
        return now - dt.timedelta(days=int(stripped[:-1]) * SINCE_UNITS[stripped[-1]])
    try:
        return parse_timestamp(text)
    except ValueError:
        raise InputError(
            "since", text, "expected an ISO 8601 date (2026-11-01) or an age (30d, 6w, 3m)"
        ) from None


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    if not create and not path.is_file():
        raise InputError("history", path, "no history yet (record some with check --record)")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if create:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(SCHEMA)
    except (sqlite3.Error, OSError) as error:
        raise InputError("history", path, str(error)) from None
    return connection


def _insert(path: Path, rows: Sequence[tuple[str, str, str, float, str | None]]) -> int:
    connection = connect(path, create=True)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO records (timestamp, metric, labels, value, status) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise InputError("history", path, str(error)) from None
    finally:
        connection.close()
    return len(rows)


def record_metrics(path: Path, metrics: Iterable[Metric], moment: dt.datetime) -> int:
    """Append every measured metric of one check, in one transaction."""
    stamp = _stamp(moment)
    rows = [
        (stamp, m.name, canonical_labels(m.labels), float(m.value), m.status)
        for m in metrics
        if m.value is not None
    ]
    return _insert(path, rows)


def _parse_labels(text: str) -> dict[str, str]:
    """`{"path": "/"}` or `path=/;table=orders`."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("expected a JSON object")
        return {str(k): str(v) for k, v in loaded.items()}
    labels = {}
    for pair in text.split(";"):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value pairs separated by ';', got {pair!r}")
        labels[key.strip()] = value.strip()
    return labels


def read_csv(path: Path) -> list[Record]:
    """Every line of a CSV export, validated: the first bad line is an error naming it."""
    try:
        stream = path.open(encoding="utf-8", newline="")
    except OSError as error:
        raise CapplanError(f"{path}: {error.strerror or error}") from None
    records = []
    with stream:
        reader = csv.DictReader(stream)
        columns = reader.fieldnames or []
        missing = {"timestamp", "metric", "value"} - set(columns)
        unknown = set(columns) - {"timestamp", "metric", "value", "labels"}
        if missing or unknown:
            raise CapplanError(
                f"{path}:1: expected the columns timestamp,metric,value[,labels]; "
                + (f"missing {', '.join(sorted(missing))}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {', '.join(sorted(unknown))}" if unknown else "")
            )
        try:
            for row in reader:
                line = reader.line_num
                records.append(_parse_row(path, line, row))
        except csv.Error as error:
            raise CapplanError(f"{path}:{reader.line_num}: {error}") from None
    return records


def _parse_row(path: Path, line: int, row: Mapping[str, str | None]) -> Record:
    def bad(what: str) -> CapplanError:
        return CapplanError(f"{path}:{line}: {what}; nothing was imported")

    if None in row.values() or None in row:
        raise bad("expected 3 or 4 fields: timestamp,metric,value[,labels]")
    try:
        moment = parse_timestamp(row["timestamp"] or "")
    except ValueError:
        raise bad(f"timestamp {row['timestamp']!r}: expected ISO 8601") from None
    metric = (row["metric"] or "").strip()
    if metric not in METRICS:
        raise bad(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    try:
        value = float(row["value"] or "")
    except ValueError:
        raise bad(f"value {row['value']!r}: expected a number") from None
    if not math.isfinite(value):
        raise bad(f"value {row['value']!r}: expected a finite number")
    try:
        labels = _parse_labels(row.get("labels") or "")
    except ValueError as error:
        raise bad(f"labels {row.get('labels')!r}: {error}") from None
    return Record(moment, metric, labels, value)


def import_csv(history: Path, source: Path) -> int:
    records = read_csv(source)
    rows = [
        (_stamp(r.timestamp), r.metric, canonical_labels(r.labels), r.value, None) for r in records
    ]
    return _insert(history, rows)


def records(
    path: Path, *, metric: str | None = None, since: dt.datetime | None = None
) -> Iterator[Record]:
    if metric is not None and metric not in METRICS:
        raise InputError("metric", metric, f"expected one of {', '.join(METRICS)}")
    connection = connect(path, create=False)
    query = "SELECT timestamp, metric, labels, value, status FROM records WHERE 1 = 1"
    parameters: list[str] = []
    if metric is not None:
        query += " AND metric = ?"
        parameters.append(metric)
    if since is not None:
        query += " AND timestamp >= ?"
        parameters.append(_stamp(since))
    query += " ORDER BY timestamp, id"
    try:
        for stamp, name, labels, value, status in connection.execute(query, parameters):
            yield Record(
                dt.datetime.fromisoformat(stamp),
                name,
                json.loads(labels),
                value,
                None if status is None else Status(status),
            )
    except sqlite3.Error as error:
        raise InputError("history", path, str(error)) from None
    finally:
        connection.close()
