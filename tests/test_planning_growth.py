"""`capplan project --growth-from HISTORY`: the growth measured from the history, as a range."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.formulas import DAYS_PER_MONTH
from capplan.planning.growth import log_growth

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
MONTH = DAYS_PER_MONTH  # capplan's month, as trend's


def clients_csv(
    rate: float,
    *,
    start: float = 200,
    days: int = 365,
    every: int = 7,
    noise: float = 0.03,
    labels: str = "",
    seed: int = 1,
    churn: float | None = None,
) -> str:
    """active_clients growing `rate` a month with multiplicative noise, one point every `every`
    days up to yesterday."""
    rng = random.Random(seed)
    first = NOW - dt.timedelta(days=days + 1)
    lines = []
    for day in range(0, days + 1, every):
        moment = (first + dt.timedelta(days=day)).isoformat()
        value = start * (1 + rate) ** (day / MONTH) * (1 + rng.uniform(-noise, noise))
        lines.append(f"{moment},active_clients,{round(value)},{labels}")
        if churn is not None:
            lines.append(f"{moment},churn_rate_percent,{churn},{labels}")
    return "\n".join(lines) + "\n"


def history(run: Run, write: Write, text: str, name: str = "h.db") -> Path:
    path = write("clients.csv", "timestamp,metric,value,labels\n" + text)
    db = path.parent / name
    result = run("history", "import", path, "--history", db)
    assert result.exit_code == 0, result.stderr
    return db


def project_json(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run("project", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_5_percent_series_with_noise_gives_5_percent_within_half_a_point(
    run: Run, write: Write
) -> None:
    db = history(run, write, clients_csv(0.05))
    data = project_json(run, "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    (measured,) = data["measured_growth"]
    growth = measured["growth_pct"]
    assert measured["plan"] is None and measured["points"] == 53
    assert growth["mid"] == pytest.approx(5, abs=0.5)
    assert growth["low"] < 5 < growth["high"]
    ranged = {r["input"]: r for r in data["sampling"]["ranges"]}
    assert ranged["growth"]["mid"] == pytest.approx(growth["mid"] / 100)
    assert sum(data["tier_probability"].values()) == pytest.approx(1)
    assert data["transitions"] or data["outgrown"]


def noisy(rate: float, seed: int, noise: float) -> list[tuple[dt.datetime, float]]:
    rng = random.Random(seed)
    return [
        (
            NOW + dt.timedelta(days=day),
            500 * (1 + rate) ** (day / MONTH) * rng.uniform(1 - noise, 1 + noise),
        )
        for day in range(0, 360, 10)
    ]


@settings(max_examples=25)
@given(
    rate=st.floats(min_value=-0.05, max_value=0.15),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_the_fit_of_any_clean_series_is_its_rate_inside_its_interval(
    rate: float, seed: int
) -> None:
    spread = log_growth(noisy(rate, seed, 0.01))
    assert spread.low <= spread.mid <= spread.high
    assert math.isclose(spread.mid, rate, abs_tol=0.005)


def test_the_95_percent_interval_holds_the_true_rate_about_19_times_in_20() -> None:
    held = sum(
        spread.low <= 0.05 <= spread.high
        for spread in (log_growth(noisy(0.05, seed, 0.05)) for seed in range(300))
    )
    assert 0.88 <= held / 300 <= 1


def test_each_plan_grows_at_its_own_measured_rate(run: Run, write: Write) -> None:
    text = clients_csv(0.02, labels="plan=essential", start=500, seed=2)
    text += clients_csv(0.08, labels="plan=business", start=150, seed=3, churn=1.5)
    db = history(run, write, text)
    data = project_json(run, "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    measured = {m["plan"]: m for m in data["measured_growth"]}
    assert set(measured) == {"essential", "business"}
    assert measured["essential"]["growth_pct"]["mid"] == pytest.approx(2, abs=0.5)
    assert measured["business"]["growth_pct"]["mid"] == pytest.approx(8, abs=0.5)
    assert measured["business"]["churn_rate_pct"] == 1.5
    assert measured["essential"]["churn_rate_pct"] is None
    ranged = {r["input"] for r in data["sampling"]["ranges"]}
    assert {"essential.growth", "business.growth"} <= ranged
    table = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db).stdout
    assert "growth measured for business: " in table
    assert "(churn_rate_percent: median 1.50 % a month)" in " ".join(table.split())


def test_too_short_a_history_is_one_line(run: Run, write: Write) -> None:
    db = history(run, write, clients_csv(0.05, days=7, every=7))  # 2 points a week apart
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    assert result.exit_code == 2
    assert result.stderr == (
        f"capplan project: error: {db}: active_clients has 2 point(s) over 168 h; a growth "
        "needs at least 3 over 1 day (as trend)\n"
    )


def test_a_history_within_a_day_is_one_line(run: Run, write: Write) -> None:
    text = "".join(
        f"{(NOW - dt.timedelta(hours=h)).isoformat()},active_clients,{100 + h},\n"
        for h in (1, 2, 3)
    )
    db = history(run, write, text)
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    assert result.exit_code == 2
    assert "active_clients has 3 point(s) over 2 h; a growth needs at least 3 over 1 day" in (
        result.stderr
    )


def test_trends_minimum_is_enough(run: Run, write: Write) -> None:
    db = history(run, write, clients_csv(0.05, days=14, every=7))  # 3 points over two weeks
    data = project_json(run, "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    assert data["measured_growth"][0]["points"] == 3


def test_a_history_without_clients_is_one_line(run: Run, write: Write) -> None:
    db = history(run, write, clients_csv(0.05).replace("active_clients", "products_total"))
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    assert result.exit_code == 2
    assert f"{db}: no active_clients series" in result.stderr
    assert result.stderr.count("\n") == 1


def test_growth_and_growth_from_together_are_refused(run: Run, write: Write) -> None:
    db = history(run, write, clients_csv(0.05))
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db, "--growth", "5%")
    assert result.exit_code == 2 and "--growth-from" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"), [(None, "no history yet"), ("garbage", "file is not a database")]
)
def test_a_history_that_cannot_be_read_is_named_by_the_option_typed(
    run: Run, tmp_path: Path, content: str | None, expected: str
) -> None:
    db = tmp_path / "h.db"
    if content is not None:
        db.write_text(content, encoding="utf-8")
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth-from", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan project: error: --growth-from {db}: {expected}")


@pytest.mark.postgres
def test_the_growth_from_a_shared_postgresql_history_is_the_growth_from_a_file(
    run: Run, write: Write
) -> None:
    """--growth-from reads any history trend reads: the same records in PostgreSQL and in a
    file give the same measured growth."""
    import psycopg

    from .check_servers import admin_url, postgres_server

    text = clients_csv(0.05)
    from_file = project_json(
        run, "--mix", EXAMPLES / "mix.yaml", "--growth-from", history(run, write, text)
    )["measured_growth"]
    with postgres_server() as port:
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            connection.execute("CREATE DATABASE growth")
        url = admin_url(port, "growth")
        path = write("shared.csv", "timestamp,metric,value,labels\n" + text)
        assert run("history", "import", path, "--history", url).exit_code == 0
        shared = project_json(run, "--mix", EXAMPLES / "mix.yaml", "--growth-from", url)
    (measured,) = shared["measured_growth"]
    assert measured["growth_pct"] == from_file[0]["growth_pct"]
    assert measured["points"] == from_file[0]["points"] == 53
