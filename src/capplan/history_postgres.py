"""A history shared by many hosts in one PostgreSQL database (`--history postgresql://...`).

The same records as a history file (one value of one metric and its labels at one moment, unique
by the three), in one table, `capplan_records`, keyed by (metric, labels, at): `check --record`
from many hosts at once loses nothing and duplicates nothing (INSERT ... ON CONFLICT DO
NOTHING), and a record keeps its host in its labels (`instance`, this machine's name unless the
check's labels give one). `capplan_schema` holds the layout's version.

The tables are created on first use (by a role that may create them, under an advisory lock so
that two first users do not race); after that a role needs only SELECT and INSERT on the two
tables to record, import and read (pruning deletes, so it needs DELETE). An import streams the
CSV through COPY into a temporary table, then inserts what is new, in one transaction: a bad line
anywhere imports nothing.

The connection goes through check.targets (the one gate for database targets): messages name the
database by its non-secret parts and never repeat a password.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capplan import history_csv
from capplan.errors import CapplanError, ConfigError, InputError, ServerError
from capplan.history import Pruned, Series, StoredRow, evenly, where
from capplan.history_csv import CLOCK_SKEW, UTC, canonical_labels, from_micros, micros
from capplan.history_store import Imported
from capplan.metrics import Metric, label_text

if TYPE_CHECKING:
    import psycopg

    from capplan.check.targets import Database

SCHEMA_VERSION = 1
LOCK_KEY = 0x63617070  # "capp": the advisory lock of the first use
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS capplan_schema (version integer NOT NULL)",
    """CREATE TABLE IF NOT EXISTS capplan_records (
        metric text COLLATE "C" NOT NULL,
        labels text COLLATE "C" NOT NULL,  -- canonical JSON, sorted keys, as in a history file
        at bigint NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
        value double precision NOT NULL,
        status text,  -- OK, WARNING, CRITICAL or UNKNOWN from a check, NULL when imported
        PRIMARY KEY (metric, labels, at)
    )""",
)
CONNECT_TIMEOUT_S = 10
HOST_LABEL = "instance"


@dataclass(frozen=True)
class PostgresHistory:
    """A history in a PostgreSQL database."""

    target: Database = field(repr=False)

    @property
    def label(self) -> str:
        return self.target.shown

    @property
    def writable(self) -> bool:
        return True

    def series(
        self, *, most: int, metric: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Series]:
        condition, parameters = where(metric, since, columns=("metric", "at"), placeholder="%s")
        with connect(self.target) as connection:
            found = connection.execute(
                f"SELECT metric, labels, count(*) FROM capplan_records WHERE {condition} "
                "GROUP BY metric, labels",
                parameters,
            ).fetchall()
            found.sort(
                key=lambda row: (row[0], label_text(dict(sorted(json.loads(row[1]).items()))))
            )
            for name, labels, count in found:  # in the order of a history file's series
                keep = evenly(int(count), most)
                rows = connection.execute(
                    "SELECT at, value FROM (SELECT at, value, "
                    "row_number() OVER (ORDER BY at) - 1 AS i FROM capplan_records "
                    f"WHERE metric = %s AND labels = %s AND {condition}) numbered "
                    "WHERE i = ANY(%s) ORDER BY at",
                    [name, labels, *parameters, keep],
                ).fetchall()
                sample = tuple((from_micros(at), float(value)) for at, value in rows)
                yield Series(name, json.loads(labels), int(count), sample)


def history(text: str) -> PostgresHistory:
    from capplan.check.targets import database

    target = database(text)
    if target.kind != "postgres":
        raise InputError("history", target.shown, "expected a postgresql:// URL")
    return PostgresHistory(target)


def _message(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def connect(target: Database) -> Iterator[psycopg.Connection[Any]]:
    """A connection with the history's tables in place (created on first use)."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise InputError(
            "history", target.shown, "needs psycopg; install capplan[postgres]"
        ) from None
    try:
        params: dict[str, Any] = conninfo_to_dict(target.conninfo)
    except Exception as error:  # psycopg.ProgrammingError, quoting the string
        raise InputError("history", target.shown, target.scrub(_message(error))) from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "capplan history")
    try:
        connection = psycopg.connect(**params)
    except psycopg.Error as error:
        raise ServerError(
            f"history {target.shown}: cannot connect: {target.scrub(_message(error))}"
        ) from None
    try:
        _ensure_schema(connection, target)
        yield connection
    except psycopg.Error as error:
        raise CapplanError(f"history {target.shown}: {target.scrub(_message(error))}") from None
    finally:
        connection.close()


