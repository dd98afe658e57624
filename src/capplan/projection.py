"""A tier mix becomes totals, the recommended infrastructure tier, costs and a growth timeline."""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from capplan import formulas
from capplan.config import (
    PLAN_FIGURES,
    Assumptions,
    InfraTier,
    Level,
    Mix,
    MixRow,
    PricingTier,
    ThresholdsConfig,
    TiersConfig,
)
from capplan.config.models import Range
from capplan.config.ranges import at_mid
from capplan.errors import InputError
from capplan.formulas import MAX_COUNT, Demand, Totals
from capplan.sizing import (
    CapacityStatus,
    Recommendation,
    capacity,
    capacity_values,
    fit,
    recommend,
)

# Months of timeline when a mix grows and no horizon is given.
DEFAULT_MONTHS = 24


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """One pricing tier's row of the mix: its clients and what each of them uses."""

    tier: PricingTier
    clients: float
    products: int
    images_per_product: int
    orders_per_month: int
    api_requests_per_day: int
    price_eur: float
    growth: float

    def demand(self, clients: float) -> Demand:
        return Demand(
            clients=clients,
            products=clients * self.products,
            product_images=clients * self.products * self.images_per_product,
            orders_per_month=clients * self.orders_per_month,
            api_requests_per_day=clients * self.api_requests_per_day,
        )

    def over_plan(self) -> list[str]:
        """The figures above the plan's limits: the client has outgrown its plan."""
        notes = []
        for figure in PLAN_FIGURES:
            limit = getattr(self.tier, figure)
            value = getattr(self, figure)
            if limit is not None and value > limit:
                notes.append(
                    f"{self.tier.id}: {figure} {value:,} is above the {self.tier.name} "
                    f"plan's limit of {limit:,}"
                )
        return notes


@dataclass(frozen=True, slots=True)
class TierLine:
    """One plan's row of the projection; its fields are the JSON contract's keys."""

    tier: str
    name: str = field(metadata={"json": None})
    clients: float
    products_per_client: int
    images_per_product: int
    orders_per_client_per_month: int
    api_requests_per_client_per_day: int
    price_eur: float
    products: float
    images: float
    orders_per_month: float
    api_requests_per_month: float
    revenue_eur: float


@dataclass(frozen=True, slots=True)
class BandwidthCost:
    provider: str
    currency: str
    cost: float


@dataclass(frozen=True, slots=True)
class Costs:
    revenue_eur: float
    infra_eur: float
    infra_min_eur: float
    infra_max_eur: float | None
    support_eur: float
    development_eur: float
    cost_per_client_eur: float | None
    gross_margin_pct: float | None
    bandwidth: tuple[BandwidthCost, ...]

    @property
    def spend_eur(self) -> float:
        """What the platform pays a month: infrastructure, support and development."""
        return self.infra_eur + self.support_eur + self.development_eur


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
    from_tier: str | None = field(default=None, metadata={"json": "from"})
    to_tier: str | None = field(default=None, metadata={"json": "to"})
    level: Level | None = None
    trigger: str | None = None
    action: str | None = None
    cost_increase_eur: Range | None = None


@dataclass(frozen=True, slots=True)
class Projection:
    lines: tuple[TierLine, ...]
    totals: Totals
    explain: dict[str, str]
    capacity: tuple[CapacityStatus, ...]
    recommendation: Recommendation
    costs: Costs
    assumptions: Assumptions
    warnings: tuple[str, ...]
    timeline: tuple[Month, ...] = ()
    events: tuple[Event, ...] = ()


def profiles(mix: Mix, tiers: TiersConfig, growth: float | None = None) -> list[ClientProfile]:
    """The mix's rows with every figure settled: the row's own, else its plan's; a range at its
    mid."""
    if growth is None:
        growth = 0.0 if mix.growth is None else at_mid(mix.growth)
    result = []
    for tier in tiers.pricing_tiers:  # in the order of tiers.yaml, not of the mix
        row = mix.tiers.get(tier.id)
        if row is not None:
            result.append(_profile(tier, row, growth))
    return result


def _figure(row: MixRow, tier: PricingTier, name: str) -> int:
    value = getattr(row, name)
    if value is None:
        value = getattr(tier, name)
    if value is None:  # load_mix refuses this; a direct caller gets a plain error
        raise ValueError(f"{tier.id}: {name} is unlimited in the plan and not given")
    return int(at_mid(value))


def _profile(tier: PricingTier, row: MixRow, default_growth: float) -> ClientProfile:
    return ClientProfile(
        tier=tier,
        clients=at_mid(row.clients),
        products=_figure(row, tier, "products"),
        images_per_product=_figure(row, tier, "images_per_product"),
        orders_per_month=_figure(row, tier, "orders_per_month"),
        api_requests_per_day=_figure(row, tier, "api_requests_per_day"),
        price_eur=at_mid(row.price_eur) if row.price_eur is not None else tier.price_eur,
        growth=at_mid(row.growth) if row.growth is not None else default_growth,
    )


def combined_demand(rows: Sequence[tuple[ClientProfile, float]]) -> Demand:
    """The sum of every row's demand, each at its own client count."""
    clients = products = images = orders = requests = 0.0
    for profile, count in rows:
        demand = profile.demand(count)
        clients += demand.clients
        products += demand.products
        images += demand.product_images
        orders += demand.orders_per_month
        requests += demand.api_requests_per_day
    return Demand(clients, products, images, orders, requests)


