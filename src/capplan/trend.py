"""Growth trends from the history, and the dates when each metric crosses its thresholds.

The slope is Theil-Sen's: the median of the slopes between every pair of points, so that one
outlier does not swing it. A series with more than MAX_POINTS records is fitted on MAX_POINTS of
them, evenly spread (the first and the last included), which keeps the pairs below 80,000.

A forecast never extrapolates to today: a threshold's date is the moment the fitted line crosses
it, in the past when that is in the past, and the age of the last point is said beside it. A
percentage is never projected past 100, and a date more than 100 years from now is no date.

Two ways in, one computation: `history_forecasts` reads a history source with flat memory (a
SQLite file counts and orders each series, a Prometheus server samples it; Python sees only the
sample); `forecasts` takes records already in
memory. Both build the same Series and give the same forecasts.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capplan.config import ThresholdsConfig, TiersConfig
from capplan.formulas import DAYS_PER_MONTH, KB_PER_GB
from capplan.history import Record, Series, evenly
from capplan.history_source import HistorySource, SqliteHistory
from capplan.metrics import METRICS, PERCENT, Measurement, Metric, action_for, evaluate, label_text
from capplan.sizing import fit as fit_tier

MIN_POINTS = 3  # distinct moments
# ...over at least a day: three checks a second apart say nothing about a month
MIN_SPAN = dt.timedelta(days=1)
MAX_POINTS = 400
SECONDS_PER_DAY = 86_400
HORIZON_DAYS = 36_525  # 100 years: a crossing further from now than this has no date
STALE_AFTER = dt.timedelta(days=7)

Point = tuple[dt.datetime, float]


class Reach(str, enum.Enum):
    """How the fitted line meets a level."""

    ON = "on"  # it crosses the level at a date, in the past or the future
    NEVER = "never"  # it does not rise (or the level is a percentage above 100)
    BEYOND = "beyond"  # it rises, but reaches the level more than 100 years from now
    ABOVE = "above"  # it is above the level already and did not cross it within 100 years

    __str__ = str.__str__


@dataclass(frozen=True, slots=True)
class Crossing:
    level: float
    reach: Reach
    at: dt.datetime | None = None  # when `reach` is ON


@dataclass(frozen=True, slots=True)
class Fit:
    slope_per_day: float
    intercept: float  # the value at `start`
    start: dt.datetime
    ceiling: float | None = None  # the most a value can be (100 for a percentage)

    @property
    def slope_per_month(self) -> float:
        return self.slope_per_day * DAYS_PER_MONTH

    def day(self, moment: dt.datetime) -> float:
        return (moment - self.start).total_seconds() / SECONDS_PER_DAY

    def line_at(self, moment: dt.datetime) -> float:
        return self.intercept + self.slope_per_day * self.day(moment)

    def value_at(self, moment: dt.datetime) -> float:
        """The projected value: the line, a percentage kept within 0-100."""
        value = self.line_at(moment)
        if self.ceiling is not None:
            value = min(self.ceiling, max(0.0, value))
        return value

    def crossing(self, level: float, last: dt.datetime, now: dt.datetime) -> Crossing:
        """Where the line passes above `level`; `last` is the series' last point."""
        if self.ceiling is not None and level > self.ceiling:
            return Crossing(level, Reach.NEVER)
        if self.slope_per_day <= 0:
            above = self.line_at(last) > level
            return Crossing(level, Reach.ABOVE if above else Reach.NEVER)
        days = (level - self.intercept) / self.slope_per_day
        from_now = days - self.day(now)
        if not math.isfinite(from_now) or from_now > HORIZON_DAYS:
            return Crossing(level, Reach.BEYOND)
        if from_now < -HORIZON_DAYS:
            return Crossing(level, Reach.ABOVE)
        return Crossing(level, Reach.ON, self.start + dt.timedelta(days=days))


def theil_sen(points: Sequence[Point], ceiling: float | None = None) -> Fit:
    """The median pairwise slope, and the median intercept for it (over at most MAX_POINTS of
    the points, evenly spread)."""
    import numpy as np  # the pairs in C: a fleet's 400 series take a second, not twenty

    if len(points) > MAX_POINTS:
        points = [points[i] for i in evenly(len(points), MAX_POINTS)]
    start = points[0][0]
    xs = np.array([(moment - start).total_seconds() / SECONDS_PER_DAY for moment, _ in points])
    ys = np.array([value for _, value in points], dtype=float)
    first, second = np.triu_indices(len(xs), 1)  # every pair i < j
    dx = xs[second] - xs[first]
    apart = dx != 0
    slopes = (ys[second][apart] - ys[first][apart]) / dx[apart]
    slope = float(np.median(slopes)) if slopes.size else 0.0
    intercept = float(np.median(ys - slope * xs))
    return Fit(slope, intercept, start, ceiling)


@dataclass(frozen=True, slots=True)
class TierForecast:
    current: str  # the smallest tier whose disk the metric fits at its last point
    next_tier: str | None
    needed: Crossing | None = None  # when the current tier's disk limit is passed

    @property
    def needed_at(self) -> dt.datetime | None:
        return None if self.needed is None else self.needed.at


