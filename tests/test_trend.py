"""`capplan trend`: the dates the fit crosses the thresholds (past ones included), the age of the
history, the next tier, charts; bounded dates; the fast path and the reference path agree."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.metrics import Measurement, evaluate
from capplan.trend import Fit, Reach, forecasts, theil_sen

from .conftest import Run
from .histories import (
    DAY,
    NOW,
    START,
    Write,
    day_of,
    imported,
    one_line,
    only,
    series_csv,
    trend_json,
)


def test_a_series_that_ended_60_days_ago_gives_the_fit_dates_and_its_age(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    start = NOW - 120 * DAY
    imported(run, write, db, series_csv(lambda d: 30 + 0.25 * d, start=start))  # ends NOW - 60 d
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["latest"] == 45 and forecast["status"] == "OK"
    assert forecast["warning_at"] == day_of(start + 160 * DAY)  # 30 + 0.25 d = 70
    assert forecast["critical_at"] == day_of(start + 220 * DAY)  # 30 + 0.25 d = 85
    assert forecast["last_point"] == (NOW - 60 * DAY).isoformat()
    assert (forecast["age_days"], forecast["stale"]) == (60, True)
    ends = day_of(NOW - 60 * DAY)
    assert forecast["summary"] == (
        f"disk_percent on /: +7.5 points a month, warning on {day_of(start + 160 * DAY)}, "
        f"critical on {day_of(start + 220 * DAY)}: expand storage; "
        f"history ends {ends}, 60 days ago: record fresh data"
    )
    table = run("trend", "--history", tmp_path / "h.db").stdout
    assert f"{ends}, 60 days ago" in table
    fresh = only(trend_json(run, db, "--stale", "90"), "disk_percent")
    assert fresh["stale"] is False and "history ends" not in fresh["summary"]


def test_a_crossing_in_the_past_is_dated_not_extrapolated_to_today(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    start = NOW - 120 * DAY
    imported(run, write, db, series_csv(lambda d: 30 + 0.5 * d, start=start))  # 60 at NOW - 60 d
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["status"] == "OK"  # its last value, 60, is below warning
    assert forecast["warning_at"] == day_of(start + 80 * DAY)  # NOW - 40 days
    assert forecast["critical_at"] == day_of(start + 110 * DAY)  # NOW - 10 days
    assert (
        f"warning since {day_of(start + 80 * DAY)}, critical since {day_of(start + 110 * DAY)}"
        in forecast["summary"]
    )
    assert f"since {day_of(start + 80 * DAY)}" in run("trend", "--history", db).stdout


def test_a_series_that_ends_today_is_not_stale(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30 + 0.25 * d))  # START to NOW
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["slope_per_day"] == pytest.approx(0.25)
    assert forecast["warning_at"] == day_of(START + 160 * DAY)
    assert forecast["critical_at"] == day_of(START + 220 * DAY)
    assert forecast["last_point"] == NOW.isoformat()
    assert (forecast["age_days"], forecast["stale"]) == (0, False)
    assert "history ends" not in forecast["summary"]
    assert "expand storage" in forecast["summary"]


@pytest.mark.parametrize("ended_days_ago", [0, 60])
@pytest.mark.parametrize(
    ("values", "warning_day", "critical_day"),
    [((30, 31, 32), 120, 165), ((30, 40, 50), 12, 16.5)],
    ids=["slow", "steep"],
)
def test_three_points_from_one_week_give_exact_dates(
    run: Run,
    write: Write,
    tmp_path: Path,
    ended_days_ago: int,
    values: tuple[float, float, float],
    warning_day: float,
    critical_day: float,
) -> None:
    db = tmp_path / "h.db"
    first = NOW - (ended_days_ago + 6) * DAY
    rows = [
        f"{(first + 3 * i * DAY).isoformat()},disk_percent,{v},path=/" for i, v in enumerate(values)
    ]
    imported(run, write, db, "timestamp,metric,value,labels\n" + "\n".join(rows) + "\n")
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["status"] == "OK" and forecast["points"] == 3
    warning, critical = first + warning_day * DAY, first + critical_day * DAY
    assert (forecast["warning_at"], forecast["critical_at"]) == (day_of(warning), day_of(critical))
    assert "already" not in forecast["summary"]
    said = "since" if warning <= NOW else "on"
    assert f"warning {said} {day_of(warning)}" in forecast["summary"]
    assert forecast["stale"] is (ended_days_ago > 7)


def test_falling_and_flat_series_never_cross(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 60 - 0.2 * d), "a.csv")
    imported(run, write, db, series_csv(lambda d: 50.0, metric="memory_percent", labels=""))
    data = trend_json(run, db)
    for metric in ("disk_percent", "memory_percent"):
        forecast = only(data, metric)
        assert forecast["warning_at"] is None and forecast["critical_at"] is None
        assert "warning not at this rate, critical not at this rate" in forecast["summary"]
    rows = [line for line in run("trend", "--history", db).stdout.splitlines() if "│" in line]
    cells = [[cell.strip() for cell in line.split("│")] for line in rows]
    assert [row[6:8] for row in cells] == [["never", "never"], ["never", "never"]]


def test_a_falling_series_above_its_levels_is_there_already(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 99 - 0.1 * d))
    forecast = only(trend_json(run, db), "disk_percent")
    assert forecast["status"] == "CRITICAL"
    assert (forecast["warning_at"], forecast["critical_at"]) == (None, None)
    assert "warning already, critical already: expand storage" in forecast["summary"]


@pytest.mark.parametrize(
    ("metric", "labels", "values"),
    [
        ("table_rows", "table=orders", lambda d: 10 + 50 * d / 60),  # towards 10,000,000 rows
        ("disk_percent", "path=/", lambda d: 30 + 1e-5 * d),
        ("storage_gb", "", lambda d: 10 + 1e-6 * d),
        ("products_total", "", lambda d: 100 + 1e-3 * d),
    ],
    ids=["table_rows", "disk_percent", "storage_gb", "products_total"],
)
def test_a_crossing_after_a_century_is_not_within_100_years(
    run: Run, write: Write, tmp_path: Path, metric: str, labels: str, values: object
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(values, metric=metric, labels=labels))  # type: ignore[arg-type]
    result = run("trend", "--history", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    forecast = only(trend_json(run, db), metric)
    assert forecast["critical_at"] is None and forecast["next_tier_at"] is None
    assert "not within 100 years" in forecast["summary"]
    assert run("trend", "--history", db).exit_code == 0
    assert "> 100 years" in run("trend", "--history", db).stdout


def test_a_level_crossed_before_a_century_ago_is_there_already() -> None:
    points = [(START + d * DAY, 2_000_000 + 0.001 * d) for d in range(30)]
    records = [history.Record(t, "table_rows", {"table": "t"}, v) for t, v in points]
    (forecast,) = forecasts(records, load_thresholds(), load_tiers(), NOW)
    assert forecast.warning is not None and forecast.warning.reach is Reach.ABOVE


def test_a_percentage_is_never_projected_past_100() -> None:
    fit = Fit(slope_per_day=2.0, intercept=50.0, start=START, ceiling=100.0)
    assert fit.value_at(START + 10 * DAY) == 70
    assert fit.value_at(START + 1000 * DAY) == 100
    assert fit.value_at(START - 1000 * DAY) == 0
    assert fit.crossing(99.0, START, NOW).reach is Reach.ON
    assert fit.crossing(150.0, START, NOW).reach is Reach.NEVER


def test_a_level_above_100_percent_is_never_reached(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30 + d))
    args = ("--set", "scaling_triggers.disk_percent.critical=150")
    forecast = only(trend_json(run, db, *args), "disk_percent")
    assert forecast["critical_at"] is None and "critical not at this rate" in forecast["summary"]
    chart = run("trend", "--history", db, *args).stdout
    top = next(line for line in chart.splitlines() if line.rstrip().endswith("C--C"))
    assert float(top.split("|")[0]) == 150  # the level is drawn, the projection stays at 100


def test_one_outlier_barely_moves_the_forecast(run: Run, write: Write, tmp_path: Path) -> None:
    clean, noisy = tmp_path / "clean.db", tmp_path / "noisy.db"
    imported(run, write, clean, series_csv(lambda d: 30 + 0.25 * d), "c.csv")
    imported(run, write, noisy, series_csv(lambda d: 99.0 if d == 58 else 30 + 0.25 * d), "n.csv")
    a = only(trend_json(run, clean), "disk_percent")
    b = only(trend_json(run, noisy), "disk_percent")
    for key in ("warning_at", "critical_at"):
        gap = dt.date.fromisoformat(a[key]) - dt.date.fromisoformat(b[key])
        assert abs(gap.days) <= 3


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
    # scale holds 70 % of 2,000 GB = 1,400 GB: 30 days after the 1,100 GB of now
    assert forecast.tier.needed_at == NOW + 30 * DAY


def test_a_stale_storage_series_says_when_the_disk_was_full(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    start = NOW - 90 * DAY
    imported(
        run,
        write,
        db,
        series_csv(lambda d: 1000 + 10 * d, days=30, metric="storage_gb", labels="", start=start),
    )
    forecast = only(trend_json(run, db), "storage_gb")
    full = start + 40 * DAY  # 1,400 GB, 50 days ago
    assert forecast["next_tier"] == "enterprise" and forecast["next_tier_at"] == day_of(full)
    assert f"scale's disk was full on {day_of(full)}: move to enterprise" in forecast["summary"]


def test_not_enough_history_counts_distinct_timestamps(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    stamps = [START, START, START + DAY]
    rows = [f"{t.isoformat()},cpu_percent,{10 + i}" for i, t in enumerate(stamps)]
    imported(run, write, db, "timestamp,metric,value\n" + "\n".join(rows) + "\n")
    forecast = only(trend_json(run, db), "cpu_percent")
    assert forecast["slope_per_day"] is None and forecast["points"] == 2
    assert "not enough history (2 distinct timestamps over 24 h; " in forecast["summary"]
    records = [history.Record(t, "cpu_percent", {}, 10.0 + i) for i, t in enumerate(stamps)]
    (reference,) = forecasts(records, load_thresholds(), load_tiers(), NOW)
    assert reference.fit is None and reference.count == 2


@pytest.mark.parametrize("stale", ["-1", "36501", "a week"])
def test_a_bad_stale_is_a_usage_error(run: Run, write: Write, tmp_path: Path, stale: str) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0))
    result = run("trend", "--history", db, "--stale", stale)
    assert result.exit_code == 2 and one_line(result.stderr) and "--stale" in result.stderr


def test_trend_table_draws_a_chart(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30 + 0.25 * d))
    out = run("trend", "--history", db).stdout
    assert "disk_percent path=/ (• history, · projection, W warning, C critical)" in out
    assert "W--W" in out and "C--C" in out and "•" in out and "·" in out


def test_a_negative_value_in_an_older_history_does_not_break_trend(
    run: Run, tmp_path: Path
) -> None:
    """Before values were checked, an import could store a negative row count."""
    db = tmp_path / "h.db"
    thresholds = load_thresholds()
    for day, value in ((0, 5.0), (1, 2.0), (2, -1.0)):
        metric = evaluate(Measurement("table_rows", max(value, 0.0), {"table": "t"}), thresholds)
        history.record_metrics(db, [replace(metric, value=value)], START + day * DAY)
    forecast = only(trend_json(run, db), "table_rows")
    assert forecast["latest"] == -1 and forecast["status"] == "OK"


def test_a_history_with_nothing_to_fit_says_what_to_do(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0, days=3))
    result = run("trend", "--history", db, "--metric", "cpu_percent")
    assert result.exit_code == 0
    assert "no records to fit: record some with `capplan check --record`" in result.stdout
    assert trend_json(run, db, "--metric", "cpu_percent")["forecasts"] == []


@pytest.mark.parametrize(
    ("gap", "fitted", "said"),
    [
        (dt.timedelta(seconds=1), False, "3 distinct timestamps over 2 s"),
        (dt.timedelta(minutes=20), False, "3 distinct timestamps over 40 min"),
        (dt.timedelta(hours=11), False, "3 distinct timestamps over 22 h"),
        (dt.timedelta(hours=12), True, "a month"),
    ],
)
def test_a_forecast_needs_a_day_of_history(
    run: Run, write: Write, tmp_path: Path, gap: dt.timedelta, fitted: bool, said: str
) -> None:
    """Three checks a second apart do not tell how memory grows in a month."""
    db = tmp_path / "h.db"
    end = NOW - dt.timedelta(minutes=1)
    stamps = [end - 2 * gap, end - gap, end]
    rows = [f"{t.isoformat()},memory_percent,{2 + i}" for i, t in enumerate(stamps)]
    run(
        "history",
        "import",
        write("m.csv", "timestamp,metric,value\n" + "\n".join(rows) + "\n"),
        "--history",
        db,
    )
    forecast = only(trend_json(run, db), "memory_percent")
    assert (forecast["slope_per_day"] is not None) is fitted
    assert said in forecast["summary"]
    if not fitted:
        assert forecast["warning_at"] is None and forecast["critical_at"] is None
