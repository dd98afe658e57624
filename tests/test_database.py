"""`capplan check --db` on real SQLite files and on a real PostgreSQL server the tests start: the
findings, the advice, and proof that no check changes a byte of the database."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from capplan.check.database import Snapshot, Table, Timing, missing_indexes
from capplan.config import load_thresholds

from .check_servers import PASSWORD, admin_url, as_nobody, free_port, postgres_server
from .conftest import ROOT, Run

FAST = ("check", "--interval", "0", "--format", "json")
MULTI_STATEMENT = "COMMIT; BEGIN READ WRITE; DELETE FROM products WHERE id=3; COMMIT"

# The seed's tables; some critical indexes exist under other names, one as a longer index,
# one as a unique constraint; the inventory table is absent.
SCHEMA = [
    "CREATE TABLE products (id INTEGER PRIMARY KEY, vendor_id INTEGER, is_active BOOLEAN,"
    " gtin TEXT, vendor_sku TEXT)",
    "CREATE INDEX products_by_vendor ON products (vendor_id, is_active, gtin)",
    "CREATE INDEX ean_lookup ON products (gtin)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, vendor_id INTEGER, status TEXT,"
    " created_at TIMESTAMP, customer_id INTEGER, UNIQUE (customer_id, id))",
    "CREATE INDEX orders_status_first ON orders (status, vendor_id)",
]
EXPECTED_MISSING = ["idx_product_vendor_sku", "idx_order_vendor_status", "idx_order_created"]


def report_of(run: Run, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run(*FAST, *args)
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, data, result.stderr


def rows_by_table(report: dict[str, Any]) -> dict[str, float]:
    return {
        m["labels"]["table"]: m["value"] for m in report["metrics"] if m["name"] == "table_rows"
    }


def the(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in report["metrics"] if m["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def assert_seed_findings(report: dict[str, Any], code: int, schema: str = "") -> None:
    """The seed's findings; `schema` is 'public.' where tables are schema-qualified."""
    assert [i["name"] for i in report["missing_indexes"]] == EXPECTED_MISSING
    created = next(i for i in report["missing_indexes"] if i["name"] == "idx_order_created")
    assert created == {
        "name": "idx_order_created",
        "table": f"{schema}orders",
        "columns": ["created_at"],
        "create": f"CREATE INDEX {'CONCURRENTLY ' if schema else ''}IF NOT EXISTS "
        f"idx_order_created ON {schema}orders (created_at DESC);",
    }
    rows = rows_by_table(report)
    assert (rows[f"{schema}orders"], rows[f"{schema}products"]) == (3, 25)
    assert the(report, "products_total")["value"] == 25
    note = f"table {schema}inventory does not exist: its critical indexes were not checked"
    assert note in report["notes"]
    assert report["status"] in ("WARNING", "CRITICAL") and code in (1, 2)


# --- SQLite ---------------------------------------------------------------------------------


def make_shop(path: Path, *, wal: bool = False) -> Path:
    with sqlite3.connect(path) as db:
        if wal:
            db.execute("PRAGMA journal_mode = WAL")
        for statement in SCHEMA:
            db.execute(statement)
        db.executemany(
            "INSERT INTO products (vendor_id, is_active, gtin) VALUES (?, 1, ?)",
            [(n % 3, f"{n:013d}") for n in range(25)],
        )
        db.executemany(
            "INSERT INTO orders (vendor_id, status, customer_id) VALUES (1, 'new', ?)",
            [(n,) for n in range(3)],
        )
    db.close()
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_shop(tmp_path / "shop.db")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(path: Path) -> dict[str, str]:
    return {p.name: digest(p) for p in sorted(path.parent.iterdir()) if p.is_file()}


def test_sqlite_missing_indexes_by_columns_and_row_counts(run: Run, shop: Path) -> None:
    before = files_of(shop)
    code, report, _ = report_of(run, "--db", shop)
    assert_seed_findings(report, code)
    assert files_of(shop) == before


def test_sqlite_url_form_and_db_size(run: Run, shop: Path) -> None:
    _, report, _ = report_of(run, "--db", f"sqlite:///{shop}")
    assert the(report, "db_size_gb")["value"] == pytest.approx(shop.stat().st_size / 1e9)


