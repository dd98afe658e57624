"""The database, read-only: size, rows per table, critical indexes, connections, query time.

SQLite is opened through a `mode=ro` URI (a missing file is an error, never created);
PostgreSQL (psycopg 3) with every transaction read-only and a statement timeout. capplan never
writes to a user's database, and a password in the URL never appears in any output.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan.check.http import percentile
from capplan.config import CriticalIndex, ThresholdsConfig
from capplan.errors import InputError
from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement

STATEMENT_TIMEOUT_MS = 10_000
# Tables that the planner estimates above this many rows are not counted row by row: their
# estimate (pg_class.reltuples, kept by ANALYZE) is used. Below it, and before any ANALYZE
# (reltuples -1), rows are counted exactly.
EXACT_COUNT_BELOW = 1_000_000
CONNECT_TIMEOUT_S = 5


@dataclass
class DatabaseReport:
    measurements: list[Measurement] = field(default_factory=list)
    missing_indexes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a database says about itself, whatever its kind."""

    size_bytes: int
    rows: dict[str, int]  # table -> rows
    indexes: dict[str, list[list[str]]]  # table -> the column lists of its indexes
    connections: tuple[int, int] | None  # used, max
    query_p95_ms: float | None
    query_note: str


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _scrub(text: str, url: str) -> str:
    password = urllib.parse.urlsplit(url).password
    if password:
        text = text.replace(password, "***")
        text = text.replace(urllib.parse.quote(password, safe=""), "***")
    return text.replace(url, redact(url))


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> Path:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite://"))
    if url.startswith("sqlite://"):
        raise InputError("db", url, "expected sqlite:///path/to/file.db")
    return Path(url)


def _timed(run: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 95)


def _sqlite(path: Path, probe: str | None, requests: int) -> Snapshot:
    if not path.is_file():
        raise InputError("db", path, "no such SQLite file")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=CONNECT_TIMEOUT_S)
    except sqlite3.Error as error:
        raise InputError("db", path, f"cannot open: {error}") from None
    try:
        page_count = connection.execute("PRAGMA page_count").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        rows = {}
        indexes: dict[str, list[list[str]]] = {}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            rows[table] = connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            indexes[table] = [
                [info[2] for info in connection.execute(f"PRAGMA index_info({_q(index[1])})")]
                for index in connection.execute(f"PRAGMA index_list({quoted})")
            ]
            # an INTEGER PRIMARY KEY is the rowid itself, with no index of its own
            key = [c[1] for c in connection.execute(f"PRAGMA table_info({quoted})") if c[5]]
            if key:
                indexes[table].append(key)
        p95 = None
        note = "db_query_p95_ms: give --db-probe SQL to time a query (SQLite keeps no statistics)"
        if probe is not None:
            p95 = _timed(lambda: connection.execute(probe).fetchall(), requests)
            note = f"db_query_p95_ms: --db-probe run {requests} times"
    except sqlite3.Error as error:
        raise InputError("db", path, str(error)) from None
    finally:
        connection.close()
    return Snapshot(page_count * page_size, rows, indexes, None, p95, note)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


POSTGRES_INDEXES = """
SELECT t.relname,
       array(SELECT a.attname
               FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
              ORDER BY k.n)
  FROM pg_index ix
  JOIN pg_class t ON t.oid = ix.indrelid
  JOIN pg_namespace s ON s.oid = t.relnamespace
 WHERE s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname NOT LIKE 'pg_toast%'
"""
POSTGRES_TABLES = """
SELECT s.nspname, c.relname, c.reltuples
  FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND s.nspname NOT IN ('pg_catalog', 'information_schema') AND s.nspname NOT LIKE 'pg_toast%'
 ORDER BY c.relname
"""
# pg_stat_statements keeps a mean per statement, not a distribution: the 95th percentile of
# the statements' mean times, weighted by their calls, is the nearest it gets to a p95.
POSTGRES_STATEMENTS_P95 = """
SELECT m FROM (
  SELECT mean_exec_time AS m,
         sum(calls) OVER (ORDER BY mean_exec_time) / sum(calls) OVER () AS share
    FROM pg_stat_statements WHERE calls > 0
) ranked WHERE share >= 0.95 ORDER BY m LIMIT 1
"""


