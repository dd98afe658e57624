"""Per-target health: every database, URL, access log and uploads directory has its own
capplan_target_up (blackbox_exporter's probe_success); a target that cannot be measured has no
other series, and the run's status names it even when a host WARNING outranks it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .check_servers import admin_url, free_port, http_server, postgres_server
from .conftest import Run

FAST = ("check", "--interval", "0")
HOST = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "load_per_core",
)


def thresholds(warning: float) -> list[str]:
    """Host thresholds that put every host metric at OK (1000) or at WARNING (0)."""
    return [
        f"--set=scaling_triggers.{name}.{level}={value}"
        for name in HOST
        for level, value in (("critical", 2000), ("warning", warning))
    ]


QUIET, BUSY = thresholds(1000), thresholds(0)


def shop(path: Path) -> Path:
    """A products table without the critical index on gtin: one missing index."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, gtin TEXT)")
        db.executemany("INSERT INTO products (gtin) VALUES (?)", [("1",), ("2",)])
    db.close()
    return path


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def test_a_database_that_cannot_be_opened_is_down_and_has_no_figures(
    run: Run, tmp_path: Path
) -> None:
    gone = tmp_path / "gone.db"
    result = run(*FAST, *QUIET, "--format", "prometheus", "--db", gone, "--label", "shop=eu")
    found = samples(result.stdout)
    assert ("capplan_target_up", {"target": "db", "db": str(gone), "shop": "eu"}, 0.0) in found
    of_the_database = [name for name, labels, _ in found if "db" in labels]
    assert of_the_database == ["capplan_target_up"]
    assert not any(name == "capplan_missing_indexes" for name, _, _ in found)


def test_missing_indexes_do_not_drop_to_a_fresh_zero_when_the_database_goes_down(
    run: Run, tmp_path: Path
) -> None:
    db = shop(tmp_path / "shop.db")
    before = samples(run(*FAST, *QUIET, "--format", "prometheus", "--db", db).stdout)
    assert ("capplan_missing_indexes", {"db": str(db)}, 1.0) in before
    assert ("capplan_target_up", {"target": "db", "db": str(db)}, 1.0) in before
    db.unlink()
    after = samples(run(*FAST, *QUIET, "--format", "prometheus", "--db", db).stdout)
    assert ("capplan_target_up", {"target": "db", "db": str(db)}, 0.0) in after
    assert not [name for name, _, _ in after if name == "capplan_missing_indexes"]
    assert not [name for name, _, _ in after if name in ("capplan_table_rows", "capplan_products")]


def test_a_down_database_is_named_on_the_nagios_line_under_a_host_warning(
    run: Run, tmp_path: Path
) -> None:
    gone = tmp_path / "gone.db"
    result = run(*FAST, *BUSY, "--format", "nagios", "--db", gone)
    status_line = result.stdout.splitlines()[0]
    assert result.exit_code == 1, status_line
    assert status_line.startswith("CAPPLAN WARNING - ")
    summary = status_line.split(" | ")[0]
    assert summary.endswith(f"; db {gone} UNKNOWN: no such SQLite file")


def test_a_down_target_never_lets_the_run_read_ok(run: Run, tmp_path: Path) -> None:
    result = run(*FAST, *QUIET, "--format", "prometheus", "--db", tmp_path / "gone.db")
    assert ("capplan_check_status", {}, 3.0) in samples(result.stdout)
    assert ("capplan_up", {}, 1.0) in samples(result.stdout)  # the run itself did its work
    assert result.exit_code == 3


@pytest.fixture
def server() -> Iterator[str]:
    with http_server() as url:
        yield url


def test_every_kind_of_target_has_its_own_up_gauge(run: Run, tmp_path: Path, server: str) -> None:
    db = shop(tmp_path / "shop.db")
    log = tmp_path / "access.log"
    closed = f"http://127.0.0.1:{free_port()}/health"
    result = run(
        *FAST, *QUIET, "--format", "prometheus", "--requests", "2",
        "--db", db, "--url", f"{server}/broken", "--url", closed,
        "--access-log", log, "--uploads", tmp_path / "no-uploads",
    )  # fmt: skip
    up = {
        tuple(sorted(labels.items())): value
        for name, labels, value in samples(result.stdout)
        if name == "capplan_target_up"
    }
    assert up == {
        (("db", str(db)), ("target", "db")): 1.0,
        (("target", "url"), ("url", f"{server}/broken")): 1.0,  # it answered, with 500s
        (("target", "url"), ("url", closed)): 0.0,
        (("log", str(log)), ("target", "log")): 0.0,
        (("path", str(tmp_path / "no-uploads")), ("target", "uploads")): 0.0,
    }
    series = samples(result.stdout)
    assert not [n for n, labels, _ in series if labels.get("url") == closed][1:]
    assert not [n for n, labels, _ in series if labels.get("log") == str(log)][1:]
    assert [v for n, labels, v in series if n == "capplan_api_error_ratio"] == [1.0]


def test_json_lists_the_targets_with_their_reasons(run: Run, tmp_path: Path) -> None:
    db = shop(tmp_path / "shop.db")
    log = tmp_path / "access.log"
    result = run(*FAST, *QUIET, "--format", "json", "--db", db, "--access-log", log)
    assert json.loads(result.stdout)["targets"] == [
        {"kind": "log", "label": str(log), "up": False, "reason": "no such file"},
        {"kind": "db", "label": str(db), "up": True, "reason": ""},
    ]


@pytest.mark.slow
def test_a_wrong_password_makes_the_database_down_without_showing_it(
    run: Run, tmp_path: Path
) -> None:
    with postgres_server() as port:
        wrong = admin_url(port).replace("capplan:", "capplan:not-the-Password-9", 1)
        shown = f"postgresql://127.0.0.1:{port}/postgres"  # its parts: no user, no password
        prometheus = run(*FAST, *QUIET, "--format", "prometheus", "--db", wrong)
        nagios = run(*FAST, *BUSY, "--format", "nagios", "--db", wrong)
    up = [(labels, v) for n, labels, v in samples(prometheus.stdout) if n == "capplan_target_up"]
    assert up == [({"target": "db", "db": shown}, 0.0)]
    assert not [n for n, labels, _ in samples(prometheus.stdout) if "db" in labels][1:]
    first = nagios.stdout.splitlines()[0]
    assert first.startswith("CAPPLAN WARNING - ") and f"; db {shown} UNKNOWN: " in first
    assert "not-the-Password" not in prometheus.stdout + nagios.stdout
