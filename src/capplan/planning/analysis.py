"""One `capplan project` run: the projection at mids, and what the options ask beside it.

numpy is imported only when something is sampled or swung: a mix without ranges and without
--sensitivity costs what it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.config import Mix, Override, ThresholdsConfig, TiersConfig
from capplan.config.overrides import range_of
from capplan.config.ranges import Spread
from capplan.errors import ConfigError
from capplan.planning.breakeven import BreakEven, break_even
from capplan.planning.calibration import Calibration
from capplan.planning.inputs import ASSUMPTIONS, gather
from capplan.projection import Projection, misfit, project

if TYPE_CHECKING:  # numpy stays unimported until something is sampled
    from capplan.planning.growth import MeasuredGrowth
    from capplan.planning.sampling import Uncertainty
    from capplan.planning.sensitivity import Sensitivity


@dataclass(frozen=True)
class Options:
    growth: float | None = None
    months: int | None = None
    infra_tier: str | None = None
    samples: int = 10_000
    seed: int = 0
    swing: float | None = None  # --sensitivity: the swing of inputs without a range
    target_margin_pct: float | None = None  # break-even asked for
    sampling_asked: tuple[str, ...] = ()  # --samples/--seed as typed: said when nothing samples


@dataclass(frozen=True)
class Analysis:
    projection: Projection
    uncertainty: Uncertainty | None = None
    sensitivity: Sensitivity | None = None
    break_even: BreakEven | None = None
    calibration: Calibration | None = None
    notes: tuple[str, ...] = ()  # an option that had nothing to act on, and why
    measured_growth: tuple[MeasuredGrowth, ...] = ()  # --growth-from: the growth measured

    @property
    def misfit(self) -> str | None:
        """Why the plan does not fit within the horizon; None when it fits."""
        u = self.uncertainty
        if u is None:
            return misfit(self.projection)
        if self.fits:
            return None
        never = 1 - (u.outgrown.probability if u.outgrown else 0.0)
        return (
            f"it fits today in {100 * u.fits_probability:.0f} % of the samples and keeps fitting "
            f"within the horizon in {100 * never:.0f} % (least regret asks for 90 %)"
        )

    @property
    def fits(self) -> bool:
        """Whether the plan fits within the horizon: today's tier and every month; with ranges,
        in at least 9 samples out of 10 (the least-regret standard)."""
        u = self.uncertainty
        if u is not None:
            never = 1 - (u.outgrown.probability if u.outgrown else 0.0)
            return u.fits_probability >= 0.9 and never >= 0.9
        p = self.projection
        return p.recommendation.fits and all(m.fits for m in p.timeline)


def set_ranges(
    overrides: Sequence[Override],
    mix: Mix | None = None,
    source: str = "the mix",
    calibrated: Mix | None = None,
) -> tuple[dict[str, Spread], dict[str, Spread]]:
    """The ranges given with --set: of assumptions (by key) and of plans' figures (plan.figure).

    A range of a plan's figure applies to the mix's plan that leaves the figure to its plan; a
    range that would apply to nothing (the mix sets the figure itself, or has no such plan) is
    refused in one line that names what overrides it, never dropped. `calibrated`: the mix as
    written, when `mix` is that mix with --calibrate's measured figures filled in."""
    assumptions: dict[str, Spread] = {}
    plans: dict[str, Spread] = {}
    for override in overrides:
        found = range_of(override)
        if found is None:
            continue
        parts = override.key.split(".")
        if parts[0] == "assumptions":
            if parts[1] not in ASSUMPTIONS:
                raise ConfigError(
                    f"--set {override.text}",
                    f"a range of {parts[1]} moves no figure of a projection; ranges are for: "
                    + ", ".join(ASSUMPTIONS),
                )
            assumptions[parts[1]] = found
        else:
            plan, figure = parts[1], parts[2]
            row = None if mix is None else mix.tiers.get(plan)
            if mix is not None and row is None:
                raise ConfigError(
                    f"--set {override.text}",
                    f"{source} has no {plan} clients: the range would move nothing",
                )
            if (
                row is not None
                and getattr(row, figure) is not None
                and calibrated is not None
                and (written := calibrated.tiers.get(plan)) is not None
                and getattr(written, figure) is None
            ):
                raise ConfigError(
                    f"--set {override.text}",
                    f"--calibrate measured {plan}.{figure}, which overrides the plan's figure; "
                    "drop one of them",
                )
            if row is not None and getattr(row, figure) is not None:
                raise ConfigError(
                    f"--set {override.text}",
                    f"{source} sets {plan}.{figure} itself, which overrides the plan's figure; "
                    f"give the range there ({figure}: {{low: X, high: Y}}) or drop it from "
                    "the mix",
                )
            plans[f"{plan}.{figure}"] = found
    return assumptions, plans


def analyse(
    mix: Mix,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    options: Options,
    overrides: Sequence[Override] = (),
    calibration: Calibration | None = None,
    source: str = "the mix",
    measured_growth: tuple[MeasuredGrowth, ...] = (),
    written: Mix | None = None,
) -> Analysis:
    """`tiers` and `mix` come calibrated already; `calibration` is what to report of it;
    `source` names the mix in messages."""
    o = options
    p = project(mix, tiers, thresholds, growth=o.growth, months=o.months, infra_tier=o.infra_tier)
    months = p.timeline[-1].month if p.timeline else None
    assumption_ranges, plan_ranges = set_ranges(overrides, mix, source, written)
    inputs = gather(mix, tiers, o.growth, assumption_ranges, plan_ranges)
    uncertainty = sensitivity = None
    if inputs.ranged:
        from capplan.planning.sampling import sample

        uncertainty = sample(
            inputs, tiers, thresholds, samples=o.samples, seed=o.seed, months=months
        )
    notes: tuple[str, ...] = ()
    if o.sampling_asked and not inputs.ranged:
        notes = (
            f"{' and '.join(o.sampling_asked)}: nothing to sample, neither the mix nor --set "
            "gives a range {low, high}; the projection is exact",
        )
    if o.swing is not None:
        from capplan.planning.sensitivity import sensitivity as swing

        sensitivity = swing(inputs, tiers, thresholds, swing=o.swing, months=months)
    return Analysis(
        projection=p,
        uncertainty=uncertainty,
        sensitivity=sensitivity,
        break_even=None
        if o.target_margin_pct is None
        else break_even(p, tiers, o.target_margin_pct),
        calibration=calibration,
        notes=notes,
        measured_growth=measured_growth,
    )
