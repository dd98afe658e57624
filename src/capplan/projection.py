"""A tier mix becomes totals, the recommended infrastructure tier, costs and a growth timeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from capplan import formulas
from capplan.config import (
    PLAN_FIGURES,
    Assumptions,
    InfraTier,
    Mix,
    MixRow,
    PricingTier,
    ThresholdsConfig,
    TiersConfig,
)
from capplan.config.ranges import at_mid
from capplan.errors import InputError
from capplan.formulas import MAX_COUNT, Demand, Totals
from capplan.sizing import (
    CapacityStatus,
    Recommendation,
    capacity,
    recommend,
)
from capplan.timeline import Event, Month, events_of, month_by_month

# Months of timeline when a mix grows and no horizon is given.
DEFAULT_MONTHS = 24


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """One pricing tier's row of the mix: its clients and what each of them uses."""

    tier: PricingTier
    clients: float
    products: float  # whole, but for an average measured by calibration (0.425 stays 0.425)
    images_per_product: float
    orders_per_month: float
    api_requests_per_day: float
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
    products_per_client: float
    images_per_product: float
    orders_per_client_per_month: float
    api_requests_per_client_per_day: float
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


def _figure(row: MixRow, tier: PricingTier, name: str) -> float:
    """A per-client figure: whole in a file; an average measured by calibration stays as
    measured (0.425 images per product is not rounded to 0)."""
    value = getattr(row, name)
    if value is None:
        value = getattr(tier, name)
    if value is None:  # load_mix refuses this; a direct caller gets a plain error
        raise ValueError(f"{tier.id}: {name} is unlimited in the plan and not given")
    number = at_mid(value)
    return int(number) if float(number).is_integer() else float(number)


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
    formulas.require_exact(result, "its figures")
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
    states = month_by_month(rows, tiers, thresholds.disk_threshold_pct, months)
    beyond = "the growth rate or the horizon is beyond any real platform"
    capped = next((state.month.month for state in states if state.capped), None)
    inexact = next((s.month.month for s in states if formulas.beyond_exact(s.totals)), None)
    limits = [
        (capped, f"a plan's clients reach capplan's ceiling of {MAX_COUNT:,} and stop growing"),
        (inexact, f"a total passes {formulas.EXACT_COUNT:,} (2**53): its last digits are noise"),
    ]
    found = sorted((month, what) for month, what in limits if month is not None)
    warnings += [f"from month {month} {what}: {beyond}" for month, what in found]
    return dataclasses.replace(
        projection,
        warnings=tuple(warnings),
        timeline=tuple(state.month for state in states),
        events=tuple(events_of(states, tiers, thresholds)),
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


def misfit(p: Projection) -> str | None:
    """Why the plan does not fit within its horizon, in a few words; None when it fits."""
    if not p.recommendation.fits:
        return f"today, on {p.recommendation.tier.name}: {p.recommendation.reason}"
    month = next((m for m in p.timeline if not m.fits), None)
    if month is not None:
        return f"from month {month.month} no infrastructure tier holds the load"
    return None
