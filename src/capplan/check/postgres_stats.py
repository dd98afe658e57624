"""What PostgreSQL says of its tables and indexes, read without disturbing it.

Row counts come from the statistics (pg_class.reltuples, n_live_tup): reading them scans no
table, so that no check shows up in the seq_scan and idx_scan it reports. A table is counted
with count(*) only when asked (--exact-counts). Each table is read in a transaction of its own,
within its own budget and lock timeout: a table that cannot be read is UNKNOWN alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from capplan.check.database import (
    LOCK_TIMEOUT_S,
    IndexUsage,
    Table,
    Unusable,
    table_budget,
)
from capplan.check.deadline import RunDeadline
from capplan.check.sql_names import ident

if TYPE_CHECKING:
    import psycopg


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# Every query of capplan's own starts with this comment, so that pg_stat_statements' query time
# (db_query_p95_ms) leaves capplan's own statements out.
OWN = "/* capplan check */ "
# An estimate is stale when the table changed this much since its last ANALYZE, or when that
# ANALYZE is older than this.
STALE_CHANGED = 0.2
STALE_AGE = dt.timedelta(days=7)

# A table is read mostly by sequential scans when it has this many rows and this many times more
# sequential scans than index scans.
SEQUENTIAL_ROWS = 1000
SEQUENTIAL_RATIO = 10
COUNTED = "counted with count(*) (--exact-counts)"
ESTIMATES = (
    "table_rows and products_total are estimates from the server's statistics "
    "(pg_class.reltuples, or n_live_tup for a table never analyzed), read without scanning any "
    "table; --exact-counts counts them"
)

# What the statistics say of each table; nothing here takes a lock on a table or scans one.
# `filtered`: row-level security shows this role only some of the table's rows.
TABLES = (
    OWN
    + """
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', c.reltuples,
       has_table_privilege(c.oid, 'SELECT'), has_schema_privilege(n.oid, 'USAGE'),
       c.relrowsecurity AND NOT r.rolbypassrls AND NOT r.rolsuper
         AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')),
       s.n_live_tup, s.n_mod_since_analyze, greatest(s.last_analyze, s.last_autoanalyze),
       now(), (SELECT inhparent FROM pg_inherits WHERE inhrelid = c.oid LIMIT 1),
       array(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_roles r ON r.rolname = current_user
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
 ORDER BY n.nspname, c.relname
"""
)
# Every index with what decides whether it can serve a lookup: valid, partial, its access
# method, and which of its columns are keys (the first indnkeyatts) rather than INCLUDE ones.
INDEXES = (
    OWN
    + """
SELECT n.nspname, c.relname, ic.relname, i.indisvalid, pg_get_expr(i.indpred, i.indrelid),
       am.amname, i.indnkeyatts,
       array(SELECT coalesce(a.attname::text, '')
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              ORDER BY k.n)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
 ORDER BY ic.relname
"""
)
# The names taken in each schema: a suggested index must not collide with any of them.
RELATIONS = (
    OWN
    + """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""
)

