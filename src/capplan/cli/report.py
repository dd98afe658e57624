"""`capplan report`: the Platform Health page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import (
    Config,
    HistoryOption,
    Output,
    SinceOption,
    StaleOption,
    config_options,
    output_options,
    since_moment,
)
from capplan.cli.sources import (
    BasicAuthFileOption,
    CaFileOption,
    MatchOption,
    TokenFileOption,
    open_history,
)
from capplan.output.formats import Format


@app.command()
@config_options
@output_options(Format.html, Format.json)
def report(
    config: Config,
    out: Output,
    history: HistoryOption = None,
    mix: Annotated[
        Path | None,
        typer.Option(
            "--mix",
            metavar="FILE",
            help="mix.yaml: add its projection (recommended tier, binding dimension, tier "
            "transitions, costs, gross margin).",
            show_default=False,
        ),
    ] = None,
    since: SinceOption = None,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            metavar="DURATION",
            help="Alert on the thresholds that the trends cross within this time: 90d, 12w, 6m, "
            "1y (or a number of days).",
        ),
    ] = "90d",
    stale: StaleOption = 7,
    host_tier: Annotated[
        str | None,
        typer.Option(
            "--host-tier",
            metavar="TIER",
            help="The infrastructure tier the platform runs on (default: the tier this "
            "machine's vCPU and RAM match, as capplan check says; with a Prometheus history, "
            "the tier each host's cores and memory match).",
            show_default=False,
        ),
    ] = None,
    match: MatchOption = None,
    token_file: TokenFileOption = None,
    basic_auth_file: BasicAuthFileOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Write the Platform Health page: one self-contained HTML file to open, print or forward.

    From the history of checks: 1. current usage (the latest value of every series, its status
    and thresholds, the host's tier); 2. growth trends (a chart per metric: history, fitted
    projection, warning and critical levels, crossing dates); 3. threshold alerts (WARNING or
    CRITICAL now, or within --horizon, soonest first, with the action); 4. scaling (the next
    infrastructure tier and when the trends need it; with --mix, the projection's tier, costs
    and margin); 5. the inputs. The dates are those of `capplan trend`.

    A fleet (series of two hosts or more, by their `instance` label, as a Prometheus history
    gives them: --history http://prometheus:9090) opens with a row per host, most urgent first
    (its tier, worst status, soonest crossing and its action), the fleet's totals, and a section
    of charts per host; the scaling recommendations say which host moves first.

    The page needs no network: style, charts (SVG) and text are in the file, and it runs no
    script. --format json gives the same content for scripts.

    Example (from cron, after `capplan check --record`):
    capplan report --mix mix.yaml -o /var/www/health/index.html
    """
    import datetime as dt
    import sys

    from capplan.errors import CapplanError

    if out.destination is None and out.format is Format.html and sys.stdout.isatty():
        raise CapplanError("the page is HTML: write it with -o health.html (or redirect it)")
    from capplan.config import load_mix
    from capplan.health import Sources, health, host_tier_of, parse_horizon
    from capplan.output.html import health_report
    from capplan.projection import project

    tiers, thresholds = config.tiers, config.thresholds
    window = parse_horizon(horizon)
    source = open_history(history, match, token_file, basic_auth_file, ca_file)
    host = host_tier_of(tiers, host_tier)
    projection = None if mix is None else project(load_mix(mix, tiers), tiers, thresholds)
    files = config.files or (None, None)
    content = health(
        source,
        tiers,
        thresholds,
        host,
        since=since_moment(since),
        horizon=window,
        stale_after=dt.timedelta(days=stale),
        projection=projection,
        sources=Sources(files[0], files[1], tuple(o.text for o in config.overrides), mix),
    )
    out.emit(health_report(content))
