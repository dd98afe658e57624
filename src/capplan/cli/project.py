"""`capplan project`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import Config, Output, config_options, output_options


def _rate(value: str | None) -> float | None:
    if value is None:
        return None
    from capplan.config import parse_rate

    try:
        return parse_rate(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@app.command()
@config_options
@output_options()
def project(
    config: Config,
    out: Output,
    mix: Annotated[
        Path,
        typer.Option("--mix", help="mix.yaml: clients per pricing tier (see examples/)."),
    ],
    growth: Annotated[
        str | None,
        typer.Option(
            "--growth",
            help="Monthly compound growth of client counts, e.g. 5%; replaces the mix's "
            "growth (a tier's own growth still applies). Adds the timeline.",
            show_default=False,
        ),
    ] = None,
    months: Annotated[
        int | None,
        typer.Option(
            "--months",
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
            help="Price the mix on this infrastructure tier instead of the recommended one "
            "(the output says whether it fits).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Project a tier mix: totals, the infrastructure tier it needs and why, costs, growth.

    Totals, capacity thresholds, the recommended infrastructure tier with the reason for each
    smaller tier, costs and margin, bandwidth cost per provider, backups; with growth, a
    month-by-month timeline with every tier transition and threshold crossed.

    Example: capplan project --mix examples/mix.yaml --growth 5% --months 36
    """
    from capplan.config import load_mix
    from capplan.output.project import projection_report
    from capplan.projection import project as run_projection

    tiers, thresholds = config.tiers, config.thresholds
    mix_config = load_mix(mix, tiers)
    result = run_projection(
        mix_config,
        tiers,
        thresholds,
        growth=_rate(growth),
        months=months,
        infra_tier=infra_tier,
    )
    out.emit(projection_report(result))
