"""Growth trends from the history and the dates when each metric will cross its thresholds.

The slope is Theil-Sen's: the median of the slopes between every pair of points, so that one
outlier does not swing it. A series with more points is thinned evenly first, which keeps the
pairs to a few hundred thousand.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from capplan.config import ThresholdsConfig, TiersConfig
from capplan.formulas import DAYS_PER_MONTH, KB_PER_GB
from capplan.history import Record
from capplan.metrics import Measurement, Metric, action_for, evaluate, label_text
from capplan.sizing import fit as fit_tier

MIN_POINTS = 3
MAX_POINTS = 800
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Fit:
    slope_per_day: float
    intercept: float  # value at day 0 (the first point)
    start: dt.datetime

    @property
    def slope_per_month(self) -> float:
        return self.slope_per_day * DAYS_PER_MONTH

    def day(self, moment: dt.datetime) -> float:
        return (moment - self.start).total_seconds() / SECONDS_PER_DAY

    def value_at(self, moment: dt.datetime) -> float:
        return self.intercept + self.slope_per_day * self.day(moment)

    def when(self, level: float, now: dt.datetime) -> dt.datetime | None:
        """When the fitted line passes above `level`: now if it is there already, None never."""
        if self.value_at(now) > level:
            return now
        if self.slope_per_day <= 0:
            return None
        return self.start + dt.timedelta(days=(level - self.intercept) / self.slope_per_day)


def theil_sen(points: Sequence[tuple[dt.datetime, float]]) -> Fit:
    """The median pairwise slope, and the median intercept for it."""
    if len(points) > MAX_POINTS:
        step = (len(points) - 1) / (MAX_POINTS - 1)
        points = [points[round(i * step)] for i in range(MAX_POINTS)]
    start = points[0][0]
    xs = [(moment - start).total_seconds() / SECONDS_PER_DAY for moment, _ in points]
    ys = [value for _, value in points]
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    slope = statistics.median(slopes) if slopes else 0.0
    intercept = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, start)


@dataclass(frozen=True, slots=True)
class TierForecast:
    current: str  # the smallest tier whose disk the metric fits now
    next_tier: str | None
    needed_at: dt.datetime | None  # when the current tier's limit is passed


@dataclass(frozen=True, slots=True)
class Forecast:
    metric: str
    labels: dict[str, str]
    points: tuple[tuple[dt.datetime, float], ...]
    fit: Fit | None  # None: not enough history
    latest: Metric  # the last value, evaluated against the thresholds
    warning_at: dt.datetime | None
    critical_at: dt.datetime | None
    action: str = ""  # what to do when it crosses
    tier: TierForecast | None = None

    @property
    def slope_per_day(self) -> float | None:
        return None if self.fit is None else self.fit.slope_per_day

    @property
    def slope_per_month(self) -> float | None:
        return None if self.fit is None else self.fit.slope_per_month


def _series(records: Iterable[Record]) -> dict[tuple[str, str], list[Record]]:
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        key = (record.metric, label_text(dict(sorted(record.labels.items()))))
        groups.setdefault(key, []).append(record)
    return groups


def products_disk_gb(products: float, tiers: TiersConfig) -> float:
    """The disk that many products need, by the assumptions (images, variants, database)."""
    a = tiers.assumptions
    images = products * a.images_per_product * a.image_variants * a.avg_image_kb / KB_PER_GB
    return images + products * a.db_gb_per_product


def _tier_forecast(
    metric: str, fit: Fit, now: dt.datetime, tiers: TiersConfig, disk_pct: float
) -> TierForecast | None:
    if metric not in ("products_total", "storage_gb"):
        return None

    def disk(value: float) -> float:
        return products_disk_gb(value, tiers) if metric == "products_total" else value

    infra = tiers.infrastructure_tiers
    chosen = fit_tier(infra, None, disk(fit.value_at(now)), disk_pct)
    if chosen.index == len(infra) - 1:
        return TierForecast(chosen.tier.id, None, None)
    # the metric's own value at which the disk reaches the limit (both are linear in it)
    per_unit = disk(1.0) - disk(0.0)
    limit = chosen.tier.disk_limit_gb(disk_pct)
    level = limit / per_unit if per_unit else float("inf")
    return TierForecast(chosen.tier.id, infra[chosen.index + 1].id, fit.when(level, now))


def forecasts(
    records: Iterable[Record],
    thresholds: ThresholdsConfig,
    tiers: TiersConfig,
    now: dt.datetime | None = None,
) -> list[Forecast]:
    now = now or dt.datetime.now(dt.timezone.utc)
    disk_pct = thresholds.disk_threshold_pct
    result = []
    for (metric, _), series in sorted(_series(records).items()):
        points = tuple((r.timestamp, r.value) for r in series)
        last = series[-1]
        latest = evaluate(Measurement(metric, last.value, last.labels), thresholds)
        distinct = {moment for moment, _ in points}
        if len(points) < MIN_POINTS or len(distinct) < 2:
            result.append(
                Forecast(
                    metric,
                    dict(last.labels),
                    points,
                    None,
                    latest,
                    None,
                    None,
                    action_for(metric, thresholds),
                )
            )
            continue
        fit = theil_sen(points)
        warning_at = fit.when(latest.warning, now) if latest.warning is not None else None
        critical_at = fit.when(latest.critical, now) if latest.critical is not None else None
        result.append(
            Forecast(
                metric,
                dict(last.labels),
                points,
                fit,
                latest,
                warning_at,
                critical_at,
                action_for(metric, thresholds),
                _tier_forecast(metric, fit, now, tiers, disk_pct),
            )
        )
    return result
