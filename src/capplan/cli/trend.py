"""`capplan history import|show|export|prune` and `capplan trend`."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app, committed, subgroup
from capplan.cli.options import (
    Config,
    HistoryOption,
    MetricOption,
    Output,
    SinceOption,
    StaleOption,
    config_options,
    output_options,
    since_moment,
)

history_app = subgroup(
    "history",
    "The history of checks: show, import, export or prune it.",
)


@history_app.command("import")
def history_import(
    csv_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="Columns timestamp,metric,value and optionally labels "
            "(path=/;table=orders or a JSON object) and status.",
        ),
    ],
    history: HistoryOption = None,
) -> None:
    """Import a series exported from another monitoring system (or by `history export`).

    Every line is checked: a bad line anywhere is an error naming its line number, and nothing
    of the file is imported. Timestamps are ISO 8601 (without an offset, UTC) and not in the
    future. A record already in the history (same timestamp, metric and labels) keeps its value
    and is counted as already there, so importing a file twice adds nothing.
    """
    import capplan.history
    from capplan.output.trend import imported_text

    path = capplan.history.resolve(history)
    result = capplan.history.import_csv(path, csv_file)
    committed(f"the import into {path} is committed")
    sys.stdout.write(imported_text(result, csv_file, path))


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


class ExportFormat(str, enum.Enum):
    csv = "csv"


@history_app.command("export")
def history_export(
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="Output format: csv (what history import reads)."),
    ] = ExportFormat.csv,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to this file atomically (a temporary file, then a rename) instead of "
            "printing it.",
            show_default=False,
        ),
    ] = None,
    metric: MetricOption = None,
    since: SinceOption = None,
    history: HistoryOption = None,
) -> None:
    """Write the records as CSV, oldest first: timestamp,metric,value,labels,status.

    `capplan history import` reads it back as it was, so it moves a history between machines
    or keeps a copy of what `history prune` removes.
    """
    import capplan.history
    from capplan import history_csv
    from capplan.output.trend import emit_lines

    path = capplan.history.resolve(history)
    with capplan.history.rows(path, metric=metric, since=since_moment(since)) as rows:
        emit_lines(history_csv.write(rows), output)


@history_app.command("prune")
def history_prune(
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            metavar="WHEN",
            help="Remove the records older than this date or time (ISO 8601: 2025-01-01).",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            metavar="DURATION",
            help="Keep this much of the history and remove what is older: 400d, 56w, 13m, 2y.",
            show_default=False,
        ),
    ] = None,
    history: HistoryOption = None,
) -> None:
    """Remove old records, to keep the history bounded (for example weekly from cron).

    The file keeps its size and reuses the space for new records. `history export --since`
    keeps a copy first if you need one.
    """
    import datetime as dt

    import capplan.history
    from capplan.errors import CapplanError, InputError
    from capplan.output.trend import pruned_text

    if (before is None) == (keep is None):
        raise CapplanError("give one of --before DATE or --keep AGE")
    now = dt.datetime.now(dt.timezone.utc)
    if before is not None:
        moment = capplan.history.parse_moment(before, "before")
    else:
        assert keep is not None
        age = capplan.history.parse_age(keep, "keep")
        if age is None:
            raise InputError("keep", keep, "expected an age: 400d, 56w, 13m, 2y")
        moment = now - age
    path = capplan.history.resolve(history)
    sys.stdout.write(pruned_text(capplan.history.prune(path, moment, now), path))


@app.command()
@config_options
@output_options()
def trend(
    config: Config,
    out: Output,
    metric: MetricOption = None,
    since: SinceOption = None,
    stale: StaleOption = 7,
    history: HistoryOption = None,
) -> None:
    """When each recorded metric crosses its warning and critical thresholds.

    The growth is a Theil-Sen fit, which one outlier does not swing. A date is when the fitted
    line crosses the level: in the past when it has crossed already ("since"). A series whose
    last point is older than --stale days says so: record fresh data. For products_total and
    storage_gb, also when the next infrastructure tier is needed.

    Record history with `capplan check --record` (from cron) or `capplan history import`.
    """
    import datetime as dt

    import capplan.history
    from capplan.output.trend import trend_report
    from capplan.trend import history_forecasts

    tiers, thresholds = config.tiers, config.thresholds
    now = dt.datetime.now(dt.timezone.utc)
    path = capplan.history.resolve(history)
    stale_after = dt.timedelta(days=stale)
    found = history_forecasts(
        path,
        thresholds,
        tiers,
        now,
        metric=metric,
        since=since_moment(since),
        stale_after=stale_after,
    )
    out.emit(trend_report(found, now, stale_after))
