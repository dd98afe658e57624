"""A tier mix becomes totals, the recommended infrastructure tier, costs and a growth timeline."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from capplan import formulas
from capplan.config import (
    Assumptions,
    InfraTier,
    Level,
    Mix,
    MixRow,
    PricingTier,
    Threshold,
    ThresholdsConfig,
    TiersConfig,
)
from capplan.errors import CapplanError
from capplan.formulas import Demand, Totals

LIMITED_FIGURES = ("products", "images_per_product", "orders_per_month", "api_requests_per_day")


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
        for figure in LIMITED_FIGURES:
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
    tier_id: str
    name: str
    clients: float
    products_per_client: int
    images_per_product: int
    orders_per_client: int
    api_requests_per_client_per_day: int
    price_eur: float
    products: float
    images: float
    orders_per_month: float
    api_requests_per_month: float
    revenue_eur: float


@dataclass(frozen=True, slots=True)
class Rejection:
    tier: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    tier: InfraTier
    fits: bool
    binding: str
    reason: str
    rejected: tuple[Rejection, ...]
    disk_gb: float
    disk_limit_gb: float
    runway_clients: int | None  # more clients (same mix) before the next tier; None: no limit
    forced: bool = False


@dataclass(frozen=True, slots=True)
class CapacityStatus:
    metric: str
    value: float
    warning: float
    critical: float
    status: str
    action: str


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


@dataclass(frozen=True, slots=True)
class Event:
    month: int
    kind: str  # "transition" or "threshold"
    what: str
    from_tier: str | None = None
    to_tier: str | None = None
    level: str | None = None
    trigger: str | None = None
    action: str | None = None
    cost_increase_eur: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Projection:
    lines: tuple[TierLine, ...]
    totals: Totals
    explain: dict[str, str]
    capacity: tuple[CapacityStatus, ...]
    recommendation: Recommendation
    costs: Costs
    assumptions: Assumptions
    sizing_level: Level
    disk_threshold_pct: float
    warnings: tuple[str, ...]
    timeline: tuple[Month, ...] = ()
    events: tuple[Event, ...] = ()


def profiles(mix: Mix, tiers: TiersConfig, growth: float | None = None) -> list[ClientProfile]:
    """The mix's rows with every figure settled: the row's own, else its plan's."""
    default_growth = growth if growth is not None else (mix.growth or 0.0)
    result = []
    for tier in tiers.pricing_tiers:  # in the order of tiers.yaml, not of the mix
        row = mix.tiers.get(tier.id)
        if row is not None:
            result.append(_profile(tier, row, default_growth))
    return result


def _figure(row: MixRow, tier: PricingTier, name: str) -> int:
    value = getattr(row, name)
    if value is None:
        value = getattr(tier, name)
    if value is None:  # load_mix refuses this; a direct caller gets a plain error
        raise ValueError(f"{tier.id}: {name} is unlimited in the plan and not given")
    return int(value)


