"""`capplan trend`: Theil-Sen forecasts, threshold dates, the next tier, charts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.trend import forecasts, theil_sen

from .conftest import Run
from .histories import NOW, START, Write, days_from_start, only, series_csv, trend_json


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
        history.Record(START + dt.timedelta(days=d), "storage_gb", {}, 500 + 10 * d)
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


def test_trend_table_draws_a_chart(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run("history", "import", write("s.csv", series_csv(lambda d: 30 + 0.25 * d)), "--history", db)
    out = run("trend", "--history", db).stdout
    assert "disk_percent path=/ (• history, · projection, W warning, C critical)" in out
    assert "W--W" in out and "C--C" in out and "•" in out and "·" in out
