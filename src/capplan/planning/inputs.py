"""The inputs of a projection, each with its value and its range when one is known.

An input is a plan's figure (`business.clients`), a growth rate (`growth` for the plans without
their own, `business.growth`) or an assumption (`assumptions.avg_image_kb`). Its value is the one
the projection at mids uses; its range comes from the mix (`{low, mid, high}`) or from `--set`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capplan.config import Mix, TiersConfig
from capplan.config.overrides import WHOLE_ASSUMPTIONS
from capplan.config.ranges import Spread
from capplan.projection import ClientProfile, profiles

# The per-client figures of a mix row, in the order they are listed; growth comes last.
ROW_FIGURES = (
    "clients",
    "products",
    "images_per_product",
    "orders_per_month",
    "api_requests_per_day",
    "price_eur",
)
WHOLE = frozenset(ROW_FIGURES[:5])  # counts: sampled as whole numbers

# The assumptions that move disk, bandwidth or cost (languages and items per order move neither).
ASSUMPTIONS = (
    "avg_image_kb",
    "image_variants",
    "db_gb_per_product",
    "db_gb_per_order",
    "orders_retained_months",
    "served_image_kb",
    "image_views_per_product_per_month",
    "api_response_kb",
    "static_egress_gb_per_month",
    "support_eur_per_month",
    "development_eur_per_month",
)
SHARED_GROWTH = "growth"
# Assumptions whole when given whole (months of orders kept): moved and sampled in whole steps.
WHOLE_WHEN_WHOLE = frozenset({"orders_retained_months"})


@dataclass(frozen=True, slots=True)
class Input:
    name: str  # business.clients, growth, assumptions.avg_image_kb
    value: float  # the value of the projection at mids
    spread: Spread | None  # its range, when one is given
    whole: bool = False  # a count: whole numbers only
    rate: bool = False  # a growth rate (a fraction: 0.05 is 5 %)

    @property
    def ranged(self) -> bool:
        return self.spread is not None


@dataclass(frozen=True, slots=True)
class Inputs:
    """Every input of one projection, and which growth input each plan follows."""

    plans: tuple[ClientProfile, ...]
    items: tuple[Input, ...]
    growth_of: Mapping[str, str]  # plan id -> the name of its growth input

    @property
    def ranged(self) -> tuple[Input, ...]:
        return tuple(item for item in self.items if item.ranged)

    def by_name(self) -> dict[str, Input]:
        return {item.name: item for item in self.items}


def gather(
    mix: Mix,
    tiers: TiersConfig,
    growth: float | None = None,
    assumption_ranges: Mapping[str, Spread] | None = None,
    plan_ranges: Mapping[str, Spread] | None = None,
) -> Inputs:
    """The inputs of the projection of `mix`: the mix's ranges, `--set` ranges of a plan's figure
    (`plan_ranges`, keyed `business.products`) and of assumptions (keyed by the assumption)."""
    rows = profiles(mix, tiers, growth)
    assumption_ranges = assumption_ranges or {}
    plan_ranges = plan_ranges or {}
    items: list[Input] = []
    growth_of: dict[str, str] = {}
    shared_used = False
    for profile in rows:
        row = mix.tiers[profile.tier.id]
        for figure in ROW_FIGURES:
            name = f"{profile.tier.id}.{figure}"
            given = getattr(row, figure)
            span = given if isinstance(given, Spread) else None
            if given is None:
                span = plan_ranges.get(name)
            value = float(getattr(profile, figure))
            # a measured average (0.425 images per product) moves as a fraction
            whole = figure in WHOLE and (value.is_integer() or span is not None)
            items.append(Input(name, value, span, whole=whole))
        if row.growth is not None:
            name = f"{profile.tier.id}.growth"
            span = row.growth if isinstance(row.growth, Spread) else None
            items.append(Input(name, profile.growth, span, rate=True))
        else:
            name, shared_used = SHARED_GROWTH, True
        growth_of[profile.tier.id] = name
    if shared_used:
        span = mix.growth if growth is None and isinstance(mix.growth, Spread) else None
        shared = next(p.growth for p in rows if growth_of[p.tier.id] == SHARED_GROWTH)
        items.append(Input(SHARED_GROWTH, shared, span, rate=True))
    for key in ASSUMPTIONS:
        value = float(getattr(tiers.assumptions, key))
        span = assumption_ranges.get(key)
        whole = key in WHOLE_ASSUMPTIONS or (
            key in WHOLE_WHEN_WHOLE
            and value.is_integer()
            and (span is None or all(float(x).is_integer() for x in (span.low, span.high)))
        )
        items.append(Input(f"assumptions.{key}", value, span, whole=whole))
    return Inputs(tuple(rows), tuple(items), growth_of)


def described(item: Input, value: float) -> str:
    """An input's value as a person reads it: 5 % for a rate, 1,200 for a count."""
    if item.rate:
        return f"{value * 100:.10g} %"
    if item.whole:
        return f"{value:,.0f}"
    return f"{value:,.10g}"


def names(items: Sequence[Input]) -> list[str]:
    return [item.name for item in items]