def _profile(tier: PricingTier, row: MixRow, default_growth: float) -> ClientProfile:
    return ClientProfile(
        tier=tier,
        clients=row.clients,
        products=_figure(row, tier, "products"),
        images_per_product=_figure(row, tier, "images_per_product"),
        orders_per_month=_figure(row, tier, "orders_per_month"),
        api_requests_per_day=_figure(row, tier, "api_requests_per_day"),
        price_eur=row.price_eur if row.price_eur is not None else tier.price_eur,
        growth=row.growth if row.growth is not None else default_growth,
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


def disk_threshold_pct(thresholds: ThresholdsConfig) -> float:
    return thresholds.scaling_triggers.disk_percent.level(thresholds.sizing_level)


def _fits(tier: InfraTier, clients: float, disk_gb: float, disk_pct: float) -> list[str]:
    """Why `tier` cannot take this load: an empty list when it can."""
    reasons = []
    if tier.max_clients is not None and clients > tier.max_clients:
        reasons.append(f"clients {clients:,.0f} > {tier.max_clients:,} max")
    limit = tier.storage_gb * disk_pct / 100
    if disk_gb > limit:
        reasons.append(
            f"disk {disk_gb:,.0f} GB > {limit:,.0f} GB, {disk_pct:g} % of {tier.storage_gb:,.0f} GB"
        )
    return reasons


def tier_index(tiers: Sequence[InfraTier], clients: float, disk_gb: float, disk_pct: float) -> int:
    """The index of the smallest tier that fits; the largest when none does."""
    for index, tier in enumerate(tiers):
        if not _fits(tier, clients, disk_gb, disk_pct):
            return index
    return len(tiers) - 1


def recommend(
    tiers: Sequence[InfraTier],
    clients: float,
    disk_gb: float,
    disk_pct: float,
    forced: str | None = None,
) -> Recommendation:
    """The smallest infrastructure tier on which clients and disk fit under the sizing level.

    `forced` names a tier to use instead; the result then says whether it fits.
    """
    reasons = [_fits(tier, clients, disk_gb, disk_pct) for tier in tiers]
    if forced is not None:
        index = [tier.id for tier in tiers].index(forced)
    else:
        index = next((i for i, why in enumerate(reasons) if not why), len(tiers) - 1)
    chosen = tiers[index]
    fits = not reasons[index]
    rejected = tuple(
        Rejection(tier.id, tuple(why))
        for tier, why in zip(tiers[:index], reasons[:index], strict=True)
        if why
    )
    limit = chosen.storage_gb * disk_pct / 100
    binding = _binding(tiers, index, clients, disk_gb, disk_pct)
    if not fits:
        reason = "does not fit: " + "; ".join(reasons[index])
        if forced is None:
            reason += " (no larger tier exists)"
    elif rejected:
        below = rejected[-1]
        reason = f"{below.tier}: " + "; ".join(below.reasons)
    else:
        reason = f"the smallest tier: {clients:,.0f} clients and {disk_gb:,.0f} GB of disk fit"
    return Recommendation(
        tier=chosen,
        fits=fits,
        binding=binding,
        reason=reason,
        rejected=rejected,
        disk_gb=disk_gb,
        disk_limit_gb=limit,
        runway_clients=_runway(chosen, clients, disk_gb, limit) if fits else 0,
        forced=forced is not None,
    )


def _binding(
    tiers: Sequence[InfraTier], index: int, clients: float, disk_gb: float, disk_pct: float
) -> str:
    """The dimension that decides the tier: the one that rules out the tier below, or on the
    smallest tier the one nearest its limit."""
    if index == 0:
        tier = tiers[0]
        client_use = clients / tier.max_clients if tier.max_clients else 0.0
        disk_use = disk_gb / (tier.storage_gb * disk_pct / 100)
        return "disk" if disk_use > client_use else "clients"
    below = _fits(tiers[index - 1], clients, disk_gb, disk_pct)
    kinds = {reason.split()[0] for reason in below}
    if kinds == {"clients", "disk"}:
        return "clients and disk"
    return kinds.pop() if kinds else "none"


def _runway(tier: InfraTier, clients: float, disk_gb: float, limit_gb: float) -> int | None:
    """More clients, in today's proportions, before `tier` no longer fits."""
    most = math.inf if tier.max_clients is None else float(tier.max_clients)
    if clients > 0 and disk_gb > 0:
        most = min(most, math.floor(clients * limit_gb / disk_gb + 1e-9))
    if math.isinf(most):
        return None
    return max(0, int(most - clients))


def capacity_values(result: Totals) -> dict[str, float]:
    return {
        "products_total": result.products,
        "storage_gb": result.image_storage_gb,
        "db_size_gb": result.db_size_gb,
    }


def capacity(result: Totals, thresholds: ThresholdsConfig) -> tuple[CapacityStatus, ...]:
    statuses = []
    for metric, value in capacity_values(result).items():
        threshold: Threshold = getattr(thresholds.capacity, metric)
        statuses.append(
            CapacityStatus(
                metric=metric,
                value=value,
                warning=threshold.warning,
                critical=threshold.critical,
                status=threshold.status(value),
                action=threshold.action,
            )
        )
    return tuple(statuses)


def costs(
    revenue: float, clients: float, result: Totals, tier: InfraTier, tiers: TiersConfig
) -> Costs:
    a = tiers.assumptions
    infra = tier.monthly_cost_eur.typical
    spend = infra + a.support_eur_per_month + a.development_eur_per_month
    return Costs(
        revenue_eur=revenue,
        infra_eur=infra,
        infra_min_eur=tier.monthly_cost_eur.min,
        infra_max_eur=tier.monthly_cost_eur.max,
        support_eur=a.support_eur_per_month,
        development_eur=a.development_eur_per_month,
        cost_per_client_eur=infra / clients if clients else None,
        gross_margin_pct=formulas.gross_margin_pct(revenue, spend),
        bandwidth=tuple(
            BandwidthCost(
                p.name, p.currency, formulas.bandwidth_cost(result.egress_tb_per_month, p)
            )
            for p in tiers.bandwidth_providers
        ),
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
    """The projection of a mix; with `months`, a timeline of months 0..months and its events.

    `infra_tier` prices the mix on that tier instead of the recommended one.
    """
    ids = [tier.id for tier in tiers.infrastructure_tiers]
    if infra_tier is not None and infra_tier not in ids:
        raise CapplanError(
            f"--infra-tier {infra_tier}: unknown infrastructure tier; "
            f"expected one of: {', '.join(ids)}"
        )
    rows = profiles(mix, tiers, growth)
    a = tiers.assumptions
    demand = combined_demand([(p, p.clients) for p in rows])
    result = formulas.totals(demand, a)
    disk_pct = disk_threshold_pct(thresholds)
    recommendation = recommend(
        tiers.infrastructure_tiers, result.clients, result.disk_gb, disk_pct, infra_tier
    )
    revenue = sum(p.clients * p.price_eur for p in rows)
    warnings = [note for p in rows for note in p.over_plan()]
    if infra_tier is not None and not recommendation.fits:
        warnings.append(f"{infra_tier} was asked for with --infra-tier: {recommendation.reason}")
    projection = Projection(
        lines=tuple(_line(p) for p in rows),
        totals=result,
        explain=formulas.explain(demand, result, a),
        capacity=capacity(result, thresholds),
        recommendation=recommendation,
        costs=costs(revenue, result.clients, result, recommendation.tier, tiers),
        assumptions=a,
        sizing_level=thresholds.sizing_level,
        disk_threshold_pct=disk_pct,
        warnings=tuple(warnings),
    )
    if months is None:
        return projection
    states = _timeline(rows, tiers, disk_pct, months)
    return dataclasses.replace(
        projection,
        timeline=tuple(state.month for state in states),
        events=tuple(_events(states, tiers, thresholds)),
    )


def _line(p: ClientProfile) -> TierLine:
    demand = p.demand(p.clients)
    return TierLine(
        tier_id=p.tier.id,
        name=p.tier.name,
        clients=p.clients,
        products_per_client=p.products,
        images_per_product=p.images_per_product,
        orders_per_client=p.orders_per_month,
        api_requests_per_client_per_day=p.api_requests_per_day,
        price_eur=p.price_eur,
        products=demand.products,
        images=demand.product_images,
        orders_per_month=demand.orders_per_month,
        api_requests_per_month=formulas.api_requests_per_month(demand.api_requests_per_day),
        revenue_eur=p.clients * p.price_eur,
    )


def clients_at(profile: ClientProfile, month: int) -> int:
    """Client count after `month` months of compound growth, to the nearest whole client."""
    return round(profile.clients * (1 + profile.growth) ** month)


@dataclass(frozen=True, slots=True)
class _MonthState:
    month: Month
    totals: Totals
    tier_index: int


def _timeline(
    rows: Sequence[ClientProfile], tiers: TiersConfig, disk_pct: float, months: int
) -> list[_MonthState]:
    infra = tiers.infrastructure_tiers
    states = []
    for month in range(months + 1):
        counts = [(p, float(clients_at(p, month))) for p in rows]
        result = formulas.totals(combined_demand(counts), tiers.assumptions)
        index = tier_index(infra, result.clients, result.disk_gb, disk_pct)
        tier = infra[index]
        states.append(
            _MonthState(
                month=Month(
                    month=month,
                    clients=int(result.clients),
                    products=result.products,
                    image_storage_gb=result.image_storage_gb,
                    db_size_gb=result.db_size_gb,
                    egress_tb_per_month=result.egress_tb_per_month,
                    revenue_eur=sum(p.price_eur * c for p, c in counts),
                    infra_tier=tier.id,
                    infra_eur=tier.monthly_cost_eur.typical,
                    disk_limit_gb=tier.storage_gb * disk_pct / 100,
                ),
                totals=result,
                tier_index=index,
            )
        )
    return states


def _events(
    states: Sequence[_MonthState],
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
) -> list[Event]:
    infra = tiers.infrastructure_tiers
    events: list[Event] = []
    crossed = {
        (metric, level)
        for metric, value in capacity_values(states[0].totals).items()
        for level in ("warning", "critical")
        if value > getattr(thresholds.capacity, metric).level(level)
    }
    for previous, state in itertools.pairwise(states):
        month = state.month.month
        step = 1 if state.tier_index > previous.tier_index else -1
        for index in range(previous.tier_index + step, state.tier_index + step, step):
            source, target = infra[index - step], infra[index]
            upward = step > 0
            transition = target.transition if upward else None
            events.append(
                Event(
                    month=month,
                    kind="transition",
                    what=(
                        f"{source.name} -> {target.name}"
                        + ("" if upward else " (the platform shrank)")
                    ),
                    from_tier=source.id,
                    to_tier=target.id,
                    trigger=transition.trigger if transition else None,
                    action=transition.action if transition else None,
                    cost_increase_eur=(
                        (transition.cost_increase_eur.min, transition.cost_increase_eur.max)
                        if transition
                        else None
                    ),
                )
            )
        for metric, value in capacity_values(state.totals).items():
            threshold: Threshold = getattr(thresholds.capacity, metric)
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
