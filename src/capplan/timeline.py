"""A growing mix month by month: totals, the tier each month needs, and the events on the way
(tier transitions with what the tier left behind could no longer hold, capacity thresholds
crossed, the month no tier holds the load)."""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capplan import formulas
from capplan.config import InfraTier, Level, ThresholdsConfig, TiersConfig
from capplan.config.models import Range
from capplan.formulas import MAX_COUNT, Demand, Totals
from capplan.sizing import capacity_values, fit, misfits

if TYPE_CHECKING:
    from capplan.projection import ClientProfile


@dataclass(frozen=True, slots=True)
class Month:
    month: int
    clients: int
    products: float
    image_storage_gb: float
    db_size_gb: float
    egress_tb_per_month: float
    revenue_eur: float
    infra_tier: str
    infra_eur: float
    disk_limit_gb: float
    fits: bool = True  # False: not even the largest tier holds this month's load

    @property
    def disk_gb(self) -> float:
        """Images and database on the platform's own disk."""
        return self.image_storage_gb + self.db_size_gb


@dataclass(frozen=True, slots=True)
class Event:
    month: int
    kind: str  # "transition", "threshold", or "outgrown": not even the largest tier fits
    what: str
    reason: str | None = None  # a move up: what the tier left behind can no longer hold
    from_tier: str | None = field(default=None, metadata={"json": "from"})
    to_tier: str | None = field(default=None, metadata={"json": "to"})
    level: Level | None = None
    trigger: str | None = None  # the planning document's trigger of the move (tiers.yaml)
    action: str | None = None
    cost_increase_eur: Range | None = None
    # what moved the platform, when that is not the document's trigger (see moved_by)
    moved_by: str | None = None


@dataclass(frozen=True, slots=True)
class MonthState:
    month: Month
    totals: Totals
    tier_index: int
    capped: bool = False  # a plan's clients reached MAX_COUNT and stopped growing


def month_by_month(
    rows: Sequence[ClientProfile], tiers: TiersConfig, disk_pct: float, months: int
) -> list[MonthState]:
    """Month by month, with each plan's figures held as one vector over the plans: the cost is a
    few sums per month, not an object per plan per month."""
    infra = tiers.infrastructure_tiers
    start = [p.clients for p in rows]
    products = [p.products for p in rows]
    images = [p.products * p.images_per_product for p in rows]
    orders = [p.orders_per_month for p in rows]
    requests = [p.api_requests_per_day for p in rows]
    prices = [p.price_eur for p in rows]
    rates = {p.growth for p in rows}
    most = max(start, default=0.0)
    states = []
    for month in range(months + 1):
        factor = {rate: formulas.growth_factor(rate, month) for rate in rates}
        # compound growth, to the nearest whole client (at most MAX_COUNT)
        pairs = zip(start, rows, strict=True)
        if most * max(factor.values(), default=1.0) <= MAX_COUNT:
            counts = [round(c * factor[p.growth]) for c, p in pairs]
        else:
            counts = [round(min(c * factor[p.growth], MAX_COUNT)) for c, p in pairs]
        demand = Demand(
            clients=float(sum(counts)),
            products=float(sum(map(operator.mul, counts, products))),
            product_images=float(sum(map(operator.mul, counts, images))),
            orders_per_month=float(sum(map(operator.mul, counts, orders))),
            api_requests_per_day=float(sum(map(operator.mul, counts, requests))),
        )
        result = formulas.totals(demand, tiers.assumptions)
        chosen = fit(infra, result.clients, result.disk_gb, disk_pct)
        tier = chosen.tier
        states.append(
            MonthState(
                month=Month(
                    month=month,
                    clients=int(result.clients),
                    products=result.products,
                    image_storage_gb=result.image_storage_gb,
                    db_size_gb=result.db_size_gb,
                    egress_tb_per_month=result.egress_tb_per_month,
                    revenue_eur=sum(map(operator.mul, prices, counts)),
                    infra_tier=tier.id,
                    infra_eur=tier.monthly_cost_eur.typical,
                    disk_limit_gb=tier.disk_limit_gb(disk_pct),
                    fits=chosen.fits,
                ),
                totals=result,
                tier_index=chosen.index,
                capped=MAX_COUNT in counts,
            )
        )
    return states