# Indexes never scanned, except those that enforce a constraint (unique, primary key,
# exclusion). A partition's index that belongs to its parent's index cannot be dropped alone:
# the parent's index stands for them all, unused when none of its partitions' indexes was
# scanned.
UNUSED_INDEXES = (
    OWN
    + """
SELECT s.indexrelname, s.schemaname, s.relname, pg_relation_size(s.indexrelid), 0
  FROM pg_stat_user_indexes s
  JOIN pg_index i ON i.indexrelid = s.indexrelid
  JOIN pg_class ic ON ic.oid = s.indexrelid
 WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
   AND NOT ic.relispartition
UNION ALL
SELECT ic.relname, n.nspname, t.relname, sum(pg_relation_size(s.indexrelid)), count(*)
  FROM pg_class ic
  JOIN pg_index i ON i.indexrelid = ic.oid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
  CROSS JOIN LATERAL pg_partition_tree(ic.oid) tree
  JOIN pg_stat_user_indexes s ON s.indexrelid = tree.relid
 WHERE ic.relkind = 'I' AND NOT ic.relispartition AND tree.isleaf
   AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
 GROUP BY ic.relname, n.nspname, t.relname
HAVING sum(s.idx_scan) = 0
 ORDER BY 4 DESC, 1
"""
)
# Tables read mostly by sequential scans, and big enough for that to matter.
SEQUENTIAL = (
    OWN
    + f"""
SELECT schemaname, relname, seq_scan, coalesce(idx_scan, 0), n_live_tup
  FROM pg_stat_user_tables
 WHERE n_live_tup >= {SEQUENTIAL_ROWS} AND seq_scan > {SEQUENTIAL_RATIO} * coalesce(idx_scan, 0)
 ORDER BY seq_scan DESC
"""
)
STATS_RESET = OWN + "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"

