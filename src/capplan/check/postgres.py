"""A PostgreSQL database (psycopg 3), read-only whatever the SQL says.

Every transaction is `BEGIN READ ONLY` (and the session's default is read-only, with a statement
timeout) and is rolled back; a user's query is sent through the extended protocol (prepared),
which carries exactly one statement. The connection string may be a URI or a libpq keyword
string; libpq's PG* environment variables fill in what it leaves out, as psql does.

A user's query (--db-probe, a business query) first passes the probe gate (check/gate/): one
plain query, a role that is not privileged, only harmless functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from capplan.check.database import (
    CONNECT_TIMEOUT_S,
    STATEMENT_TIMEOUT_MS,
    IndexUsage,
    Refused,
    Snapshot,
    Table,
    Timing,
    Unavailable,
    business_figures,
    ident,
    timed,
)
from capplan.check.targets import Database
from capplan.errors import InputError

if TYPE_CHECKING:
    import psycopg

# Tables that the planner estimates above this many rows are not counted row by row: their
# estimate (pg_class.reltuples, kept by ANALYZE) is used. Below it, and before any ANALYZE
# (reltuples -1), rows are counted exactly.
EXACT_COUNT_BELOW = 1_000_000
# An estimate is stale when the table changed this much since its last ANALYZE, or when that
# ANALYZE is older than this.
STALE_CHANGED = 0.2
STALE_AGE = dt.timedelta(days=7)
READ_ONLY_SQLSTATE = "25006"
# A table is read mostly by sequential scans when it has this many rows and this many times more
# sequential scans than index scans.
SEQUENTIAL_ROWS = 1000
SEQUENTIAL_RATIO = 10

TABLES = """
SELECT n.nspname, c.relname, c.reltuples, has_table_privilege(c.oid, 'SELECT'),
       s.n_mod_since_analyze, greatest(s.last_analyze, s.last_autoanalyze), now(),
       array(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
 ORDER BY n.nspname, c.relname
"""
INDEXES = """
SELECT n.nspname, c.relname,
       array(SELECT coalesce(a.attname::text, '')
               FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              ORDER BY k.n)
  FROM pg_index ix
  JOIN pg_class c ON c.oid = ix.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""
# pg_stat_statements keeps a mean per statement, not a distribution: the 95th percentile of
# the statements' mean times, weighted by their calls, is the nearest it gets to a p95. Only the
# statements run in the database checked count.
STATEMENTS_P95 = """
SELECT m FROM (
  SELECT mean_exec_time AS m,
         sum(calls) OVER (ORDER BY mean_exec_time) / sum(calls) OVER () AS share
    FROM pg_stat_statements
   WHERE calls > 0 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
) ranked WHERE share >= 0.95 ORDER BY m LIMIT 1
"""
# Indexes never scanned, except those that enforce a constraint (unique, primary key, exclusion).
UNUSED_INDEXES = """
SELECT s.indexrelname, s.schemaname, s.relname, pg_relation_size(s.indexrelid)
  FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
 WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
 ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
"""
# Tables read mostly by sequential scans, and big enough for that to matter.
SEQUENTIAL = f"""
SELECT schemaname, relname, seq_scan, coalesce(idx_scan, 0), n_live_tup
  FROM pg_stat_user_tables
 WHERE n_live_tup >= {SEQUENTIAL_ROWS} AND seq_scan > {SEQUENTIAL_RATIO} * coalesce(idx_scan, 0)
 ORDER BY seq_scan DESC
"""
STATS_RESET = "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
CONNECTIONS = """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int
"""


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
    ours = f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}"
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


def _stale(
    table: str, analyzed: dt.datetime | None, now: dt.datetime, changed: int, estimate: float
) -> str:
    """Why the planner's estimate of a table's rows cannot be trusted ("" when it can)."""
    if analyzed is None:
        why = "never analyzed"
    elif changed > STALE_CHANGED * estimate:
        why = f"{changed:,} rows changed since the last ANALYZE"
    elif now - analyzed > STALE_AGE:
        why = f"last ANALYZE {(now - analyzed).days} days ago"
    else:
        return ""
    return f"{why}: run ANALYZE {table}"


