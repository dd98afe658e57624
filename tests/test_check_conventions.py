"""The conventions of the systems `capplan check` plugs into: Nagios/Icinga plugins (a status line
on every run, errors included; exit 3 for every usage error; perfdata in the unit its UOM says)
and the Prometheus textfile collector (promtool's lint; several checks in one directory with no
series collision; a failed run still rewrites its file). promtool and node_exporter are the real
programs, started by the tests."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .check_servers import free_port, http_server, system_binary
from .conftest import Run

FAST = ("check", "--interval", "0")
HOST = ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
# thresholds no host reaches, so that a test decides the status
GENEROUS = [
    f"--set=scaling_triggers.{name}.{level}={value}"
    for name in HOST
    for level, value in (("critical", 2000), ("warning", 1000))
]


@pytest.fixture
def server() -> Iterator[str]:
    with http_server() as url:
        yield url


def small_db(path: Path, products: int) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, gtin TEXT)")
        db.executemany(
            "INSERT INTO products (gtin) VALUES (?)", [(str(n),) for n in range(products)]
        )
    db.close()
    return path


def uploads_tree(root: Path) -> Path:
    folder = root / "products" / "ab" / "cd"
    folder.mkdir(parents=True)
    for n in range(3):
        (folder / f"{n:064x}_200.webp").write_bytes(b"RIFF" + bytes(60))
    return root


# --- Nagios / Icinga ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--bogus",), "No such option: --bogus"),
        (("--db",), "Option '--db' requires an argument."),
        (("--interval",), "Option '--interval' requires an argument."),
        (("--interval", "inf"), "expected a number of seconds from 0 to 3600"),
        (("--interval", "nan"), "--interval': expected a number of seconds from 0 to 3600"),
        (("--interval", "-1"), "--interval': expected a number of seconds from 0 to 3600"),
        (("--timeout", "inf"), "expected a number of seconds from 0.001 to 3600"),
        (("--timeout", "nan"), "expected a number of seconds from 0.001 to 3600"),
        (("--requests", "0"), "--requests"),
        (("--label", "bad label=x"), "expected KEY=VALUE"),
        (("--label", "path=x"), "path is a label of capplan's own"),
        (("--set", "scaling_triggers.cpu_percent.warning=99"), "must be below critical"),
        (("--db", "mysql://u:pw@db/shop"), "unsupported scheme mysql://"),
    ],
)
def test_every_usage_error_prints_the_status_line_and_exits_3(
    run: Run, args: tuple[str, ...], reason: str
) -> None:
    base = ("check",) if "--interval" in args else FAST  # an option given twice is refused
    result = run(*base, "--format", "nagios", *args)
    assert result.exit_code == 3
    assert result.stdout.startswith("CAPPLAN UNKNOWN - ") and result.stdout.count("\n") == 1
    assert reason in result.stdout and "|" not in result.stdout
    assert result.stderr.startswith("capplan check: error: ") and result.stderr.count("\n") == 1


def test_the_status_line_goes_where_the_output_goes(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "status.txt"
    result = run("check", "--format", "nagios", "--output", target, "--interval", "-1")
    assert result.exit_code == 3 and result.stdout == ""
    assert target.read_text(encoding="utf-8").startswith("CAPPLAN UNKNOWN - Invalid value")


def test_other_formats_get_no_status_line_on_error(run: Run) -> None:
    result = run(*FAST, "--format", "json", "--bogus")
    assert (result.exit_code, result.stdout) == (3, "")


def test_debug_shows_the_traceback_and_keeps_the_exit_code(run: Run) -> None:
    result = run("--debug", *FAST, "--format", "nagios", "--db", "mysql://u:Pw-secret@db/x")
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "Pw-secret" not in result.stdout + result.stderr
    assert result.stdout.startswith("CAPPLAN UNKNOWN - --db mysql://db/x: unsupported")


def test_perfdata_values_are_in_the_unit_their_uom_says(run: Run, tmp_path: Path) -> None:
    db = small_db(tmp_path / "shop.db", 3)
    uploads = uploads_tree(tmp_path / "uploads")
    result = run(*FAST, *GENEROUS, "--format", "nagios", "--db", db, "--uploads", uploads)
    perfdata = dict(
        item.split("=", 1) for item in result.stdout.splitlines()[0].partition(" | ")[2].split()
    )
    assert perfdata["db_size"] == f"{db.stat().st_size}B;20000000000;24000000000;0;"
    storage = next(value for label, value in perfdata.items() if label.startswith("'storage_"))
    assert storage.startswith(f"{3 * 64}B;800000000000;950000000000;")
    assert not any("_gb" in label for label in perfdata)
    assert perfdata["products_total"] == "3;400000;475000;0;"
    assert perfdata["table_rows_products"].startswith("3;")


# --- Prometheus -------------------------------------------------------------------------------


def test_promtool_has_no_complaint_about_a_full_check(
    run: Run, tmp_path: Path, server: str
) -> None:
    promtool = system_binary("promtool", "prometheus")
    db = small_db(tmp_path / "shop.db", 5)
    uploads = uploads_tree(tmp_path / "uploads")
    result = run(
        *FAST, "--format", "prometheus", "--db", db, "--uploads", uploads, "--url",
        f"{server}/open", "--requests", "2", "--label", "site=eu1",
    )  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    for name in ("capplan_db_size_bytes", "capplan_storage_bytes", "capplan_products"):
        assert name in families, name
    assert "capplan_api_latency_p95_seconds" in families
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=result.stdout, capture_output=True, text=True
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


def test_every_series_carries_the_run_labels_and_its_target(
    run: Run, tmp_path: Path, server: str
) -> None:
    db = small_db(tmp_path / "shop.db", 5)
    result = run(
        *FAST, "--format", "prometheus", "--db", db, "--url", f"{server}/open",
        "--requests", "1", "--label", "site=eu1", "--label", "role=primary",
    )  # fmt: skip
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            assert (sample.labels["site"], sample.labels["role"]) == ("eu1", "primary"), sample
            if family.name in ("capplan_table_rows", "capplan_products", "capplan_db_size_bytes"):
                assert sample.labels["db"] == str(db)
            if family.name.startswith("capplan_api_"):
                assert sample.labels["url"] == f"{server}/open"
    up = next(f for f in text_string_to_metric_families(result.stdout) if f.name == "capplan_up")
    assert up.samples[0].value == 1


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def textfile_errors(directory: Path) -> str:
    """What a real node_exporter's textfile collector says about the directory."""
    exporter = system_binary("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={directory}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
                    scraped = response.read().decode()
                break
            except OSError:
                time.sleep(0.05)
        assert "node_textfile_scrape_error 0" in scraped
    finally:
        process.terminate()
        _, log = process.communicate(timeout=10)
    return "\n".join(line for line in log.splitlines() if "level=error" in line)


def test_two_databases_share_one_textfile_directory(run: Run, tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    for name in ("eu", "us"):
        db = small_db(tmp_path / f"{name}.db", 2)
        result = run(
            *FAST, "--format", "prometheus", "--db", db, "--label", f"shop={name}",
            "--output", directory / f"capplan-{name}.prom",
        )  # fmt: skip
        assert result.stdout == ""
    eu, us = (series((directory / f"capplan-{n}.prom").read_text()) for n in ("eu", "us"))
    assert eu and us and not eu & us
    assert textfile_errors(directory) == ""


def test_without_their_own_label_two_checks_collide(run: Run, tmp_path: Path) -> None:
    """Why --label exists: the host's series are the same in both files."""
    directory = tmp_path / "textfile"
    directory.mkdir()
    for name in ("eu", "us"):
        db = small_db(tmp_path / f"{name}.db", 2)
        run(*FAST, "--format", "prometheus", "--db", db, "-o", directory / f"{name}.prom")
    assert "was collected before with the same name and label values" in (
        textfile_errors(directory)
    )


def test_a_failed_run_rewrites_its_textfile_with_up_0(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "capplan.prom"
    ok = run(*FAST, "--format", "prometheus", "--label", "shop=eu", "-o", target)
    assert ok.exit_code in (0, 1, 2)
    before = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert before["capplan_up"].samples[0].value == 1
    time.sleep(0.01)
    failed = run(
        *FAST, "--format", "prometheus", "--label", "shop=eu", "-o", target, "--db",
        "mysql://u:pw@db/x",
    )  # fmt: skip
    assert failed.exit_code == 3
    after = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert set(after) == {
        "capplan_up",
        "capplan_last_run_timestamp_seconds",
        "capplan_check_status",
    }
    assert after["capplan_up"].samples[0].value == 0
    assert after["capplan_up"].samples[0].labels == {"shop": "eu"}
    assert after["capplan_check_status"].samples[0].value == 3
    stamp = after["capplan_last_run_timestamp_seconds"].samples[0].value
    assert stamp > before["capplan_last_run_timestamp_seconds"].samples[0].value
    assert abs(stamp - time.time()) < 60
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    promtool = system_binary("promtool", "prometheus")
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=target.read_text(), capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_products_gauge_has_no_counter_suffix(run: Run, tmp_path: Path) -> None:
    result = run(*FAST, "--format", "prometheus", "--db", small_db(tmp_path / "s.db", 4))
    names = {f.name for f in text_string_to_metric_families(result.stdout)}
    assert "capplan_products" in names
    assert not [name for name in names if re.search(r"_total$", name)]