BUDGET = (
    OWN + "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)


@dataclass(frozen=True, slots=True)
class Statistics:
    """What the server's statistics say of one table (TABLES, one row)."""

    schema: str
    name: str
    partitioned: bool
    reltuples: float  # -1: never analyzed (nor vacuumed)
    readable: bool  # SELECT privilege
    usage: bool  # USAGE on its schema
    filtered: bool  # row-level security shows this role only some of its rows
    live: int | None  # n_live_tup
    changed: int  # n_mod_since_analyze
    analyzed: dt.datetime | None
    now: dt.datetime
    oid: int = 0

    @property
    def qualified(self) -> str:
        return f"{ident(self.schema)}.{ident(self.name)}"


def utc(moment: dt.datetime) -> dt.datetime:
    """A server's timestamp in UTC, whatever the session's TimeZone."""
    return moment.astimezone(dt.timezone.utc)


def shown_utc(moment: dt.datetime) -> str:
    return f"{utc(moment):%Y-%m-%d %H:%M} UTC"


def _stale(statistics: Statistics, rows: float) -> str:
    """Why the planner's estimate of an analyzed table's rows cannot be trusted ("" when it can,
    or when the time of its last ANALYZE is not known)."""
    analyzed, now, changed = statistics.analyzed, statistics.now, statistics.changed
    if analyzed is None:
        return ""
    if changed > STALE_CHANGED * rows:
        why = f"{changed:,} rows changed since the last ANALYZE"
    elif now - analyzed > STALE_AGE:
        why = f"last ANALYZE {(now - analyzed).days} days ago"
    else:
        return ""
    return f"{why}: run ANALYZE {statistics.qualified}"


def estimated(statistics: Statistics, reset: dt.datetime | None) -> Table | None:
    """A table's rows as its statistics give them, or None when a look at the table itself is
    needed (never analyzed, and the statistics count no live rows: is it empty?)."""
    columns: tuple[str, ...] = ()
    table = statistics.qualified
    if statistics.reltuples >= 0:
        how = "estimated from the statistics (pg_class.reltuples)"
        if statistics.analyzed is None:
            since = f"the statistics were reset {shown_utc(reset)}" if reset else "not recorded"
            how += f"; the time of its last ANALYZE is not known: {since}"
        rows = round(statistics.reltuples)
        stale = _stale(statistics, rows)
        return Table(statistics.schema, statistics.name, rows, columns, (), how, stale)
    if not statistics.readable:
        why = "never analyzed, no privilege to count"
        return Table(statistics.schema, statistics.name, None, columns, (), reason=why)
    if statistics.live:
        how = "estimated from the statistics (n_live_tup; never analyzed)"
        stale = f"never analyzed: run ANALYZE {table}"
        return Table(statistics.schema, statistics.name, statistics.live, columns, (), how, stale)
    return None


def _within(
    connection: psycopg.Connection[Any], query: Any, budget: float
) -> tuple[Any, ...] | str:
    """One statement about one table within its budget and the lock timeout, in a transaction
    of its own (so that no lock is held past it): its row, or why there is none."""
    import psycopg
    from psycopg import errors

    if budget < 0.001:
        return "not read: the run's deadline had passed"
    lock = min(LOCK_TIMEOUT_S, budget)
    try:
        connection.execute(BUDGET, (f"{max(1, round(budget * 1000))}ms", f"{round(lock * 1000)}ms"))
        row = connection.execute(query).fetchone()
    except errors.LockNotAvailable:
        return f"locked by another session (not free within the lock timeout of {lock:g} s)"
    except errors.QueryCanceled:
        return f"took longer than {budget:g} s, the budget of one table, and was cancelled"
    except psycopg.OperationalError:
        raise  # the connection itself failed: the whole database is unavailable
    except psycopg.Error as error:  # no privilege, dropped meanwhile, ...: this table alone
        return first_line(error)
    finally:
        connection.rollback()
    return row if row is not None else "no answer"


def _read(
    connection: psycopg.Connection[Any],
    statistics: Statistics,
    reset: dt.datetime | None,
    *,
    exact: bool,
    budget: float,
) -> Table:
    """One table's rows: from the statistics, or counted when `exact` and this role may see all
    of them; UNKNOWN alone, with the reason, when it cannot be read."""
    from psycopg import sql

    where = sql.Identifier(statistics.schema, statistics.name)
    here = (statistics.schema, statistics.name, None, ())
    if exact and not statistics.usage:
        return Table(*here, (), reason=f"no USAGE on schema {statistics.schema}")
    if exact and statistics.readable and not statistics.filtered:
        found = _within(connection, sql.SQL(OWN + "SELECT count(*) FROM {}").format(where), budget)
        if isinstance(found, str):
            return Table(*here, (), reason=found)
        return Table(statistics.schema, statistics.name, int(found[0]), (), (), COUNTED)
    table = estimated(statistics, reset)
    if table is None:  # never analyzed, no live rows in the statistics: empty on disk?
        size_query = sql.SQL(OWN + "SELECT pg_relation_size({}::oid::regclass)").format(
            sql.Literal(statistics.oid)
        )
        found = _within(connection, size_query, budget)
        if isinstance(found, str):
            return Table(*here, (), reason=found)
        if int(found[0]) == 0:
            table = Table(statistics.schema, statistics.name, 0, (), (), "empty: no pages on disk")
        else:
            why = (
                f"never analyzed, and the statistics count no live rows in its {found[0]:,} "
                f"bytes: run ANALYZE {statistics.qualified}, or give --exact-counts"
            )
            table = Table(*here, (), reason=why)
    if exact and statistics.filtered and table.rows is not None:
        return replace(
            table,
            estimate=f"{table.estimate}; row-level security would let this role count only "
            "some of its rows",
        )
    if not statistics.usage and table.rows is not None:
        return replace(
            table,
            estimate=f"{table.estimate}; no USAGE on schema {statistics.schema}, which the "
            "statistics do not need",
        )
    if exact and not statistics.readable and table.rows is not None:
        return replace(table, estimate=f"{table.estimate}; no SELECT privilege to count")
    return table


def _partitioned(table: Table, parts: list[Table]) -> Table:
    """A partitioned parent: the sum of its leaf partitions' figures."""
    if not parts:
        return replace(table, rows=0, estimate="no partitions")
    unknown = [part for part in parts if part.rows is None]
    if unknown:
        first = unknown[0]
        why = f"partition {first.schema}.{first.name}: {first.reason}"
        return replace(table, rows=None, reason=why)
    rows = sum(part.rows or 0 for part in parts)
    how = "counted" if all(p.estimate == COUNTED for p in parts) else "estimated"
    stale_parts = [f"{p.schema}.{p.name}" for p in parts if p.stale]
    stale = f"the estimates of {', '.join(stale_parts)} are stale" if stale_parts else ""
    return replace(
        table,
        rows=rows,
        estimate=f"{how}: the sum of its {len(parts)} partitions' rows",
        stale=stale,
    )


def _indexes(
    connection: psycopg.Connection[Any],
) -> tuple[dict[tuple[str, str], list[tuple[str, ...]]], dict[tuple[str, str], list[Unusable]]]:
    """Per table, the key columns of the indexes that serve lookups, and those that do not."""
    usable: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    unusable: dict[tuple[str, str], list[Unusable]] = {}
    for row in connection.execute(INDEXES).fetchall():
        schema, table, name, valid, predicate, method, keys, columns = row
        key, included = tuple(columns[:keys]), tuple(columns[keys:])
        why = []
        if not valid:
            why.append("it is INVALID (a CREATE INDEX CONCURRENTLY that failed?): drop it")
        if predicate is not None:
            why.append(f"it is partial (WHERE {predicate})")
        if method != "btree":
            why.append(f"it is a {method} index, not a B-tree")
        if why:
            unusable.setdefault((schema, table), []).append(Unusable(name, key, "; ".join(why)))
            continue
        usable.setdefault((schema, table), []).append(key)
        if included:
            what = f"{', '.join(included)} only as INCLUDE columns, which are not searched"
            unusable.setdefault((schema, table), []).append(
                Unusable(name, key + included, f"it holds {what}")
            )
    return usable, unusable


def read_tables(
    connection: psycopg.Connection[Any],
    reset: dt.datetime | None,
    *,
    exact: bool,
    deadline: RunDeadline | None,
) -> list[Table]:
    """Every table of the database, each read on its own within its budget."""
    usable, unusable = _indexes(connection)
    rows = connection.execute(TABLES).fetchall()
    connection.rollback()
    parent_of: dict[int, int] = {}
    statistics: dict[int, tuple[Statistics, tuple[str, ...]]] = {}
    for row in rows:
        oid, schema, name, partitioned, reltuples, readable, usage, filtered = row[:8]
        live, changed, analyzed, now, parent, columns = row[8:]
        statistics[oid] = (
            Statistics(
                schema, name, partitioned, float(reltuples), readable, usage, filtered,
                None if live is None else int(live), int(changed or 0), analyzed, now, oid,
            ),
            tuple(columns),
        )  # fmt: skip
        if parent is not None:
            parent_of[oid] = parent
    read: dict[int, Table] = {}
    for oid, (stats, _) in statistics.items():
        if not stats.partitioned:
            read[oid] = _read(connection, stats, reset, exact=exact, budget=table_budget(deadline))

    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        children.setdefault(parent, []).append(child)

    def leaves(oid: int) -> list[Table]:
        found: list[Table] = []
        for child in children.get(oid, []):
            found += leaves(child) if statistics[child][0].partitioned else [read[child]]
        return found

    tables = []
    for oid, (stats, columns) in statistics.items():
        key = (stats.schema, stats.name)
        table = read.get(oid) or _partitioned(
            Table(stats.schema, stats.name, None, (), (), partitioned=True), leaves(oid)
        )
        tables.append(
            replace(
                table,
                columns=columns,
                indexes=tuple(usable.get(key, [])),
                unusable=tuple(unusable.get(key, [])),
                partitioned=stats.partitioned,
            )
        )
    return tables


def index_usage(connection: psycopg.Connection[Any], reset: dt.datetime | None) -> IndexUsage:
    since = "the statistics began (never reset)" if reset is None else shown_utc(reset)
    unused = tuple(
        {
            "name": name,
            "table": f"{schema}.{table}",
            "scans": 0,
            "size_bytes": int(size),
            **({"partitions": int(partitions)} if partitions else {}),
        }
        for name, schema, table, size, partitions in connection.execute(UNUSED_INDEXES)
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
