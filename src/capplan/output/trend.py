"""`capplan history` and `capplan trend`: the records, the forecasts, and the text charts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capplan.atomic import TEMP_SUFFIX
from capplan.errors import InputError
from capplan.formulas import DAYS_PER_MONTH
from capplan.history import Pruned, Record
from capplan.history_store import Imported
from capplan.metrics import METRICS, label_text
from capplan.output.formats import Format
from capplan.output.numbers import figure
from capplan.output.report import Cell, Report, Section, streamed, streamed_json
from capplan.trend import (
    HORIZON_DAYS,
    MIN_POINTS,
    SECONDS_PER_DAY,
    STALE_AFTER,
    Crossing,
    Forecast,
    Reach,
    TierForecast,
)

if TYPE_CHECKING:
    from rich.console import RenderableType


HISTORY = Section("History", ("timestamp", "metric", "labels", "value", "status"), [])
# A table is for reading: past this many records it stops, and says how to get them all.
TABLE_MOST = 1_000


def _history_row(record: Record) -> Sequence[Cell]:
    labels, status = label_text(record.labels), record.status
    return (
        record.timestamp.isoformat(timespec="seconds"),
        record.metric,
        labels or None,
        record.value,
        None if status is None else str(status),
    )


def _counted(count: int) -> str:
    return f"{count:,} {_records(count)}"


def history_report(records: Sequence[Record], total: int) -> Report:
    """The table of `history show`: the first TABLE_MOST of `total` records at most."""
    rows = [_history_row(record) for record in records[:TABLE_MOST]]
    note = _counted(total)
    if total > len(rows):
        note = (
            f"the first {len(rows):,} of {note}: --format csv or json lists them all, "
            "--metric and --since narrow them"
        )
    section = dataclasses.replace(HISTORY, rows=rows)
    return Report(data={"records": records}, sections=[section], notes=[note])


def history_lines(records: Iterable[Record], fmt: Format) -> Iterator[str]:
    """`history show` in json, csv or markdown, a record at a time: flat memory at any size."""
    if fmt is Format.json:
        return streamed_json("records", records)
    return streamed(HISTORY, map(_history_row, records), fmt, _counted)


def imported_text(result: Imported, source: Path, history: Path | str) -> str:
    """imported 61 new records from a.csv into h.db; 3 were already there, and a warning line
    for the records that came again with another value."""
    again = result.already_there + result.conflicting
    new = f"{result.new:,} {'new ' if again else ''}{_records(result.new)}"
    text = f"imported {new} from {source} into {history}"
    if result.already_there:
        were = "was" if result.already_there == 1 else "were"
        where = "repeated in the file" if result.fresh else "already there"
        text += f"; {result.already_there:,} {were} {where}"
    if result.conflicting:
        text += (
            f"\nwarning: {result.conflicting:,} {_records(result.conflicting)} of {source} had "
            "the timestamp, metric and labels of an earlier one with another value; the earlier "
            "value was kept (to change it: history export, edit, prune, import)"
        )
    return text + "\n"


def pruned_text(result: Pruned, history: Path | str) -> str:
    before = result.before.isoformat(timespec="seconds")
    return (
        f"removed {result.removed:,} {_records(result.removed)} older than {before} "
        f"from {history}; {result.remaining:,} remain\n"
    )


def _records(count: int) -> str:
    return "record" if count == 1 else "records"


def _day(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def when(crossing: Crossing | None, now: dt.datetime, *, short: bool = False) -> str:
    """A threshold's date as a sentence says it: on 2027-12-24, since 2026-01-10, already...;
    `short` for a table cell, where it is one word a narrow table keeps whole: 2027-12-24 (past
    or future, the sentence under the table says which), never, already."""
    if crossing is None:
        return "-"
    if crossing.reach is Reach.ON:
        assert crossing.at is not None
        day = crossing.at.date().isoformat()
        return day if short else f"since {day}" if crossing.at <= now else f"on {day}"
    if crossing.reach is Reach.NEVER:
        return "never" if short else "not at this rate"
    if crossing.reach is Reach.BEYOND:
        return "> 100 years" if short else "not within 100 years"
    return "already"


def _age(forecast: Forecast) -> str:
    days = forecast.age.days
    return "today" if days == 0 else "1 day ago" if days == 1 else f"{days:,} days ago"


def _tier_text(tier: TierForecast, now: dt.datetime) -> str:
    disk = f"{tier.current}'s disk"
    needed = tier.needed
    if needed is not None and needed.at is not None:
        day = needed.at.date().isoformat()
        if needed.at <= now:
            return f"{disk} was full on {day}: move to {tier.next_tier}"
        return f"{disk} lasts until {day}, then {tier.next_tier}"
    if needed is not None and needed.reach is Reach.BEYOND:
        return f"{disk} lasts more than 100 years"
    return f"{disk} lasts at this rate"


def _span(span: dt.timedelta) -> str:
    """How long a history covers, in the unit a person would say."""
    seconds = span.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * SECONDS_PER_DAY:
        return f"{seconds / 3_600:.0f} h"
    return f"{seconds / SECONDS_PER_DAY:.0f} days"


def trend_summary(forecast: Forecast, now: dt.datetime) -> str:
    """One sentence: the rate, the dates, what to do, when the next tier is needed, and how old
    the history is when it is stale."""
    where = " on " + ",".join(forecast.labels.values()) if forecast.labels else ""
    text = f"{forecast.metric}{where}: "
    if forecast.fit is None:
        span = forecast.sample[-1][0] - forecast.sample[0][0]
        text += (
            f"not enough history ({forecast.count} distinct timestamps over "
            f"{_span(span)}; a forecast needs {MIN_POINTS} over at least a day)"
        )
    else:
        unit = METRICS[forecast.metric].unit.symbol
        unit = " points" if unit == "%" else f" {unit}" if unit else ""
        per_month = forecast.fit.slope_per_month
        text += f"{'+' if per_month >= 0 else '-'}{figure(abs(per_month))}{unit} a month"
        if forecast.warning is not None:
            text += f", warning {when(forecast.warning, now)}"
        if forecast.critical is not None:
            text += f", critical {when(forecast.critical, now)}"
        crossed = [c for c in (forecast.warning, forecast.critical) if c is not None]
        if forecast.action and any(c.reach in (Reach.ON, Reach.ABOVE) for c in crossed):
            text += f": {forecast.action[0].lower()}{forecast.action[1:]}"
        if forecast.tier is not None and forecast.tier.next_tier is not None:
            text += f"; {_tier_text(forecast.tier, now)}"
    if forecast.stale:
        ends = forecast.last_point.date().isoformat()
        text += f"; history ends {ends}, {_age(forecast)}: record fresh data"
    return text


def trend_data(
    forecasts: Sequence[Forecast], now: dt.datetime, stale_after: dt.timedelta
) -> dict[str, Any]:
    return {
        "now": now.isoformat(timespec="seconds"),
        "stale_after_days": stale_after.days,
        "forecasts": [
            {
                "metric": f.metric,
                "labels": f.labels,
                "points": f.count,
                "latest": f.latest.value,
                "status": f.latest.status,
                "slope_per_day": f.slope_per_day,
                "slope_per_month": f.slope_per_month,
                "warning": f.latest.warning,
                "critical": f.latest.critical,
                "warning_at": _day(f.warning_at),
                "critical_at": _day(f.critical_at),
                "last_point": f.last_point.isoformat(timespec="seconds"),
                "age_days": f.age.days,
                "stale": f.stale,
                "action": f.action,
                "next_tier": None if f.tier is None else f.tier.next_tier,
                "next_tier_at": None if f.tier is None else _day(f.tier.needed_at),
                "summary": trend_summary(f, now),
            }
            for f in forecasts
        ],
    }


def trend_report(
    forecasts: Sequence[Forecast], now: dt.datetime, stale_after: dt.timedelta = STALE_AFTER
) -> Report:
    rows: list[Sequence[Cell]] = []
    for f in forecasts:
        rows.append(
            (
                f.metric,
                label_text(f.labels) or "-",
                f.count,
                f.latest.value,
                f.slope_per_month,
                when(f.warning, now, short=True),
                when(f.critical, now, short=True),
                f.last_point.date().isoformat(),
            )
        )
    section = Section(
        f"Trends (Theil-Sen fit; a month is {DAYS_PER_MONTH} days)",
        (
            "metric",
            "labels",
            "points",
            "latest",
            "per month",
            "warning on",
            "critical on",
            "last point",
        ),
        rows,
    )
    notes = [trend_summary(f, now) for f in forecasts] or [
        "no records to fit: record some with `capplan check --record` (from cron) or "
        "`capplan history import`, or widen --metric and --since"
    ]
    charted = [f for f in forecasts if f.fit is not None]
    chart = None
    if charted:
        chart = lambda console: _trend_charts(charted, now, console.width)  # noqa: E731
    return Report(
        data=trend_data(forecasts, now, stale_after),
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
    """History (•), projection (·) and the warning (W) and critical (C) lines, as text.

    The projection starts at the last point; the time axis reaches at most 100 years ahead."""
    fit = forecast.fit
    assert fit is not None
    first, last = forecast.sample[0][0], forecast.last_point
    right = max(last, now)
    span = (right - first).total_seconds() or SECONDS_PER_DAY
    horizon = span / 2
    for crossing in (forecast.warning, forecast.critical):
        if crossing is not None and crossing.at is not None and crossing.at > now:
            horizon = max(horizon, min((crossing.at - now).total_seconds() * 1.1, span * 3))
    horizon = min(horizon, HORIZON_DAYS * SECONDS_PER_DAY)
    end = right + dt.timedelta(seconds=horizon)
    total = (end - first).total_seconds()
    projected = [fit.value_at(last), fit.value_at(end)]
    levels = [v for v in (forecast.latest.warning, forecast.latest.critical) if v is not None]
    values = [v for _, v in forecast.sample] + projected + levels
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
    for x in range(column(last), width):
        moment = first + dt.timedelta(seconds=total * x / (width - 1))
        grid[row(min(high, max(low, fit.value_at(moment))))][x] = "·"
    for moment, value in forecast.sample:
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


def emit_lines(lines: Iterable[str], destination: Path | None) -> None:
    """Write lines as they come, so that millions of records need no memory: to stdout, or to
    `destination` atomically (a temporary file beside it, as capplan.atomic names them, then a
    rename)."""
    if destination is None:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    try:
        handle, name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=TEMP_SUFFIX
        )
    except OSError as error:
        raise InputError("output", destination, str(error.strerror or error)) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.writelines(lines)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.chmod(0o644)
        temporary.replace(destination)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InputError("output", destination, str(error.strerror or error)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