def costs(
    revenue: float, clients: float, result: Totals, tier: InfraTier, tiers: TiersConfig
) -> Costs:
    a = tiers.assumptions
    cost = Costs(
        revenue_eur=revenue,
        infra_eur=tier.monthly_cost_eur.typical,
        infra_min_eur=tier.monthly_cost_eur.min,
        infra_max_eur=tier.monthly_cost_eur.max,
        support_eur=a.support_eur_per_month,
        development_eur=a.development_eur_per_month,
        cost_per_client_eur=tier.monthly_cost_eur.typical / clients if clients else None,
        gross_margin_pct=None,
        bandwidth=tuple(
            BandwidthCost(
                p.name, p.currency, formulas.bandwidth_cost(result.egress_tb_per_month, p)
            )
            for p in tiers.bandwidth_providers
        ),
    )
    return dataclasses.replace(
        cost, gross_margin_pct=formulas.gross_margin_pct(revenue, cost.spend_eur)
    )


def has_growth(mix: Mix, growth: float | None) -> bool:
    """Whether any client count changes with time: a rate given, in the mix, or on a plan."""
    return (
        growth is not None
        or mix.growth is not None
        or any(row.growth is not None for row in mix.tiers.values())
    )


def project(
    mix: Mix,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    *,
    growth: float | None = None,
    months: int | None = None,
    infra_tier: str | None = None,
) -> Projection:
    """The projection of a mix; with a timeline of months 0..months when `months` is given or
    the mix grows (DEFAULT_MONTHS then).

    `infra_tier` prices the mix on that tier instead of the recommended one.
    """
    ids = [tier.id for tier in tiers.infrastructure_tiers]
    if infra_tier is not None and infra_tier not in ids:
        raise InputError(
            "infra_tier",
            infra_tier,
            f"unknown infrastructure tier; expected one of: {', '.join(ids)}",
        )
    if months is None and has_growth(mix, growth):
        months = DEFAULT_MONTHS
    rows = profiles(mix, tiers, growth)
    a = tiers.assumptions
    demand = combined_demand([(p, p.clients) for p in rows])
    result = formulas.totals(demand, a)
    recommendation = recommend(
        tiers.infrastructure_tiers, result.clients, result.disk_gb, thresholds, infra_tier
    )
    revenue = sum(p.clients * p.price_eur for p in rows)
    warnings = [note for p in rows for note in p.over_plan()]
    projection = Projection(
        lines=tuple(_line(p) for p in rows),
        totals=result,
        explain=formulas.explain(demand, result, a),
        capacity=capacity(result, thresholds),
        recommendation=recommendation,
        costs=costs(revenue, result.clients, result, recommendation.tier, tiers),
        assumptions=a,
        warnings=tuple(warnings),
    )
    if months is None:
        return projection
    states = _timeline(rows, tiers, thresholds.disk_threshold_pct, months)
    return dataclasses.replace(
        projection,
        timeline=tuple(state.month for state in states),
        events=tuple(_events(states, tiers, thresholds)),
    )


def _line(p: ClientProfile) -> TierLine:
    demand = p.demand(p.clients)
    return TierLine(
        tier=p.tier.id,
        name=p.tier.name,
        clients=p.clients,
        products_per_client=p.products,
        images_per_product=p.images_per_product,
        orders_per_client_per_month=p.orders_per_month,
        api_requests_per_client_per_day=p.api_requests_per_day,
        price_eur=p.price_eur,
        products=demand.products,
        images=demand.product_images,
        orders_per_month=demand.orders_per_month,
        api_requests_per_month=formulas.api_requests_per_month(demand.api_requests_per_day),
        revenue_eur=p.clients * p.price_eur,
    )


@dataclass(frozen=True, slots=True)
class _MonthState:
    month: Month
    totals: Totals
    tier_index: int


def _timeline(
    rows: Sequence[ClientProfile], tiers: TiersConfig, disk_pct: float, months: int
) -> list[_MonthState]:
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
            _MonthState(
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
            )
        )
    return states


def outgrown(largest: str) -> str:
    """What to do when not even the largest tier holds the platform."""
    return f"needs more than {largest}: split the platform or add a tier"


def _transitions(source: int, target: int, infra: Sequence[InfraTier], month: int) -> list[Event]:
    """One event per tier passed from `source` to `target` (several in a jump)."""
    events = []
    step = 1 if target > source else -1
    for index in range(source + step, target + step, step):
        before, after = infra[index - step], infra[index]
        upward = step > 0
        transition = after.transition if upward else None
        events.append(
            Event(
                month=month,
                kind="transition",
                what=f"{before.name} -> {after.name}"
                + ("" if upward else " (the platform shrank)"),
                from_tier=before.id,
                to_tier=after.id,
                trigger=transition.trigger if transition else None,
                action=transition.action if transition else None,
                cost_increase_eur=transition.cost_increase_eur if transition else None,
            )
        )
    return events


def _events(
    states: Sequence[_MonthState],
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
    if not states[0].month.fits:
        events.append(Event(0, "outgrown", outgrown(largest.name), from_tier=largest.id))
    for previous, state in itertools.pairwise(states):
        month = state.month.month
        if previous.month.fits and not state.month.fits:
            events.append(Event(month, "outgrown", outgrown(largest.name), from_tier=largest.id))
        events += _transitions(
            previous.tier_index, state.tier_index, tiers.infrastructure_tiers, month
        )
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


def misfit(p: Projection) -> str | None:
    """Why the plan does not fit within its horizon, in a few words; None when it fits."""
    if not p.recommendation.fits:
        return f"today, on {p.recommendation.tier.name}: {p.recommendation.reason}"
    month = next((m for m in p.timeline if not m.fits), None)
    if month is not None:
        return f"from month {month.month} no infrastructure tier holds the load"
    return None