def test_sqlite_probe_is_timed(run: Run, shop: Path) -> None:
    before = files_of(shop)
    _, report, _ = report_of(
        run, "--db", shop, "--db-probe", "SELECT count(*) FROM products;", "--requests", "5"
    )
    p95 = the(report, "db_query_p95_ms")
    assert 0 <= p95["value"] < 1000 and p95["detail"] == "--db-probe run 5 times"
    assert files_of(shop) == before


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        ("DELETE FROM products", "may only read"),
        ("WITH gone AS (SELECT 1) DELETE FROM products", "may only read"),
        (MULTI_STATEMENT, "may only read"),  # SQLite sees the COMMIT first
        ("SELECT 1; DELETE FROM products", "more than one statement"),
        ("ATTACH DATABASE 'other.db' AS other", "may only read"),
        ("PRAGMA journal_mode = DELETE", "may only read"),
        ("CREATE TABLE spy (x)", "may only read"),
    ],
)
def test_sqlite_probe_that_could_write_is_refused(
    run: Run, shop: Path, probe: str, reason: str
) -> None:
    before = files_of(shop)
    code, report, error = report_of(run, "--db", shop, "--db-probe", probe)
    assert (code, report) == (3, {})
    assert error.count("\n") == 1 and error.startswith("capplan check: error: --db-probe ")
    assert f"refused: a query {reason}" in error or f"refused: {reason}" in error
    assert files_of(shop) == before


def test_sqlite_probe_error_is_unknown_and_the_rest_is_measured(run: Run, shop: Path) -> None:
    code, report, _ = report_of(run, "--db", shop, "--db-probe", "SELECT * FROM nowhere")
    p95 = the(report, "db_query_p95_ms")
    assert p95["status"] == "UNKNOWN" and "no such table: nowhere" in p95["action"]
    assert rows_by_table(report) == {"orders": 3, "products": 25}
    assert code in (1, 2)  # the missing indexes (WARNING) outrank UNKNOWN


def test_sqlite_without_probe_notes_the_missing_query_time(run: Run, shop: Path) -> None:
    _, report, _ = report_of(run, "--db", shop)
    assert not any(m["name"] == "db_query_p95_ms" for m in report["metrics"])
    assert any(note.startswith("db_query_p95_ms: give --db-probe") for note in report["notes"])


def test_missing_sqlite_file_is_unknown_and_not_created(run: Run, tmp_path: Path) -> None:
    absent = tmp_path / "absent.db"
    code, report, _ = report_of(run, "--db", absent)
    size = the(report, "db_size_gb")
    assert (size["status"], size["action"], size["labels"]) == (
        "UNKNOWN",
        "no such SQLite file",
        {"db": str(absent)},
    )
    assert the(report, "memory_percent")["value"] > 0
    assert code in (1, 2, 3) and not absent.exists()


def test_table_rows_bands_give_the_seeds_actions(run: Run, shop: Path, tmp_path: Path) -> None:
    text = (
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace('{from: 10000, label: "Good', '{from: 5, label: "Good')
        .replace('{from: 100000, label: "10-50 ms"', '{from: 10, label: "10-50 ms"')
    )
    lowered = tmp_path / "t.yaml"
    lowered.write_text(text, encoding="utf-8")
    _, report, _ = report_of(run, "--db", shop, "--thresholds", lowered)
    products = next(
        m
        for m in report["metrics"]
        if m["name"] == "table_rows" and m["labels"]["table"] == "products"
    )
    assert (products["status"], products["action"]) == ("WARNING", "Add indexes, optimize queries")
    assert products["labels"] == {"db": str(shop), "table": "products"}


