"""`capplan report`: the Platform Health page from a history with known slopes. Its alert dates are
the trend command's; its sections render without a mix and gain the projection with one; values
are text, never markup; bad input is one line and writes nothing. (In a real browser:
test_report_browser.py.)"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan import history
from capplan.check import host_tier
from capplan.check.host import size
from capplan.config import load_thresholds, load_tiers
from capplan.health import HostTier, When, alerts, parse_horizon, tier_needs
from capplan.metrics import Status
from capplan.output.charts import HEIGHT, LEFT, TOP, WIDTH, chart
from capplan.output.formats import Format
from capplan.output.report import Report, render
from capplan.trend import forecasts

from .conftest import EXAMPLES, ROOT, Run
from .histories import DAY, NOW, START, Write, day_of, imported, one_line, series_csv, trend_json
from .report_histories import (
    EXPECTED_ALERTS,
    INJECTED,
    SERIES,
    page_table,
    platform_csv,
    platform_history,
)

SCALE = ("--host-tier", "scale")
START_PLUS_100 = day_of(START + 100 * DAY)  # memory at 80 %


def page(run: Run, db: Path, out: Path, *args: str | Path) -> str:
    result = run("report", "--history", db, "-o", out, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    return out.read_text(encoding="utf-8")


def report_json(run: Run, db: Path, *args: str | Path) -> dict[str, Any]:
    result = run("report", "--history", db, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def crossing_in_trend(trend: dict[str, Any], metric: str, where: str, level: str) -> str:
    labels = {} if where == "-" else dict([where.split("=", 1)])
    (forecast,) = [f for f in trend["forecasts"] if (f["metric"], f["labels"]) == (metric, labels)]
    date: str = forecast[f"{level.lower()}_at"]
    return date


def test_the_alert_dates_are_the_trend_commands_dates(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    html = page(run, db, tmp_path / "health.html", *SCALE)
    trend = trend_json(run, db)
    rows = page_table(html, "alerts")
    shown = [(cells[0], cells[1], cells[2], dates[0]) for cells, dates in rows]
    assert shown == [(level, m, where, date) for level, m, where, _, date in EXPECTED_ALERTS]
    for level, metric, where, date in shown:
        assert date == crossing_in_trend(trend, metric, where, level)
    said = [cells[3] for cells, _ in rows]
    assert said[:2] == ["now", "now"]
    assert said[2] == "in 15 days"  # day 75 of a history that ends on day 60


def test_the_json_holds_the_same_alerts_and_the_next_tier(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    data = report_json(run, db, *SCALE)
    trend = trend_json(run, db)
    alerts_shown = [
        (a["level"], a["metric"], ",".join(f"{k}={v}" for k, v in a["labels"].items()) or "-")
        for a in data["alerts"]
    ]
    assert alerts_shown == [(level, m, where) for level, m, where, _, _ in EXPECTED_ALERTS]
    assert [a["when"] for a in data["alerts"]] == [w for *_, w, _ in EXPECTED_ALERTS]
    assert [a["date"] for a in data["alerts"]] == [d for *_, d in EXPECTED_ALERTS]

    def key(forecast: dict[str, Any]) -> str:
        return json.dumps([forecast["metric"], forecast["labels"]])

    # the same forecasts as `capplan trend` (in the order of the metrics, not of their names)
    assert sorted(data["forecasts"], key=key) == sorted(trend["forecasts"], key=key)
    assert data["host"] == {"tier": "scale", "given": True, "vcpu": None, "ram_gb": None}
    # memory is WARNING now: the tier above Scale, now; the disk fills Scale on day 225
    assert (data["next_tier"], data["next_tier_at"]) == ("enterprise", None)
    storage = [n for n in data["tier_needs"] if n["metric"] == "storage_gb"]
    storage_trend = next(f for f in trend["forecasts"] if f["metric"] == "storage_gb")
    assert storage == [
        {
            "tier": "enterprise",
            "date": storage_trend["next_tier_at"],
            "metric": "storage_gb",
            "labels": {},
            "reason": "storage_gb fills Scale's disk",
        }
    ]
    assert storage_trend["next_tier_at"] == day_of(START + 225 * DAY)  # 1,400 GB


def test_without_a_mix_every_section_renders_from_the_measurements(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    html = page(run, db, tmp_path / "health.html", *SCALE)
    titles = re.findall(r"<h2 id=\"[a-z]+-title\">([^<]+)</h2>", html)
    assert titles == [
        "1. Current usage",
        "2. Growth trends",
        "3. Threshold alerts",
        "4. Scaling recommendations",
        "5. Inputs",
    ]
    current = page_table(html, "current")
    assert len(current) == len(SERIES)
    memory = next(cells for cells, _ in current if cells[0] == "memory_percent")
    assert memory[2:6] == ["76.0 %", "WARNING", "75 %", "90 %"]
    metrics = sorted({metric for metric, _, _ in SERIES})
    assert sorted(re.findall(r'<svg class="trend" data-metric="([a-z_]+)"', html)) == metrics
    assert 'Host tier: <strong class="host-tier">Scale</strong>' in html
    assert 'Next tier: <strong class="next-tier">Enterprise</strong>, needed now' in html
    assert "Give <code>--mix mix.yaml</code>" in html
    needs = page_table(html, "needs")
    assert [(cells[0], cells[1]) for cells, _ in needs] == [
        ("Enterprise", "now"),
        ("Enterprise", f"on {day_of(START + 225 * DAY)} (in 165 days)"),
        ("Enterprise", f"on {day_of(START + 300 * DAY)} (in 240 days)"),
    ]


def test_with_a_mix_the_page_shows_the_projection(run: Run, write: Write, tmp_path: Path) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    mix = EXAMPLES / "growing.yaml"
    html = page(run, db, tmp_path / "health.html", *SCALE, "--mix", mix)
    projected = json.loads(run("project", "--mix", mix, "--format", "json").stdout)
    tier = next(
        t
        for t in load_tiers().infrastructure_tiers
        if t.id == projected["recommendation"]["infra_tier"]
    )
    assert f'<dd class="projection-tier">{tier.name}</dd>' in html
    assert f"<dd>{projected['recommendation']['binding']}</dd>" in html
    assert f"<dd>{projected['costs']['gross_margin_pct']:.1f} %</dd>" in html
    transitions = [e for e in projected["events"] if e["kind"] == "transition"]
    assert transitions
    listed = re.findall(r"<li>month (\d+): ([^<(]+?) \(", html)
    assert listed == [(str(e["month"]), e["what"].replace(">", "&gt;")) for e in transitions]
    assert str(mix) in html
    data = report_json(run, db, *SCALE, "--mix", mix)
    assert data["projection"]["recommendation"] == projected["recommendation"]


def test_a_script_in_a_label_is_shown_as_text(run: Run, write: Write, tmp_path: Path) -> None:
    db = platform_history(run, write, tmp_path / "h.db", inject=True)
    html = page(run, db, tmp_path / "health.html", *SCALE)
    assert "<script" not in html.lower()
    escaped = "&lt;script&gt;document.title=&#39;INJECTED&#39;&lt;/script&gt;"
    assert html.count(escaped) >= 3  # current usage, the chart's legend, its numbers
    where = [cells[1] for cells, _ in page_table(html, "current") if cells[0] == "disk_percent"]
    assert f"path={INJECTED}" in where


def test_the_page_asks_for_nothing_from_outside(run: Run, write: Write, tmp_path: Path) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    html = page(run, db, tmp_path / "health.html", *SCALE, "--mix", EXAMPLES / "mix.yaml")
    for needle in ("http:", "https:", "src=", "url(", "@import", "<link", "<iframe", "<script"):
        assert needle not in html.lower(), needle
    assert "default-src 'none'" in html and "script-src" not in html  # no script at all
    assert "@media print" in html


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("missing", (), "no history yet"),
        ("pruned", (), "has no records: record some with `capplan check --record`"),
        ("platform", ("--since", "2999-01-01"), "--since 2999-01-01: is in the future"),
        ("platform", ("--horizon", "soon"), "--horizon soon: expected an age"),
        ("platform", ("--host-tier", "huge"), "--host-tier huge: unknown infrastructure tier"),
        ("platform", ("--mix", "absent.yaml"), "absent.yaml: file not found"),
        ("platform", ("--stale", "-1"), "--stale"),
        ("platform", ("--format", "table"), "--format"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    run: Run, write: Write, tmp_path: Path, setup: str, args: tuple[str, ...], message: str
) -> None:
    db = tmp_path / "h.db"
    if setup == "platform":
        platform_history(run, write, db)
    elif setup == "pruned":
        platform_history(run, write, db)
        later = dt.datetime.now(dt.timezone.utc).isoformat()
        assert run("history", "prune", "--before", later, "--history", db).exit_code == 0
    out = tmp_path / "health.html"
    result = run("report", "--history", db, "-o", out, *args)
    assert result.exit_code == 2 and one_line(result.stderr), result.stderr
    assert result.stderr.startswith("capplan report: error: ") and message in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".health.html")]


def test_a_failed_run_keeps_the_page_it_would_replace(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    out = tmp_path / "health.html"
    first = page(run, db, out, *SCALE)
    assert run("report", "--history", db, "-o", out, "--host-tier", "huge").exit_code == 2
    assert out.read_text(encoding="utf-8") == first
    second = page(run, db, out, "--host-tier", "large")
    assert second != first and ">Large</strong>" in second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db", "health.html", "platform.csv"]


def test_the_host_tier_is_this_machines_unless_given(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    measured = size()
    matched = host_tier(load_tiers().infrastructure_tiers, measured.vcpu, measured.ram_gb)
    data = report_json(run, db)
    assert data["host"]["given"] is False and data["host"]["vcpu"] == measured.vcpu
    assert data["host"]["tier"] == (None if matched is None else matched.id)
    html = page(run, db, tmp_path / "health.html")
    assert f"the tier this machine&#39;s {measured.vcpu} vCPU" in html


def test_a_disk_the_host_tier_cannot_hold_needs_the_larger_tier_now(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    data = report_json(run, db, "--host-tier", "large")  # 700 GB of disk; storage is 740 GB
    assert (data["next_tier"], data["next_tier_at"]) == ("scale", None)
    assert {
        key: value
        for key, value in next(n for n in data["tier_needs"] if n["metric"] == "storage_gb").items()
        if key != "reason"
    } == {"tier": "scale", "date": None, "metric": "storage_gb", "labels": {}}


def test_a_stale_series_is_alerted_by_its_trend_and_says_how_old(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    start = NOW - 120 * DAY
    imported(run, write, db, series_csv(lambda d: 30 + 0.5 * d, start=start))  # 60 %, 60 days ago
    data = report_json(run, db, *SCALE)
    trend = trend_json(run, db)["forecasts"][0]
    assert [(a["level"], a["when"], a["date"]) for a in data["alerts"]] == [
        ("WARNING", "crossed", trend["warning_at"]),
        ("CRITICAL", "crossed", trend["critical_at"]),
    ]
    html = page(run, db, tmp_path / "health.html", *SCALE)
    cells = page_table(html, "alerts")[0][0]
    assert cells[3] == "by the trend, although the latest value is below history ends 60 days ago"
    assert "stale: record fresh data" in html


@pytest.mark.parametrize(
    ("text", "days"), [("90", 90), ("90d", 90), ("12w", 84), ("6m", 180), ("1y", 365), ("0", 0)]
)
def test_a_horizon_is_an_age_or_days(text: str, days: int) -> None:
    assert parse_horizon(text) == dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["soon", "-3", "0.5d", "1e3", "", "36501d"])
def test_a_bad_horizon_is_refused(text: str) -> None:
    with pytest.raises(Exception, match="horizon"):
        parse_horizon(text)


@given(
    start=st.floats(min_value=0, max_value=100),
    slope=st.floats(min_value=-3, max_value=3),
    horizon=st.integers(min_value=0, max_value=400),
)
def test_alerts_are_the_levels_now_and_the_crossings_within_the_horizon(
    start: float, slope: float, horizon: int
) -> None:
    records = [
        history.Record(START + d * DAY, "disk_percent", {"path": "/"}, start + slope * d)
        for d in range(0, 61, 3)
    ]
    (forecast,) = forecasts(records, load_thresholds(), load_tiers(), NOW)
    window = dt.timedelta(days=horizon)
    found = alerts([forecast], NOW, window)
    status = forecast.latest.status
    for alert in found:
        if alert.when is When.NOW:
            assert status is alert.level
        else:
            assert status.rank < alert.level.rank
        if alert.when is When.COMING:
            assert alert.at is not None and NOW < alert.at <= NOW + window
    for level, crossing in (
        (Status.WARNING, forecast.warning),
        (Status.CRITICAL, forecast.critical),
    ):
        at = None if crossing is None else crossing.at
        if at is not None and NOW < at <= NOW + window and status.rank < level.rank:
            assert any(a.level is level and a.at == at for a in found)
    kinds = [a.when for a in found]
    assert kinds == sorted(kinds, key=[When.NOW, When.CROSSED, When.COMING].index)
    coming = [a.at for a in found if a.when is When.COMING]
    assert coming == sorted(coming)  # type: ignore[type-var]


def test_host_load_needs_the_tier_above_when_it_reaches_warning() -> None:
    records = [
        history.Record(START + d * DAY, "cpu_percent", {}, 40 + 0.5 * d) for d in range(0, 51, 5)
    ]  # 65 % on day 50, 70 % (warning) on day 60
    tiers = load_tiers()
    small = next(t for t in tiers.infrastructure_tiers if t.id == "small")
    (forecast,) = forecasts(records, load_thresholds(), tiers, NOW)
    (need,) = tier_needs([forecast], tiers, HostTier(small, True))
    assert need.tier.id == "medium" and need.at == START + 60 * DAY
    top = tiers.infrastructure_tiers[-1]
    assert tier_needs([forecast], tiers, HostTier(top, True)) == []  # nothing above the top


def test_a_chart_draws_every_series_its_levels_and_crossing_dates() -> None:
    records = [
        history.Record(START + d * DAY, "disk_percent", {"path": path}, base + rise * d)
        for d in range(0, 61, 2)
        for path, base, rise in (("/", 30, 0.5), ("/srv", 20, 0.1))
    ]
    found = forecasts(records, load_thresholds(), load_tiers(), NOW)
    drawn = chart(found, NOW, dt.timedelta(days=90))
    assert [trace.label for trace in drawn.traces] == ["path=/", "path=/srv"]
    assert [level.kind for level in drawn.levels] == ["warning", "critical"]
    for trace in drawn.traces:
        xs, ys = zip(*(map(float, p.split(",")) for p in trace.history.split()), strict=True)
        assert len(xs) == 31 and min(xs) >= LEFT and max(xs) <= WIDTH
        assert min(ys) >= TOP and max(ys) <= HEIGHT
        assert trace.projection.split()[0] == trace.history.split()[-1]  # from the last point
    marks = {(m.kind, m.date) for m in drawn.traces[0].marks}
    assert marks == {("warning", day_of(START + 80 * DAY)), ("critical", day_of(START + 110 * DAY))}
    assert drawn.traces[1].marks == ()  # /srv reaches 70 % on day 500, past the chart
    # y of a level: 0-100 % over the plot's height
    warning = next(level for level in drawn.levels if level.kind == "warning")
    assert warning.y == pytest.approx(TOP + 0.3 * (drawn.bottom - TOP), abs=0.1)


def test_a_level_far_above_the_data_is_said_not_drawn() -> None:
    records = [
        history.Record(START + d * DAY, "table_rows", {"table": "orders"}, 90_000 + 1_000 * d)
        for d in range(0, 61, 5)
    ]
    found = forecasts(records, load_thresholds(), load_tiers(), NOW)
    drawn = chart(found, NOW, dt.timedelta(days=90))
    assert [level.text for level in drawn.levels] == ["warning 100,000"]
    assert drawn.off_scale == ("critical 10,000,000 is above this chart's scale",)


def test_html_renders_only_the_health_page(run: Run, write: Write, tmp_path: Path) -> None:
    import capplan.output.html  # noqa: F401  (registers the format)

    with pytest.raises(Exception, match="--format html is not available"):
        render(Report(data={"a": 1}, sections=[]), Format.html)
    db = tmp_path / "h.db"
    imported(run, write, db, platform_csv())
    assert run("trend", "--history", db, "--format", "html").exit_code == 2


def test_the_command_line_loads_no_template_engine() -> None:
    code = (
        "import sys; from capplan.cli import app; "
        "print(sorted({'jinja2', 'markupsafe', 'capplan.health'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_overrides_move_the_alerts_and_the_page_names_its_inputs(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    thresholds = write("my-thresholds.yaml", (ROOT / "thresholds.yaml").read_text(encoding="utf-8"))
    override = "scaling_triggers.memory_percent.warning=80"
    args = ("--thresholds", thresholds, "--set", override, *SCALE)
    html = page(run, db, tmp_path / "health.html", *args)
    memory = [
        (cells, dates)
        for cells, dates in page_table(html, "alerts")
        if cells[1] == "memory_percent"
    ]
    assert memory == [
        (
            [
                "WARNING",
                "memory_percent",
                "-",
                "in 40 days",
                START_PLUS_100,
                "76.0 %",
                "80 %",
                "Upgrade RAM or add server",
            ],
            [START_PLUS_100],
        )
    ]
    footer = html[html.index('<footer id="inputs"') :]
    assert f"<dt>thresholds</dt><dd>{thresholds} " in footer
    assert f"<dt>--set</dt><dd>{override}</dd>" in footer
    assert f"<dt>history</dt><dd>{db}: 427 records in 7 series" in footer


def test_the_page_is_not_poured_onto_a_terminal(run: Run, write: Write, tmp_path: Path) -> None:
    db = platform_history(run, write, tmp_path / "h.db")
    main, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "capplan", "report", "--history", str(db), *SCALE],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        os.set_blocking(main, False)
        with contextlib.suppress(BlockingIOError):
            assert os.read(main, 1024) == b""
    finally:
        os.close(main)
        os.close(terminal)
    assert result.returncode == 2 and one_line(result.stderr)
    assert "the page is HTML: write it with -o health.html" in result.stderr
    piped = run("report", "--history", db, *SCALE)  # not a terminal: the page on stdout
    assert piped.exit_code == 0 and piped.stdout.startswith("<!DOCTYPE html>")
