"""`capplan history` and `capplan trend`: the records, the forecasts, and the text charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.formulas import DAYS_PER_MONTH
from capplan.history import Record
from capplan.metrics import METRICS, label_text
from capplan.output.numbers import figure
from capplan.output.report import Cell, Report, Section
from capplan.trend import MIN_POINTS, SECONDS_PER_DAY, Forecast

if TYPE_CHECKING:
    from rich.console import RenderableType


def history_report(records: Sequence[Record]) -> Report:
    rows: list[Sequence[Cell]] = [
        (
            r.timestamp.isoformat(timespec="seconds"),
            r.metric,
            label_text(r.labels) or "-",
            r.value,
            r.status or "-",
        )
        for r in records
    ]
    notes = [f"{len(records):,} records"]
    return Report(
        data={"records": records},
        sections=[Section("History", ("timestamp", "metric", "labels", "value", "status"), rows)],
        notes=notes,
    )


def _day(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def _when(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "not at this rate"
    return "already" if moment <= now else f"on {moment.date().isoformat()}"


def trend_summary(forecast: Forecast, now: dt.datetime) -> str:
    """One sentence: the rate, the dates, what to do, and when the next tier is needed."""
    where = " on " + ",".join(forecast.labels.values()) if forecast.labels else ""
    name = f"{forecast.metric}{where}"
    if forecast.fit is None:
        return f"{name}: not enough history ({len(forecast.points)} of {MIN_POINTS} points)"
    unit = METRICS[forecast.metric].unit.symbol
    unit = " points" if unit == "%" else f" {unit}" if unit else ""
    per_month = forecast.fit.slope_per_month
    text = f"{name}: {'+' if per_month >= 0 else '-'}{figure(abs(per_month))}{unit} a month"
    if forecast.latest.warning is not None:
        text += f", warning {_when(forecast.warning_at, now)}"
        text += f", critical {_when(forecast.critical_at, now)}"
        if forecast.action and (forecast.warning_at or forecast.critical_at):
            text += f": {forecast.action[0].lower()}{forecast.action[1:]}"
    tier = forecast.tier
    if tier is not None and tier.next_tier is not None:
        until = _when(tier.needed_at, now).removeprefix("on ")
        text += f"; {tier.current}'s disk lasts until {until}, then {tier.next_tier}"
    return text


def trend_data(forecasts: Sequence[Forecast], now: dt.datetime) -> dict[str, Any]:
    return {
        "now": now.isoformat(timespec="seconds"),
        "forecasts": [
            {
                "metric": f.metric,
                "labels": f.labels,
                "points": len(f.points),
                "latest": f.points[-1][1],
                "status": f.latest.status,
                "slope_per_day": f.slope_per_day,
                "slope_per_month": f.slope_per_month,
                "warning": f.latest.warning,
                "critical": f.latest.critical,
                "warning_at": _day(f.warning_at),
                "critical_at": _day(f.critical_at),
                "action": f.action,
                "next_tier": None if f.tier is None else f.tier.next_tier,
                "next_tier_at": None if f.tier is None else _day(f.tier.needed_at),
                "summary": trend_summary(f, now),
            }
            for f in forecasts
        ],
    }


def trend_report(forecasts: Sequence[Forecast], now: dt.datetime) -> Report:
    def when(moment: dt.datetime | None, has_level: bool) -> str:
        if not has_level:
            return "-"
        if moment is None:
            return "never at this rate"
        return "already" if moment <= now else moment.date().isoformat()

    rows: list[Sequence[Cell]] = []
    for f in forecasts:
        has_level = f.latest.warning is not None and f.fit is not None
        rows.append(
            (
                f.metric,
                label_text(f.labels) or "-",
                len(f.points),
                f.points[-1][1],
                f.slope_per_month,
                when(f.warning_at, has_level),
                when(f.critical_at, has_level),
            )
        )
    section = Section(
        f"Trends (Theil-Sen fit; a month is {DAYS_PER_MONTH} days)",
        ("metric", "labels", "points", "latest", "per month", "warning on", "critical on"),
        rows,
    )
    notes = [trend_summary(f, now) for f in forecasts]
    charted = [f for f in forecasts if f.fit is not None]
    chart = None
    if charted:
        chart = lambda console: _trend_charts(charted, now, console.width)  # noqa: E731
    return Report(
        data=trend_data(forecasts, now),
        sections=[section],
        notes=notes,
        chart=chart,
        result=forecasts,
    )


def _trend_charts(forecasts: Sequence[Forecast], now: dt.datetime, columns: int) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    width = max(30, min(100, columns - 14))
    return Group(*(Text(trend_chart(f, now, width)) for f in forecasts))


def trend_chart(forecast: Forecast, now: dt.datetime, width: int = 72, height: int = 12) -> str:
    """History (•), projection (·) and the warning (W) and critical (C) lines, as text."""
    fit = forecast.fit
    assert fit is not None
    first, last = forecast.points[0][0], max(forecast.points[-1][0], now)
    span = (last - first).total_seconds() or SECONDS_PER_DAY
    horizon = span / 2
    for moment in (forecast.warning_at, forecast.critical_at):
        if moment is not None and moment > now:
            horizon = max(horizon, min((moment - now).total_seconds() * 1.1, span * 3))
    end = last + dt.timedelta(seconds=horizon)
    total = (end - first).total_seconds()
    projected = [fit.value_at(now), fit.value_at(end)]
    levels = [v for v in (forecast.latest.warning, forecast.latest.critical) if v is not None]
    values = [v for _, v in forecast.points] + projected + levels
    low, high = min(values), max(values)
    if high == low:
        high = low + 1
    grid = [[" "] * width for _ in range(height)]

    def row(value: float) -> int:
        return height - 1 - round((value - low) / (high - low) * (height - 1))

    def column(moment: dt.datetime) -> int:
        return min(width - 1, max(0, round((moment - first).total_seconds() / total * (width - 1))))

    for level, mark in zip(levels, "WC", strict=False):
        grid[row(level)] = [mark if i % 3 == 0 else "-" for i in range(width)]
    for x in range(column(now), width):
        moment = first + dt.timedelta(seconds=total * x / (width - 1))
        y = row(min(high, max(low, fit.value_at(moment))))
        grid[y][x] = "·"
    for moment, value in forecast.points:
        grid[row(value)][column(moment)] = "•"
    labels = {0: high, height // 2: (high + low) / 2, height - 1: low}
    where = label_text(forecast.labels)
    lines = [
        f"{forecast.metric}{' ' + where if where else ''}"
        f" (• history, · projection, W warning, C critical)"
    ]
    for index, cells in enumerate(grid):
        label = f"{figure(labels[index]):>10} " if index in labels else " " * 11
        lines.append(label + "|" + "".join(cells))
    axis = f"{first.date().isoformat()}".ljust(width // 2) + f"{end.date().isoformat()}".rjust(
        width - width // 2
    )
    lines.append(" " * 11 + "+" + "-" * width)
    lines.append(" " * 12 + axis)
    return "\n".join(lines) + "\n"