def test_an_index_on_a_missing_column_is_a_note_not_advice(
    run: Run, shop: Path, tmp_path: Path
) -> None:
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    for name in EXPECTED_MISSING:  # leave only the index on a column the table lacks
        text = re.sub(rf"  - \{{name: {name},.*\n", "", text)
    text = text.replace(
        "critical_indexes:\n",
        "critical_indexes:\n  - {name: idx_product_brand, table: products, columns: [brand]}\n",
    )
    custom = tmp_path / "t.yaml"
    custom.write_text(text, encoding="utf-8")
    _, report, _ = report_of(run, "--db", shop, "--thresholds", custom)
    assert report["missing_indexes"] == []
    assert "idx_product_brand not suggested: products has no column brand" in report["notes"]
    severity = ["OK", "UNKNOWN", "WARNING", "CRITICAL"]
    worst = max((m["status"] for m in report["metrics"]), key=severity.index)
    assert report["status"] == worst  # the note raises nothing


def snapshot_with(tables: list[Table]) -> Snapshot:
    return Snapshot(0, "public", True, tuple(tables), None, Timing(None))


def test_a_primary_key_counts_as_an_index_and_schemas_are_apart() -> None:
    wanted = load_thresholds().critical_indexes
    orders = ("id", "vendor_id", "status", "created_at", "customer_id")
    snapshot = snapshot_with(
        [
            Table("public", "orders", 0, orders, (("customer_id",),)),
            Table("archive", "orders", 0, orders, (("vendor_id", "status"), ("created_at",))),
            Table("public", "products", 0, ("id", "gtin"), ()),
        ]
    )
    missing, notes = missing_indexes(wanted, snapshot)
    names = [(m["name"], m["table"]) for m in missing]
    assert ("idx_order_customer", "public.orders") not in names
    assert ("idx_order_vendor_status", "public.orders") in names  # archive's does not count
    assert ("idx_product_gtin", "public.products") in names
    assert (
        "idx_product_vendor_active not suggested: public.products has no column vendor_id, "
        "is_active"
    ) in notes
    assert "table public.inventory does not exist: its critical indexes were not checked" in notes


# --- SQLite in WAL mode, for a user who cannot write the directory ---------------------------


@contextmanager
def as_a_user_who_cannot_write(folder: Path) -> Iterator[None]:
    """The folder read-only; as root, this process runs as nobody meanwhile (root writes
    anywhere)."""
    from typer.testing import CliRunner

    from capplan.cli import app

    with tempfile.TemporaryDirectory() as warm:  # every module a check needs imported while
        make_shop(Path(warm, "warm.db"), wal=True)  # the interpreter's own files can be read
        args = ["check", "--interval", "0", "--db", str(Path(warm, "warm.db"))]
        CliRunner().invoke(app, [*args, "--db-probe", "SELECT 1", "--format", "json"])

    folder.chmod(0o555)
    try:
        with as_nobody(folder):
            yield
    finally:
        folder.chmod(0o755)


@pytest.fixture
def locked_folder() -> Iterator[Path]:
    """A folder that the checking user can read, outside pytest's private tmp directory."""
    folder = Path(tempfile.mkdtemp(prefix="capplan-wal-"))
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_a_wal_database_is_read_without_files_beside_it(run: Run, locked_folder: Path) -> None:
    shop = make_shop(locked_folder / "shop.db", wal=True)
    assert sorted(files_of(shop)) == ["shop.db"]  # the writer closed: no -wal, no -shm
    before = files_of(shop)
    with as_a_user_who_cannot_write(locked_folder):
        _, report, error = report_of(run, "--db", shop, "--db-probe", "SELECT 1")
    assert error == ""
    assert rows_by_table(report) == {"orders": 3, "products": 25}
    assert the(report, "db_query_p95_ms")["status"] == "OK"
    assert files_of(shop) == before


WRITER = """
import sqlite3, sys
writer = sqlite3.connect(sys.argv[1])
writer.execute("PRAGMA wal_autocheckpoint = 0")
writer.execute("INSERT INTO orders (vendor_id, status, customer_id) VALUES (2, 'x', 9)")
writer.commit()
print("committed", flush=True)
sys.stdin.read()
"""


