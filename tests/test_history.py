"""History of checks and trends: import, show, concurrent recording, forecasts."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.trend import forecasts, theil_sen

from .conftest import Run

Write = Callable[[str, str], Path]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
START = NOW - dt.timedelta(days=60)


def series_csv(
    values: Callable[[float], float],
    days: int = 60,
    every: float = 1.0,
    metric: str = "disk_percent",
    labels: str = "path=/",
) -> str:
    lines = ["timestamp,metric,value,labels"]
    day = 0.0
    while day <= days:
        moment = START + dt.timedelta(days=day)
        lines.append(f"{moment.isoformat()},{metric},{values(day):.6f},{labels}")
        day += every
    return "\n".join(lines) + "\n"


def trend_json(run: Run, db: Path, *args: str) -> dict[str, Any]:
    result = run("trend", "--history", db, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def only(data: dict[str, Any], metric: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in data["forecasts"] if f["metric"] == metric]
    assert len(found) == 1
    return found[0]


def days_from_start(date: str) -> float:
    return (dt.date.fromisoformat(date) - START.date()).days


def test_a_linear_series_gives_the_exact_dates(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    result = run(
        "history", "import", write("s.csv", series_csv(lambda d: 30 + 0.25 * d)), "--history", db
    )
    assert result.exit_code == 0 and "imported 61 records" in result.stdout
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["slope_per_day"] == pytest.approx(0.25)
    assert forecast["labels"] == {"path": "/"}
    # warning 70 at day 160, critical 85 at day 220
    assert abs(days_from_start(forecast["warning_at"]) - 160) <= 1
    assert abs(days_from_start(forecast["critical_at"]) - 220) <= 1
    assert "expand storage" in forecast["summary"]


def test_falling_and_flat_series_never_cross(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run("history", "import", write("a.csv", series_csv(lambda d: 60 - 0.2 * d)), "--history", db)
    flat = series_csv(lambda d: 50.0, metric="memory_percent", labels="")
    run("history", "import", write("b.csv", flat), "--history", db)
    data = trend_json(run, db)
    for metric in ("disk_percent", "memory_percent"):
        forecast = only(data, metric)
        assert forecast["warning_at"] is None and forecast["critical_at"] is None
        assert "not at this rate" in forecast["summary"]
    table = run("trend", "--history", db).stdout
    assert "never at this rate" in table


def test_one_outlier_barely_moves_the_forecast(run: Run, write: Write, tmp_path: Path) -> None:
    clean, noisy = tmp_path / "clean.db", tmp_path / "noisy.db"
    run(
        "history", "import", write("c.csv", series_csv(lambda d: 30 + 0.25 * d)), "--history", clean
    )
    run(
        "history",
        "import",
        write("n.csv", series_csv(lambda d: 99.0 if d == 58 else 30 + 0.25 * d)),
        "--history",
        noisy,
    )
    a, b = (
        only(trend_json(run, clean), "disk_percent"),
        only(trend_json(run, noisy), "disk_percent"),
    )
    for key in ("warning_at", "critical_at"):
        assert abs(days_from_start(a[key]) - days_from_start(b[key])) <= 3


def test_theil_sen_is_exact_on_a_line_and_robust_to_outliers() -> None:
    points = [(START + dt.timedelta(days=d), 10 + 2.0 * d) for d in range(20)]
    assert theil_sen(points).slope_per_day == pytest.approx(2.0)
    points[5] = (points[5][0], 1000.0)
    points[15] = (points[15][0], -500.0)
    fit = theil_sen(points)
    assert fit.slope_per_day == pytest.approx(2.0, rel=0.05)
    assert fit.value_at(START) == pytest.approx(10, abs=2)


def test_storage_forecast_names_the_next_tier() -> None:
    records = [
        history.Record(START + dt.timedelta(days=d), "storage_gb", 500 + 10 * d)
        for d in range(0, 61, 5)
    ]  # 1,100 GB now, 10 GB a day
    (forecast,) = forecasts(records, load_thresholds(), load_tiers(), NOW)
    assert forecast.tier is not None
    assert (forecast.tier.current, forecast.tier.next_tier) == ("scale", "enterprise")
    assert forecast.tier.needed_at is not None
    # scale holds 70 % of 2,000 GB = 1,400 GB: 30 days after the 1,100 GB of now
    assert abs((forecast.tier.needed_at - NOW).days - 30) <= 1


def test_not_enough_history_is_said(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run("history", "import", write("s.csv", series_csv(lambda d: 30.0, days=1)), "--history", db)
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["slope_per_day"] is None
    assert "not enough history" in forecast["summary"]


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
    assert result.stderr.startswith(f"capplan history: error: {path}:4: ")
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
    assert counts == {"cpu_percent": 8, "memory_percent": 8, "disk_percent": 8, "load_per_core": 8}
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


def test_trend_table_draws_a_chart(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run("history", "import", write("s.csv", series_csv(lambda d: 30 + 0.25 * d)), "--history", db)
    out = run("trend", "--history", db).stdout
    assert "disk_percent path=/ (• history, · projection, W warning, C critical)" in out
    assert "W--W" in out and "C--C" in out and "•" in out and "·" in out