def _ensure_schema(connection: psycopg.Connection[Any], target: Database) -> None:
    """Check the layout's version; create the tables when there are none yet."""
    import psycopg

    with connection.transaction():
        exists = connection.execute(
            "SELECT to_regclass('capplan_schema') IS NOT NULL "
            "AND to_regclass('capplan_records') IS NOT NULL"
        ).fetchone()
        if not (exists and exists[0]):
            connection.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            try:
                for statement in SCHEMA:
                    connection.execute(statement)
            except psycopg.errors.InsufficientPrivilege as error:
                raise CapplanError(
                    f"history {target.shown}: cannot create the history's tables "
                    f"({_message(error)}): run capplan once as a role that may create them, "
                    "then grant SELECT and INSERT on capplan_schema and capplan_records"
                ) from None
            found = connection.execute("SELECT version FROM capplan_schema").fetchall()
            if not found:
                connection.execute("INSERT INTO capplan_schema VALUES (%s)", [SCHEMA_VERSION])
        versions = [row[0] for row in connection.execute("SELECT version FROM capplan_schema")]
    if versions != [SCHEMA_VERSION]:
        newer = any(v > SCHEMA_VERSION for v in versions)
        raise InputError(
            "history",
            target.shown,
            "was written by a newer capplan: upgrade capplan"
            if newer
            else f"holds a capplan_schema of version {versions}, not {SCHEMA_VERSION}",
        )


# --- writing --------------------------------------------------------------------------------


def host_name() -> str:
    return socket.gethostname()


def record_metrics(
    source: PostgresHistory,
    metrics: Iterable[Metric],
    moment: dt.datetime,
    run_labels: Mapping[str, str],
) -> int:
    """Insert every measured metric of one check, in one transaction, each with its host (the
    `instance` label: this machine's name unless the run's labels give one) and the run's
    labels."""
    now = dt.datetime.now(UTC)
    if moment > now + CLOCK_SKEW:
        raise CapplanError(
            f"{source.label}: refusing to record at {moment.isoformat(timespec='seconds')}, "
            f"which is in the future (this machine's clock says "
            f"{now.isoformat(timespec='seconds')})"
        )
    host = host_name()
    at = micros(moment)
    rows = [
        (
            m.name,
            canonical_labels({HOST_LABEL: host, **run_labels, **m.labels}),
            at,
            float(m.value),
            m.status.value,
        )
        for m in metrics
        if m.value is not None
    ]
    with (
        connect(source.target) as connection,
        connection.transaction(),
        connection.cursor() as cursor,
    ):
        inserted = 0
        for row in rows:  # executemany's rowcount is of its last statement only
            cursor.execute(
                "INSERT INTO capplan_records (metric, labels, at, value, status) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                row,
            )
            inserted += max(cursor.rowcount, 0)
        return inserted


def import_csv(source: PostgresHistory, csv: Path, now: dt.datetime | None = None) -> Imported:
    """Stream the CSV through COPY, in one transaction: every line is checked, and a bad one
    anywhere imports nothing.

    COPY goes straight into the table (a savepoint around it); when a record is there already
    (or the file repeats one), the table refuses the COPY, which is then done again into a
    temporary table whose new records are inserted: the first of a moment, metric and labels
    counts, as in a history file."""
    import psycopg

    now = now or dt.datetime.now(UTC)
    columns = "metric, labels, at, value, status"
    try:
        with connect(source.target) as connection, connection.transaction():
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    seen = _copy(cursor, f"COPY capplan_records ({columns}) FROM STDIN", csv, now)
                return Imported(seen, 0)
            except psycopg.errors.UniqueViolation:
                pass
            connection.execute(
                "CREATE TEMPORARY TABLE capplan_import (n bigint, metric text, labels text, "
                "at bigint, value double precision, status text) ON COMMIT DROP"
            )
            with connection.cursor() as cursor:
                seen = _copy(cursor, f"COPY capplan_import (n, {columns}) FROM STDIN", csv, now)
                # a record that comes again with another value than the one kept (the
                # history's, else the file's first) is counted apart, as for a file
                cursor.execute(
                    "SELECT count(*) FROM capplan_import i "
                    "LEFT JOIN capplan_records r USING (metric, labels, at) "
                    "JOIN (SELECT DISTINCT ON (metric, labels, at) metric, labels, at, "
                    "value AS first FROM capplan_import ORDER BY metric, labels, at, n) f "
                    "USING (metric, labels, at) "
                    "WHERE i.value IS DISTINCT FROM coalesce(r.value, f.first)"
                )
                found = cursor.fetchone()
                conflicting = int(found[0]) if found else 0
                # ON CONFLICT DO NOTHING also skips a repeat within the file: the first, in
                # the file's order, is the one inserted
                cursor.execute(
                    f"INSERT INTO capplan_records ({columns}) SELECT {columns} "
                    "FROM capplan_import ORDER BY n ON CONFLICT DO NOTHING"
                )
                new = max(cursor.rowcount, 0)
            return Imported(new, seen - new - conflicting, conflicting)
    except ConfigError as error:
        raise ConfigError(
            error.source, f"{error.problem}; nothing was imported", line=error.line
        ) from None


