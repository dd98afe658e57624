"""What `check --db` measures on a real PostgreSQL without disturbing it: row counts from the
statistics (counted only with --exact-counts), each table read on its own (a locked table, a
schema without USAGE), row-level security, never analyzed versus statistics reset, timestamps in
UTC; and a SQLite --db that is not a database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .check_servers import admin_url, postgres_server
from .conftest import Run

FAST = ("check", "--interval", "0", "--format", "json")
WATCHER, WATCHER_PASSWORD = "watcher", "W4tcher-not-shown"
# Host thresholds no loaded machine reaches: the exit code is the database's alone.
CALM = [
    f"--set=scaling_triggers.{name}.{level}={value}"
    for name in ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
    for level, value in (("critical", 2000), ("warning", 1000))
]

# A monitoring role with explicit grants (not pg_read_all_data, which implies USAGE on every
# schema): it may read public's tables but `hidden`, and has lost USAGE on schema vault.
SHOP = [
    "CREATE TABLE products (id serial PRIMARY KEY, vendor_id int, gtin text)",
    "INSERT INTO products (vendor_id, gtin) SELECT n % 3, 'g' || n FROM generate_series(1, 25) n",
    "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int)",
    "INSERT INTO orders (customer_id) SELECT n FROM generate_series(1, 3) n",
    "CREATE TABLE locked (id int)",
    "INSERT INTO locked SELECT generate_series(1, 5)",
    "CREATE TABLE private (id int, owner name DEFAULT current_user)",
    "INSERT INTO private (id) SELECT generate_series(1, 40)",
    "ALTER TABLE private ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY own_rows ON private USING (owner = current_user)",
    "CREATE TABLE events (id int, kind text) PARTITION BY RANGE (id)",
    "CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (100)",
    "CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (100) TO (200)",
    "INSERT INTO events SELECT n, 'k' FROM generate_series(70, 119) n",  # 30 + 20
    "CREATE SCHEMA vault",
    "CREATE TABLE vault.secrets (id int)",
    "INSERT INTO vault.secrets SELECT generate_series(1, 8)",
    "SELECT pg_stat_force_next_flush()",  # the inserts are counted before ANALYZE
    "ANALYZE",
    # never analyzed: one with rows nobody may read, one with rows, one empty
    "CREATE TABLE hidden (id int)",
    "INSERT INTO hidden SELECT generate_series(1, 10)",
    "CREATE TABLE fresh (id int)",
    "INSERT INTO fresh SELECT generate_series(1, 12)",
    "CREATE TABLE empty (id int)",
    f"CREATE ROLE {WATCHER} LOGIN PASSWORD '{WATCHER_PASSWORD}'",
    f"GRANT pg_monitor TO {WATCHER}",
    f"GRANT SELECT ON products, orders, locked, private, events, events_a, events_b, fresh, "
    f"empty TO {WATCHER}",
    f"GRANT USAGE ON SCHEMA vault TO {WATCHER}",
    f"GRANT SELECT ON vault.secrets TO {WATCHER}",
    f"REVOKE USAGE ON SCHEMA vault FROM {WATCHER}",
]


def watcher_url(port: int, database: str) -> str:
    return f"postgresql://{WATCHER}:{WATCHER_PASSWORD}@127.0.0.1:{port}/{database}"


def create(port: int, database: str, statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(admin_url(port), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {database}")
    with psycopg.connect(admin_url(port, database), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def wait_for_live_rows(port: int, database: str, table: str, rows: int) -> None:
    """Until the statistics count the rows inserted (a backend reports them as it exits)."""
    import psycopg

    for _ in range(200):
        with psycopg.connect(admin_url(port, database), autocommit=True) as connection:
            found = connection.execute(
                "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = %s", (table,)
            ).fetchone()
        if found and found[0] == rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"the statistics never counted {rows} rows in {table}")


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with postgres_server() as port:
        create(port, "shop", SHOP)
        wait_for_live_rows(port, "shop", "fresh", 12)
        yield port


def report_of(run: Run, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run(*FAST, *args)
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def tables_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["labels"]["table"]: m for m in report["metrics"] if m["name"] == "table_rows"}


def the(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in report["metrics"] if m["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


# --- the figures and what they are ---------------------------------------------------------


@pytest.mark.postgres
def test_rows_come_from_the_statistics_and_are_said_to_be_estimates(run: Run, server: int) -> None:
    _, report = report_of(run, "--db", watcher_url(server, "shop"))
    tables = tables_of(report)
    values = {name: metric["value"] for name, metric in tables.items()}
    assert values == {
        "public.products": 25,
        "public.orders": 3,
        "public.locked": 5,
        "public.private": 40,  # all its rows: the statistics know no row-level security
        "public.events": 50,
        "public.events_a": 30,
        "public.events_b": 20,
        "vault.secrets": 8,
        "public.hidden": None,
        "public.fresh": 12,
        "public.empty": 0,
    }
    assert tables["public.products"]["detail"].startswith(
        "estimated from the statistics (pg_class.reltuples)"
    )
    assert tables["public.events"]["detail"].startswith(
        "estimated: the sum of its 2 partitions' rows"
    )
    assert tables["public.fresh"]["detail"].startswith(
        "estimated from the statistics (n_live_tup; never analyzed); never analyzed: run "
        "ANALYZE public.fresh"
    )
    assert tables["public.empty"]["detail"].startswith("empty: no pages on disk")
    assert "no USAGE on schema vault" in tables["vault.secrets"]["detail"]
    assert any(note.startswith("table_rows and products_total are estimates") for note in
               report["notes"])  # fmt: skip
    assert the(report, "products_total")["value"] == 25
    nagios = run("check", "--interval", "0", "--db", watcher_url(server, "shop"), "--format",
                 "nagios").stdout  # fmt: skip
    assert "note: table_rows and products_total are estimates from the server's statistics" in (
        nagios
    )
    prometheus = run("check", "--interval", "0", "--db", watcher_url(server, "shop"), "--format",
                     "prometheus").stdout  # fmt: skip
    assert (
        "# HELP capplan_table_rows Rows per table (PostgreSQL: the statistics' estimate, unless "
        "--exact-counts)\n"
    ) in prometheus


@pytest.mark.postgres
def test_never_analyzed_and_unreadable_is_unknown_not_zero(run: Run, server: int) -> None:
    _, report = report_of(run, "--db", watcher_url(server, "shop"))
    hidden = tables_of(report)["public.hidden"]
    assert (hidden["value"], hidden["status"], hidden["action"]) == (
        None,
        "UNKNOWN",
        "never analyzed, no privilege to count",
    )


@pytest.mark.postgres
def test_exact_counts_count_and_say_the_scans_are_capplans(run: Run, server: int) -> None:
    _, report = report_of(run, "--db", watcher_url(server, "shop"), "--exact-counts")
    tables = tables_of(report)
    assert tables["public.fresh"]["value"] == 12
    assert tables["public.fresh"]["detail"].startswith("counted with count(*) (--exact-counts)")
    assert tables["public.events"]["detail"].startswith(
        "counted: the sum of its 2 partitions' rows"
    )
    assert any(
        note.startswith("--exact-counts: this run counted 7 table(s) with count(*); those scans "
                        "are capplan's")
        for note in report["notes"]
    ), report["notes"]  # fmt: skip
    # the role sees none of private's rows: never a count of 0 given as exact
    private = tables["public.private"]
    assert private["value"] == 40
    assert (
        "row-level security would let this role count only some of its rows" in (private["detail"])
    )
    assert tables["public.hidden"]["status"] == "UNKNOWN"


@pytest.mark.postgres
def test_a_locked_table_and_a_schema_without_usage_are_unknown_alone(run: Run, server: int) -> None:
    """A second session holds two tables under ACCESS EXCLUSIVE locks; the role has lost USAGE
    on schema vault. Each such table is UNKNOWN with its reason, every other figure is given."""
    import psycopg

    url = watcher_url(server, "shop")
    with psycopg.connect(admin_url(server, "shop")) as holder:
        holder.execute("LOCK TABLE locked, empty IN ACCESS EXCLUSIVE MODE")
        code, report = report_of(run, "--db", url, "--exact-counts", *CALM)
        _, estimated = report_of(run, "--db", url, *CALM)
        holder.rollback()
    tables = tables_of(report)
    for name in ("public.locked", "public.empty"):
        assert tables[name]["status"] == "UNKNOWN"
        assert tables[name]["action"].startswith("locked by another session"), tables[name]
    secrets = tables["vault.secrets"]
    assert (secrets["status"], secrets["action"]) == ("UNKNOWN", "no USAGE on schema vault")
    assert {name: m["value"] for name, m in tables.items() if m["value"] is not None} == {
        "public.products": 25,
        "public.orders": 3,
        "public.private": 40,
        "public.events": 50,
        "public.events_a": 30,
        "public.events_b": 20,
        "public.fresh": 12,
    }
    for name in ("db_size_gb", "db_connections_percent", "products_total", "unused_indexes"):
        assert the(report, name)["value"] is not None, name
    assert code == 1  # the missing critical indexes: a WARNING outranks the UNKNOWN tables
    # from the statistics, the locked table that was analyzed needs no read; the empty one does
    tables = tables_of(estimated)
    assert tables["public.locked"]["value"] == 5
    assert tables["public.empty"]["action"].startswith("locked by another session")
    assert tables["vault.secrets"]["value"] == 8


@pytest.mark.postgres
def test_statistics_reset_is_not_never_analyzed_and_times_are_utc(
    run: Run, server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    create(
        server,
        "reset",
        [
            "CREATE TABLE analyzed (id int)",
            "INSERT INTO analyzed SELECT generate_series(1, 9)",
            "CREATE INDEX analyzed_id ON analyzed (id)",
            "ANALYZE analyzed",
            "CREATE TABLE untouched (id int)",
            "INSERT INTO untouched SELECT generate_series(1, 4)",
            "SELECT pg_stat_reset()",
        ],
    )
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    with psycopg.connect(admin_url(server, "reset"), autocommit=True) as connection:
        zone = connection.execute("SHOW TimeZone").fetchone()
        at = connection.execute(
            "SELECT to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
            " to_char(stats_reset, 'YYYY-MM-DD HH24:MI')"
            " FROM pg_stat_database WHERE datname = 'reset'"
        ).fetchone()
    assert zone == ("Asia/Tokyo",) and at is not None and at[0] != at[1]  # the session is not UTC
    _, report = report_of(run, "--db", admin_url(server, "reset"))
    analyzed = tables_of(report)["public.analyzed"]
    assert analyzed["value"] == 9
    assert analyzed["detail"].startswith(
        "estimated from the statistics (pg_class.reltuples); the time of its last ANALYZE is not "
        f"known: the statistics were reset {at[0]} UTC"
    )
    assert "never analyzed" not in analyzed["detail"]
    assert not any(note.startswith("public.analyzed: ") for note in report["notes"])
    untouched = tables_of(report)["public.untouched"]
    assert "never analyzed" in untouched["detail"] or "never analyzed" in untouched["action"]
    assert the(report, "unused_indexes")["detail"] == f"never scanned since {at[0]} UTC"


# --- no observer effect ----------------------------------------------------------------------

IDLE = [
    "CREATE EXTENSION pg_stat_statements",
    "CREATE TABLE items (id int PRIMARY KEY, sku text, colour text)",
    "INSERT INTO items SELECT n, 'sku' || n, 'c' || n % 9 FROM generate_series(1, 5000) n",
    "CREATE INDEX items_colour ON items (colour)",
    "CREATE TABLE carts (id int PRIMARY KEY, item_id int)",
    "INSERT INTO carts SELECT n, n FROM generate_series(1, 2000) n",
    "CREATE TABLE notes (body text)",  # never analyzed, with rows
    "INSERT INTO notes SELECT 'x' FROM generate_series(1, 30)",
    "CREATE TABLE nothing (id int)",  # never analyzed, empty: its size is read, not its rows
    "CREATE TABLE parts (id int) PARTITION BY RANGE (id)",
    "CREATE TABLE parts_1 PARTITION OF parts FOR VALUES FROM (0) TO (1000)",
    "INSERT INTO parts SELECT generate_series(0, 999)",
    "SELECT pg_stat_force_next_flush()",
    "ANALYZE items, carts, parts",
    f"CREATE ROLE {WATCHER}_idle LOGIN PASSWORD '{WATCHER_PASSWORD}'",
    f"GRANT pg_read_all_data, pg_monitor TO {WATCHER}_idle",
    # the application's own traffic, before the checks
    "SELECT count(*) FROM items WHERE colour = 'c3'",
    "SELECT * FROM items WHERE id = 7",
    "SELECT count(*) FROM carts",
]
MINE = "/* observer test */ "  # the test's own queries, left out of what it compares
STATE = {
    "tables": MINE + "SELECT relname, seq_scan, coalesce(idx_scan, 0), analyze_count,"
    " autoanalyze_count, vacuum_count FROM pg_stat_user_tables ORDER BY relid",
    "indexes": MINE + "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes ORDER BY indexrelid",
    "statements": MINE + "SELECT queryid, calls FROM pg_stat_statements s"
    " JOIN pg_roles r ON r.oid = s.userid"
    " WHERE r.rolname <> 'watcher_idle' AND s.query NOT LIKE '/* observer test */%'"
    " ORDER BY queryid",
}


def state_of(port: int) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(admin_url(port, "idle"), autocommit=True) as connection:
        return {name: connection.execute(query).fetchall() for name, query in STATE.items()}


def settled(port: int) -> dict[str, list[tuple[Any, ...]]]:
    """The statistics once every session that ran has reported them (a backend reports its
    counters as it exits, or at most a second after a transaction): two reads 1.5 s apart, equal,
    with no session of the watcher left."""
    import psycopg

    previous = None
    for _ in range(40):
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            sessions = connection.execute(
                MINE + "SELECT count(*) FROM pg_stat_activity WHERE usename = 'watcher_idle'"
            ).fetchone()
        current = state_of(port)
        if sessions == (0,) and current == previous:
            return current
        previous = current
        time.sleep(1.5)
    raise AssertionError("the statistics never settled")


@pytest.mark.postgres
@pytest.mark.slow
def test_twenty_checks_leave_the_idle_databases_statistics_unchanged(run: Run, server: int) -> None:
    create(server, "idle", IDLE)
    url = f"postgresql://{WATCHER}_idle:{WATCHER_PASSWORD}@127.0.0.1:{server}/idle"
    before = settled(server)
    assert len(before["tables"]) == 6 and before["statements"]  # something to compare
    p95s = []
    for _ in range(20):
        _, report = report_of(run, "--db", url)
        assert the(report, "db_size_gb")["value"] is not None
        p95s.append(the(report, "db_query_p95_ms")["value"])
    after = settled(server)
    assert after == before
    # capplan's own statements are not in the query time it reports either
    assert p95s[0] is not None and set(p95s) == {p95s[0]}

    # the comparison sees scans when there are some: --exact-counts makes them, and says so
    _, report = report_of(run, "--db", url, "--exact-counts")
    assert any(note.startswith("--exact-counts: this run counted") for note in report["notes"])
    counted = settled(server)
    assert counted["tables"] != before["tables"]


# --- SQLite: a file that is not a database ---------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "an empty file (0 bytes), not a SQLite database"),
        (b"id,name\n1,shop\n", "not a SQLite database: the file does not start with SQLite's"),
        (b"SQLite format 3\x00", "not a SQLite database: the file does not start with SQLite's"),
        (b"\x00" * 4096, "not a SQLite database: the file does not start with SQLite's"),
    ],
    ids=["empty", "csv", "truncated-header", "zeros"],
)
def test_a_db_file_that_is_not_sqlite_is_unknown_in_one_line(
    run: Run, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "shop.db"
    path.write_bytes(content)
    code, report = report_of(run, "--db", path, *CALM)
    size = the(report, "db_size_gb")
    assert size["status"] == "UNKNOWN" and size["action"].startswith(reason)
    assert "table_rows" not in [m["name"] for m in report["metrics"]]
    assert code == 3 and report["status"] == "UNKNOWN"
    assert path.read_bytes() == content
    nagios = run("check", "--interval", "0", "--db", path, "--format", "nagios", *CALM)
    assert nagios.exit_code == 3
    first = nagios.stdout.splitlines()[0]
    assert first.startswith("CAPPLAN UNKNOWN - ") and f"; db {path} UNKNOWN: {reason}" in first


def test_exact_counts_without_a_database_is_refused(run: Run) -> None:
    result = run("check", "--interval", "0", "--exact-counts")
    assert result.exit_code == 3
    assert "'--exact-counts': it needs --db" in result.stderr


@pytest.mark.postgres
def test_past_the_runs_deadline_a_table_is_unknown_and_the_statistics_still_given(
    server: int,
) -> None:
    from capplan.check import database, targets
    from capplan.check.deadline import RunDeadline
    from capplan.config import load_thresholds

    target = targets.database(watcher_url(server, "shop"))
    reading = database.Reading(exact_counts=True, deadline=RunDeadline.after(0))
    report = database.inspect(target, load_thresholds(), reading)
    rows = {m.labels["table"]: m for m in report.measurements if m.name == "table_rows"}
    assert rows["public.products"].value is None
    assert rows["public.products"].reason == "not read: the run's deadline had passed"
    assert rows["public.private"].value == 40  # from the statistics: nothing to read
    assert next(m for m in report.measurements if m.name == "db_size_gb").value
