"""`capplan history import|show` and `capplan trend`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app, subgroup
from capplan.cli.options import (
    Config,
    HistoryOption,
    MetricOption,
    Output,
    SinceOption,
    config_options,
    output_options,
    since_moment,
)

history_app = subgroup(
    "history", "The history of checks: show it, or import series from another monitoring system."
)


@history_app.command("import")
def history_import(
    csv_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="Columns timestamp,metric,value and optionally labels "
            "(path=/;table=orders or a JSON object).",
        ),
    ],
    history: HistoryOption = None,
) -> None:
    """Import a series exported from another monitoring system.

    The whole file is checked first: a bad line is an error naming its line number, and nothing
    of the file is imported. Timestamps are ISO 8601 (without an offset, UTC).
    """
    import capplan.history

    path = capplan.history.resolve(history)
    count = capplan.history.import_csv(path, csv_file)
    sys.stdout.write(f"imported {count:,} records from {csv_file} into {path}\n")


@history_app.command("show")
@output_options()
def history_show(
    out: Output,
    metric: MetricOption = None,
    since: SinceOption = None,
    history: HistoryOption = None,
) -> None:
    """List the recorded values, oldest first."""
    import capplan.history
    from capplan.output.trend import history_report

    path = capplan.history.resolve(history)
    records = list(capplan.history.records(path, metric=metric, since=since_moment(since)))
    out.emit(history_report(records))


@app.command()
@config_options
@output_options()
def trend(
    config: Config,
    out: Output,
    metric: MetricOption = None,
    since: SinceOption = None,
    history: HistoryOption = None,
) -> None:
    """When each recorded metric will cross its warning and critical thresholds.

    The growth is a Theil-Sen fit, which one outlier does not swing. For products_total and
    storage_gb, also when the next infrastructure tier is needed.

    Record history with `capplan check --record` (from cron) or `capplan history import`.
    """
    import datetime as dt

    import capplan.history
    from capplan.output.trend import trend_report
    from capplan.trend import forecasts

    tiers, thresholds = config.tiers, config.thresholds
    now = dt.datetime.now(dt.timezone.utc)
    path = capplan.history.resolve(history)
    records = capplan.history.records(path, metric=metric, since=since_moment(since))
    out.emit(trend_report(forecasts(records, thresholds, tiers, now), now))
