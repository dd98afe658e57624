"""The database, read-only: size, rows per table, critical indexes, connections, query time.

SQLite (check/sqlite.py) and PostgreSQL (check/postgres.py) each give a Snapshot; this module
turns it into measurements and advice. capplan never writes to a user's database: every query it
runs, and every query the user gives (`--db-probe`), is one statement that cannot write, and a
query that tries is refused. A database that cannot be reached makes its own metrics UNKNOWN;
the rest of the check goes on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from capplan.check.deadline import RunDeadline
from capplan.check.http import percentile
from capplan.check.sql_names import free_name, ident
from capplan.check.targets import Database
from capplan.config import CriticalIndex, ThresholdsConfig
from capplan.errors import CapplanError, InputError
from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement

if TYPE_CHECKING:
    from capplan.check.gate import Origin

STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 5
ORDERING = re.compile(r"^((ASC|DESC)( NULLS (FIRST|LAST))?|NULLS (FIRST|LAST))?$", re.IGNORECASE)
# How long one table may take to read (a count, or its size on disk), and to wait for a lock on
# it, before it is reported UNKNOWN on its own and the check goes on with the next.
TABLE_BUDGET_S = 5.0
LOCK_TIMEOUT_S = 1.0


class Unavailable(Exception):
    """The database could not be reached or read; the message is safe to show."""


class Refused(Exception):
    """A query that could write, or that holds more than one statement; safe to show. `key` names
    the business figure whose query it was (None: --db-probe)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Unusable:
    """An index that cannot serve a critical index's lookup, and why (partial, invalid, ...)."""

    name: str
    columns: tuple[str, ...]  # its key columns
    why: str


@dataclass(frozen=True, slots=True)
class Table:
    schema: str  # "main" for SQLite
    name: str
    rows: int | None  # None: not known, `reason` says why
    columns: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...]  # the key columns of the indexes that serve lookups
    estimate: str = ""  # how the rows were found: estimated, or counted ("" SQLite's count)
    stale: str = ""  # why that estimate cannot be trusted ("" when it can)
    reason: str = ""  # why the rows are not known
    unusable: tuple[Unusable, ...] = ()  # indexes that exist but serve no lookup
    partitioned: bool = False  # a partitioned parent (PostgreSQL): no rows or index of its own


@dataclass(frozen=True, slots=True)
class Timing:
    """The query time: a p95 in milliseconds and where it comes from, or why there is none."""

    p95_ms: float | None
    detail: str = ""
    reason: str = ""  # the value is missing: a note, or (failed) an UNKNOWN metric
    failed: bool = False


@dataclass(frozen=True, slots=True)
class IndexUsage:
    """What the server's statistics say about index use since they were last reset."""

    since: str
    unused: tuple[dict[str, Any], ...]  # name, table, scans, size_bytes
    sequential: tuple[dict[str, Any], ...]  # table, seq_scan, idx_scan, rows


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a database says about itself, whatever its kind."""

    size_bytes: int
    schema: str  # where the critical indexes and products_total are looked for
    qualified: bool  # tables are named schema.table (PostgreSQL) or table (SQLite)
    tables: tuple[Table, ...]
    connections: tuple[int, int] | None  # used, max
    timing: Timing
    usage: IndexUsage | None = None  # None: the database keeps no such statistics
    business: dict[str, float | str] = field(default_factory=dict)  # a figure, or why not
    relations: frozenset[tuple[str, str]] = frozenset()  # (schema, name) of every relation
    notes: tuple[str, ...] = ()  # what the backend wants said about its figures

    def label(self, table: Table) -> str:
        return f"{table.schema}.{table.name}" if self.qualified else table.name

    def find(self, name: str) -> Table | None:
        """A table by its name in the checked schema, or by its schema-qualified name."""
        schema, dot, table = name.rpartition(".")
        wanted = (schema, table) if dot else (self.schema, name)
        return next((t for t in self.tables if (t.schema, t.name) == wanted), None)


@dataclass
class DatabaseReport:
    measurements: list[Measurement] = field(default_factory=list)
    missing_indexes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage: IndexUsage | None = None


def business_figures(
    run: Callable[[str], list[tuple[Any, ...]]],
    queries: Mapping[str, str],
    errors: type[Exception] | tuple[type[Exception], ...],
    message: Callable[[Exception], str],
) -> dict[str, float | str]:
    """Each business query's figure (the first column of its first row), or why there is none.
    The queries run under the same rules as --db-probe: one statement that may only read."""
    figures: dict[str, float | str] = {}
    for key, sql in queries.items():
        try:
            rows = run(sql)
        except Refused as refusal:
            raise Refused(str(refusal), key) from None
        except errors as error:
            figures[key] = f"query failed: {message(error)}"
            continue
        value = rows[0][0] if rows and rows[0] else None
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            figures[key] = float(value)
        else:
            figures[key] = f"the query gave {value!r}: expected a number in its first column"
    return figures


def shown_query(sql: str) -> str:
    """A query as an error message shows it: on one line, quoted when it is empty."""
    text = " ".join(sql.split())
    return text or "''"


def holds_a_statement(sql: str) -> bool:
    """Whether the text holds more than spaces, semicolons, -- line comments and /* block
    comments */ (one scan: a regular expression would backtrack for ever on `-- -- -- ...`)."""
    position = 0
    while position < len(sql):
        if sql[position].isspace() or sql[position] == ";":
            position += 1
        elif sql.startswith("--", position):
            end = sql.find("\n", position)
            position = len(sql) if end < 0 else end + 1
        elif sql.startswith("/*", position):
            end = sql.find("*/", position + 2)
            position = len(sql) if end < 0 else end + 2
        else:
            return True
    return False


def given_probe(probe: str, kind: str | None = None) -> str:
    """The probe, refused when it holds no statement to time (only spaces or comments), and for
    PostgreSQL (`kind` "postgres") when PostgreSQL's parser does not read it as one plain query
    (check/gate/): all before anything is measured."""
    if not holds_a_statement(probe):
        raise InputError(
            "db_probe",
            shown_query(probe),
            "refused: no query in it, only spaces or comments; give one query to time, such as "
            "SELECT count(*) FROM products",
        )
    if kind == "postgres":
        from capplan.check import gate

        try:
            gate.plain_query(probe)
        except Refused as refusal:
            raise InputError("db_probe", shown_query(probe), str(refusal)) from None
    return probe


def timed(run: Callable[[], object], times: int) -> float:
    """The 95th percentile of `times` runs, in milliseconds."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 95)