def _tables(connection: psycopg.Connection[Any]) -> list[Table]:
    from psycopg import sql

    indexes: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for schema, name, columns in connection.execute(INDEXES).fetchall():
        indexes.setdefault((schema, name), []).append(tuple(columns))
    tables = []
    for row in connection.execute(TABLES).fetchall():
        schema, name, estimate, readable, changed, analyzed, now, columns = row
        counted = estimate <= EXACT_COUNT_BELOW and readable
        how = stale = ""
        if counted:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
            found = connection.execute(query).fetchone()
            rows = int(found[0]) if found else 0
        else:
            rows = max(int(estimate), 0)
            why = "a huge table" if readable else "no SELECT privilege"
            how = f"estimated by the planner ({why})"
            qualified = f"{ident(schema)}.{ident(name)}"
            stale = _stale(qualified, analyzed, now, int(changed or 0), estimate)
        found_indexes = tuple(indexes.get((schema, name), []))
        tables.append(Table(schema, name, rows, tuple(columns), found_indexes, how, stale))
    return tables


def _statements_p95(connection: psycopg.Connection[Any]) -> Timing | None:
    """From pg_stat_statements, when it is installed and loaded."""
    import psycopg

    installed = connection.execute(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ).fetchone()
    if not installed:
        return None
    try:
        with connection.transaction():
            row = connection.execute(STATEMENTS_P95).fetchone()
            since = "the last reset"
            with connection.transaction():
                reset = connection.execute("SELECT stats_reset FROM pg_stat_statements_info")
                found = reset.fetchone()
                if found and found[0] is not None:
                    since = f"{found[0]:%Y-%m-%d %H:%M} UTC"
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


def _index_usage(connection: psycopg.Connection[Any]) -> IndexUsage:
    found = connection.execute(STATS_RESET).fetchone()
    since = "the server started" if not found or found[0] is None else f"{found[0]:%Y-%m-%d}"
    unused = tuple(
        {"name": name, "table": f"{schema}.{table}", "scans": 0, "size_bytes": int(size)}
        for name, schema, table, size in connection.execute(UNUSED_INDEXES).fetchall()
    )
    sequential = tuple(
        {
            "table": f"{schema}.{table}",
            "seq_scan": int(seq),
            "idx_scan": int(idx),
            "rows": int(rows),
        }
        for schema, table, seq, idx, rows in connection.execute(SEQUENTIAL).fetchall()
    )
    return IndexUsage(since, unused, sequential)


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


def snapshot(
    target: Database,
    *,
    probe: str | None,
    requests: int,
    schema: str | None,
    business: dict[str, str],
    allow_privileged_role: bool = False,
) -> Snapshot:
    import psycopg

    with connect(target) as connection:
        _admitted(connection, target, probe, business, allow_privileged_role)
        try:
            found = connection.execute(
                "SELECT pg_database_size(current_database()), current_schema()"
            ).fetchone()
            size, current = (int(found[0]), found[1]) if found else (0, None)
            chosen = schema or current or "public"
            schemas = [
                row[0]
                for row in connection.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                    "AND nspname <> 'information_schema' ORDER BY nspname"
                )
            ]
            if chosen not in schemas:
                raise InputError(
                    "schema", chosen, f"no such schema; this database has {', '.join(schemas)}"
                )
            tables = _tables(connection)
            used = connection.execute(CONNECTIONS).fetchone()
            usage = _index_usage(connection)
            connection.rollback()
        except psycopg.Error as error:
            raise Unavailable(f"cannot read: {target.scrub(_message(error))}") from None
        timing = _timing(connection, probe, requests)
        figures = business_figures(
            lambda sql: run_readonly(connection, sql), business, psycopg.Error, _message
        )
    connections = (int(used[0]), int(used[1])) if used else None
    return Snapshot(size, chosen, True, tuple(tables), connections, timing, usage, figures)
