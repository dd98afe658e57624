"""The Platform Health page's content: what the history says now, where its trends go, what to
do about it, and which infrastructure tier the platform needs next. Typed results, no HTML.

Everything comes from what capplan already computes: the forecasts are `trend`'s (so the page's
dates are the trend command's dates), the tiers are `sizing.fit`'s by way of trend's next tier,
the host's tier is `check`'s rule, and the projection is `project`'s.

- Current usage: the latest value of every series with its status and thresholds.
- Alerts: what is WARNING or CRITICAL now, what the trend crossed already although the latest
  value is below, and what the trend crosses within the horizon; soonest first.
- Tier needs: when the host's tier stops being enough, by the host's load (CPU, memory, load
  reaching their warning level, the rule of `check`'s next step) and by its disk (trend's next
  tier for stored bytes and products).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from capplan.check import HOST_METRICS, host_tier
from capplan.config import Assumptions, InfraTier, ThresholdsConfig, TiersConfig
from capplan.errors import InputError
from capplan.history import parse_age
from capplan.metrics import METRICS, Status, overall
from capplan.projection import Projection
from capplan.trend import STALE_AFTER, Crossing, Forecast, Reach, history_forecasts

DEFAULT_HORIZON = dt.timedelta(days=90)
LEVELS = (Status.CRITICAL, Status.WARNING)


class When(str, enum.Enum):
    """Where an alert stands in time."""

    NOW = "now"  # the latest value is at this level
    CROSSED = "crossed"  # the trend crossed the level already; the latest value is below it
    COMING = "coming"  # the trend crosses the level within the horizon

    __str__ = str.__str__


@dataclass(frozen=True, slots=True)
class Alert:
    """A series at a level now, or crossing it by its trend."""

    forecast: Forecast
    level: Status  # WARNING or CRITICAL
    threshold: float
    when: When
    at: dt.datetime | None  # where the trend crosses the level (trend's warning_at/critical_at)

    @property
    def action(self) -> str:
        return self.forecast.action


@dataclass(frozen=True, slots=True)
class HostTier:
    """The tier the platform runs on: given, or the one this machine's vCPU and RAM match."""

    tier: InfraTier | None  # None: smaller than the smallest tier
    given: bool
    vcpu: int | None = None  # measured, when not given
    ram_gb: float | None = None


@dataclass(frozen=True, slots=True)
class TierNeed:
    """A tier the platform needs, from when, and which trend says so."""

    tier: InfraTier
    at: dt.datetime | None  # where the trend crosses (in the past: needed since); None: now
    forecast: Forecast
    reason: str


@dataclass(frozen=True, slots=True)
class Sources:
    """The files read besides the history, and the overrides given for this run (KEY=VALUE)."""

    tiers_file: Path | None = None
    thresholds_file: Path | None = None
    overrides: tuple[str, ...] = ()
    mix_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Inputs:
    history: Path
    records: int
    series: int
    first: dt.datetime  # the oldest and newest points read
    last: dt.datetime
    since: dt.datetime | None
    horizon: dt.timedelta
    stale_after: dt.timedelta
    sources: Sources


@dataclass(frozen=True, slots=True)
class Health:
    generated_at: dt.datetime
    inputs: Inputs
    host: HostTier
    forecasts: tuple[Forecast, ...]  # in the order of METRICS, then labels
    alerts: tuple[Alert, ...]  # soonest first
    needs: tuple[TierNeed, ...]  # soonest first, one per tier and cause
    assumptions: Assumptions
    disk_threshold_pct: float
    projection: Projection | None = None

    @property
    def status(self) -> Status:
        return overall(f.latest.status for f in self.forecasts)

    @property
    def next_need(self) -> TierNeed | None:
        """The first tier the trends say the platform needs, and when."""
        return self.needs[0] if self.needs else None


def host_tier_of(tiers: TiersConfig, given: str | None) -> HostTier:
    """`given` (an infrastructure tier id), else the tier this machine's size matches."""
    infra = tiers.infrastructure_tiers
    if given is not None:
        found = next((tier for tier in infra if tier.id == given), None)
        if found is None:
            ids = ", ".join(tier.id for tier in infra)
            raise InputError(
                "host_tier", given, f"unknown infrastructure tier; expected one of: {ids}"
            )
        return HostTier(found, True)
    from capplan.check.host import size  # psutil

    measured = size()
    return HostTier(
        host_tier(infra, measured.vcpu, measured.ram_gb), False, measured.vcpu, measured.ram_gb
    )


def parse_horizon(text: str) -> dt.timedelta:
    """--horizon: an age (90d, 12w, 6m, 1y), or a number of days."""
    stripped = text.strip()
    age = parse_age(f"{stripped}d" if stripped.isdecimal() else stripped, "horizon")
    if age is None:
        raise InputError("horizon", text, "expected an age: 90d, 12w, 6m, 1y (or a number of days)")
    return age


