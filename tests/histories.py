"""Histories made by the tests: series as CSV, and the trend command's JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