def _column(column: str) -> str | None:
    """A critical index's column as SQL (`created_at DESC`), or None when what follows the name
    is not an ordering."""
    name, _, order = column.strip().partition(" ")
    if not ORDERING.match(" ".join(order.split())):
        return None
    return " ".join([ident(name), *order.upper().split()])


def missing_indexes(
    wanted: Iterable[CriticalIndex], snapshot: Snapshot
) -> tuple[list[dict[str, Any]], list[str]]:
    """The critical indexes absent from tables that have all their columns, and notes on the
    ones that could not be suggested (no such table, no such column) or on indexes that exist
    but do not serve the lookup.

    An index is present when one of its table's usable indexes (valid, not partial, a B-tree)
    has key columns that start with its columns, in order, whatever the index is called (a
    primary key or unique constraint counts too); INCLUDE columns do not count. A suggestion is
    a statement that can be run as given on a live database: CONCURRENTLY where PostgreSQL
    allows it, IF NOT EXISTS, and a name that no relation of the schema holds.
    """
    missing = []
    notes: dict[str, None] = {}
    chosen: set[tuple[str, str]] = set()
    for spec in wanted:
        table = snapshot.find(spec.table)
        if table is None:
            where = (
                spec.table
                if "." in spec.table or not snapshot.qualified
                else (f"{snapshot.schema}.{spec.table}")
            )
            notes[f"table {where} does not exist: its critical indexes were not checked"] = None
            continue
        columns = spec.column_names
        absent = [c for c in columns if c not in table.columns]
        label = snapshot.label(table)
        if absent:
            notes[f"{spec.name} not suggested: {label} has no column {', '.join(absent)}"] = None
            continue
        if any(existing[: len(columns)] == tuple(columns) for existing in table.indexes):
            continue
        sql_columns = [_column(column) for column in spec.columns]
        if None in sql_columns:
            notes[
                f"{spec.name} not suggested: its columns {', '.join(spec.columns)} hold more "
                "than a column name and ASC, DESC, NULLS FIRST or NULLS LAST"
            ] = None
            continue
        for index in table.unusable:
            if index.columns[: len(columns)] == tuple(columns):
                notes[f"{index.name} on {label} does not count as {spec.name}: {index.why}"] = None
        taken = {name for schema, name in snapshot.relations | chosen if schema == table.schema}
        name = free_name(spec.name, taken)
        chosen.add((table.schema, name))
        if snapshot.qualified:
            on = f"{ident(table.schema)}.{ident(table.name)}"
            how = "INDEX" if table.partitioned else "INDEX CONCURRENTLY"
            if table.partitioned:
                notes[
                    f"{name}: PostgreSQL cannot build an index CONCURRENTLY on the partitioned "
                    f"table {label}; this statement blocks writes to it while it builds (or build "
                    "it on each partition CONCURRENTLY and ATTACH each to an index ON ONLY the "
                    "parent)"
                ] = None
        else:
            on, how = ident(table.name), "INDEX"
        missing.append(
            {
                "name": name,
                "table": label,
                "columns": columns,
                "create": f"CREATE {how} IF NOT EXISTS {ident(name)} ON {on} "
                f"({', '.join(str(c) for c in sql_columns)});",
            }
        )
    return missing, list(notes)


