"""`capplan check`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from capplan.cli import check_failure
from capplan.cli.frame import ON_FAILURE, app
from capplan.cli.options import (
    AllowPrivilegedRoleOption,
    Config,
    HistoryOption,
    Output,
    between,
    config_options,
    output_options,
)
from capplan.errors import InputError
from capplan.output.formats import GENERAL, Format

MOST_SECONDS = 3600
DEFAULT_DEADLINE = "50s"  # under the 60 s after which Nagios gives up on a service check


def _seconds(least: float) -> Callable[[float | None], float | None]:
    return between(least, MOST_SECONDS, f"a number of seconds from {least:g} to {MOST_SECONDS}")


def _one_database(value: list[str] | None) -> list[str] | None:
    """--db once: the missing indexes, the index usage and their Nagios and Prometheus figures
    are those of one database per run."""
    if value and len(value) > 1:
        raise typer.BadParameter(
            f"given {len(value)} times, but a check inspects one database: run one check "
            "per database, each with its own --label"
        )
    return value


# Options that only mean something beside another one: given alone they would be ignored, and
# the operator would believe a token was sent or a schema was read.
NEEDS = {
    "headers": ("--header", "urls", "--url"),
    "schema": ("--schema", "db", "--db"),
    "db_probe": ("--db-probe", "db", "--db"),
    "allow_privileged_role": ("--allow-privileged-role", "db", "--db"),
    "exact_counts": ("--exact-counts", "db", "--db"),
    "log_format": ("--log-format", "access_logs", "--access-log"),
    "window": ("--window", "access_logs", "--access-log"),
    "top": ("--top", "access_logs", "--access-log"),
    "history": ("--history", "record", "--record"),
    "uploads_sample": ("--uploads-sample", "uploads", "--uploads"),
}
SAMPLE = re.compile(r"(?P<number>\d+(\.\d*)?|\.\d+)%")


def _sample(text: str | None) -> float | None:
    """`--uploads-sample 1%`: a percentage above 0 and at most 100, as a fraction."""
    if text is None:
        return None
    match = SAMPLE.fullmatch(text.strip())
    if match is None or not 0 < float(match["number"]) <= 100:
        raise typer.BadParameter(
            "expected a percentage above 0 % and at most 100 %, such as 1%",
            param_hint="'--uploads-sample'",
        )
    return float(match["number"]) / 100


def _distinct(sites: list[Any]) -> list[Any]:
    """--url targets, each shown by a label of its own: two that differ only in what is never
    shown (credentials, the query) would be two measurements under one label."""
    seen = set()
    for site in sites:
        if site.shown in seen:
            raise InputError(
                "urls",
                site.shown,
                "given twice with different credentials or queries, which are never shown: "
                "the two could not be told apart; run one check per URL, each with its --label",
            )
        seen.add(site.shown)
    return sites


def _refuse_alone(context: typer.Context, values: dict[str, Any]) -> None:
    for name, (option, parent, parent_option) in NEEDS.items():
        source = context.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT" and not values[parent]:
            raise typer.BadParameter(f"it needs {parent_option}", param_hint=f"'{option}'")


class OnceCommand(TyperCommand):
    """An option that takes one value (--uploads, --timeout, --output...) given twice is refused:
    click would keep the last one in silence, and a directory or limit would go unmeasured."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            for param in dict.fromkeys(order):
                option: Any = param  # typer's own Option: multiple, is_flag, count
                given = order.count(param)
                if (
                    given > 1
                    and option.param_type_name == "option"
                    and not (option.multiple or option.is_flag or option.count)
                ):
                    raise typer.BadParameter(
                        f"given {given} times, but it takes one value: run one check per value",
                        ctx=ctx,
                        param=option,
                    )
        return super().parse_args(ctx, args)