# The rule that moves the platform from tier to tier, month by month as today.
TIER_FIT = "capplan's tier fit (clients <= max_clients, disk <= {pct:g} % of storage)"

# The one form of a document's trigger a projection can measure: "Storage >500GB".
STORAGE_TRIGGER = re.compile(r"^\s*storage\s*>\s*(\d+(?:\.\d+)?)\s*(gb|tb)\b", re.IGNORECASE)


def storage_trigger_gb(trigger: str) -> float | None:
    """The image storage a trigger such as "Storage >500GB" names, in GB; None for the prose
    triggers ("SQLite becomes bottleneck") that no projected figure measures."""
    found = STORAGE_TRIGGER.match(trigger)
    if found is None:
        return None
    return float(found.group(1)) * (1000 if found.group(2).lower() == "tb" else 1)


def moved_by(trigger: str, disk_pct: float, states: Sequence[MonthState], month: int) -> str:
    """Which rule moved the platform, and how the document's trigger differs from it."""
    rule = TIER_FIT.format(pct=disk_pct)
    limit = storage_trigger_gb(trigger)
    if limit is None:
        return f"{rule}; the document's trigger ({trigger}) is not a projected figure"
    passed = next((s.month.month for s in states if s.month.image_storage_gb > limit), None)
    if passed == month:
        return f"{rule}; the document's trigger ({trigger}) is passed the same month"
    when = "not within the horizon" if passed is None else f"at month {passed}"
    return (
        f"{rule}, not the document's trigger ({trigger}): image storage passes "
        f"{limit:,.0f} GB {when}"
    )


def outgrown(largest: str) -> str:
    """What to do when not even the largest tier holds the platform."""
    return f"needs more than {largest}: split the platform or add a tier"


def _transitions(
    source: int, target: int, infra: Sequence[InfraTier], month: int, load: Totals, disk_pct: float
) -> list[Event]:
    """One event per tier passed from `source` to `target` (several in a jump); a move up says
    what the tier left behind can no longer hold (the trigger is the planning document's)."""
    events = []
    step = 1 if target > source else -1
    for index in range(source + step, target + step, step):
        before, after = infra[index - step], infra[index]
        upward = step > 0
        transition = after.transition if upward else None
        outgrew = misfits(before, load.clients, load.disk_gb, disk_pct) if upward else []
        events.append(
            Event(
                month=month,
                kind="transition",
                what=f"{before.name} -> {after.name}"
                + ("" if upward else " (the platform shrank)"),
                reason="; ".join(str(m) for m in outgrew) or None,
                from_tier=before.id,
                to_tier=after.id,
                trigger=transition.trigger if transition else None,
                action=transition.action if transition else None,
                cost_increase_eur=transition.cost_increase_eur if transition else None,
            )
        )
    return events


def events_of(
    states: Sequence[MonthState],
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
) -> list[Event]:
    events: list[Event] = []
    crossed = {
        (metric, level)
        for metric, value in capacity_values(states[0].totals).items()
        for level in ("warning", "critical")
        if value > thresholds.capacity[metric].level(level)
    }
    largest = tiers.infrastructure_tiers[-1]
    pct = thresholds.disk_threshold_pct
    if not states[0].month.fits:
        events.append(Event(0, "outgrown", outgrown(largest.name), from_tier=largest.id))
    for previous, state in itertools.pairwise(states):
        month = state.month.month
        if previous.month.fits and not state.month.fits:
            events.append(Event(month, "outgrown", outgrown(largest.name), from_tier=largest.id))
        events += [
            dataclasses.replace(e, moved_by=moved_by(e.trigger, pct, states, month))
            if e.trigger
            else e
            for e in _transitions(
                previous.tier_index,
                state.tier_index,
                tiers.infrastructure_tiers,
                month,
                state.totals,
                pct,
            )
        ]
        for metric, value in capacity_values(state.totals).items():
            threshold = thresholds.capacity[metric]
            for level in ("warning", "critical"):
                limit = threshold.level(level)
                if value > limit and (metric, level) not in crossed:
                    crossed.add((metric, level))
                    events.append(
                        Event(
                            month=month,
                            kind="threshold",
                            what=f"{metric} {value:,.0f} > {level} {limit:,.0f}",
                            level=level,
                            action=threshold.action,
                        )
                    )
    return events
