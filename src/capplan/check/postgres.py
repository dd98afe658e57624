"""A PostgreSQL database (psycopg 3), read-only whatever the SQL says.

Every transaction is `BEGIN READ ONLY` (and the session's default is read-only, with a statement
timeout) and is rolled back; a user's query is sent through the extended protocol (prepared),
which carries exactly one statement. The connection string may be a URI or a libpq keyword
string; libpq's PG* environment variables fill in what it leaves out, as psql does.

A user's query (--db-probe, a business query) first passes the probe gate (check/gate/): one
plain query, a role that is not privileged, only harmless functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from capplan.check.database import (
    CONNECT_TIMEOUT_S,
    LOCK_TIMEOUT_S,
    STATEMENT_TIMEOUT_MS,
    IndexUsage,
    Reading,
    Refused,
    Snapshot,
    Timing,
    Unavailable,
    business_figures,
    timed,
)
from capplan.check.postgres_stats import (
    COUNTED,
    ESTIMATES,
    OWN,
    RELATIONS,
    STATS_RESET,
    index_usage,
    read_tables,
    shown_utc,
)
from capplan.check.targets import Database
from capplan.errors import InputError

if TYPE_CHECKING:
    import psycopg

READ_ONLY_SQLSTATE = "25006"
# pg_stat_statements keeps a mean per statement, not a distribution: the 95th percentile of
# the statements' mean times, weighted by their calls, is the nearest it gets to a p95. Only the
# statements run in the database checked count: none of capplan's own, and no transaction
# control (BEGIN, COMMIT, ...), which takes no time of its own.
STATEMENTS_P95 = (
    OWN
    + """
SELECT m FROM (
  SELECT mean_exec_time AS m,
         sum(calls) OVER (ORDER BY mean_exec_time) / sum(calls) OVER () AS share
    FROM pg_stat_statements
   WHERE calls > 0 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND query NOT LIKE '/* capplan check */%'
     AND query !~* '^\\s*(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE)\\M'
) ranked WHERE share >= 0.95 ORDER BY m LIMIT 1
"""
)
CONNECTIONS = (
    OWN
    + """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int
"""
)


def _message(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _options(target: Database) -> dict[str, Any]:
    """The target's connection parameters, with a read-only default and a statement timeout
    added to any `options` it already sets."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(target.conninfo)
    except Exception as error:  # psycopg.ProgrammingError, quoting the string
        raise InputError("db", target.shown, target.scrub(_message(error))) from None
    ours = (
        f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS} "
        f"-c lock_timeout={round(LOCK_TIMEOUT_S * 1000)}"
    )
    params["options"] = f"{params.get('options') or ''} {ours}".strip()
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    return params


@contextmanager
def connect(target: Database) -> Iterator[psycopg.Connection[Any]]:
    try:
        import psycopg
    except ImportError:
        raise InputError("db", target.shown, "needs psycopg; install capplan[postgres]") from None
    params = _options(target)
    try:
        connection = psycopg.connect(**params)
    except psycopg.Error as error:
        raise Unavailable(f"cannot connect: {target.scrub(_message(error))}") from None
    connection.read_only = True
    try:
        yield connection
    finally:
        connection.close()


def run_readonly(connection: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    """One statement, prepared (the extended protocol refuses a second one), in a read-only
    transaction that is rolled back whatever happens."""
    import psycopg

    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, prepare=True)
            return cursor.fetchall() if cursor.description else []
    except psycopg.Error as error:
        if error.sqlstate == READ_ONLY_SQLSTATE:
            raise Refused(f"refused: a query may only read ({_message(error)})") from None
        if "multiple commands" in str(error):
            raise Refused("refused: more than one statement; give exactly one query") from None
        raise
    finally:
        connection.rollback()