@app.command(
    cls=OnceCommand,
    epilog="Exit codes (Nagios plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; "
    "3 also for bad arguments or configuration.",
)
@config_options
@output_options(*GENERAL, Format.nagios, Format.prometheus)
def check(
    context: typer.Context,
    config: Config,
    out: Output,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            metavar="SECONDS",
            callback=_seconds(0),
            help="Seconds over which CPU use is averaged and the disk I/O and network rates "
            "are measured: 0 (averages since boot) to 3600.",
        ),
    ] = 1.0,
    paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--path",
            metavar="PATH",
            help="A filesystem whose disk use to check (repeatable; default /).",
            show_default=False,
        ),
    ] = None,
    uploads: Annotated[
        Path | None,
        typer.Option(
            "--uploads",
            metavar="DIR",
            help="The uploads directory (one per run): storage, image files, the fullest "
            "directory against the files-per-directory bands.",
            show_default=False,
        ),
    ] = None,
    uploads_sample: Annotated[
        str | None,
        typer.Option(
            "--uploads-sample",
            metavar="PERCENT",
            help="Estimate --uploads from this share of its shard folders (1%): files and "
            "bytes with a 95 % interval, marked as an estimate, in a fraction of the walk's "
            "time. Only for a hash-sharded tree (products/ab/cd, as images convert writes "
            "it); any other tree is walked in full, and the output says so.",
            show_default=False,
        ),
    ] = None,
    urls: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="An HTTP endpoint to time: p50/p95/p99 and error rate (repeatable). A user "
            "and password in it (https://user:pw@host/) are sent as HTTP basic authentication "
            "and never shown.",
            show_default=False,
        ),
    ] = None,
    headers: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            metavar="'NAME: VALUE'",
            help="A header sent with every --url request, such as a token (repeatable); its "
            "value is never shown.",
            show_default=False,
        ),
    ] = None,
    requests: Annotated[
        int,
        typer.Option(
            "--requests", metavar="N", min=1, help="Requests per --url (and --db-probe runs)."
        ),
    ] = 20,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            callback=_seconds(0.001),
            help="Seconds a request may take as a whole, from connecting to its last byte, "
            "before it fails (0.001 to 3600); a timed-out request counts at this value in the "
            "latency percentiles.",
        ),
    ] = 5.0,
    deadline: Annotated[
        str,
        typer.Option(
            "--deadline",
            metavar="DURATION",
            help="How long the whole run may take (30s, 2m; at most 100 years): every request, "
            "probe and log read takes its time from what is left, and what the deadline stops "
            "is UNKNOWN with the reason while the rest keep their figures. The default stays "
            "under Nagios' 60 s service check timeout.",
        ),
    ] = DEFAULT_DEADLINE,
    db: Annotated[
        list[str] | None,
        typer.Option(
            "--db",
            metavar="DB",
            callback=_one_database,
            help="The database to inspect (one per run), read-only: a SQLite path (or "
            "sqlite:///path), a postgresql:// URL or a libpq connection string ('host=... "
            "dbname=...'; PG* variables fill in the rest). Table sizes, critical indexes, "
            "connections, query p95. The password is never shown.",
            show_default=False,
        ),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            metavar="SCHEMA",
            help="The PostgreSQL schema whose tables the critical indexes and products_total "
            "are read from (default: the first schema of the search_path).",
            show_default=False,
        ),
    ] = None,
    db_probe: Annotated[
        str | None,
        typer.Option(
            "--db-probe",
            metavar="SQL",
            help="One SQL query to time --requests times for db_query_p95_ms (it wins over "
            "pg_stat_statements). It must be one plain query (SELECT, VALUES, or WITH whose "
            "parts are all SELECT) calling only immutable or stable functions (and random, "
            "clock_timestamp ...), run by a role that is no superuser; anything else is refused "
            "before it is sent (docs/probes.md). It runs in a read-only transaction that is "
            "rolled back; a run that takes longer than 10 s is interrupted (db_query_p95_ms "
            "UNKNOWN).",
            show_default=False,
        ),
    ] = None,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
    exact_counts: Annotated[
        bool,
        typer.Option(
            "--exact-counts",
            help="Count each PostgreSQL table's rows with count(*) instead of reading the "
            "estimate that the server's statistics keep. Those scans show in the tables' "
            "seq_scan and idx_scan afterwards, and the output says so. SQLite is always "
            "counted.",
        ),
    ] = False,
    record: Annotated[
        bool,
        typer.Option("--record", help="Append every metric of this check to the history."),
    ] = False,
    history: HistoryOption = None,
    devices: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            metavar="DEVICE",
            help="A disk whose I/O to measure (repeatable; default every physical disk, no loop, "
            "ram or device-mapper devices).",
            show_default=False,
        ),
    ] = None,
    nics: Annotated[
        list[str] | None,
        typer.Option(
            "--nic",
            metavar="NIC",
            help="A network interface whose traffic to measure (repeatable; default every one "
            "but the loopback, bridges, tunnels and veth pairs).",
            show_default=False,
        ),
    ] = None,
    access_logs: Annotated[
        list[Path] | None,
        typer.Option(
            "--access-log",
            metavar="FILE",
            help="The web server's access log (nginx or Apache combined format, with "
            "$request_time or %D at the end for latency): requests per second overall and per "
            "endpoint, per status, error rates, p50/p95/p99, active sessions over --window. Only "
            "the end of the file is read, and its older rotations (access.log.1, "
            "access.log.2.gz, ...) when the window reaches into them. "
            "Repeatable: each log is measured on its own, labelled with its path.",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            metavar="FORMAT",
            help="auto (combined, with or without a request time), combined, nginx "
            "($request_time), apache (%D), or a regular expression with the named groups time, "
            "request (or path), status, and optionally client and seconds, ms or microseconds.",
        ),
    ] = "auto",
    window: Annotated[
        str,
        typer.Option(
            "--window",
            metavar="DURATION",
            help="How much of the access log to read: 30s, 5m, 1h (at most 100 years). A log "
            "that covers less gives its rates over the part it covers, with a note.",
        ),
    ] = "5m",
    top: Annotated[
        int,
        typer.Option(
            "--top", metavar="N", min=1, help="How many of the busiest endpoints to list."
        ),
    ] = 10,
    labels: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="KEY=VALUE",
            help="A label added to every Prometheus series of this run (repeatable), so that "
            "several checks can share one textfile directory: --label shop=eu1.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check this server against thresholds.yaml, with Nagios exit codes.

    CPU, memory, disk use, disk I/O, network and load, and optionally the uploads directory, a
    database (with the business figures of thresholds.yaml), HTTP endpoints and the web server's
    access log. Each metric gets OK, WARNING or CRITICAL with its action; the summary names the
    infrastructure tier this host matches and the next step.

    Example: capplan check --path / --uploads /srv/uploads --url http://127.0.0.1/health
    --format nagios
    """
    from capplan import check as checks
    from capplan.check import gate, targets
    from capplan.output.check import check_report

    _refuse_alone(context, locals())
    from capplan import durations
    from capplan.check.deadline import RunDeadline

    limit = durations.seconds(deadline, "deadline")
    # from here on: Python's start-up before it is within the 10 s left to Nagios by default
    run_deadline = RunDeadline.after(limit)
    if interval >= limit:
        raise typer.BadParameter(
            f"expected fewer seconds than --deadline ({limit:,} s)", param_hint="'--interval'"
        )
    sent = tuple(targets.header(text) for text in headers or [])
    sites = _distinct([targets.http(url, sent) for url in dict.fromkeys(urls or [])])
    logs_read = []
    if access_logs:
        from capplan.check import access_log as logs

        logs.pattern(log_format)  # a bad pattern is refused before anything is measured
        seconds = logs.window_seconds(window)
        logs_read = [checks.AccessLog(path, seconds, top, log_format) for path in access_logs]
    result = checks.run(
        tiers=config.tiers,
        thresholds=config.thresholds,
        interval=interval,
        paths=paths or [Path("/")],
        uploads=uploads,
        uploads_sample=_sample(uploads_sample),
        urls=sites,
        requests=requests,
        timeout=timeout,
        db=targets.database(db[0]) if db else None,
        db_probe=db_probe,
        schema=schema,
        allow_privileged_role=allow_privileged_role,
        business_origins=gate.business_origins(
            config.files[1] if config.files else None,
            config.overrides,
            list(config.thresholds.business),
        )
        if db and config.thresholds.business
        else None,
        labels=checks.run_labels(labels or []),
        devices=devices or [],
        nics=nics or [],
        access_logs=logs_read,
        exact_counts=exact_counts,
        deadline=run_deadline,
    )
    if record:
        import datetime as dt

        import capplan.history

        capplan.history.record_to(
            history, result.metrics, dt.datetime.now(dt.timezone.utc), result.labels
        )
    check_failure.clean_leftovers(out.destination)
    out.emit(check_report(result))
    raise typer.Exit(result.exit_code)


ON_FAILURE["check"] = check_failure.report