def test_a_wal_database_being_written_shows_what_its_wal_holds(
    run: Run, locked_folder: Path
) -> None:
    """Another process holds the database open with a committed row still in its WAL."""
    shop = make_shop(locked_folder / "shop.db", wal=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(shop)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "committed\n"
        before = files_of(shop)
        assert "shop.db-wal" in before
        with as_a_user_who_cannot_write(locked_folder):
            _, report, error = report_of(run, "--db", shop)
        assert error == ""
        assert rows_by_table(report)["orders"] == 4  # the committed row, still in the WAL
        assert files_of(shop) == before
    finally:
        writer.communicate("")


# --- PostgreSQL -----------------------------------------------------------------------------

MONITOR, MONITOR_PASSWORD = "monitor", "M0nitor-cannot-write"


@pytest.fixture(scope="module")
def postgres() -> Iterator[int]:
    with postgres_server() as port:
        yield port


@pytest.fixture(scope="module")
def shop_postgres(postgres: int) -> str:
    """public.products and public.orders as in SCHEMA, archive.orders with the indexes that
    public.orders lacks, pg_stat_statements, and a role that can read but not write."""
    import psycopg

    with psycopg.connect(admin_url(postgres), autocommit=True) as connection:
        connection.execute("CREATE DATABASE shop")
    with psycopg.connect(admin_url(postgres, "shop"), autocommit=True) as connection:
        for statement in SCHEMA:
            connection.execute(statement.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"))
        for n in range(25):
            connection.execute(
                "INSERT INTO products (vendor_id, is_active, gtin) VALUES (%s, true, %s)",
                (n % 3, f"{n:013d}"),
            )
        for n in range(3):
            connection.execute(
                "INSERT INTO orders (vendor_id, status, customer_id) VALUES (1, 'new', %s)", (n,)
            )
        for statement in (
            "CREATE SCHEMA archive",
            "CREATE TABLE archive.orders (LIKE public.orders)",
            "CREATE INDEX ON archive.orders (vendor_id, status)",
            "CREATE INDEX ON archive.orders (created_at DESC)",
            "INSERT INTO archive.orders SELECT n, 1, 'old', now(), n FROM generate_series(1, 7) n",
            "CREATE EXTENSION pg_stat_statements",
            f"CREATE ROLE {MONITOR} LOGIN PASSWORD '{MONITOR_PASSWORD}'",
            f"GRANT pg_read_all_data, pg_monitor TO {MONITOR}",
            "ANALYZE",  # row counts are the statistics' estimates (exact on tables this small)
        ):
            connection.execute(statement)
    return admin_url(postgres, "shop")


def monitor_url(port: int) -> str:
    return f"postgresql://{MONITOR}:{MONITOR_PASSWORD}@127.0.0.1:{port}/shop"


def state_of(url: str) -> tuple[object, ...]:
    """Every row of every table, and the server's row counters for them."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        rows = connection.execute(
            "SELECT (SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM public.products p),"
            " (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM public.orders o),"
            " (SELECT md5(string_agg(a::text, ',' ORDER BY id)) FROM archive.orders a)"
        ).fetchone()
        counters = connection.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
            "ORDER BY schemaname, relname"
        ).fetchall()
    return (rows, tuple(counters))


@pytest.mark.postgres
def test_postgres_schemas_indexes_rows_and_connections(run: Run, shop_postgres: str) -> None:
    before = state_of(shop_postgres)
    code, report, _ = report_of(run, "--db", shop_postgres)
    assert_seed_findings(report, code, schema="public.")
    assert rows_by_table(report)["archive.orders"] == 7
    connections = the(report, "db_connections_percent")
    assert 0 < connections["value"] <= 100 and connections["detail"].endswith(" of 100")
    assert the(report, "db_size_gb")["value"] > 0
    time.sleep(0.5)  # the check's backend reports its counters as it exits
    assert state_of(shop_postgres) == before


@pytest.mark.postgres
def test_schema_chooses_where_critical_indexes_are_read(run: Run, shop_postgres: str) -> None:
    _, report, _ = report_of(run, "--db", shop_postgres, "--schema", "archive")
    assert [(i["name"], i["table"]) for i in report["missing_indexes"]] == [
        ("idx_order_customer", "archive.orders")
    ]
    assert (
        "products_total: the database has no products table in schema archive" in (report["notes"])
    )
    code, _, error = report_of(run, "--db", shop_postgres, "--schema", "nowhere")
    assert code == 3
    assert error == (
        "capplan check: error: --schema nowhere: no such schema; this database has archive, "
        "public\n"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("who", ["owner", "read-only role"])
@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (MULTI_STATEMENT, "refused: more than one statement"),
        ("DELETE FROM products WHERE id = 3", "refused: DELETE is not a query"),
        (
            "WITH gone AS (DELETE FROM products RETURNING id) SELECT count(*) FROM gone",
            "refused: its WITH part gone is DELETE",
        ),
        ("SELECT nextval('products_id_seq')", "pg_catalog.nextval, which is volatile"),
    ],
)
def test_a_probe_that_could_write_is_refused_and_nothing_changes(
    run: Run, shop_postgres: str, postgres: int, who: str, probe: str, reason: str
) -> None:
    # the owner is a superuser: said to be intended, so that the probe gate itself is seen
    url = shop_postgres if who == "owner" else monitor_url(postgres)
    allowed = ("--allow-privileged-role",) if who == "owner" else ()
    before = state_of(shop_postgres)
    code, report, error = report_of(run, "--db", url, *allowed, "--db-probe", probe)
    assert (code, report) == (3, {})
    assert error.count("\n") == 1 and reason in error
    assert error.startswith("capplan check: error: --db-probe ")
    time.sleep(0.5)
    assert state_of(shop_postgres) == before


@pytest.mark.postgres
def test_the_probe_wins_over_pg_stat_statements(run: Run, shop_postgres: str) -> None:
    _, report, _ = report_of(
        run,
        "--db",
        shop_postgres,
        "--allow-privileged-role",
        "--db-probe",
        "SELECT * FROM products WHERE gtin = '0000000000007'",
        "--requests",
        "5",
    )
    p95 = the(report, "db_query_p95_ms")
    assert 0 < p95["value"] < 1000 and p95["status"] == "OK"
    assert p95["detail"] == "--db-probe run 5 times"


@pytest.mark.postgres
def test_pg_stat_statements_counts_only_the_database_checked(
    run: Run, shop_postgres: str, postgres: int
) -> None:
    import psycopg

    with psycopg.connect(admin_url(postgres), autocommit=True) as elsewhere:
        for _ in range(20):  # slow statements in another database of the same server
            elsewhere.execute("SELECT pg_sleep(0.06)")
    _, report, _ = report_of(run, "--db", shop_postgres)
    p95 = the(report, "db_query_p95_ms")
    assert p95["value"] < 60, p95
    assert re.match(
        r"pg_stat_statements for this database, weighted by calls, since \d{4}-\d\d-\d\d",
        p95["detail"],
    )


@pytest.mark.postgres
def test_a_wrong_password_is_unknown_and_never_shown(run: Run, postgres: int) -> None:
    wrong = "Wr0ng-secret-value"
    code, report, error = report_of(
        run, "--db", f"postgresql://capplan:{wrong}@127.0.0.1:{postgres}/shop"
    )
    size = the(report, "db_size_gb")
    assert size["status"] == "UNKNOWN" and "password authentication failed" in size["action"]
    assert size["labels"] == {"db": f"postgresql://127.0.0.1:{postgres}/shop"}
    assert wrong not in json.dumps(report) + error
    assert code in (1, 2, 3)


@pytest.mark.postgres
def test_libpq_keyword_strings_and_pg_variables(
    run: Run, shop_postgres: str, postgres: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    keywords = f"host=127.0.0.1 port={postgres} dbname=shop user=capplan password='{PASSWORD}'"
    _, report, _ = report_of(run, "--db", keywords)
    assert rows_by_table(report)["public.products"] == 25
    assert the(report, "db_size_gb")["labels"] == {
        "db": f"host=127.0.0.1 port={postgres} dbname=shop"
    }
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(postgres))
    monkeypatch.setenv("PGUSER", MONITOR)
    monkeypatch.setenv("PGPASSWORD", MONITOR_PASSWORD)
    for given in ("dbname=shop", "postgresql:///shop"):
        result = run(*FAST, "--db", given)
        assert rows_by_table(json.loads(result.stdout))["public.orders"] == 3
        assert MONITOR_PASSWORD not in result.stdout + result.stderr


def wait_for_changes(url: str, rows: int) -> None:
    """Until the server counts `rows` changes to events since its last ANALYZE (a backend reports
    its counters as it exits)."""
    import psycopg

    for _ in range(100):
        with psycopg.connect(url, autocommit=True) as connection:
            row = connection.execute(
                "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'events'"
            ).fetchone()
        if row and row[0] == rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"the server never counted {rows} changes: {row}")


@pytest.mark.postgres
def test_rows_are_the_statistics_estimate_flagged_when_stale(run: Run, postgres: int) -> None:
    import psycopg

    with psycopg.connect(admin_url(postgres), autocommit=True) as connection:
        connection.execute("CREATE DATABASE big")
    big = admin_url(postgres, "big")
    with psycopg.connect(big, autocommit=True) as connection:
        connection.execute("CREATE TABLE events AS SELECT generate_series(1, 50) AS id")
    wait_for_changes(big, 50)
    with psycopg.connect(big, autocommit=True) as connection:
        connection.execute("ANALYZE events")
        connection.execute("INSERT INTO events SELECT generate_series(51, 60)")
    wait_for_changes(big, 10)
    _, report, _ = report_of(run, "--db", admin_url(postgres, "big"))
    events = the(report, "table_rows")
    assert events["value"] == 50 and isinstance(events["value"], int)  # not a count(*)
    assert events["detail"].startswith("estimated from the statistics (pg_class.reltuples);")
    assert "stale" not in json.dumps(report["notes"])

    with psycopg.connect(big, autocommit=True) as connection:
        connection.execute("INSERT INTO events SELECT generate_series(61, 100)")
    wait_for_changes(big, 50)
    _, report, _ = report_of(run, "--db", admin_url(postgres, "big"))
    events = the(report, "table_rows")
    assert events["value"] == 50
    assert "50 rows changed since the last ANALYZE: run ANALYZE public.events" in events["detail"]
    assert any(n.startswith("public.events: rows are a stale estimate") for n in report["notes"])

    _, report, _ = report_of(run, "--db", admin_url(postgres, "big"), "--exact-counts")
    assert rows_by_table(report) == {"public.events": 100}
    assert the(report, "table_rows")["detail"].startswith("counted with count(*) (--exact-counts);")


def test_postgres_unreachable_is_unknown_and_the_host_is_still_measured(run: Run) -> None:
    url = f"postgresql://capplan:{PASSWORD}@127.0.0.1:{free_port()}/shop"
    code, report, error = report_of(run, "--db", url)
    size = the(report, "db_size_gb")
    assert size["status"] == "UNKNOWN" and size["action"].startswith("cannot connect: ")
    assert the(report, "cpu_percent")["value"] is not None
    assert PASSWORD not in json.dumps(report) + error
    assert code in (1, 2, 3) and error == ""


def test_nagios_with_the_database_down_prints_status_and_host_perfdata(run: Run) -> None:
    url = f"postgresql://capplan:{PASSWORD}@127.0.0.1:{free_port()}/shop"
    generous = [
        f"--set=scaling_triggers.{name}.{level}={value}"
        for name in ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
        for level, value in (("critical", 2000), ("warning", 1000))
    ]
    result = run("check", "--interval", "0", *generous, "--db", url, "--format", "nagios")
    first, *rest = result.stdout.splitlines()
    assert first.startswith("CAPPLAN UNKNOWN - ")
    assert "; db postgresql://127.0.0.1:" in first.partition(" | ")[0]
    perfdata = first.partition(" | ")[2].split()
    labels = [item.split("=")[0] for item in perfdata]
    assert labels[:4] == ["cpu_percent", "memory_percent", "'disk_percent_/'", "load_per_core"]
    assert labels[-1] == "db_size"
    assert perfdata[-1].startswith("db_size=U;20000000000;24000000000;0;")
    assert any(line.startswith("db_size_gb db=postgresql://127.0.0.1:") for line in rest)
    assert result.exit_code == 3 and PASSWORD not in result.stdout + result.stderr


# --- index usage and the business figures ---------------------------------------------------


def wait_for(url: str, query: str, least: int) -> tuple[Any, ...]:
    """Until the server's statistics give at least `least` (a backend reports them as it
    exits); the row."""
    import psycopg

    for _ in range(100):
        with psycopg.connect(url, autocommit=True) as connection:
            row = connection.execute(query).fetchone()
        if row is not None and row[0] >= least:
            return tuple(row)
        time.sleep(0.05)
    raise AssertionError(f"{query} never gave {least}: {row}")


@pytest.mark.postgres
def test_unused_indexes_and_sequential_scans_are_found(run: Run, postgres: int) -> None:
    import psycopg

    with psycopg.connect(admin_url(postgres), autocommit=True) as connection:
        connection.execute("CREATE DATABASE usage")
    url = admin_url(postgres, "usage")
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in (
            "CREATE TABLE items (id int PRIMARY KEY, sku text UNIQUE, colour text, size int)",
            "INSERT INTO items SELECT n, 'sku' || n, 'c' || n % 9, n % 40"
            " FROM generate_series(1, 2000) n",
            "CREATE INDEX items_colour ON items (colour)",
            "CREATE INDEX items_size ON items (size)",
            "ANALYZE items",
            "SET enable_seqscan = off",
            "SELECT count(*) FROM items WHERE colour = 'c3'",
            "RESET enable_seqscan",
        ):
            connection.execute(statement)
        for _ in range(30):
            connection.execute("SELECT count(*) FROM items")  # sequential scans
    seq, idx = wait_for(
        url, "SELECT seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname = 'items'", 30
    )
    _, report, _ = report_of(run, "--db", url)
    assert [(i["name"], i["table"], i["scans"]) for i in report["unused_indexes"]] == [
        ("items_size", "public.items", 0)  # colour was scanned; the key and the unique one enforce
    ]
    assert report["unused_indexes"][0]["size_bytes"] > 0
    unused = the(report, "unused_indexes")
    assert unused["value"] == 1 and unused["detail"].startswith("never scanned since ")
    (scans,) = report["sequential_scans"]
    assert (scans["table"], scans["seq_scan"], scans["idx_scan"]) == ("public.items", seq, idx)
    assert idx >= 1 and seq > 10 * idx
    nagios = run("check", "--interval", "0", "--db", url, "--format", "nagios").stdout
    assert re.search(
        r"unused index items_size on public.items: 0 scans, [\d.]+ KB: drop it or check the "
        r"query plans",
        nagios,
    )


def test_sqlite_says_it_keeps_no_index_statistics(run: Run, shop: Path) -> None:
    _, report, _ = report_of(run, "--db", shop)
    assert "index usage: SQLite keeps no statistics of index scans" in report["notes"]
    assert report["unused_indexes"] == [] and "unused_indexes" not in [
        m["name"] for m in report["metrics"]
    ]


def thresholds_with_business_examples(tmp_path: Path, extra: str = "") -> Path:
    """The shipped thresholds.yaml with its commented business examples switched on."""
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    head, _, examples = text.partition("business: {}\n")
    uncommented = "".join(row[1:] + "\n" for row in examples.splitlines() if row.startswith("#"))
    path = tmp_path / "business.yaml"
    path.write_text(head + "business:\n" + uncommented + extra, encoding="utf-8")
    return path


PLATFORM = [
    "CREATE TABLE vendors (id serial PRIMARY KEY, is_active boolean, created_at timestamptz,"
    " cancelled_at timestamptz)",
    # 7 old vendors, one of them cancelled this month; 3 new this month; 8 active in all
    "INSERT INTO vendors (is_active, created_at) SELECT true, now() - interval '60 days'"
    " FROM generate_series(1, 5)",
    "INSERT INTO vendors (is_active, created_at) VALUES (false, now() - interval '60 days')",
    "INSERT INTO vendors (is_active, created_at, cancelled_at)"
    " VALUES (false, now() - interval '90 days', now())",
    "INSERT INTO vendors (is_active, created_at) SELECT true, now() FROM generate_series(1, 3)",
    "CREATE TABLE products (id serial PRIMARY KEY, vendor_id int)",
    "INSERT INTO products (vendor_id) SELECT n % 8 + 1 FROM generate_series(1, 40) n",
    "CREATE TABLE orders (id serial PRIMARY KEY, vendor_id int, created_at timestamptz)",
    "INSERT INTO orders (vendor_id, created_at) SELECT 1, now() - interval '1 hour'"
    " FROM generate_series(1, 70)",
    "INSERT INTO orders (vendor_id, created_at) SELECT 1, now() - interval '30 days'"
    " FROM generate_series(1, 5)",
    "CREATE TABLE api_requests (vendor_id int, created_at timestamptz)",
    "INSERT INTO api_requests SELECT n % 4, now() - interval '1 minute'"
    " FROM generate_series(1, 24) n",
]


@pytest.mark.postgres
def test_business_figures_from_the_shipped_examples(
    run: Run, postgres: int, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(admin_url(postgres), autocommit=True) as connection:
        connection.execute("CREATE DATABASE platform")
    url = admin_url(postgres, "platform")
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in PLATFORM:
            connection.execute(statement)
    thresholds = thresholds_with_business_examples(tmp_path)
    # the tests' role is a superuser: said to be intended
    _, report, _ = report_of(
        run, "--db", url, "--allow-privileged-role", "--thresholds", thresholds
    )
    figures = {
        m["name"]: m["value"]
        for m in report["metrics"]
        if m["name"] in ("active_clients", "new_clients_this_month", "churn_rate_percent",
                         "products_per_client", "orders_per_day", "api_calls_per_client")
    }  # fmt: skip
    assert figures == pytest.approx(
        {
            "active_clients": 8,
            "new_clients_this_month": 3,
            "churn_rate_percent": 100 / 7,
            "products_per_client": 5,
            "orders_per_day": 10,
            "api_calls_per_client": 6,
        }
    )
    churn = the(report, "churn_rate_percent")
    assert (churn["status"], churn["warning"], churn["labels"]) == (
        "CRITICAL",
        3,
        {"db": f"postgresql://127.0.0.1:{postgres}/platform"},
    )
    assert the(report, "active_clients")["warning"] is None  # no thresholds: a plain figure
    prometheus = run(
        "check", "--interval", "0", "--db", url, "--allow-privileged-role", "--thresholds",
        thresholds, "--format", "prometheus",
    ).stdout  # fmt: skip
    assert "capplan_business_churn_rate_ratio{db=" in prometheus


@pytest.mark.postgres
def test_a_business_query_that_would_write_is_refused(
    run: Run, postgres: int, shop_postgres: str, tmp_path: Path
) -> None:
    before = state_of(shop_postgres)
    path = tmp_path / "t.yaml"
    path.write_text(
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "business: {}",
            'business:\n  active_clients: {query: "DELETE FROM products RETURNING 1"}',
        ),
        encoding="utf-8",
    )
    code, report, error = report_of(run, "--db", shop_postgres, "--thresholds", path)
    assert (code, report) == (3, {})
    line = path.read_text(encoding="utf-8").splitlines().index("business:") + 2
    assert error == (
        f"capplan check: error: {path}:{line}: business.active_clients.query: refused: DELETE "
        "is not a query; a probe may only be one SELECT, VALUES, or WITH whose parts are all "
        "SELECT\n"
    )
    time.sleep(0.5)
    assert state_of(shop_postgres) == before


def test_a_business_query_that_fails_is_unknown(run: Run, shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "business: {}",
            "business:\n"
            '  active_clients: {query: "SELECT count(*) FROM vendors"}\n'
            '  products_per_client: {query: "SELECT count(*) / 5.0 FROM products"}\n',
        ),
        encoding="utf-8",
    )
    _, report, _ = report_of(run, "--db", shop, "--thresholds", path)
    clients = the(report, "active_clients")
    assert clients["status"] == "UNKNOWN" and "no such table: vendors" in clients["action"]
    assert the(report, "products_per_client")["value"] == 5