@dataclass(frozen=True, slots=True)
class Reading:
    """How `check --db` reads a database: the probe to time and how often, the schema, whether a
    privileged role is intended, whether rows are counted exactly (else read from the server's
    statistics), and the run's deadline, which bounds each table's read."""

    probe: str | None = None
    requests: int = 20
    schema: str | None = None
    allow_privileged_role: bool = False
    exact_counts: bool = False
    deadline: RunDeadline | None = None


def snapshot_of(target: Database, reading: Reading, business: dict[str, str]) -> Snapshot:
    if target.kind == "postgres":
        from capplan.check import postgres

        return postgres.snapshot(target, reading, business)
    from capplan.check import sqlite

    if reading.schema not in (None, "main"):
        raise InputError("schema", reading.schema, "a SQLite database has one schema, main")
    return sqlite.snapshot(target, reading, business)


def table_budget(deadline: RunDeadline | None) -> float:
    """Seconds one table may take: TABLE_BUDGET_S, cut to what is left of the run."""
    return TABLE_BUDGET_S if deadline is None else deadline.bound(TABLE_BUDGET_S)


def inspect(
    target: Database,
    thresholds: ThresholdsConfig,
    reading: Reading = Reading(),
    *,
    origins: Mapping[str, Origin] | None = None,
) -> DatabaseReport:
    """What the database says about itself, held as measurements, read as `reading` says.
    `origins`: where each business query was given (the file and key, or the --set), for the
    error that refuses one."""
    report = DatabaseReport()
    label = {"db": target.shown}
    business = {key: query.query for key, query in thresholds.business.items()}
    try:
        snapshot = snapshot_of(target, reading, business)
    except Unavailable as error:
        reason = target.scrub(str(error))
        for name in ("db_size_gb", *business):
            report.measurements.append(Measurement(name, None, label, reason=reason))
        return report
    except Refused as error:
        if error.key is not None:
            origin = (origins or {}).get(error.key)
            if origin is not None:
                raise origin.error(target.scrub(str(error))) from None
            raise CapplanError(
                f"thresholds business.{error.key}: {target.scrub(str(error))}"
            ) from None
        raise InputError(
            "db_probe", shown_query(reading.probe or ""), target.scrub(str(error))
        ) from None
    report.measurements.append(Measurement("db_size_gb", snapshot.size_bytes / BYTES_PER_GB, label))
    report.measurements += _table_measurements(snapshot, label, report.notes)
    if snapshot.connections is not None:
        used, most = snapshot.connections
        report.measurements.append(
            Measurement(
                "db_connections_percent", 100 * used / most, label, detail=f"{used} of {most}"
            )
        )
    timing = snapshot.timing
    if timing.p95_ms is not None or timing.failed:
        report.measurements.append(
            Measurement(
                "db_query_p95_ms", timing.p95_ms, label, detail=timing.detail, reason=timing.reason
            )
        )
    else:
        report.notes.append(f"db_query_p95_ms: {timing.reason}")
    report.missing_indexes, notes = missing_indexes(thresholds.critical_indexes, snapshot)
    report.notes += [*snapshot.notes, *notes]
    report.usage = snapshot.usage
    if snapshot.usage is None:
        if not snapshot.qualified:
            report.notes.append("index usage: SQLite keeps no statistics of index scans")
    else:
        report.measurements.append(
            Measurement(
                "unused_indexes",
                len(snapshot.usage.unused),
                label,
                detail=f"never scanned since {snapshot.usage.since}",
            )
        )
    for key, figure in snapshot.business.items():
        if isinstance(figure, str):
            report.measurements.append(Measurement(key, None, label, reason=target.scrub(figure)))
        else:
            report.measurements.append(Measurement(key, figure, label))
    return report


def _table_measurements(
    snapshot: Snapshot, label: dict[str, str], notes: list[str]
) -> Sequence[Measurement]:
    measurements = []
    for table in snapshot.tables:
        detail = "; ".join(part for part in (table.estimate, table.stale) if part)
        measurements.append(
            Measurement(
                "table_rows",
                table.rows,
                {**label, "table": snapshot.label(table)},
                detail=detail,
                reason=table.reason,
            )
        )
        if table.stale:
            notes.append(f"{snapshot.label(table)}: rows are a stale estimate: {table.stale}")
    products = snapshot.find("products")
    if products is not None:
        detail = "; ".join(part for part in (products.estimate, products.stale) if part)
        measurements.append(
            Measurement(
                "products_total", products.rows, label, detail=detail, reason=products.reason
            )
        )
    else:
        where = f" in schema {snapshot.schema}" if snapshot.qualified else ""
        notes.append(f"products_total: the database has no products table{where}")
    return measurements
