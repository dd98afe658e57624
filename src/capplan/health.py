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
from dataclasses import dataclass, field
from pathlib import Path

from capplan.check import HOST_METRICS, host_tier
from capplan.config import Assumptions, InfraTier, ThresholdsConfig, TiersConfig
from capplan.errors import InputError
from capplan.history import parse_age
from capplan.history_source import HistorySource, HostFacts, SqliteHistory
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
class FleetHost:
    """One host of a fleet (an `instance`): its tier, worst status and soonest crossing."""

    instance: str
    host: HostTier
    forecasts: tuple[Forecast, ...]
    alerts: tuple[Alert, ...]  # soonest first
    needs: tuple[TierNeed, ...]
    facts: HostFacts = field(default_factory=HostFacts)

    @property
    def status(self) -> Status:
        return overall(f.latest.status for f in self.forecasts)

    @property
    def soonest(self) -> Alert | None:
        return self.alerts[0] if self.alerts else None


@dataclass(frozen=True, slots=True)
class FleetTotal:
    """A sum across the fleet's hosts, where a sum means something."""

    name: str
    value: float
    unit: str
    hosts: int  # how many hosts gave a value


@dataclass(frozen=True, slots=True)
class Inputs:
    history: str  # the file, or the server by its non-secret parts
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
    fleet: tuple[FleetHost, ...] = ()  # two hosts or more: most urgent first
    totals: tuple[FleetTotal, ...] = ()

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


INSTANCE = "instance"
# Fleet totals: the metrics whose sum across hosts means something, and the label that makes a
# value the same thing on two hosts (one database seen from every app server counts once).
SUMMED = (
    ("storage_gb", None),
    ("db_size_gb", "db"),
    ("products_total", "db"),
    ("access_requests_per_second", None),
    ("network_receive_bytes_per_second", None),
    ("network_transmit_bytes_per_second", None),
)


def _urgency(alert: Alert | None) -> tuple[int, int, dt.datetime]:
    latest = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    if alert is None:
        return 3, 0, latest
    order = {When.NOW: 0, When.CROSSED: 1, When.COMING: 2}
    rank = -alert.level.rank if alert.when is When.NOW else 0
    return order[alert.when], rank, alert.at or dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _host_of(facts: HostFacts | None, host: HostTier, tiers: TiersConfig) -> HostTier:
    """A fleet host's tier: --host-tier when given, else the one its cores and memory match."""
    if host.given or facts is None or facts.vcpu is None or facts.ram_gb is None:
        return host
    infra = tiers.infrastructure_tiers
    return HostTier(host_tier(infra, facts.vcpu, facts.ram_gb), False, facts.vcpu, facts.ram_gb)


def fleet(
    forecasts: Sequence[Forecast],
    tiers: TiersConfig,
    host: HostTier,
    now: dt.datetime,
    horizon: dt.timedelta,
    facts: dict[str, HostFacts] | None = None,
) -> list[FleetHost]:
    """The hosts (by `instance`), most urgent first: a threshold crossed now, critical first, then
    crossed by the trend, then the soonest crossing; the hosts without one last, by name."""
    groups: dict[str, list[Forecast]] = {}
    for forecast in forecasts:
        groups.setdefault(forecast.labels.get(INSTANCE, ""), []).append(forecast)
    hosts = []
    for instance, found in groups.items():
        known = (facts or {}).get(instance)
        tier = _host_of(known, host, tiers)
        hosts.append(
            FleetHost(
                instance,
                tier,
                tuple(found),
                tuple(alerts(found, now, horizon)),
                tuple(tier_needs(found, tiers, tier)),
                known or HostFacts(),
            )
        )
    hosts.sort(key=lambda h: (*_urgency(h.soonest), -h.status.rank, h.instance))
    return hosts


def fleet_totals(
    forecasts: Sequence[Forecast], facts: dict[str, HostFacts] | None = None
) -> list[FleetTotal]:
    """Sums across hosts of the latest values where a sum means something, and the disk used
    and free of the hosts' real file systems when the history knows them."""
    totals: list[FleetTotal] = []
    known = list((facts or {}).values())
    sized = [f for f in known if f.disk_used_gb is not None and f.disk_free_gb is not None]
    if sized:
        used = sum(f.disk_used_gb or 0 for f in sized)
        totals.append(FleetTotal("disk_used_gb", used, "GB", len(sized)))
        totals.append(
            FleetTotal("disk_free_gb", sum(f.disk_free_gb or 0 for f in sized), "GB", len(sized))
        )
    for metric, shared in SUMMED:
        values: dict[str, float] = {}
        hosts: set[str] = set()
        for forecast in forecasts:
            value = forecast.latest.value
            if forecast.metric != metric or value is None:
                continue
            labels = dict(forecast.labels)
            key = labels.get(shared, "") if shared else ""
            if not shared or not key:
                key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            values[key] = max(values.get(key, value), value)
            hosts.add(labels.get(INSTANCE, ""))
        if values:
            totals.append(
                FleetTotal(metric, sum(values.values()), METRICS[metric].unit.symbol, len(hosts))
            )
    return totals


def health(
    history: HistorySource | Path,
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
    """The page's content for a history (and a projection, when a mix is given). With two
    hosts or more (series of two `instance`s), the fleet: a row per host, totals, and the
    alerts and tier needs of every host with its own tier."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if isinstance(history, Path):
        history = SqliteHistory(history)
    found = history_forecasts(history, thresholds, tiers, now, since=since, stale_after=stale_after)
    if not found:
        if since is not None:
            day = since.isoformat(timespec="seconds")
            raise InputError("history", history.label, f"has no records from {day} on")
        if not history.writable:  # a server: what it lacks is the series capplan reads
            raise InputError(
                "history",
                history.label,
                "has none of the series capplan reads (node_exporter's node_* or capplan_*) "
                "in the last 90 days (--since, --match choose others)",
            )
        raise InputError(
            "history",
            history.label,
            "has no records: record some with `capplan check --record` (from cron) or "
            "`capplan history import`",
        )
    found.sort(key=_order)
    instances = {f.labels.get(INSTANCE, "") for f in found}
    hosts: list[FleetHost] = []
    totals: list[FleetTotal] = []
    if len(instances) > 1:
        known = getattr(history, "facts", None)
        facts = known() if callable(known) else None
        hosts = fleet(found, tiers, host, now, horizon, facts)
        totals = fleet_totals(found, facts)
        every_alert = [a for h in hosts for a in h.alerts]
        every_need = [n for h in hosts for n in h.needs]
    else:
        every_alert = alerts(found, now, horizon)
        every_need = tier_needs(found, tiers, host)
    described = Inputs(
        history=history.label,
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
        alerts=tuple(_soonest_first(every_alert)),
        needs=tuple(_needs_soonest_first(every_need, tiers)),
        assumptions=tiers.assumptions,
        disk_threshold_pct=thresholds.disk_threshold_pct,
        projection=projection,
        fleet=tuple(hosts),
        totals=tuple(totals),
    )


def _soonest_first(found: list[Alert]) -> list[Alert]:
    return sorted(found, key=_urgency)


def _needs_soonest_first(found: list[TierNeed], tiers: TiersConfig) -> list[TierNeed]:
    ids = [tier.id for tier in tiers.infrastructure_tiers]
    earliest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda need: (need.at or earliest, -ids.index(need.tier.id)))
