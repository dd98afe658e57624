"""The fleet's Platform Health page from a real Prometheus: a row per host sorted by urgency,
the fleet's totals, a section of charts per host, which host moves first; one offline file."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from tests.conftest import EXAMPLES, ROOT, Run
from tests.prometheus_fleet import (
    CORES,
    DISK_SIZE,
    END,
    MEM_TOTAL,
    fleet_lines,
    instances,
    prometheus,
)
from tests.test_report_browser import browser, load

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser", "prometheus"]  # the fixtures
SCREENSHOT = ROOT / "docs" / "fleet.png"


@pytest.fixture(scope="module")
def fleet_json(prometheus: str) -> dict[str, Any]:
    from typer.testing import CliRunner

    from capplan.cli import app

    runner = CliRunner(env={"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(app, ["report", "--history", prometheus, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_hosts_are_sorted_by_their_soonest_crossing(fleet_json: dict[str, Any]) -> None:
    rows = fleet_json["fleet"]
    lines = fleet_lines(END)
    soonest = {
        instance: min(line.cross for (_, i), line in lines.items() if i == instance)
        for instance in instances()
    }
    assert [row["instance"] for row in rows] == sorted(instances(), key=soonest.__getitem__)
    for row in rows:
        assert row["status"] == "OK"
        first = row["soonest"]
        assert first["when"] == "coming" and first["level"] == "WARNING"
        assert first["date"] == soonest[row["instance"]].date().isoformat()
        assert first["metric"] == "memory_percent"
        assert first["action"] == "Upgrade RAM or add server"


def test_each_host_has_the_tier_its_cores_and_memory_match(fleet_json: dict[str, Any]) -> None:
    from capplan.check import host_tier
    from capplan.config import load_tiers

    expected = host_tier(load_tiers(None).infrastructure_tiers, CORES, MEM_TOTAL / 1e9)
    assert expected is not None
    assert {row["tier"] for row in fleet_json["fleet"]} == {expected.id}
    assert {row["vcpu"] for row in fleet_json["fleet"]} == {CORES}


def test_fleet_totals_sum_where_a_sum_means_something(fleet_json: dict[str, Any]) -> None:
    totals = {t["name"]: t for t in fleet_json["totals"]}
    lines = fleet_lines(END)
    used = sum(lines[("disk_percent", i)].at(END) / 100 * DISK_SIZE / 1e9 for i in instances())
    assert totals["disk_used_gb"]["value"] == pytest.approx(used)
    assert totals["disk_free_gb"]["value"] == pytest.approx(3 * DISK_SIZE / 1e9 - used)
    # one database (db="shop") seen from three hosts counts once: its largest size
    shop = max(lines[("db_size_gb", i)].at(END) for i in instances())
    assert totals["db_size_gb"]["value"] == pytest.approx(shop)
    assert totals["db_size_gb"]["hosts"] == 3


def test_the_scaling_recommendation_says_which_host_moves_first(
    fleet_json: dict[str, Any],
) -> None:
    needs = fleet_json["tier_needs"]
    assert needs, "the fleet's load and memory trends cross their warning levels"
    first = needs[0]
    dates = [n["date"] or "" for n in needs]  # no date: needed now, first
    assert dates == sorted(dates)
    assert first["labels"]["instance"] == fleet_json["fleet"][0]["instance"]


def test_the_fleet_page_is_one_file_with_a_section_per_host(
    run: Run, prometheus: str, tmp_path: Path
) -> None:
    page = tmp_path / "fleet.html"
    result = run("report", "--history", prometheus, "--mix", EXAMPLES / "growing.yaml", "-o", page)
    assert result.exit_code == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "The fleet: 3 hosts, most urgent first" in html
    for instance in instances():
        anchor = "host-" + instance.replace(":", "-")
        assert f'id="{anchor}"' in html
        assert f'id="chart-{anchor[5:]}-memory_percent"' in html
    assert "The host that moves first" in html
    assert 'class="projection-tier"' in html  # --mix adds the whole platform's projection
    assert "<script" not in html and 'src="http' not in html


@pytest.fixture(scope="module")
def fleet_page(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from capplan.cli import app

    page = tmp_path_factory.mktemp("fleet") / "fleet.html"
    runner = CliRunner(env={"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(
        app,
        [
            "report",
            "--history",
            prometheus,
            "--mix",
            str(EXAMPLES / "growing.yaml"),
            "-o",
            str(page),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return page


def test_the_fleet_page_loads_offline_in_a_browser_and_its_screenshot_is_not_blank(
    browser: Browser, fleet_page: Path
) -> None:
    shown = load(browser, fleet_page)
    try:
        assert shown.requests == [fleet_page.as_uri()]
        assert shown.errors == []
        rows = shown.page.locator("table.fleet tbody tr").count()
        assert rows == 3
        png = shown.page.screenshot(full_page=False)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shown.page.screenshot(
                path=str(SCREENSHOT),
                clip={"x": 0, "y": 0, "width": 1200, "height": 1100},
                full_page=True,
            )
    finally:
        shown.page.context.close()


def test_a_server_without_the_series_capplan_reads_is_one_line(run: Run, prometheus: str) -> None:
    result = run("report", "--history", prometheus, "--match", '{job="none"}', "-o", "x.html")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "has none of the series capplan reads" in result.stderr
    assert not Path("x.html").exists()
