"""The history file: its layout, bringing an older layout up to date, and the transactions
that write it.

The file holds two tables: `series` (id, metric, labels as canonical JSON) and `records` (series,
microseconds since 1970 UTC, value, status), keyed by (series, moment), so that a record is unique
by (moment, metric, labels) and SQLite hands the records of a series over in time order without
sorting. `PRAGMA user_version` says which layout a file has; a file of an older layout is brought
up to date in place, in one transaction, when it is first opened. WAL mode and a busy timeout let
many cron jobs write at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from capplan.errors import InputError
from capplan.history_csv import Row

BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # the WAL file is cut back to this after a big import
SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,  -- canonical JSON object, sorted keys: {"path":"/"}
        UNIQUE (metric, labels)
    )""",
    """CREATE TABLE records (
        series INTEGER NOT NULL REFERENCES series (id),
        at INTEGER NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
        value REAL NOT NULL,
        status TEXT,  -- OK, WARNING, CRITICAL or UNKNOWN from a check, NULL when imported
        PRIMARY KEY (series, at)
    ) WITHOUT ROWID""",
)
# Layout 0 (capplan before the unique records): one `records` table with an ISO 8601 text
# timestamp and no uniqueness. Its duplicates are dropped, the first recorded kept.
MIGRATE_FROM_0 = (
    "ALTER TABLE records RENAME TO records_0",
    "DROP INDEX IF EXISTS records_by_metric",
    *SCHEMA,
    """INSERT OR IGNORE INTO series (metric, labels)
        SELECT metric, labels FROM records_0 GROUP BY metric, labels ORDER BY min(id)""",
    """INSERT OR IGNORE INTO records (series, at, value, status)
        SELECT series.id, CAST(strftime('%s', records_0.timestamp) AS INTEGER) * 1000000,
               records_0.value, records_0.status
        FROM records_0 JOIN series USING (metric, labels)
        ORDER BY records_0.id""",
    "DROP TABLE records_0",
)


@dataclass(frozen=True, slots=True)
class Imported:
    new: int
    already_there: int  # the same moment, metric, labels and value: in the history or the file
    conflicting: int = 0  # the same moment, metric and labels with another value: the first kept
    fresh: bool = False  # a new history: what was already there came from the file itself


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """The history at `path`, in the current layout; created when `create`, else it must exist."""
    if path.is_dir():
        raise InputError("history", path, "is a directory: name the history file in it")
    if not create and not path.is_file():
        raise InputError("history", path, "no history yet (record some with check --record)")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (sqlite3.Error, OSError) as error:
        raise InputError("history", path, str(error)) from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        if _version(connection) != SCHEMA_VERSION:
            _upgrade(connection, path, create)
    except sqlite3.Error as error:
        connection.close()
        raise InputError("history", path, str(error)) from None
    except BaseException:
        connection.close()
        raise
    return connection


def _version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def _upgrade(connection: sqlite3.Connection, path: Path, create: bool) -> None:
    """Create the tables in a new file, or bring an older layout up to date, under the write
    lock (another process may be doing the same)."""
    if _version(connection) > SCHEMA_VERSION:
        raise InputError("history", path, "was written by a newer capplan: upgrade capplan")
    if create:
        connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = _version(connection)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        statements: tuple[str, ...] = ()
        if version == SCHEMA_VERSION:
            pass
        elif version == 0 and "records" in tables:
            statements = MIGRATE_FROM_0
        elif version == 0 and not tables and create:
            statements = SCHEMA
        elif version == 0 and not tables:
            raise InputError("history", path, "holds no history (record some with check --record)")
        else:
            raise InputError("history", path, "is not a capplan history")
        for statement in statements:  # not executescript: it would commit first
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def write(path: Path, work: Callable[[sqlite3.Connection], T], *, create: bool = True) -> T:
    """Run `work` in one write transaction: all of it is written, or nothing."""
    connection = connect(path, create=create)
    try:
        connection.execute("BEGIN IMMEDIATE")
        result = work(connection)
        connection.execute("COMMIT")
        return result
    except sqlite3.Error as error:
        raise InputError("history", path, str(error)) from None
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def insert(connection: sqlite3.Connection, rows: Iterable[Row], *, fresh: bool = False) -> Imported:
    """Insert every row that is not there yet, creating its series when it is new. A row whose
    moment, metric and labels are there with another value keeps the first value and is counted
    as conflicting (SQLite calls `conflict` for each, and updates nothing)."""
    ids: dict[tuple[str, str], int] = {}
    seen = conflicting = 0

    def conflict() -> int:
        nonlocal conflicting
        conflicting += 1
        return 0

    def keyed() -> Iterator[tuple[int, int, float, str | None]]:
        nonlocal seen
        for metric, labels, at, value, status in rows:
            series = ids.get((metric, labels))
            if series is None:
                if len(ids) >= 4096:
                    ids.clear()
                series = ids[(metric, labels)] = _series_id(connection, metric, labels)
            seen += 1
            yield series, at, value, status

    connection.create_function("capplan_conflict", 0, conflict)
    cursor = connection.executemany(
        "INSERT INTO records (series, at, value, status) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (series, at) DO UPDATE SET value = records.value "
        "WHERE records.value IS NOT excluded.value AND capplan_conflict()",
        keyed(),
    )
    new = max(cursor.rowcount, 0)
    return Imported(new, seen - new - conflicting, conflicting, fresh)


def _series_id(connection: sqlite3.Connection, metric: str, labels: str) -> int:
    connection.execute(
        "INSERT OR IGNORE INTO series (metric, labels) VALUES (?, ?)", (metric, labels)
    )
    found = connection.execute(
        "SELECT id FROM series WHERE metric = ? AND labels = ?", (metric, labels)
    ).fetchone()
    return int(found[0])


def build(path: Path, rows: Iterable[Row]) -> Imported:
    """Write a new history file at `path` (an empty file) in one go, without a journal: a
    failure leaves a file to delete, never a history to repair. It is in WAL mode when done."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        for statement in SCHEMA:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        result = insert(connection, rows, fresh=True)
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode = WAL")
        return result
    finally:
        connection.close()
