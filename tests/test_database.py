"""`capplan check --db` on a real SQLite file and on a real PostgreSQL server the tests start."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capplan.check.database import missing_indexes, redact
from capplan.config import load_thresholds

from .conftest import Run

FAST = ("check", "--interval", "0", "--format", "json")

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


def assert_seed_findings(report: dict[str, Any], code: int) -> None:
    assert [i["name"] for i in report["missing_indexes"]] == EXPECTED_MISSING
    created = next(i for i in report["missing_indexes"] if i["name"] == "idx_order_created")
    assert created == {
        "name": "idx_order_created",
        "table": "orders",
        "columns": ["created_at"],
        "create": "CREATE INDEX idx_order_created ON orders (created_at DESC);",
    }
    assert rows_by_table(report) == {"orders": 3, "products": 25}
    products = next(m for m in report["metrics"] if m["name"] == "products_total")
    assert products["value"] == 25
    assert (
        "table inventory does not exist: its critical indexes were not checked" in (report["notes"])
    )
    assert report["status"] == "WARNING" or report["status"] == "CRITICAL"
    assert code in (1, 2)


# --- SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
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


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_missing_indexes_by_columns_and_row_counts(run: Run, shop: Path) -> None:
    before = digest(shop)
    files = sorted(p.name for p in shop.parent.iterdir())
    code, report, _ = report_of(run, "--db", shop)
    assert_seed_findings(report, code)
    assert digest(shop) == before
    assert sorted(p.name for p in shop.parent.iterdir()) == files


def test_sqlite_url_form_and_db_size(run: Run, shop: Path) -> None:
    _, report, _ = report_of(run, "--db", f"sqlite:///{shop}")
    size = next(m for m in report["metrics"] if m["name"] == "db_size_gb")
    assert size["value"] == pytest.approx(shop.stat().st_size / 1e9)


def test_sqlite_probe_is_timed_and_cannot_write(run: Run, shop: Path) -> None:
    _, report, _ = report_of(
        run, "--db", shop, "--db-probe", "SELECT count(*) FROM products", "--requests", "5"
    )
    p95 = next(m for m in report["metrics"] if m["name"] == "db_query_p95_ms")
    assert 0 <= p95["value"] < 1000
    before = digest(shop)
    code, _, error = report_of(run, "--db", shop, "--db-probe", "DELETE FROM products")
    assert code == 3
    assert "readonly" in error.replace("-", "").replace(" ", "")
    assert digest(shop) == before


def test_sqlite_without_probe_notes_the_missing_query_time(run: Run, shop: Path) -> None:
    _, report, _ = report_of(run, "--db", shop)
    assert not any(m["name"] == "db_query_p95_ms" for m in report["metrics"])
    assert any(note.startswith("db_query_p95_ms: give --db-probe") for note in report["notes"])


def test_missing_sqlite_file_is_not_created(run: Run, tmp_path: Path) -> None:
    absent = tmp_path / "absent.db"
    code, _, error = report_of(run, "--db", absent)
    assert code == 3
    assert error == f"capplan check: error: --db {absent}: no such SQLite file\n"
    assert not absent.exists()


def test_table_rows_bands_give_the_seeds_actions(run: Run, shop: Path, tmp_path: Path) -> None:
    from .conftest import ROOT

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
        if m["name"] == "table_rows" and m["labels"] == {"table": "products"}
    )
    assert (products["status"], products["action"]) == ("WARNING", "Add indexes, optimize queries")


def test_a_primary_key_counts_as_an_index() -> None:
    wanted = load_thresholds().critical_indexes
    indexes = {"orders": [["customer_id"]], "products": []}
    missing, notes = missing_indexes(wanted, indexes, ["orders", "products"])
    assert "idx_order_customer" not in [m["name"] for m in missing]
    assert "idx_product_gtin" in [m["name"] for m in missing]
    assert notes == ["table inventory does not exist: its critical indexes were not checked"]


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://app:hunter2@db:5432/shop") == "postgresql://app:***@db:5432/shop"
    assert redact("postgresql://db/shop") == "postgresql://db/shop"


# --- PostgreSQL -----------------------------------------------------------------------------

PASSWORD = "Sw0rdfish-not-shown"


def postgres_binary(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[int]:
    """A throwaway PostgreSQL server on 127.0.0.1, password authentication; yields its port."""
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are missing under CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="capplan-pg-"))
    user = "nobody" if os.geteuid() == 0 else None  # initdb refuses to run as root
    if user is not None:
        shutil.chown(base, user)
    (base / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    if user is not None:
        shutil.chown(base / "pw", user)
    data, port = base / "data", free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True, "user": user}
    subprocess.run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            "capplan",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={base / 'pw'}",
        ],
        **quiet,
    )  # type: ignore[call-overload]
    subprocess.run(
        [
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        ],
        **quiet,
    )  # type: ignore[call-overload]
    try:
        yield port
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **quiet)  # type: ignore[call-overload]
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def shop_postgres(postgres: int) -> str:
    import psycopg

    admin = f"postgresql://capplan:{PASSWORD}@127.0.0.1:{postgres}"
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
        connection.execute("CREATE DATABASE shop")
    with psycopg.connect(f"{admin}/shop", autocommit=True) as connection:
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
    return f"{admin}/shop"


@pytest.mark.postgres
def test_postgres_missing_indexes_rows_and_connections(run: Run, shop_postgres: str) -> None:
    code, report, _ = report_of(run, "--db", shop_postgres)
    assert_seed_findings(report, code)
    connections = next(m for m in report["metrics"] if m["name"] == "db_connections_percent")
    assert 0 < connections["value"] <= 100
    size = next(m for m in report["metrics"] if m["name"] == "db_size_gb")
    assert size["value"] > 0


@pytest.mark.postgres
def test_postgres_password_never_appears(run: Run, shop_postgres: str) -> None:
    for fmt in ("json", "table", "nagios", "prometheus"):
        result = run("check", "--interval", "0", "--db", shop_postgres, "--format", fmt)
        assert PASSWORD not in result.stdout + result.stderr
    result = run("check", "--interval", "0", "--db", shop_postgres, "--format", "json")
    assert redact(shop_postgres) in result.stdout


@pytest.mark.postgres
def test_postgres_is_read_only(run: Run, shop_postgres: str) -> None:
    import psycopg

    code, _, error = report_of(run, "--db", shop_postgres, "--db-probe", "DELETE FROM orders")
    assert code == 3
    assert "read-only transaction" in error
    with psycopg.connect(shop_postgres) as connection:
        row = connection.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None and row[0] == 3


@pytest.mark.postgres
def test_postgres_probe_gives_query_time(run: Run, shop_postgres: str) -> None:
    _, report, _ = report_of(
        run,
        "--db",
        shop_postgres,
        "--db-probe",
        "SELECT * FROM products WHERE gtin = '0000000000007'",
        "--requests",
        "5",
    )
    p95 = next(m for m in report["metrics"] if m["name"] == "db_query_p95_ms")
    assert 0 < p95["value"] < 1000 and p95["status"] == "OK"


@pytest.mark.postgres
def test_postgres_wrong_password_is_exit_3_one_line(run: Run, postgres: int) -> None:
    port = postgres
    wrong = "Wr0ng-secret-value"
    code, _, error = report_of(run, "--db", f"postgresql://capplan:{wrong}@127.0.0.1:{port}/shop")
    assert code == 3
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "password authentication failed" in error
    assert wrong not in error and "capplan:***@127.0.0.1" in error


def test_postgres_unreachable_is_exit_3_one_line(run: Run) -> None:
    code, _, error = report_of(
        run, "--db", f"postgresql://capplan:{PASSWORD}@127.0.0.1:{free_port()}/shop"
    )
    assert code == 3
    assert error.count("\n") == 1 and error.startswith("capplan check: error: --db ")
    assert PASSWORD not in error


@pytest.mark.postgres
def test_postgres_huge_tables_use_the_planners_estimate(
    run: Run, postgres: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from capplan.check import database

    admin = f"postgresql://capplan:{PASSWORD}@127.0.0.1:{postgres}"
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
        connection.execute("CREATE DATABASE big")
    with psycopg.connect(f"{admin}/big", autocommit=True) as connection:
        connection.execute("CREATE TABLE events AS SELECT generate_series(1, 50) AS id")
        connection.execute("ANALYZE events")
        connection.execute("INSERT INTO events SELECT generate_series(51, 60)")
    monkeypatch.setattr(database, "EXACT_COUNT_BELOW", 10)
    _, report, _ = report_of(run, "--db", f"{admin}/big")
    assert rows_by_table(report) == {"events": 50}  # the estimate, not a count(*)
    monkeypatch.setattr(database, "EXACT_COUNT_BELOW", 1000)
    _, report, _ = report_of(run, "--db", f"{admin}/big")
    assert rows_by_table(report) == {"events": 60}
