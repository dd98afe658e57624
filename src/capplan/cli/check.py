"""`capplan check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import (
    Config,
    HistoryOption,
    Output,
    config_options,
    output_options,
)
from capplan.output.formats import GENERAL, Format


@app.command(
    epilog="Exit codes (Nagios plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; "
    "3 also for bad arguments or configuration."
)
@config_options
@output_options(*GENERAL, Format.nagios, Format.prometheus)
def check(
    config: Config,
    out: Output,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", min=0, help="Seconds over which CPU use is averaged (0: since boot)."
        ),
    ] = 1.0,
    paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--path",
            help="A filesystem whose disk use to check (repeatable; default /).",
            show_default=False,
        ),
    ] = None,
    uploads: Annotated[
        Path | None,
        typer.Option(
            "--uploads",
            help="The uploads directory: storage, image files, the fullest directory against "
            "the files-per-directory bands.",
            show_default=False,
        ),
    ] = None,
    urls: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="An HTTP endpoint to time: p50/p95/p99 and error rate (repeatable).",
            show_default=False,
        ),
    ] = None,
    requests: Annotated[
        int, typer.Option("--requests", min=1, help="Requests per --url (and --db-probe runs).")
    ] = 20,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Seconds before a request fails.")
    ] = 5.0,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="A database to inspect, read-only: a SQLite path (or sqlite:///path) or a "
            "postgresql:// URL. Table sizes, critical indexes, connections, query p95.",
            show_default=False,
        ),
    ] = None,
    db_probe: Annotated[
        str | None,
        typer.Option(
            "--db-probe",
            help="A read-only SQL query to time --requests times for db_query_p95_ms, where "
            "pg_stat_statements is not available.",
            show_default=False,
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option("--record", help="Append every metric of this check to the history."),
    ] = False,
    history: HistoryOption = None,
) -> None:
    """Check this server against thresholds.yaml, with Nagios exit codes.

    CPU, memory, disk and load, and optionally the uploads directory, a database and HTTP
    endpoints. Each metric gets OK, WARNING or CRITICAL with its action; the summary names the
    infrastructure tier this host matches and the next step.

    Example: capplan check --path / --uploads /srv/uploads --url http://127.0.0.1/health
    --format nagios
    """
    from capplan import check as checks
    from capplan.output.check import check_report

    result = checks.run(
        tiers=config.tiers,
        thresholds=config.thresholds,
        interval=interval,
        paths=paths or [Path("/")],
        uploads=uploads,
        urls=urls or [],
        requests=requests,
        timeout=timeout,
        db=db,
        db_probe=db_probe,
    )
    if record:
        import datetime as dt

        import capplan.history

        capplan.history.record_metrics(
            capplan.history.resolve(history), result.metrics, dt.datetime.now(dt.timezone.utc)
        )
    out.emit(check_report(result))
    raise typer.Exit(result.exit_code)
