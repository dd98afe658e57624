"""The Platform Health page's charts as geometry: one chart per metric, a line per series (its
sampled history, then the fitted projection), the warning and critical levels, the crossing dates.

Coordinates are computed here and drawn as inline SVG by the template: no script, no library, no
request, a few kilobytes a series (each is at most trend's sample of 400 points), and a vector
drawing that prints at any size. Each chart also carries its text (a title, the trend sentences,
a table of the numbers) for a reader who cannot see it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from capplan.metrics import METRICS, PERCENT, label_text
from capplan.output.numbers import figure
from capplan.trend import Forecast, Reach

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 30  # margins of the plot area
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# Okabe and Ito's colours, told apart with most colour blindness; the legend and the tables name
# each series in words as well.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00", "#555555", "#8c510a")
PROJECTION_STEPS = 24  # a percentage's projection bends at 100: drawn in steps
LABEL_ROOM = 84  # pixels a date label needs on its level before another may stand beside it
LEVEL_SLACK = 0.6  # a level at most this share of the data's range above it is drawn
LEVEL_LABEL_ROOM = 14  # pixels between two levels' labels on the same side
# Large values on an axis, shortened to fit its margin (decimal, as the planning document counts).
SHORT = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"))


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x or y in the drawing
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Level:
    kind: str  # "warning" or "critical"
    y: float
    text: str  # warning 70 %
    right: bool = False  # its label at the right end (the other level's label is too near)


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a series' fit crosses a level; `text` empty when another date stands too near."""

    kind: str
    x: float
    y: float
    date: str
    text: str


