"""`capplan check` at the edges a new user found: a SQLite query that never ends, an empty probe,
an access log of which no line can be read, a directory given as a database, options given twice,
the help's placeholders, and the `where` column of the table."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from capplan.check import database

from .conftest import ROOT, Run

FAST = ("check", "--interval", "0", "--format", "json")
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def report_of(run: Run, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run(*FAST, *args)
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, data, result.stderr


def the(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in report["metrics"] if m["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def small_shop(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, gtin TEXT)")
        db.executemany("INSERT INTO products (gtin) VALUES (?)", [(str(n),) for n in range(7)])
    db.close()
    return path


def digest(path: Path) -> dict[str, str]:
    """Every file of the database's directory, by content: nothing changed, nothing added."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.parent.iterdir())
        if p.is_file()
    }


def thresholds_with_business(tmp_path: Path, queries: dict[str, str]) -> Path:
    lines = "".join(f"  {key}: {{query: {json.dumps(sql)}}}\n" for key, sql in queries.items())
    path = tmp_path / "business.yaml"
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("business: {}", "business:\n" + lines), encoding="utf-8")
    return path


# --- 1. SQLite statements are bounded by the statement timeout ---------------------------------


def test_a_sqlite_probe_past_the_timeout_is_unknown_and_the_rest_is_measured(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "STATEMENT_TIMEOUT_MS", 300)
    shop = small_shop(tmp_path / "shop.db")
    queries = {"active_clients": ENDLESS, "products_per_client": "SELECT count(*) FROM products"}
    thresholds = thresholds_with_business(tmp_path, queries)
    before = digest(shop)
    code, report, _ = report_of(
        run, "--db", shop, "--db-probe", ENDLESS, "--thresholds", thresholds
    )
    p95 = the(report, "db_query_p95_ms")
    assert (p95["status"], p95["value"]) == ("UNKNOWN", None)
    assert p95["action"] == (
        "--db-probe took longer than 0.3 s, the statement timeout, and was interrupted"
    )
    clients = the(report, "active_clients")
    assert clients["status"] == "UNKNOWN"
    assert clients["action"] == (
        "query failed: took longer than 0.3 s, the statement timeout, and was interrupted"
    )
    assert the(report, "products_per_client")["value"] == 7
    assert the(report, "products_total")["value"] == 7
    assert the(report, "db_size_gb")["status"] == "OK"
    assert the(report, "memory_percent")["value"] > 0
    assert report["status"] != "OK" and code != 0
    assert digest(shop) == before


def test_the_sqlite_probe_timeout_is_ten_seconds_as_on_postgresql() -> None:
    from capplan.check import sqlite

    with sqlite3.connect(":memory:") as connection, sqlite.bounded(connection) as deadline:
        assert deadline.seconds == 10
    connection.close()


def test_a_sqlite_row_count_past_the_timeout_makes_the_database_unknown(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """count(*) is one step of SQLite's virtual machine, a walk over every page of the table:
    only an interrupt stops it. 10,000 pages of 4 KB take tens of milliseconds to count; the
    timeout here is 1 ms."""
    big = tmp_path / "big.db"
    with sqlite3.connect(big) as db:
        db.execute("CREATE TABLE events (payload BLOB)")
        db.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 10000) "
            "INSERT INTO events SELECT zeroblob(3000) FROM n"
        )
    db.close()
    monkeypatch.setattr(database, "STATEMENT_TIMEOUT_MS", 1)
    before = digest(big)
    _, report, _ = report_of(run, "--db", big)
    size = the(report, "db_size_gb")
    assert (size["status"], size["action"]) == (
        "UNKNOWN",
        "counting the rows of events took longer than 0.001 s, the statement timeout, and was "
        "interrupted",
    )
    assert the(report, "memory_percent")["value"] > 0
    assert digest(big) == before