def _statements_p95(connection: psycopg.Connection[Any]) -> Timing | None:
    """From pg_stat_statements, when it is installed and loaded."""
    import psycopg

    installed = connection.execute(
        OWN + "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone()
    if not installed:
        return None
    try:
        with connection.transaction():
            row = connection.execute(STATEMENTS_P95).fetchone()
            since = "the last reset"
            with connection.transaction():
                reset = connection.execute(OWN + "SELECT stats_reset FROM pg_stat_statements_info")
                found = reset.fetchone()
                if found and found[0] is not None:
                    since = shown_utc(found[0])
    except psycopg.Error:
        return None
    if not row or row[0] is None:
        return None
    return Timing(
        float(row[0]),
        detail=f"pg_stat_statements for this database, weighted by calls, since {since}",
    )


def _timing(connection: psycopg.Connection[Any], probe: str | None, requests: int) -> Timing:
    import psycopg

    if probe is not None:
        try:
            p95 = timed(lambda: run_readonly(connection, probe), requests)
        except psycopg.Error as error:
            return Timing(None, reason=f"--db-probe failed: {_message(error)}", failed=True)
        return Timing(p95, detail=f"--db-probe run {requests} times")
    return _statements_p95(connection) or Timing(
        None, reason="not measured; install pg_stat_statements or give --db-probe SQL"
    )


def _admitted(
    connection: psycopg.Connection[Any],
    target: Database,
    probe: str | None,
    business: dict[str, str],
    allow_privileged_role: bool,
) -> None:
    """The probe gate (check/gate/) for the user's queries: each is one plain query, the role
    is not privileged, and every function they can call is harmless; Refused (with the business
    key) or InputError (the role) otherwise. Nothing of them has run yet."""
    import psycopg

    from capplan.check import gate

    if probe is None and not business:
        return
    queries: list[tuple[str | None, str]] = [(None, probe)] if probe is not None else []
    for key, sql in [*queries, *business.items()]:
        try:
            gate.plain_query(sql)  # what the query is comes first: it needs no server
        except Refused as refusal:
            raise Refused(str(refusal), key) from None
    try:
        gate.check_role(connection, target, allowed=allow_privileged_role)
        resolver = gate.Resolver(connection)
        if probe is not None:
            resolver.admit(probe)
        for key, sql in business.items():
            try:
                resolver.admit(sql)
            except Refused as refusal:
                raise Refused(str(refusal), key) from None
    except psycopg.Error as error:
        raise Unavailable(f"cannot read: {target.scrub(_message(error))}") from None


def snapshot(target: Database, reading: Reading, business: dict[str, str]) -> Snapshot:
    """What the database says about itself. The index usage is read before any table is
    counted, so that --exact-counts' own scans are not in it."""
    import psycopg

    notes: list[str] = []
    with connect(target) as connection:
        _admitted(connection, target, reading.probe, business, reading.allow_privileged_role)
        try:
            found = connection.execute(
                OWN + "SELECT pg_database_size(current_database()), current_schema()"
            ).fetchone()
            size, current = (int(found[0]), found[1]) if found else (0, None)
            chosen = reading.schema or current or "public"
            schemas = [
                row[0]
                for row in connection.execute(
                    OWN + "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                    "AND nspname <> 'information_schema' ORDER BY nspname"
                )
            ]
            if chosen not in schemas:
                raise InputError(
                    "schema", chosen, f"no such schema; this database has {', '.join(schemas)}"
                )
            used = connection.execute(CONNECTIONS).fetchone()
            reset_row = connection.execute(STATS_RESET).fetchone()
            reset = reset_row[0] if reset_row else None
            relations = frozenset(
                (str(space), str(name)) for space, name in connection.execute(RELATIONS)
            )
            connection.rollback()
            usage: IndexUsage | None = None
            try:
                usage = index_usage(connection, reset)
            except psycopg.errors.LockNotAvailable:
                notes.append("index usage: not read: an index is locked by another session")
            finally:
                connection.rollback()
            tables = read_tables(
                connection, reset, exact=reading.exact_counts, deadline=reading.deadline
            )
        except psycopg.Error as error:
            raise Unavailable(f"cannot read: {target.scrub(_message(error))}") from None
        counted = sum(table.estimate == COUNTED for table in tables)
        if reading.exact_counts:
            notes.append(
                f"--exact-counts: this run counted {counted} table(s) with count(*); those "
                "scans are capplan's, and from now on they are in the tables' seq_scan and "
                "idx_scan (this run's index usage was read before them)"
            )
        if any(table.estimate.startswith("estimated") for table in tables):
            notes.append(ESTIMATES)
        timing = _timing(connection, reading.probe, reading.requests)
        figures = business_figures(
            lambda sql: run_readonly(connection, sql), business, psycopg.Error, _message
        )
    connections = (int(used[0]), int(used[1])) if used else None
    return Snapshot(
        size,
        chosen,
        True,
        tuple(tables),
        connections,
        timing,
        usage,
        figures,
        relations=relations,
        notes=tuple(notes),
    )