@dataclass(frozen=True, slots=True)
class Trace:
    label: str
    colour: str
    dash: str  # "" solid, else an SVG dash pattern (for the ninth series on)
    history: str  # SVG points: "x,y x,y ..."
    projection: str  # from the last point to the chart's end; "" without a fit
    last: tuple[float, float]
    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    metric: str
    unit: str
    traces: tuple[Trace, ...]
    levels: tuple[Level, ...]
    off_scale: tuple[str, ...]  # levels too far above the data to draw, said in words
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    now_x: float
    start: str  # the dates the time axis spans
    end: str

    # the drawing's size and its plot area, for the template
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about five ticks over `span`."""
    raw = span / 5
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)


def _end(forecasts: Sequence[Forecast], right: dt.datetime, horizon: dt.timedelta) -> dt.datetime:
    """The horizon past the last point or now; further to show a crossing that comes soon
    enough (within three times the history's span or the horizon)."""
    start = min(f.sample[0][0] for f in forecasts)
    reach = max(right - start, horizon) * 3
    end = right + horizon
    for forecast in forecasts:
        for crossing in (forecast.warning, forecast.critical):
            at = None if crossing is None else crossing.at
            if at is not None and right < at and at - right <= reach:
                end = max(end, at + (at - start) * 0.04)
    return end


def _projection(forecast: Forecast, end: dt.datetime) -> list[tuple[dt.datetime, float]]:
    """The fitted line from the last point on; a series that was never negative is not drawn
    below zero (a size or a count falls to zero at most)."""
    fit = forecast.fit
    if fit is None:
        return []
    last = forecast.last_point
    floor = min(0.0, *(value for _, value in forecast.sample))
    step = (end - last) / PROJECTION_STEPS
    return [
        (last + step * i, max(floor, fit.value_at(last + step * i)))
        for i in range(PROJECTION_STEPS + 1)
    ]


def _tick(value: float) -> str:
    """An axis label: 9,500,000 fits the margin, 12M and 1.5G are shortened."""
    if abs(value) < 1e7:
        return figure(value)
    scale, suffix = next((scale, suffix) for scale, suffix in SHORT if abs(value) >= scale)
    return f"{value / scale:.3g}{suffix}"


def chart(forecasts: Sequence[Forecast], now: dt.datetime, horizon: dt.timedelta) -> Chart:
    """The chart of one metric's series (all of the same metric)."""
    metric = forecasts[0].metric
    spec = METRICS[metric]
    start = min(f.sample[0][0] for f in forecasts)
    right = max(now, *(f.last_point for f in forecasts))
    end = _end(forecasts, right, horizon)
    seconds = max((end - start).total_seconds(), 1.0)
    projections = [_projection(f, end) for f in forecasts]
    values = [v for f in forecasts for _, v in f.sample]
    values += [v for points in projections for _, v in points]
    low, high = min(0.0, *values), max(values)
    if spec.unit == PERCENT:
        high = max(high, 100.0)
    latest = forecasts[0].latest
    wanted = [("warning", latest.warning), ("critical", latest.critical)]
    room = (high - low) or abs(high) or 1.0
    drawn = [(kind, level) for kind, level in wanted if level is not None]
    near = [(kind, level) for kind, level in drawn if level <= high + LEVEL_SLACK * room]
    high = max([high, *(level for _, level in near)])
    step = _nice_step((high - low) or 1.0)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    if high <= low:
        high = low + step

    def x(moment: dt.datetime) -> float:
        return round(LEFT + (moment - start).total_seconds() / seconds * PLOT_WIDTH, 1)

    def y(value: float) -> float:
        return round(TOP + (high - value) / (high - low) * PLOT_HEIGHT, 1)

    def points(series: Sequence[tuple[dt.datetime, float]]) -> str:
        return " ".join(f"{x(moment):.1f},{y(value):.1f}" for moment, value in series)

    symbol = spec.unit.symbol
    suffix = f" {symbol}" if symbol else ""
    levels = tuple(
        Level(
            kind,
            y(level),
            f"{kind} {figure(level)}{suffix}",
            right=index == 1 and abs(y(level) - y(near[0][1])) < LEVEL_LABEL_ROOM,
        )
        for index, (kind, level) in enumerate(near)
    )
    off_scale = tuple(
        f"{kind} {figure(level)}{suffix} is above this chart's scale"
        for kind, level in drawn
        if (kind, level) not in near
    )
    labelled: dict[str, list[float]] = {"warning": [], "critical": []}
    traces = []
    for index, (forecast, projection) in enumerate(zip(forecasts, projections, strict=True)):
        marks = []
        for kind, level in near:
            crossing = forecast.warning if kind == "warning" else forecast.critical
            if crossing is None or crossing.reach is not Reach.ON or crossing.at is None:
                continue
            if not start <= crossing.at <= end:
                continue
            spot = x(crossing.at)
            date = crossing.at.date().isoformat()
            free = all(abs(spot - other) >= LABEL_ROOM for other in labelled[kind])
            if free:
                labelled[kind].append(spot)
            marks.append(Mark(kind, spot, y(level), date, date if free else ""))
        last_moment, last_value = forecast.sample[-1]
        traces.append(
            Trace(
                label=label_text(forecast.labels) or metric,
                colour=PALETTE[index % len(PALETTE)],
                dash="" if index < len(PALETTE) else "6 3",
                history=points(forecast.sample),
                projection=points(projection),
                last=(x(last_moment), y(last_value)),
                marks=tuple(marks),
            )
        )
    y_ticks = []
    value = low
    while value <= high + step / 2:
        y_ticks.append(Tick(y(value), _tick(value)))
        value += step
    x_ticks = []
    for i in range(5):
        moment = start + (end - start) * (i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        x_ticks.append(Tick(x(moment), moment.date().isoformat(), anchor))
    return Chart(
        metric=metric,
        unit=symbol,
        traces=tuple(traces),
        levels=levels,
        off_scale=off_scale,
        x_ticks=tuple(x_ticks),
        y_ticks=tuple(y_ticks),
        now_x=x(now),
        start=start.date().isoformat(),
        end=end.date().isoformat(),
    )


def charts(
    forecasts: Sequence[Forecast], now: dt.datetime, horizon: dt.timedelta
) -> list[tuple[Chart, tuple[Forecast, ...]]]:
    """One chart per metric, with its series, in the order the forecasts come."""
    groups: dict[str, list[Forecast]] = {}
    for forecast in forecasts:
        groups.setdefault(forecast.metric, []).append(forecast)
    return [(chart(group, now, horizon), tuple(group)) for group in groups.values()]
