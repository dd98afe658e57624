"""The history of checks: import, show, concurrent recording."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Run
from .histories import NOW, START, Write, series_csv


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("yesterday,disk_percent,5,", "timestamp 'yesterday': expected ISO 8601"),
        (f"{NOW.isoformat()},disk_pct,5,", "metric 'disk_pct': expected one of"),
        (f"{NOW.isoformat()},disk_percent,lots,", "value 'lots': expected a number"),
        (f"{NOW.isoformat()},disk_percent,nan,", "expected a finite number"),
        (f"{NOW.isoformat()},disk_percent,5,path", "labels 'path': expected key=value"),
        (f"{NOW.isoformat()},disk_percent", "expected 3 or 4 fields"),
    ],
)
def test_a_malformed_csv_is_refused_by_line_and_imports_nothing(
    run: Run, write: Write, tmp_path: Path, bad_line: str, message: str
) -> None:
    db = tmp_path / "h.db"
    lines = series_csv(lambda d: 30.0, days=3).splitlines()
    lines.insert(3, bad_line)
    path = write("bad.csv", "\n".join(lines) + "\n")
    result = run("history", "import", path, "--history", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan history import: error: {path}:4: ")
    assert message in result.stderr and "nothing was imported" in result.stderr
    assert (
        not db.exists()
        or not sqlite3.connect(db).execute("SELECT count(*) FROM records").fetchone()[0]
    )


def test_wrong_columns_are_refused(run: Run, write: Write, tmp_path: Path) -> None:
    result = run(
        "history", "import", write("x.csv", "time,name,value\n"), "--history", tmp_path / "h.db"
    )
    assert result.exit_code == 2
    assert "expected the columns timestamp,metric,value[,labels]" in result.stderr


@pytest.mark.slow
def test_eight_concurrent_checks_leave_eight_complete_records(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    env = {**os.environ, "CAPPLAN_HISTORY": str(db)}
    command = [
        sys.executable,
        "-m",
        "capplan",
        "check",
        "--interval",
        "0",
        "--record",
        "--format",
        "json",
    ]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    for process in processes:
        _, error = process.communicate(timeout=120)
        assert process.returncode in (0, 1, 2), error
    with sqlite3.connect(db) as connection:
        counts = dict(
            connection.execute("SELECT metric, count(*) FROM records GROUP BY metric").fetchall()
        )
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"cpu_percent", "memory_percent", "disk_percent", "load_per_core"} <= set(counts)
    assert set(counts.values()) == {8}  # every metric of every check, disk I/O and network too
    assert mode == "wal"


def test_history_show_filters(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run("history", "import", write("a.csv", series_csv(lambda d: 30 + d, days=10)), "--history", db)
    run(
        "history",
        "import",
        write("b.csv", series_csv(lambda d: 5.0, days=10, metric="cpu_percent", labels="")),
        "--history",
        db,
    )
    every = json.loads(run("history", "show", "--history", db, "-f", "json").stdout)["records"]
    assert len(every) == 22
    disk = json.loads(
        run("history", "show", "--history", db, "--metric", "disk_percent", "-f", "json").stdout
    )["records"]
    assert len(disk) == 11 and {r["metric"] for r in disk} == {"disk_percent"}
    assert disk[0] == {
        "timestamp": START.isoformat(),
        "metric": "disk_percent",
        "labels": {"path": "/"},
        "value": 30,
        "status": None,
    }
    since = (START + dt.timedelta(days=8)).date().isoformat()
    recent = json.loads(
        run("history", "show", "--history", db, "--since", since, "-f", "json").stdout
    )["records"]
    assert len(recent) == 6  # days 8, 9, 10 of both metrics (START's time of day is passed)
    assert all(r["timestamp"] >= since for r in recent)
    bad = run("history", "show", "--history", db, "--since", "last week")
    assert bad.exit_code == 2 and "--since last week" in bad.stderr


def test_history_without_a_database_says_so(run: Run, tmp_path: Path) -> None:
    result = run("trend", "--history", tmp_path / "none.db")
    assert result.exit_code == 2
    assert "no history yet" in result.stderr
    assert not (tmp_path / "none.db").exists()
