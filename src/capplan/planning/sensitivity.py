"""Which input decides: each input moved alone to its low and its high, the others at mids.

An input with a range moves to its low and high; one without moves by the swing (20 %: mid x 0.8
and mid x 1.2); a whole-number input (a count of clients, products, images or variants, whole
months of orders) is rounded outward, so that it stays whole and moves by at least one
(3 variants -/+ 20 % are 2 and 4, not 2.4 and 3.6). Without a timeline the figures are today's;
with one, those of its last month (so that growth rates count). The inputs are ranked by the
swing of monthly cost, then of disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from capplan.config import ThresholdsConfig, TiersConfig
from capplan.planning.engine import evaluate
from capplan.planning.inputs import Input, Inputs

DEFAULT_SWING = 0.2


@dataclass(frozen=True, slots=True)
class Swing:
    """One input at its low and at its high; each pair is (at low, at high)."""

    input: str
    low: float
    high: float
    ranged: bool  # the low and high are the input's range (else mid -/+ the swing)
    disk_gb: tuple[float, float]
    monthly_cost_eur: tuple[float, float]
    infra_tier: tuple[str, str]
    changes_tier: bool  # the low or the high needs another tier than the mids do

    @property
    def cost_swing(self) -> float:
        return abs(self.monthly_cost_eur[1] - self.monthly_cost_eur[0])

    @property
    def disk_swing(self) -> float:
        return abs(self.disk_gb[1] - self.disk_gb[0])


@dataclass(frozen=True, slots=True)
class Sensitivity:
    swing: float
    month: int | None  # the month measured: None for today
    base_disk_gb: float
    base_monthly_cost_eur: float
    base_tier: str
    swings: tuple[Swing, ...]


def bounds(item: Input, swing: float) -> tuple[float, float]:
    """The input's low and high: its range, or its value moved by the swing."""
    if item.spread is not None:
        return item.spread.low, item.spread.high
    low, high = item.value * (1 - swing), item.value * (1 + swing)
    if item.whole:  # outward, past the noise of the product (1,000 x 0.8 is not 799.99...)
        low, high = float(math.floor(low + 1e-9)), float(math.ceil(high - 1e-9))
    return low, high


def sensitivity(
    inputs: Inputs,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    *,
    swing: float = DEFAULT_SWING,
    months: int | None = None,
) -> Sensitivity:
    items = [item for item in inputs.items if bounds(item, swing)[0] != bounds(item, swing)[1]]
    cases = 2 * len(items) + 1  # the last case: every input at its value
    values = {}
    for item in inputs.items:
        column = np.full(cases, item.value)
        if item in items:
            at = items.index(item)
            column[2 * at], column[2 * at + 1] = bounds(item, swing)
        values[item.name] = column
    outcome = evaluate(inputs, values, tiers, thresholds, months)
    measured = outcome.horizon if outcome.horizon is not None else outcome
    disk, cost, index = measured.disk_gb, measured.monthly_cost_eur, measured.tier_index
    ids = [tier.id for tier in tiers.infrastructure_tiers]
    base = ids[int(index[-1])]
    swings = []
    for at, item in enumerate(items):
        lo, hi = 2 * at, 2 * at + 1
        low, high = bounds(item, swing)
        tier_pair = (ids[int(index[lo])], ids[int(index[hi])])
        swings.append(
            Swing(
                input=item.name,
                low=low,
                high=high,
                ranged=item.ranged,
                disk_gb=(float(disk[lo]), float(disk[hi])),
                monthly_cost_eur=(float(cost[lo]), float(cost[hi])),
                infra_tier=tier_pair,
                changes_tier=tier_pair != (base, base),
            )
        )
    swings.sort(key=lambda s: (s.cost_swing, s.disk_swing), reverse=True)
    return Sensitivity(
        swing=swing,
        month=months,
        base_disk_gb=float(disk[-1]),
        base_monthly_cost_eur=float(cost[-1]),
        base_tier=base,
        swings=tuple(swings),
    )