@dataclass(frozen=True, slots=True)
class Forecast:
    metric: str
    labels: Mapping[str, str]
    count: int  # records, each at its own moment
    sample: tuple[Point, ...]  # the points fitted, oldest first; the last point included
    latest: Metric  # the last value, evaluated against the thresholds
    fit: Fit | None  # None: not enough history
    warning: Crossing | None  # None: no fit, or no warning level
    critical: Crossing | None
    action: str  # what to do when it crosses
    tier: TierForecast | None
    age: dt.timedelta  # from the last point to now
    stale: bool  # older than the staleness limit

    @property
    def last_point(self) -> dt.datetime:
        return self.sample[-1][0]

    @property
    def warning_at(self) -> dt.datetime | None:
        return None if self.warning is None else self.warning.at

    @property
    def critical_at(self) -> dt.datetime | None:
        return None if self.critical is None else self.critical.at

    @property
    def slope_per_day(self) -> float | None:
        return None if self.fit is None else self.fit.slope_per_day

    @property
    def slope_per_month(self) -> float | None:
        return None if self.fit is None else self.fit.slope_per_month


def products_disk_gb(products: float, tiers: TiersConfig) -> float:
    """The disk that many products need, by the assumptions (images, variants, database)."""
    a = tiers.assumptions
    images = products * a.images_per_product * a.image_variants * a.avg_image_kb / KB_PER_GB
    return images + products * a.db_gb_per_product


def _tier_forecast(
    metric: str, fit: Fit, last: dt.datetime, now: dt.datetime, tiers: TiersConfig, disk_pct: float
) -> TierForecast | None:
    if metric not in ("products_total", "storage_gb"):
        return None

    def disk(value: float) -> float:
        return products_disk_gb(value, tiers) if metric == "products_total" else value

    infra = tiers.infrastructure_tiers
    chosen = fit_tier(infra, None, disk(max(0.0, fit.value_at(last))), disk_pct)
    if chosen.index == len(infra) - 1:
        return TierForecast(chosen.tier.id, None)
    # the metric's own value at which the disk reaches the limit (both are linear in it)
    per_unit = disk(1.0) - disk(0.0)
    limit = chosen.tier.disk_limit_gb(disk_pct)
    needed = (
        fit.crossing(limit / per_unit, last, now)
        if per_unit > 0
        else Crossing(math.inf, Reach.NEVER)
    )
    return TierForecast(chosen.tier.id, infra[chosen.index + 1].id, needed)


def forecast(
    series: Series,
    thresholds: ThresholdsConfig,
    tiers: TiersConfig,
    now: dt.datetime,
    stale_after: dt.timedelta = STALE_AFTER,
) -> Forecast:
    """The forecast of one series."""
    last, value = series.sample[-1]
    latest = evaluate(Measurement(series.metric, value, series.labels), thresholds)
    age = max(now - last, dt.timedelta(0))
    action = action_for(series.metric, thresholds)
    if series.count < MIN_POINTS or last - series.sample[0][0] < MIN_SPAN:
        return Forecast(
            series.metric,
            series.labels,
            series.count,
            series.sample,
            latest,
            None,
            None,
            None,
            action,
            None,
            age,
            age > stale_after,
        )
    ceiling = 100.0 if METRICS[series.metric].unit == PERCENT else None
    fit = theil_sen(series.sample, ceiling)
    return Forecast(
        series.metric,
        series.labels,
        series.count,
        series.sample,
        latest,
        fit,
        None if latest.warning is None else fit.crossing(latest.warning, last, now),
        None if latest.critical is None else fit.crossing(latest.critical, last, now),
        action,
        _tier_forecast(series.metric, fit, last, now, tiers, thresholds.disk_threshold_pct),
        age,
        age > stale_after,
    )


def history_forecasts(
    source: HistorySource | Path,
    thresholds: ThresholdsConfig,
    tiers: TiersConfig,
    now: dt.datetime | None = None,
    *,
    metric: str | None = None,
    since: dt.datetime | None = None,
    stale_after: dt.timedelta = STALE_AFTER,
) -> list[Forecast]:
    """The forecast of every series in a history (a file, a server), by metric and labels;
    memory stays flat whatever the size of the history."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if isinstance(source, Path):
        source = SqliteHistory(source)
    return [
        forecast(series, thresholds, tiers, now, stale_after)
        for series in source.series(most=MAX_POINTS, metric=metric, since=since)
    ]


def forecasts(
    records: Iterable[Record],
    thresholds: ThresholdsConfig,
    tiers: TiersConfig,
    now: dt.datetime | None = None,
    stale_after: dt.timedelta = STALE_AFTER,
) -> list[Forecast]:
    """The forecast of every series among records held in memory (the first value at a moment
    counts, as in the history)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    groups: dict[tuple[str, str], tuple[Mapping[str, str], dict[dt.datetime, float]]] = {}
    for record in records:
        key = (record.metric, label_text(dict(sorted(record.labels.items()))))
        groups.setdefault(key, (record.labels, {}))[1].setdefault(record.timestamp, record.value)
    result = []
    for (metric, _), (labels, values) in sorted(groups.items(), key=lambda item: item[0]):
        points = sorted(values.items())
        sample = tuple(points[i] for i in evenly(len(points), MAX_POINTS))
        series = Series(metric, dict(labels), len(points), sample)
        result.append(forecast(series, thresholds, tiers, now, stale_after))
    return result
