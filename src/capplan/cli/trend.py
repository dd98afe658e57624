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
from capplan.cli.sources import (
    BasicAuthFileOption,
    CaFileOption,
    MatchOption,
    TokenFileOption,
    open_history,
    shared_history,
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

    shared = shared_history(history)
    if shared is not None:
        from capplan import history_postgres

        found = history_postgres.import_csv(shared, csv_file)
        sys.stdout.write(imported_text(found, csv_file, shared.label))
        return
    path = capplan.history.resolve(history, "history import")
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
    """List the recorded values, oldest first.

    json, csv and markdown list every record as it is read, in flat memory at any size; the
    table shows the first 1,000 and says how many there are.
    """
    import functools
    import itertools

    import capplan.history
    from capplan.output.formats import Format
    from capplan.output.trend import TABLE_MOST, emit_lines, history_lines, history_report

    moment = since_moment(since)
    shared = shared_history(history)
    if shared is not None:
        from capplan import history_postgres

        found = history_postgres.rows(shared, metric=metric, since=moment)
        records = capplan.history.records_of(found)
        count = functools.partial(history_postgres.count, shared, metric=metric, since=moment)
    else:
        path = capplan.history.resolve(history, "history show")
        records = capplan.history.records(path, metric=metric, since=moment)
        count = functools.partial(capplan.history.count, path, metric=metric, since=moment)
    if out.format is not Format.table:
        emit_lines(history_lines(records, out.format), out.destination)
        return
    first = list(itertools.islice(records, TABLE_MOST))
    closing = getattr(records, "close", None)  # the rest unread: let the history go now
    if closing is not None:
        closing()
    total = len(first)
    if total == TABLE_MOST:
        total = count()
    out.emit(history_report(first, total))


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
    from capplan.cli.options import BY_SUFFIX
    from capplan.errors import InputError
    from capplan.output.trend import emit_lines

    if output is not None and BY_SUFFIX.get(output.suffix.lower(), "csv") != "csv":
        raise InputError(
            "output",
            output,
            "history export writes CSV: name the file .csv "
            f"(history show --format {BY_SUFFIX[output.suffix.lower()].value} -o FILE writes that)",
        )
    shared = shared_history(history)
    if shared is not None:
        from capplan import history_postgres

        found = history_postgres.rows(shared, metric=metric, since=since_moment(since))
        emit_lines(history_csv.write(found), output)
        return
    path = capplan.history.resolve(history, "history export")
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
        if not age:
            raise InputError("keep", keep, "would remove every record: expected an age above 0")
        moment = now - age
    shared = shared_history(history)
    if shared is not None:
        from capplan import history_postgres

        pruned = history_postgres.prune(shared, moment, now)
        sys.stdout.write(pruned_text(pruned, shared.label))
        return
    path = capplan.history.resolve(history, "history prune")
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
    match: MatchOption = None,
    token_file: TokenFileOption = None,
    basic_auth_file: BasicAuthFileOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """When each recorded metric crosses its warning and critical thresholds.

    The growth is a Theil-Sen fit, which one outlier does not swing. A date is when the fitted
    line crosses the level: in the past when it has crossed already ("since"). A series whose
    last point is older than --stale days says so: record fresh data. For products_total and
    storage_gb, also when the next infrastructure tier is needed.

    Record history with `capplan check --record` (from cron) or `capplan history import`, or
    read a fleet's from Prometheus: --history http://prometheus:9090 (node_exporter's series and
    capplan's own; the last 90 days unless --since says otherwise). Each series keeps its
    `instance` label, so --format json gives the forecasts per host.
    """
    import datetime as dt

    from capplan.output.trend import trend_report
    from capplan.trend import history_forecasts

    tiers, thresholds = config.tiers, config.thresholds
    now = dt.datetime.now(dt.timezone.utc)
    source = open_history(history, match, token_file, basic_auth_file, ca_file)
    stale_after = dt.timedelta(days=stale)
    found = history_forecasts(
        source,
        thresholds,
        tiers,
        now,
        metric=metric,
        since=since_moment(since),
        stale_after=stale_after,
    )
    out.emit(trend_report(found, now, stale_after))
