"""`capplan check` at the edges a new user found: a SQLite query that never ends, an empty probe,
an access log of which no line can be read, a directory given as a database, options given twice,
the help's placeholders, and the `where` column of the table."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest import approx

from capplan.check import database
from capplan.check.database import given_probe
from capplan.errors import InputError

from .conftest import ROOT, Run
from .test_check_traffic import line

FAST = ("check", "--interval", "0", "--format", "json")
# thresholds no host reaches, so that a test decides the status
GENEROUS = [
    f"--set=scaling_triggers.{name}.{level}={value}"
    for name in ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
    for level, value in (("critical", 2000), ("warning", 1000))
]
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
    monkeypatch.setattr(database, "STATEMENT_TIMEOUT_MS", 500)
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
        "--db-probe took longer than 0.5 s, the statement timeout, and was interrupted"
    )
    clients = the(report, "active_clients")
    assert clients["status"] == "UNKNOWN"
    assert clients["action"] == (
        "query failed: took longer than 0.5 s, the statement timeout, and was interrupted"
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


def test_a_sqlite_row_count_past_the_timeout_is_unknown_alone(tmp_path: Path) -> None:
    """A count(*) is one step of SQLite's virtual machine, a walk over every page of the table
    that no progress handler sees: only an interrupt stops it. The trace callback, called as the
    count starts, holds it there well past the timeout, as a huge table on a cold disk would.
    That table is UNKNOWN with its reason; the next one is still counted."""
    from capplan.check import sqlite

    shop = small_shop(tmp_path / "shop.db")
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE vendors (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO vendors (id) VALUES (?)", [(n,) for n in range(3)])
    db.close()
    before = digest(shop)

    def slow_count(statement: str) -> None:
        if statement.startswith('SELECT count(*) FROM "products"'):
            time.sleep(0.5)

    with sqlite.connect(shop) as connection:
        connection.set_trace_callback(slow_count)
        deadline = sqlite.Deadline(connection, 0.05)
        try:
            products, vendors = sqlite.read_tables(connection, deadline)
        finally:
            deadline.close()
        assert (products.rows, products.reason) == (
            None,
            "counting its rows took longer than 0.05 s, the statement timeout, and was interrupted",
        )
        assert (vendors.name, vendors.rows) == ("vendors", 3)
        connection.set_trace_callback(None)
        deadline = sqlite.Deadline(connection, 10)
        try:
            assert [t.rows for t in sqlite.read_tables(connection, deadline)] == [7, 3]
        finally:
            deadline.close()
    assert digest(shop) == before


# --- 2. a probe with no query in it is refused ----------------------------------------------


@pytest.mark.parametrize(
    ("probe", "shown"),
    [
        ("", "''"),
        ("   ", "''"),
        ("-- only a comment", "-- only a comment"),
        ("/* a comment */ ;\n", "/* a comment */ ;"),
    ],
)
def test_a_probe_with_no_query_is_refused_in_one_line(
    run: Run, tmp_path: Path, probe: str, shown: str
) -> None:
    shop = small_shop(tmp_path / "shop.db")
    code, report, error = report_of(run, "--db", shop, "--db-probe", probe)
    assert (code, report) == (3, {})
    assert error == (
        f"capplan check: error: --db-probe {shown}: refused: no query in it, only spaces or "
        "comments; give one query to time, such as SELECT count(*) FROM products\n"
    )


def test_a_refused_probe_on_several_lines_is_named_on_one(run: Run, tmp_path: Path) -> None:
    shop = small_shop(tmp_path / "shop.db")
    _, _, error = report_of(run, "--db", shop, "--db-probe", "SELECT 1;\nDELETE FROM products")
    assert error == (
        "capplan check: error: --db-probe SELECT 1; DELETE FROM products: refused: more than "
        "one statement; give exactly one query\n"
    )


SPACES_AND_COMMENTS = st.lists(
    st.sampled_from([" ", "\n", "\t", ";", "-- a comment\n", "/* a */", "/* a\n b */", "--\n"])
)


@given(SPACES_AND_COMMENTS, st.sampled_from(["", "--", "-- to the end", "/* never closed"]))
def test_spaces_semicolons_and_comments_alone_are_refused(parts: list[str], tail: str) -> None:
    with pytest.raises(InputError, match="no query in it"):
        given_probe("".join(parts) + tail)


def test_many_comment_marks_are_read_in_one_pass() -> None:
    with pytest.raises(InputError, match="no query in it"):
        given_probe("-- " * 5000 + "\n" + "/* */ " * 5000)
    assert given_probe("-- " * 5000 + "\nSELECT 1") == "-- " * 5000 + "\nSELECT 1"


@given(SPACES_AND_COMMENTS, SPACES_AND_COMMENTS)
def test_a_query_among_comments_is_kept(before: list[str], after: list[str]) -> None:
    probe = "".join(before) + "\nSELECT 1" + "".join(after)  # a -- before it ends at \n
    assert given_probe(probe) == probe


# --- 3. an access log of which no line can be read is UNKNOWN, not an idle server ------------


def access_metrics(report: dict[str, Any]) -> dict[str, tuple[Any, str, str]]:
    return {
        m["name"]: (m["value"], m["status"], m["action"])
        for m in report["metrics"]
        if m["name"] in ("access_requests_per_second", "active_sessions", "access_malformed_lines")
    }


def test_a_binary_file_as_access_log_is_unknown_naming_the_file_and_format(
    run: Run, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(bytes(range(256)) * 40)  # 40 "lines": every byte value, \n among them
    code, report, _ = report_of(run, "--access-log", log, *GENEROUS)
    reason = f"no line of {log} could be read as nginx or Apache combined: check --log-format"
    assert access_metrics(report) == {
        "access_requests_per_second": (None, "UNKNOWN", reason),
        "active_sessions": (None, "UNKNOWN", reason),
        "access_malformed_lines": (41, "OK", ""),
    }
    assert (report["status"], code) == ("UNKNOWN", 3)
    assert not any("no requests in" in note for note in report["notes"])


def test_a_log_read_with_the_wrong_format_is_unknown(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"  # a line from before the window: the log covers all of it
    log.write_text("".join(line(now - dt.timedelta(seconds=s)) for s in (900, 30, 20)), "utf-8")
    _, report, _ = report_of(run, "--access-log", log, "--log-format", "apache")
    assert access_metrics(report)["access_requests_per_second"] == (
        None,
        "UNKNOWN",
        f"no line of {log} could be read as Apache combined with %D: check --log-format",
    )
    _, report, _ = report_of(run, "--access-log", log, "--log-format", "nginx", *GENEROUS)
    assert access_metrics(report)["access_requests_per_second"][:2] == (approx(2 / 300), "OK")


def test_a_log_with_good_and_bad_lines_and_an_empty_log_keep_working(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    mixed = tmp_path / "mixed.log"
    mixed.write_text(
        line(now - dt.timedelta(hours=1)) + line(now - dt.timedelta(seconds=9)) + "garbage\n" * 5,
        "utf-8",
    )
    _, report, _ = report_of(run, "--access-log", mixed)
    assert access_metrics(report) == {
        "access_requests_per_second": (approx(1 / 300), "OK", ""),
        "active_sessions": (1, "OK", ""),
        "access_malformed_lines": (5, "OK", ""),
    }
    old = tmp_path / "old.log"  # read, but older than the window: an idle server
    old.write_text(line(now - dt.timedelta(hours=2)) + "garbage\n", "utf-8")
    empty = tmp_path / "empty.log"
    empty.write_text("", "utf-8")
    for log in (old, empty):
        _, report, _ = report_of(run, "--access-log", log)
        assert access_metrics(report)["access_requests_per_second"][:2] == (0, "OK")
        assert f"{log}: no requests in the last 5 min" in report["notes"]


# --- 4. a directory given as a database -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (".", "a directory, not a SQLite file"),
        ("sqlite:///{tmp}", "a directory, not a SQLite file"),
        ("absent.db", "no such SQLite file"),
        ("/dev/null", "not a regular file, so not a SQLite file"),
    ],
)
def test_a_database_path_that_is_no_file_says_what_it_is(
    run: Run, tmp_path: Path, given: str, reason: str
) -> None:
    target = given.format(tmp=tmp_path)
    _, report, _ = report_of(run, "--db", target)
    size = the(report, "db_size_gb")
    assert (size["status"], size["action"], size["labels"]) == ("UNKNOWN", reason, {"db": target})
    assert the(report, "memory_percent")["value"] > 0
    assert list(tmp_path.iterdir()) == []  # nothing created


# --- 5. --db twice, or an option without its own, is refused; each --access-log is measured


def test_a_repeated_db_is_refused_in_one_line_without_its_secrets(run: Run, tmp_path: Path) -> None:
    shop = small_shop(tmp_path / "shop.db")
    second = "postgresql://u:Pw-secret@db/x"
    result = run("check", "--interval", "0", "--format", "nagios", "--db", shop, "--db", second)
    reason = (
        "Invalid value for '--db': given 2 times, but a check inspects one database: run one "
        "check per database, each with its own --label (see 'capplan check --help')"
    )
    assert (result.exit_code, result.stdout) == (3, f"CAPPLAN UNKNOWN - {reason}\n")
    assert result.stderr == f"capplan check: error: {reason}\n"
    assert "Pw-secret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("given", "needed"),
    [
        (("--header", "Authorization: Bearer tok-secret"), "--url"),
        (("--schema", "shop"), "--db"),
        (("--db-probe", "SELECT 1"), "--db"),
        (("--window", "1h"), "--access-log"),
        (("--log-format", "nginx"), "--access-log"),
        (("--top", "10"), "--access-log"),  # given, even at its default value
    ],
)
def test_an_option_given_without_the_one_it_belongs_to_is_refused(
    run: Run, given: tuple[str, str], needed: str
) -> None:
    result = run("check", "--interval", "0", "--format", "nagios", *given)
    reason = f"Invalid value for '{given[0]}': it needs {needed} (see 'capplan check --help')"
    assert (result.exit_code, result.stdout) == (3, f"CAPPLAN UNKNOWN - {reason}\n")
    assert "tok-secret" not in result.stdout + result.stderr


def test_each_access_log_is_measured_and_one_given_twice_once(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    log_a.write_text("".join(line(now - dt.timedelta(seconds=s), "/a") for s in (9, 8)), "utf-8")
    log_b.write_text(line(now - dt.timedelta(seconds=7), "/b", status=503), "utf-8")
    _, report, _ = report_of(
        run, "--access-log", log_a, "--access-log", log_b, "--access-log", log_a
    )
    endpoints = {
        (m["labels"]["log"], m["labels"]["endpoint"]): m["value"]
        for m in report["metrics"]
        if m["name"] == "access_endpoint_requests"
    }
    assert endpoints == {(str(log_a), "GET /a"): 2, (str(log_b), "GET /b"): 1}
    errors = {
        m["labels"]["log"]: m["value"]
        for m in report["metrics"]
        if m["name"] == "access_error_rate_percent" and m["labels"]["status"] == "5xx"
    }
    assert errors == {str(log_a): 0, str(log_b): 100}


# --- 6. the help's placeholders --------------------------------------------------------------

PLACEHOLDERS = {
    "--interval": "SECONDS",
    "--path": "PATH",
    "--uploads": "DIR",
    "--url": "URL",
    "--header": "'NAME: VALUE'",
    "--requests": "N",
    "--timeout": "SECONDS",
    "--db": "DB",
    "--schema": "SCHEMA",
    "--db-probe": "SQL",
    "--device": "DEVICE",
    "--nic": "NIC",
    "--access-log": "FILE",
    "--log-format": "FORMAT",
    "--window": "DURATION",
    "--top": "N",
    "--label": "KEY=VALUE",
    "--set": "KEY=VALUE",
}


def test_the_options_of_check_show_placeholders_a_person_reads(run: Run) -> None:
    text = run("check", "--help").stdout
    shown = dict(re.findall(r"^  (--[a-z-]+) ('[^']+'|\S+)", text, re.MULTILINE))
    assert {option: shown.get(option) for option in PLACEHOLDERS} == PLACEHOLDERS
    assert not re.search(r"<(list\[|str>|int|float)", text)  # Typer's type names
    assert "averaged and the disk I/O and network rates are measured" in " ".join(text.split())


# --- 7. the table's `where` column shows the labels JSON has ---------------------------------


def table_rows(text: str) -> list[list[str]]:
    """The rows of the first Rich table, a cell wrapped over several lines joined again."""
    rows: list[list[str]] = []
    for row in text.split("└")[0].splitlines():
        if not row.startswith("│"):
            continue
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def test_the_table_shows_every_database_metric_where_json_does(run: Run, tmp_path: Path) -> None:
    small_shop(tmp_path / "shop.db")
    args = ("--db", "shop.db", "--db-probe", "SELECT count(*) FROM products", "--requests", "2")
    _, report, _ = report_of(run, *args)
    table = run("check", "--interval", "0", *args).stdout
    database_rows = [(name, where) for name, where, *_ in table_rows(table) if "db=" in where]
    assert database_rows == [
        ("db_size_gb", "db=shop.db"),
        ("table_rows", "db=shop.db,table=products"),
        ("products_total", "db=shop.db"),
        ("db_query_p95_ms", "db=shop.db"),
    ]
    assert [(m["name"], m["labels"]) for m in report["metrics"] if "db" in m["labels"]] == [
        ("db_size_gb", {"db": "shop.db"}),
        ("table_rows", {"db": "shop.db", "table": "products"}),
        ("products_total", {"db": "shop.db"}),
        ("db_query_p95_ms", {"db": "shop.db"}),
    ]