def _postgres(url: str, probe: str | None, requests: int) -> Snapshot:
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise InputError(
            "db", "postgresql://...", "needs psycopg; install capplan[postgres]"
        ) from None
    options = f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}"
    try:
        with psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, options=options
        ) as connection:
            size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
            rows: dict[str, int] = {}
            for schema, table, estimate in connection.execute(POSTGRES_TABLES).fetchall():
                if estimate > EXACT_COUNT_BELOW:  # counting a huge table outlasts the timeout
                    rows[table] = rows.get(table, 0) + int(estimate)
                    continue
                ident = sql.Identifier(schema, table)
                query = sql.SQL("SELECT count(*) FROM {}").format(ident)
                counted = connection.execute(query).fetchone()
                rows[table] = rows.get(table, 0) + (counted[0] if counted else 0)
            indexes: dict[str, list[list[str]]] = {}
            for table, columns in connection.execute(POSTGRES_INDEXES).fetchall():
                indexes.setdefault(table, []).append(list(columns))
            used = connection.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
            most = connection.execute("SHOW max_connections").fetchone()
            p95, note = _postgres_p95(connection, probe, requests)
    except psycopg.Error as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError("db", redact(url), _scrub(message, url)) from None
    connections = (int(used[0]), int(most[0])) if used and most else None
    return Snapshot(int(size[0]) if size else 0, rows, indexes, connections, p95, note)


def _postgres_p95(connection: Any, probe: str | None, requests: int) -> tuple[float | None, str]:
    installed = connection.execute(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone()
    if installed:
        row = connection.execute(POSTGRES_STATEMENTS_P95).fetchone()
        if row and row[0] is not None:
            return float(row[0]), "db_query_p95_ms: from pg_stat_statements (weighted by calls)"
    if probe is not None:
        p95 = _timed(lambda: connection.execute(probe).fetchall(), requests)
        return p95, f"db_query_p95_ms: --db-probe run {requests} times"
    return None, (
        "db_query_p95_ms: not measured; install pg_stat_statements or give --db-probe SQL"
    )


def missing_indexes(
    wanted: Iterable[CriticalIndex], indexes: dict[str, list[list[str]]], tables: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The critical indexes absent from tables that exist, and notes on tables that do not.

    An index is present when one of its table's indexes starts with its columns, in order,
    whatever the index is called (a primary key or unique constraint counts too).
    """
    missing = []
    absent_tables: dict[str, None] = {}
    for spec in wanted:
        if spec.table not in tables:
            absent_tables[spec.table] = None
            continue
        columns = spec.column_names
        if any(existing[: len(columns)] == columns for existing in indexes.get(spec.table, [])):
            continue
        missing.append(
            {"name": spec.name, "table": spec.table, "columns": columns, "create": spec.create}
        )
    notes = [
        f"table {table} does not exist: its critical indexes were not checked"
        for table in absent_tables
    ]
    return missing, notes


def inspect(
    url: str, thresholds: ThresholdsConfig, *, probe: str | None = None, requests: int = 20
) -> DatabaseReport:
    if is_postgres(url):
        snapshot = _postgres(url, probe, requests)
    else:
        snapshot = _sqlite(sqlite_path(url), probe, requests)
    report = DatabaseReport()
    label = {"db": redact(url)}
    report.measurements.append(Measurement("db_size_gb", snapshot.size_bytes / BYTES_PER_GB, label))
    for table, count in snapshot.rows.items():
        report.measurements.append(Measurement("table_rows", count, {"table": table}))
    if "products" in snapshot.rows:
        report.measurements.append(Measurement("products_total", snapshot.rows["products"]))
    else:
        report.notes.append("products_total: the database has no products table")
    if snapshot.connections is not None:
        used, most = snapshot.connections
        report.measurements.append(
            Measurement(
                "db_connections_percent", 100 * used / most, label, detail=f"{used} of {most}"
            )
        )
    if snapshot.query_p95_ms is not None:
        report.measurements.append(
            Measurement(
                "db_query_p95_ms",
                snapshot.query_p95_ms,
                label,
                detail=snapshot.query_note.partition(": ")[2],
            )
        )
    else:
        report.notes.append(snapshot.query_note)
    missing, notes = missing_indexes(
        thresholds.critical_indexes, snapshot.indexes, list(snapshot.rows)
    )
    report.missing_indexes = missing
    report.notes += notes
    return report
