"""Histories made by the tests: series as CSV, the stored records, the trend command's JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import Run

Write = Callable[[str, str], Path]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
START = NOW - dt.timedelta(days=60)
DAY = dt.timedelta(days=1)


def series_csv(
    values: Callable[[float], float],
    days: float = 60,
    every: float = 1.0,
    metric: str = "disk_percent",
    labels: str = "path=/",
    start: dt.datetime = START,
) -> str:
    """A CSV export of one series: a value every `every` days from `start` for `days` days."""
    lines = ["timestamp,metric,value,labels"]
    day = 0.0
    while day <= days:
        moment = start + dt.timedelta(days=day)
        lines.append(f"{moment.isoformat()},{metric},{values(day):.6f},{labels}")
        day += every
    return "\n".join(lines) + "\n"


def imported(run: Run, write: Write, db: Path, text: str, name: str = "s.csv") -> str:
    """Import `text` as a CSV file into `db`; the command's output."""
    result = run("history", "import", write(name, text), "--history", db)
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


def trend_json(run: Run, db: Path, *args: str) -> dict[str, Any]:
    result = run("trend", "--history", db, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def only(data: dict[str, Any], metric: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in data["forecasts"] if f["metric"] == metric]
    assert len(found) == 1
    return found[0]


def day_of(moment: dt.datetime) -> str:
    return moment.date().isoformat()


def days_from_start(date: str) -> float:
    return (dt.date.fromisoformat(date) - START.date()).days


def stored(db: Path) -> list[tuple[Any, ...]]:
    """Every record in the file, as SQLite holds it (nothing of capplan's reading in between)."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(
            "SELECT series.metric, series.labels, records.at, records.value, records.status "
            "FROM records JOIN series ON series.id = records.series "
            "ORDER BY records.at, series.metric, series.labels"
        ).fetchall()


def one_line(text: str) -> bool:
    """One line of printable text: no traceback, no invisible character."""
    return text.endswith("\n") and text.count("\n") == 1 and text[:-1].isprintable()
