"""The Platform Health page in a real headless Chromium (Debian's, driven by Playwright): opened
from file:// with the network cut, it makes no request, logs no error, shows the tier, the
statuses and the crossing dates, draws one chart per metric, runs no injected script, keeps its
charts' shape in print, and its screenshot is not blank.

Outside CI the tests skip when chromium is not installed; under CI=true they must run (.ci/run
installs it). `UPDATE_SCREENSHOT=1 .venv/bin/pytest tests/test_report_browser.py` also writes
the README's screenshot, docs/report.png.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from capplan.cli import app

from .check_servers import system_binary
from .conftest import ROOT
from .histories import trend_json
from .report_histories import EXPECTED_ALERTS, INJECTED, SERIES, platform_csv

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Headless, sandbox off (root in CI), and nothing that would reach the network by itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "report.png"


@dataclass
class Loaded:
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions


@dataclass(frozen=True)
class Made:
    html: Path
    injected: Path  # the same history and a disk whose path is a script
    trend: dict[str, Any]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """The platform's history and its page (with a mix), the same with a disk whose path is a
    script, and the trend command's JSON of the history."""
    folder = tmp_path_factory.mktemp("report")
    runner = CliRunner(env={"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})

    def run(*args: str | Path) -> Any:
        return runner.invoke(app, [str(a) for a in args])

    def made(name: str, text: str) -> Path:
        source, db, html = (folder / f"{name}.{ext}" for ext in ("csv", "db", "html"))
        source.write_text(text, encoding="utf-8")
        assert run("history", "import", source, "--history", db).exit_code == 0
        mix = ROOT / "examples" / "growing.yaml"
        result = run("report", "--history", db, "--host-tier", "scale", "--mix", mix, "-o", html)
        assert result.exit_code == 0, result.stderr
        return html

    extra = [("disk_percent", f"path={INJECTED}", lambda d: 10.0 + 0.01 * d)]
    html = made("platform", platform_csv())
    injected = made("injected", platform_csv(extra))
    return Made(html, injected, trend_json(run, folder / "platform.db"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = system_binary("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def load(browser: Browser, html: Path, media: str = "screen") -> Loaded:
    """The page opened from its file:// URL in a fresh context that is offline, with every
    request but the file itself refused and counted."""
    context = browser.new_context(
        offline=True, viewport={"width": 1200, "height": 900}, java_script_enabled=True
    )
    page = context.new_page()
    loaded = Loaded(page)
    page.on("request", lambda request: loaded.requests.append(request.url))
    page.on(
        "console",
        lambda message: loaded.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: loaded.errors.append(str(error)))
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url == html.as_uri() else route.abort(),
    )
    page.emulate_media(media=media)  # type: ignore[arg-type]
    page.goto(html.as_uri(), wait_until="load")
    return loaded


@pytest.fixture(scope="module")
def shown(browser: Browser, made: Made) -> Iterator[Loaded]:
    loaded = load(browser, made.html)
    yield loaded
    loaded.page.context.close()


def test_the_page_loads_offline_and_asks_for_nothing(shown: Loaded, made: Made) -> None:
    assert shown.requests == [made.html.as_uri()]
    assert shown.errors == []
    assert shown.page.title().startswith("Platform Health: WARNING")


def test_the_page_shows_the_tiers_and_the_statuses(shown: Loaded) -> None:
    page = shown.page
    assert page.inner_text("strong.host-tier") == "Scale"
    assert page.inner_text("strong.next-tier") == "Enterprise"
    statuses = page.locator("table.current tbody tr td:nth-child(4) .status").all_inner_texts()
    assert len(statuses) == len(SERIES)
    assert set(statuses) == {"OK", "WARNING"}  # in words, not only in colour
    memory = page.locator("table.current tbody tr", has_text="memory_percent")
    assert memory.locator(".status").inner_text() == "WARNING"


def test_the_crossing_dates_are_the_trend_commands(shown: Loaded, made: Made) -> None:
    rows = shown.page.locator("table.alerts tbody tr")
    seen = []
    for index in range(rows.count()):
        row = rows.nth(index)
        cells = row.locator("td, th").all_inner_texts()
        date = row.locator("time").get_attribute("datetime")
        seen.append((cells[0].strip(), cells[1], cells[2], date))
    assert seen == [(level, m, where, date) for level, m, where, _, date in EXPECTED_ALERTS]
    for _, metric, where, date in seen:
        labels = {} if where == "-" else dict([where.split("=", 1)])
        forecast = next(
            f for f in made.trend["forecasts"] if (f["metric"], f["labels"]) == (metric, labels)
        )
        assert date in (forecast["warning_at"], forecast["critical_at"])
    # the chart of disk_percent marks both of its crossing dates
    marks = shown.page.locator('svg[data-metric="disk_percent"] text.crossing').evaluate_all(
        "(all) => all.map(text => text.textContent)"
    )
    disk = next(f for f in made.trend["forecasts"] if f["labels"] == {"path": "/"})
    assert {disk["warning_at"], disk["critical_at"]} <= set(marks)


def test_every_metric_has_one_chart_with_drawings_and_words(shown: Loaded) -> None:
    page = shown.page
    metrics = sorted({metric for metric, _, _ in SERIES})
    charts = page.locator("svg.trend")
    assert sorted(charts.evaluate_all("(all) => all.map(s => s.dataset.metric)")) == metrics
    for index in range(charts.count()):
        svg = charts.nth(index)
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        lengths = svg.locator("polyline.history").evaluate_all(
            "(all) => all.map(line => line.getTotalLength())"
        )
        assert lengths and all(length > 0 for length in lengths)
        title, description = (
            svg.evaluate(f"s => s.querySelector('{tag}').textContent") for tag in ("title", "desc")
        )
        assert svg.get_attribute("role") == "img" and title and description
        assert (
            page.evaluate(
                "s => s.getAttribute('aria-labelledby').split(' ').length", svg.element_handle()
            )
            == 2
        )
    tables = page.locator("section.trend-chart table.numbers")
    assert tables.count() == len(metrics)


def test_an_injected_script_is_shown_and_never_runs(browser: Browser, made: Made) -> None:
    injected = load(browser, made.injected)
    try:
        page = injected.page
        assert page.title().startswith("Platform Health") and "INJECTED" not in page.title()
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        where = page.locator("table.current tbody tr td:nth-child(2)").all_inner_texts()
        assert f"path={INJECTED}" in where
        legend = page.locator('svg[data-metric="disk_percent"] + ul.legend').inner_text()
        assert INJECTED in legend
        assert injected.errors == [] and injected.requests == [made.injected.as_uri()]
    finally:
        page.context.close()


def test_in_print_the_charts_keep_their_shape(browser: Browser, made: Made) -> None:
    printed = load(browser, made.html, media="print")
    try:
        page = printed.page
        assert page.locator("nav").is_hidden()
        for box in page.locator("svg.trend").evaluate_all(
            "(all) => all.map(s => s.getBoundingClientRect().toJSON())"
        ):
            assert box["width"] >= 600 and box["height"] / box["width"] == pytest.approx(
                260 / 720, rel=0.02
            )
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        assert printed.errors == [] and printed.requests == [made.html.as_uri()]
    finally:
        printed.page.context.close()


def test_a_screenshot_is_not_blank(shown: Loaded) -> None:
    png = shown.page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1200, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    white = sum(count for count, rgb in colours if isinstance(rgb, tuple) and min(rgb) >= 245)
    assert white < 0.95 * image.width * image.height
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shown.page.screenshot(
            path=str(SCREENSHOT),
            clip={"x": 0, "y": 0, "width": 1200, "height": 1500},
            full_page=True,
        )