def _order(forecast: Forecast) -> tuple[int, str]:
    names = list(METRICS)
    return names.index(forecast.metric), ",".join(f"{k}={v}" for k, v in forecast.labels.items())


def _level(forecast: Forecast, status: Status) -> tuple[float | None, Crossing | None]:
    latest = forecast.latest
    if status is Status.CRITICAL:
        return latest.critical, forecast.critical
    return latest.warning, forecast.warning


def alerts(forecasts: Sequence[Forecast], now: dt.datetime, horizon: dt.timedelta) -> list[Alert]:
    """Per series, its worst level now and every level the trend crosses (already, or within
    the horizon) above that; soonest first: now (critical first), crossed, then coming."""
    found: list[Alert] = []
    for forecast in forecasts:
        status = forecast.latest.status
        for level in LEVELS:
            threshold, crossing = _level(forecast, level)
            if threshold is None:
                continue
            at = crossing.at if crossing is not None else None
            if status.rank >= level.rank:
                if status is level:  # a CRITICAL series is not listed as WARNING as well
                    found.append(Alert(forecast, level, threshold, When.NOW, at))
                continue
            if crossing is None:
                continue
            if crossing.reach is Reach.ABOVE or (at is not None and at <= now):
                found.append(Alert(forecast, level, threshold, When.CROSSED, at))
            elif at is not None and at <= now + horizon:
                found.append(Alert(forecast, level, threshold, When.COMING, at))
    order = {When.NOW: 0, When.CROSSED: 1, When.COMING: 2}
    earliest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    found.sort(
        key=lambda a: (order[a.when], -a.level.rank if a.when is When.NOW else 0, a.at or earliest)
    )
    return found


def _index(tiers: Sequence[InfraTier], tier: InfraTier | None) -> int:
    return -1 if tier is None else [t.id for t in tiers].index(tier.id)


def tier_needs(forecasts: Sequence[Forecast], tiers: TiersConfig, host: HostTier) -> list[TierNeed]:
    """When the host's tier stops being enough, and for which tier, soonest first."""
    infra = tiers.infrastructure_tiers
    ids = [tier.id for tier in infra]
    current = _index(infra, host.tier)
    needs: list[TierNeed] = []
    above = infra[current + 1] if current + 1 < len(infra) else None
    for forecast in forecasts:
        if forecast.metric in HOST_METRICS and above is not None:
            status, warning = forecast.latest.status, forecast.warning
            if status in (Status.WARNING, Status.CRITICAL):
                needs.append(TierNeed(above, None, forecast, f"{forecast.metric} is {status}"))
            elif warning is not None and warning.at is not None:
                reason = f"{forecast.metric} reaches its warning level {forecast.latest.warning:g}"
                needs.append(TierNeed(above, warning.at, forecast, reason))
        plan = forecast.tier
        if plan is None:
            continue
        fitting = ids.index(plan.current)
        if fitting > current:  # its last value needs a larger disk than the host's tier has
            reason = f"{forecast.metric} needs {infra[fitting].name}'s disk"
            needs.append(TierNeed(infra[fitting], None, forecast, reason))
        elif plan.next_tier is not None and plan.needed_at is not None:
            target = ids.index(plan.next_tier)
            if target > current:
                reason = f"{forecast.metric} fills {infra[fitting].name}'s disk"
                needs.append(TierNeed(infra[target], plan.needed_at, forecast, reason))
    earliest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    needs.sort(key=lambda need: (need.at or earliest, -ids.index(need.tier.id)))
    return needs


def health(
    history: Path,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    host: HostTier,
    *,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    horizon: dt.timedelta = DEFAULT_HORIZON,
    stale_after: dt.timedelta = STALE_AFTER,
    projection: Projection | None = None,
    sources: Sources | None = None,
) -> Health:
    """The page's content for a history file (and a projection, when a mix is given)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    found = history_forecasts(history, thresholds, tiers, now, since=since, stale_after=stale_after)
    if not found:
        if since is not None:
            day = since.isoformat(timespec="seconds")
            raise InputError("history", history, f"has no records from {day} on")
        raise InputError(
            "history",
            history,
            "has no records: record some with `capplan check --record` (from cron) or "
            "`capplan history import`",
        )
    found.sort(key=_order)
    described = Inputs(
        history=history,
        records=sum(f.count for f in found),
        series=len(found),
        first=min(f.sample[0][0] for f in found),
        last=max(f.last_point for f in found),
        since=since,
        horizon=horizon,
        stale_after=stale_after,
        sources=sources or Sources(),
    )
    return Health(
        generated_at=now,
        inputs=described,
        host=host,
        forecasts=tuple(found),
        alerts=tuple(alerts(found, now, horizon)),
        needs=tuple(tier_needs(found, tiers, host)),
        assumptions=tiers.assumptions,
        disk_threshold_pct=thresholds.disk_threshold_pct,
        projection=projection,
    )