COPY_BATCH = 4096  # rows sent at once
NULL = "\\N"


def _text(value: str) -> str:
    """A text field of COPY's text format (labels are JSON: backslashes, never a raw tab)."""
    escaped = value.replace("\\", "\\\\").replace("\t", "\\t")
    return escaped.replace("\n", "\\n").replace("\r", "\\r")


def _copy(cursor: psycopg.Cursor[Any], statement: str, csv: Path, now: dt.datetime) -> int:
    """COPY the CSV's rows (numbered first when the statement names `n`) in COPY's text
    format, a batch of lines at a time; how many."""
    numbered = "(n," in statement
    seen = 0
    lines: list[str] = []
    escaped: dict[str, str] = {}  # a history has few series: each text escaped once
    with cursor.copy(statement) as copy:
        for seen, (metric, labels, at, value, status) in enumerate(
            history_csv.read(csv, now=now), start=1
        ):
            key = f"{metric}\0{labels}"
            series = escaped.get(key)
            if series is None:
                if len(escaped) >= 65_536:
                    escaped.clear()
                series = escaped[key] = f"{_text(metric)}\t{_text(labels)}"
            state = NULL if status is None else status  # OK, WARNING...: nothing to escape
            fields = f"{series}\t{at}\t{value!r}\t{state}"
            lines.append(f"{seen}\t{fields}\n" if numbered else f"{fields}\n")
            if len(lines) >= COPY_BATCH:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    return seen


def prune(source: PostgresHistory, before: dt.datetime, now: dt.datetime | None = None) -> Pruned:
    now = now or dt.datetime.now(UTC)
    if before > now:
        raise InputError(
            "before", before.isoformat(timespec="seconds"), "is in the future: expected a past date"
        )
    with connect(source.target) as connection, connection.transaction():
        removed = connection.execute(
            "DELETE FROM capplan_records WHERE at < %s", [micros(before)]
        ).rowcount
        remaining = connection.execute("SELECT count(*) FROM capplan_records").fetchone()
    return Pruned(max(removed, 0), int(remaining[0]) if remaining else 0, before)


def count(
    source: PostgresHistory, *, metric: str | None = None, since: dt.datetime | None = None
) -> int:
    """How many records `rows` gives."""
    condition, parameters = where(metric, since, columns=("metric", "at"), placeholder="%s")
    with connect(source.target) as connection:
        found = connection.execute(
            f"SELECT count(*) FROM capplan_records WHERE {condition}", parameters
        ).fetchone()
    return int(found[0]) if found else 0


def rows(
    source: PostgresHistory, *, metric: str | None = None, since: dt.datetime | None = None
) -> Iterator[StoredRow]:
    """(at, metric, labels, value, status), oldest first, streamed by a server-side cursor."""
    condition, parameters = where(metric, since, columns=("metric", "at"), placeholder="%s")
    with (
        connect(source.target) as connection,
        connection.transaction(),
        connection.cursor(name="capplan_rows") as cursor,
    ):
        cursor.itersize = 10_000
        cursor.execute(
            "SELECT at, metric, labels, value, status FROM capplan_records "
            f"WHERE {condition} ORDER BY at, metric, labels",
            parameters,
        )
        for at, name, labels, value, status in cursor:
            yield int(at), str(name), str(labels), float(value), status
