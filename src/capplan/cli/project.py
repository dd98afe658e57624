"""`capplan project`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import Config, Output, config_options, output_options

if TYPE_CHECKING:
    from capplan.planning.growth import MeasuredGrowth


def _rate(value: str | None, option: str = "--growth") -> float | None:
    if value is None:
        return None
    from capplan.config import parse_rate

    try:
        return parse_rate(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _share(value: str, option: str, what: str) -> float:
    """A percentage strictly between 0 and 100 % (`what` says what it is), as a fraction."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
    rate = float(found.group(1)) / 100 if found else None
    if rate is None or not 0 < rate < 1:
        raise typer.BadParameter(
            f"expected {what}: a percentage above 0 and below 100%, such as "
            f"{'20%' if option == '--swing' else '80%'}, got {value!r}",
            param_hint=option,
        )
    return rate


@app.command()
@config_options
@output_options()
def project(
    config: Config,
    out: Output,
    mix: Annotated[
        list[Path] | None,
        typer.Option(
            "--mix",
            metavar="FILE",
            help="mix.yaml: clients per pricing tier (see examples/). Any figure may be a range "
            "{low: X, mid: Y, high: Z}. Give it twice (or use --scenario) to compare mixes.",
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            metavar="NAME=FILE",
            help="A mix to compare, with its name: --scenario plan-a=a.yaml (repeatable).",
            show_default=False,
        ),
    ] = None,
    growth: Annotated[
        str | None,
        typer.Option(
            "--growth",
            metavar="RATE",
            help="Monthly compound growth of client counts, e.g. 5%; replaces the mix's "
            "growth (a tier's own growth still applies). Adds the timeline.",
            show_default=False,
        ),
    ] = None,
    growth_from: Annotated[
        str | None,
        typer.Option(
            "--growth-from",
            metavar="HISTORY",
            help="Measure the growth from a history (a file, postgresql://... or a Prometheus "
            "http(s)://..., as trend reads it): active_clients per "
            "plan (label plan=...) or in total, fitted on a log scale; the growth becomes a "
            "range {low, mid, high} from the fit's 95 % interval.",
            show_default=False,
        ),
    ] = None,
    months: Annotated[
        int | None,
        typer.Option(
            "--months",
            metavar="N",
            min=0,
            max=1200,
            help="Months of timeline (default 24 when there is growth).",
            show_default=False,
        ),
    ] = None,
    infra_tier: Annotated[
        str | None,
        typer.Option(
            "--infra-tier",
            metavar="TIER",
            help="Price the mix on this infrastructure tier instead of the recommended one "
            "(the output says whether it fits).",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            metavar="N",
            min=100,
            max=1_000_000,
            help="With ranges: how many projections to sample (default 10000). Without a "
            "range there is nothing to sample, and the output says so.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            metavar="N",
            min=0,
            help="With ranges: the random seed (default 0); the same seed, the same output.",
            show_default=False,
        ),
    ] = None,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity",
            help="Move each input and assumption alone to its low and high (its range, or "
            "mid -/+ --swing) and rank them by how much they move cost and disk.",
        ),
    ] = False,
    swing: Annotated[
        str | None,
        typer.Option(
            "--swing",
            metavar="PERCENT",
            help="How far --sensitivity moves an input without a range (default 20%); implies "
            "--sensitivity.",
            show_default=False,
        ),
    ] = None,
    break_even: Annotated[
        bool,
        typer.Option(
            "--break-even",
            help="Clients needed (at today's mix) for a zero and for the target gross margin, "
            "and a client's cost on each infrastructure tier.",
        ),
    ] = False,
    target_margin: Annotated[
        str | None,
        typer.Option(
            "--target-margin",
            metavar="PERCENT",
            help="The gross margin that break-even aims for (default 80%); implies --break-even.",
            show_default=False,
        ),
    ] = None,
    calibrate: Annotated[
        list[Path] | None,
        typer.Option(
            "--calibrate",
            metavar="FILE",
            help="JSON of 'capplan images stats' or 'capplan check --db' (repeatable): replace "
            "the assumptions they measure.",
            show_default=False,
        ),
    ] = None,
    require_fit: Annotated[
        bool,
        typer.Option(
            "--require-fit",
            help="Exit 1 when the plan does not fit within the horizon: today's tier or any "
            "month of the timeline (with ranges: in more than 1 sample in 10). For CI and "
            "budget gates.",
        ),
    ] = False,
) -> None:
    """Project a tier mix: totals, the infrastructure tier it needs and why, costs, growth.

    Totals, capacity thresholds, the recommended infrastructure tier with the reason for each
    smaller tier, costs and margin, bandwidth cost per provider, backups; with growth, a
    month-by-month timeline with every tier transition and threshold crossed. With ranges in the
    mix: P10/P50/P90, the probability of each tier and of each transition, and the tier that
    fits at P90. Two or more mixes: one column each, and the difference.

    Example: capplan project --mix examples/mix.yaml --growth 5% --months 36
    """
    from capplan.config import load_mix
    from capplan.errors import BeyondExact
    from capplan.output.planning import analysis_report, scenarios_report
    from capplan.planning import analysis, scenarios
    from capplan.planning.calibration import calibrate as measure
    from capplan.projection import misfit

    tiers, thresholds = config.tiers, config.thresholds
    named = scenarios.named(scenario or [], [str(path) for path in mix or []])
    if not named:
        raise typer.BadParameter("give a mix: --mix FILE", param_hint="--mix")
    calibration = measure(tiers, calibrate) if calibrate else None
    if calibration is not None:
        tiers = calibration.tiers
    mixes = [(name, path, load_mix(Path(path), tiers)) for name, path in named]
    written = mixes[0][2]
    if calibration is not None:
        mixes = [(name, path, calibration.apply(m)) for name, path, m in mixes]
    rate = _rate(growth)
    measured_growth: tuple[MeasuredGrowth, ...] = ()
    if growth_from is not None:
        from capplan.errors import InputError
        from capplan.planning.growth import measure_growth, read_history, with_growth

        if growth is not None:
            raise typer.BadParameter(
                "give one: --growth RATE or --growth-from", param_hint="--growth-from"
            )
        if len(mixes) > 1:
            raise typer.BadParameter(
                "works on one mix; compare scenarios without it", param_hint="--growth-from"
            )
        from capplan.cli.sources import open_history

        name, path, first = mixes[0]
        try:
            source = open_history(growth_from)
            measured_growth = measure_growth(read_history(source), source.label, list(first.tiers))
        except InputError as error:  # the history's own words, under the option typed
            raise InputError("growth_from", error.value, error.problem) from None
        mixes = [(name, path, with_growth(first, measured_growth))]
    if len(mixes) > 1:
        for given, option in (
            (infra_tier, "--infra-tier"),
            (sensitivity or swing, "--sensitivity"),
            (break_even or target_margin, "--break-even"),
            (samples is not None, "--samples"),
            (seed is not None, "--seed"),
        ):
            if given:
                raise typer.BadParameter(
                    "works on one mix; compare scenarios without it", param_hint=option
                )
        compared = scenarios.compare(mixes, tiers, thresholds, growth=rate, months=months)
        out.emit(scenarios_report(compared, calibration))
        problems = [
            f"{s.name}: {problem}"
            for s in compared
            if (problem := misfit(s.projection)) is not None
        ]
    else:
        options = analysis.Options(
            growth=rate,
            months=months,
            infra_tier=infra_tier,
            samples=10_000 if samples is None else samples,
            seed=0 if seed is None else seed,
            swing=_share(swing or "20%", "--swing", "how far to move each input")
            if sensitivity or swing
            else None,
            target_margin_pct=None
            if not (break_even or target_margin)
            else 100 * _share(target_margin or "80%", "--target-margin", "a gross margin"),
            sampling_asked=tuple(
                f"{option} {value}"
                for option, value in (("--samples", samples), ("--seed", seed))
                if value is not None
            ),
        )
        try:
            result = analysis.analyse(
                mixes[0][2],
                tiers,
                thresholds,
                options,
                config.overrides,
                calibration,
                source=mixes[0][1],
                measured_growth=measured_growth,
                written=written if calibration is not None else None,
            )
        except BeyondExact as error:
            raise error.in_file(mixes[0][1]) from None
        out.emit(analysis_report(result))
        problems = [] if result.misfit is None else [result.misfit]
    if require_fit and problems:
        # the gate's reason on stderr, whatever the format and wherever the report went
        sys.stderr.write(f"capplan project: does not fit (--require-fit): {'; '.join(problems)}\n")
        raise typer.Exit(1)
