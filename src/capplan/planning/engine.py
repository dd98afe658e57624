"""The projection evaluated for many values of its inputs at once, with numpy.

Each input is a scalar (held at its value) or an array of one value per case; the same Key
Formulas (formulas.py) and the same tier rule (sizing.holds) turn them into arrays of totals,
tiers and costs, and month by month into the month each tier is first needed. One case whose
inputs are all at their values gives exactly the projection at mids.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from capplan import formulas
from capplan.config import ThresholdsConfig, TiersConfig
from capplan.formulas import MAX_COUNT, Demand
from capplan.planning.inputs import ASSUMPTIONS, Inputs
from capplan.sizing import fit_indexes

Vector = Any  # a float, or a numpy array of one float per case


@dataclass(frozen=True)
class Outcome:
    """Arrays of one value per case: today's figures, and with a timeline, its months."""

    clients: Vector
    disk_gb: Vector
    db_size_gb: Vector
    egress_tb_per_month: Vector
    revenue_eur: Vector
    infra_eur: Vector
    monthly_cost_eur: Vector  # infrastructure, support and development
    gross_margin_pct: Vector  # NaN without revenue
    tier_index: Vector
    fits: Vector
    months: int | None = None
    first_month: Vector = None  # (tiers, cases): the month a tier (or a larger) is first needed
    outgrown_month: Vector = None  # the month not even the largest tier holds the load; inf: never
    horizon: Outcome | None = None  # the figures of the last month


def _assumptions(values: Mapping[str, Vector], tiers: TiersConfig) -> Any:
    """The assumptions with every varied one replaced by its values."""
    namespace = SimpleNamespace(**tiers.assumptions.model_dump())
    for key in ASSUMPTIONS:
        setattr(namespace, key, values[f"assumptions.{key}"])
    return namespace


def _month(
    inputs: Inputs,
    values: Mapping[str, Vector],
    a: Any,
    tiers: TiersConfig,
    disk_pct: float,
    month: int | None,
) -> Outcome:
    """The figures of one month (None: today, before any rounding of grown client counts)."""
    clients = products = images = orders = requests = revenue = 0.0
    for plan in inputs.plans:
        prefix = plan.tier.id + "."
        count = values[prefix + "clients"]
        if month is not None:
            rate = values[inputs.growth_of[plan.tier.id]]
            # to the nearest whole client, at most MAX_COUNT (as projection._timeline)
            factor = np.minimum((1 + rate) ** month, MAX_COUNT)
            count = np.rint(np.minimum(count * factor, MAX_COUNT))
        per_client = values[prefix + "products"]
        clients = clients + count
        products = products + count * per_client
        images = images + count * per_client * values[prefix + "images_per_product"]
        orders = orders + count * values[prefix + "orders_per_month"]
        requests = requests + count * values[prefix + "api_requests_per_day"]
        revenue = revenue + count * values[prefix + "price_eur"]
    totals = formulas.totals(Demand(clients, products, images, orders, requests), a)
    disk = totals.image_storage_gb + totals.db_size_gb
    infra = tiers.infrastructure_tiers
    index, fits = fit_indexes(infra, clients, disk, disk_pct)
    infra_eur = np.array([tier.monthly_cost_eur.typical for tier in infra])[index]
    spend = infra_eur + a.support_eur_per_month + a.development_eur_per_month
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.where(revenue > 0, (revenue - spend) / revenue * 100, math.nan)
    return Outcome(
        clients=clients,
        disk_gb=disk,
        db_size_gb=totals.db_size_gb,
        egress_tb_per_month=totals.egress_tb_per_month,
        revenue_eur=revenue,
        infra_eur=infra_eur,
        monthly_cost_eur=spend,
        gross_margin_pct=margin,
        tier_index=index,
        fits=fits,
    )


def evaluate(
    inputs: Inputs,
    values: Mapping[str, Vector],
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    months: int | None = None,
) -> Outcome:
    """Today's figures for every case; with `months`, when each tier is first needed."""
    with np.errstate(over="ignore"):  # steep growth overflows to inf, then to MAX_COUNT
        return _evaluate(inputs, values, tiers, thresholds, months)


def _evaluate(
    inputs: Inputs,
    values: Mapping[str, Vector],
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    months: int | None,
) -> Outcome:
    a = _assumptions(values, tiers)
    disk_pct = thresholds.disk_threshold_pct
    today = _month(inputs, values, a, tiers, disk_pct, None)
    if months is None:
        return today
    count = len(tiers.infrastructure_tiers)
    shape = max((np.shape(value) for value in values.values()), key=len)  # growth alone may vary
    first = np.full((count, *shape), math.inf)
    outgrown = np.full(shape, math.inf)
    state = today
    for month in range(months + 1):
        state = _month(inputs, values, a, tiers, disk_pct, month)
        for index in range(count):
            first[index] = np.where(
                np.isinf(first[index]) & (state.tier_index >= index), month, first[index]
            )
        outgrown = np.where(np.isinf(outgrown) & ~state.fits, month, outgrown)
    return dataclasses.replace(
        today, months=months, first_month=first, outgrown_month=outgrown, horizon=state
    )
