"""Ranged inputs sampled: percentiles, the probability of each tier, when each transition comes.

Every ranged input is drawn from a triangular distribution between its low and high with its
mid as the mode, by inverting the distribution's CDF on uniform draws of a seeded generator: the
same seed gives the same samples, and moving a range up moves every sample up (so no percentile
can fall when an input rises). Counts are rounded to whole numbers. Inputs are independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from capplan.config import ThresholdsConfig, TiersConfig
from capplan.planning.engine import Outcome, Vector, evaluate
from capplan.planning.inputs import Input, Inputs

DISTRIBUTION = "triangular"
DEFAULT_SAMPLES = 10_000
DEFAULT_SEED = 0
PERCENTILES = (10, 50, 90)
# The metrics whose spread is reported, by their JSON names.
METRICS = ("disk_gb", "db_size_gb", "egress_tb_per_month", "monthly_cost_eur", "gross_margin_pct")


def triangular(u: Vector, low: float, mode: float, high: float) -> Vector:
    """The triangular distribution's inverse CDF at `u` (0..1)."""
    if high <= low:
        return np.full(np.shape(u), low)
    width = high - low
    cut = (mode - low) / width
    with np.errstate(invalid="ignore"):
        rising = low + np.sqrt(u * width * (mode - low))
        falling = high - np.sqrt((1 - u) * width * (high - mode))
    return np.where(u < cut, rising, falling)


def draw(items: tuple[Input, ...], samples: int, seed: int) -> dict[str, Vector]:
    """Each input's values: an array of samples for a ranged input, its value otherwise."""
    uniform = np.random.default_rng(seed).random((samples, len(items)))
    values: dict[str, Vector] = {}
    column = 0
    for item in items:
        if item.spread is None:
            values[item.name] = item.value
            continue
        s = item.spread
        drawn = triangular(uniform[:, column], s.low, s.mid, s.high)
        values[item.name] = np.rint(drawn) if item.whole else drawn
        column += 1
    return values


@dataclass(frozen=True, slots=True)
class Percentiles:
    p10: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Transition:
    """A tier the platform may need within the horizon: how likely, and when."""

    to: str
    probability: float
    month_p10: int | None  # None: not within the horizon at that percentile
    month_p50: int | None
    month_p90: int | None


@dataclass(frozen=True, slots=True)
class Uncertainty:
    """What the ranges mean for the decision."""

    samples: int
    seed: int
    distribution: str
    ranged: tuple[Input, ...]
    metrics: dict[str, Percentiles]
    tier_probability: dict[str, float]
    fits_probability: float
    tier_p50: str
    tier_p90: str  # the least-regret choice: enough at 9 samples out of 10
    months: int | None
    transitions: tuple[Transition, ...]
    outgrown: Transition | None  # not even the largest tier: how likely within the horizon, when


def _percentiles(values: Vector) -> Percentiles:
    array = np.asarray(values, dtype=float)
    if np.isnan(array).all():
        return Percentiles(None, None, None)
    p10, p50, p90 = (float(v) for v in np.nanpercentile(array, PERCENTILES))
    return Percentiles(p10, p50, p90)


def _months(first: Vector, to: str) -> Transition:
    """A transition's probability within the horizon, and its month at P10/P50/P90 (a month past
    the horizon is None)."""
    probability = float(np.mean(np.isfinite(first)))
    quantiles = np.quantile(first, [q / 100 for q in PERCENTILES], method="inverted_cdf")
    month = [None if math.isinf(q) else int(q) for q in quantiles]
    return Transition(to, probability, month[0], month[1], month[2])


def tier_at(index: Vector, share: float, tiers: TiersConfig) -> str:
    """The smallest tier that holds `share` of the samples."""
    position = int(np.quantile(index, share, method="inverted_cdf"))
    return tiers.infrastructure_tiers[position].id


def summarise(
    outcome: Outcome, inputs: Inputs, samples: int, seed: int, tiers: TiersConfig
) -> Uncertainty:
    infra = tiers.infrastructure_tiers
    index = np.broadcast_to(outcome.tier_index, (samples,))
    counts = np.bincount(index, minlength=len(infra))
    transitions: list[Transition] = []
    outgrown = None
    if outcome.months is not None:
        start = int(np.min(index))
        for position in range(start + 1, len(infra)):
            first = np.broadcast_to(outcome.first_month[position], (samples,))
            moving = first > 0  # already there today is no transition
            if np.any(moving & np.isfinite(first)):
                transitions.append(_months(np.where(moving, first, math.inf), infra[position].id))
        outgrown = _months(np.broadcast_to(outcome.outgrown_month, (samples,)), "none")
    return Uncertainty(
        samples=samples,
        seed=seed,
        distribution=DISTRIBUTION,
        ranged=inputs.ranged,
        metrics={name: _percentiles(getattr(outcome, name)) for name in METRICS},
        tier_probability={
            tier.id: float(count) / samples for tier, count in zip(infra, counts, strict=True)
        },
        fits_probability=float(np.mean(np.broadcast_to(outcome.fits, (samples,)))),
        tier_p50=tier_at(index, 0.5, tiers),
        tier_p90=tier_at(index, 0.9, tiers),
        months=outcome.months,
        transitions=tuple(transitions),
        outgrown=outgrown,
    )


def sample(
    inputs: Inputs,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    months: int | None = None,
) -> Uncertainty:
    """Draw the ranged inputs `samples` times and summarise the projections they give."""
    values = draw(inputs.ranged, samples, seed)
    values.update({item.name: item.value for item in inputs.items if not item.ranged})
    outcome = evaluate(inputs, values, tiers, thresholds, months)
    return summarise(outcome, inputs, samples, seed, tiers)
