"""Break-even: at today's mix proportions, how many clients pay for the platform, and what a
client costs on each infrastructure tier (the planning document's "Infrastructure Cost per
Client" table, for this mix).

Revenue, disk and clients grow together when the mix keeps its proportions; support and
development stay fixed; the infrastructure steps up a tier at a time (sizing.fit decides which).
Gross margin is therefore not monotonic in clients: the answer is the smallest client count at
which it reaches the target, tier by tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.config import TiersConfig
from capplan.projection import Projection
from capplan.sizing import fit

DEFAULT_TARGET_MARGIN_PCT = 80.0


@dataclass(frozen=True, slots=True)
class TierCost:
    """One tier at today's mix: the client counts it is chosen for and a client's share of it."""

    infra_tier: str
    clients_from: int | None  # None: this mix never lands on this tier
    clients_to: int | None  # None: no limit (or never)
    infra_eur: float
    cost_per_client_eur_from: float | None  # at clients_from (the dearest)
    cost_per_client_eur_to: float | None  # at clients_to (the cheapest)


@dataclass(frozen=True, slots=True)
class BreakEven:
    clients_today: float
    revenue_per_client_eur: float
    disk_gb_per_client: float
    fixed_eur: float  # support and development a month
    clients_zero_margin: int | None  # None: not reachable on any tier
    clients_target_margin: int | None
    target_margin_pct: float
    cost_per_client: tuple[TierCost, ...]


def _capacity(limit_gb: float, max_clients: int | None, disk_per_client: float) -> float:
    """The most clients a tier holds at this disk per client."""
    most = math.inf if max_clients is None else float(max_clients)
    if disk_per_client > 0:
        most = min(most, math.floor(limit_gb / disk_per_client + 1e-9))
    return most


def break_even(
    p: Projection, tiers: TiersConfig, target_margin_pct: float = DEFAULT_TARGET_MARGIN_PCT
) -> BreakEven:
    clients = p.totals.clients
    revenue = p.costs.revenue_eur / clients if clients else 0.0
    disk = p.totals.disk_gb / clients if clients else 0.0
    fixed = p.costs.support_eur + p.costs.development_eur
    pct = p.recommendation.disk_threshold_pct
    infra = tiers.infrastructure_tiers

    def clients_for(margin_pct: float) -> int | None:
        if revenue <= 0 or margin_pct >= 100:
            return None
        for index, tier in enumerate(infra):
            cost = tier.monthly_cost_eur.typical + fixed
            needed = max(1, math.ceil(cost / (revenue * (1 - margin_pct / 100)) - 1e-9))
            chosen = fit(infra, needed, needed * disk, pct)
            if chosen.fits and chosen.index <= index:
                return needed
        return None

    rows = []
    previous = 0.0
    for tier in infra:
        most = _capacity(tier.disk_limit_gb(pct), tier.max_clients, disk)
        typical = tier.monthly_cost_eur.typical
        if most < previous + 1:
            rows.append(TierCost(tier.id, None, None, typical, None, None))
            continue
        start = int(previous) + 1
        end = None if math.isinf(most) else int(most)
        rows.append(
            TierCost(
                tier.id,
                start,
                end,
                typical,
                typical / start,
                None if end is None else typical / end,
            )
        )
        previous = most
    return BreakEven(
        clients_today=clients,
        revenue_per_client_eur=revenue,
        disk_gb_per_client=disk,
        fixed_eur=fixed,
        clients_zero_margin=clients_for(0.0),
        clients_target_margin=clients_for(target_margin_pct),
        target_margin_pct=target_margin_pct,
        cost_per_client=tuple(rows),
    )
