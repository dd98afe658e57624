"""Growth measured from a history: the monthly growth of active clients, as a range.

The history is read as `trend` reads it (`history.series`: each series by metric and labels,
at most trend.MAX_POINTS records evenly spread) and held to trend's minimum (MIN_POINTS moments
over at least MIN_SPAN). Clients grow by a factor, not by a step, so the fit is on a log scale:
Theil-Sen (trend.theil_sen) of ln(active clients) against days; the monthly growth is
exp(slope x 30) - 1 (capplan's month of 30 days, as trend's). Its range is the slope's 95 %
confidence interval by Sen's rank method (the slopes between pairs, sorted; the ranks
(N -/+ 1.96 sqrt(Var S)) / 2), so that the ranges machinery turns the measured uncertainty into
tier probabilities.

Metric names (the history's, as `check` records business figures and `history import` reads):
- `active_clients` with a label `plan` (a pricing plan id): a growth per plan; without `plan`,
  one series: the growth of every plan of the mix.
- `churn_rate_percent` (the same labels), optional: active clients are net of churn, so the
  fitted growth is the net growth; the churn measured is reported beside it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.config import Mix
from capplan.config.ranges import Spread
from capplan.errors import CapplanError
from capplan.formulas import DAYS_PER_MONTH
from capplan.history import Series

if TYPE_CHECKING:
    from capplan.history_source import HistorySource

CLIENTS = "active_clients"
CHURN = "churn_rate_percent"
PLAN_LABEL = "plan"
Z_95 = 1.959964  # the two-sided 95 % normal quantile


@dataclass(frozen=True, slots=True)
class MeasuredGrowth:
    plan: str | None  # None: every plan of the mix (a series without a plan label)
    points: int
    first: dt.datetime
    last: dt.datetime
    growth: Spread  # monthly, as fractions: low, mid (the Theil-Sen fit), high
    churn_pct: float | None = None  # the median monthly churn the history holds, if any


def _rate(slope_per_day: float) -> float:
    return math.expm1(slope_per_day * DAYS_PER_MONTH)


def log_growth(points: Sequence[tuple[dt.datetime, float]]) -> Spread:
    """The monthly growth of a series of counts above 0: Theil-Sen on a log scale, and the 95 %
    confidence interval of its slope (Sen 1968)."""
    from capplan.trend import SECONDS_PER_DAY, theil_sen

    logged = [(moment, math.log(value)) for moment, value in points]
    mid = theil_sen(logged).slope_per_day
    start = logged[0][0]
    xs = [(moment - start).total_seconds() / SECONDS_PER_DAY for moment, _ in logged]
    ys = [value for _, value in logged]
    slopes = sorted(
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    )
    n, count = len(xs), len(slopes)
    spread = Z_95 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    lower = max(0, math.floor((count - spread) / 2))
    upper = min(count - 1, math.ceil((count + spread) / 2))
    low, high = min(slopes[lower], mid), max(slopes[upper], mid)
    return Spread(_rate(low), _rate(mid), _rate(high))


def _too_short(series: Series, source: str) -> str | None:
    from capplan.trend import MIN_POINTS, MIN_SPAN

    span = series.sample[-1][0] - series.sample[0][0] if series.sample else dt.timedelta(0)
    if series.count >= MIN_POINTS and span >= MIN_SPAN:
        return None
    hours = span.total_seconds() / 3600
    return (
        f"{source}: {_name(series)} has {series.count} point(s) over {hours:.3g} h; a growth "
        f"needs at least {MIN_POINTS} over {MIN_SPAN.days} day (as trend)"
    )


def _name(series: Series) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(series.labels.items()))
    return f"{series.metric}{{{labels}}}" if labels else series.metric


def measure_growth(
    read: Callable[[str], Iterable[Series]], source: str, plans: Sequence[str]
) -> tuple[MeasuredGrowth, ...]:
    """The growth of each plan with an `active_clients{plan=...}` series among `plans`, or, with
    none, of the one `active_clients` series without a plan label. `read(metric)` gives a
    metric's series, as trend reads them."""
    found = list(read(CLIENTS))
    churn = {series.labels.get(PLAN_LABEL): series for series in read(CHURN)}
    by_plan = [s for s in found if s.labels.get(PLAN_LABEL) in plans]
    if not by_plan:
        total = [s for s in found if PLAN_LABEL not in s.labels]
        if not total:
            raise CapplanError(
                f"{source}: no {CLIENTS} series (with a label plan= one of "
                f"{', '.join(plans)}, or without one) to measure the growth from"
            )
        if len(total) > 1:
            raise CapplanError(
                f"{source}: {len(total)} {CLIENTS} series without a plan label "
                f"({'; '.join(_name(s) for s in total)}); keep one, or label them plan=..."
            )
        by_plan = total
    result = []
    for series in by_plan:
        problem = _too_short(series, source)
        if problem is not None:
            raise CapplanError(problem)
        zero = next((moment for moment, value in series.sample if value <= 0), None)
        if zero is not None:
            raise CapplanError(
                f"{source}: {_name(series)} is 0 at {zero.isoformat()}; a growth rate needs "
                "counts above 0"
            )
        plan = series.labels.get(PLAN_LABEL)
        churned = churn.get(plan)
        result.append(
            MeasuredGrowth(
                plan,
                series.count,
                series.sample[0][0],
                series.sample[-1][0],
                log_growth(series.sample),
                None if churned is None else statistics.median(v for _, v in churned.sample),
            )
        )
    return tuple(result)


def read_history(source: HistorySource) -> Callable[[str], Iterable[Series]]:
    """A history (a file, a shared PostgreSQL history, a Prometheus server) read as trend reads
    it."""
    from capplan.trend import MAX_POINTS

    return lambda metric: source.series(most=MAX_POINTS, metric=metric)


def with_growth(mix: Mix, measured: Sequence[MeasuredGrowth]) -> Mix:
    """The mix growing at the measured ranges: each plan its own, or every plan the total's."""
    rows = dict(mix.tiers)
    if len(measured) == 1 and measured[0].plan is None:
        shared = measured[0].growth
        rows = {plan: row.model_copy(update={"growth": None}) for plan, row in rows.items()}
        return mix.model_copy(update={"tiers": rows, "growth": shared})
    for m in measured:
        if m.plan in rows:
            rows[m.plan] = rows[m.plan].model_copy(update={"growth": m.growth})
    return mix.model_copy(update={"tiers": rows})


def described(m: MeasuredGrowth) -> str:
    g = m.growth
    who = f"{m.plan}" if m.plan else "all plans"
    text = (
        f"growth measured for {who}: {100 * g.mid:.2f} % a month (95 % interval "
        f"{100 * g.low:.2f} to {100 * g.high:.2f} %), Theil-Sen on log(active_clients) over "
        f"{m.points} points from {m.first:%Y-%m-%d} to {m.last:%Y-%m-%d}; net of churn"
    )
    if m.churn_pct is not None:
        text += f" (churn_rate_percent: median {m.churn_pct:.2f} % a month)"
    return text
