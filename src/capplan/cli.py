"""The command line: parse, call the core, hand the result to output. Nothing else happens here.

Exit codes: 0 success; 1 a command's own failure (a source image that failed); 2 bad input or
usage (a missing or invalid file, an unknown option); `capplan check` follows the Nagios plugin
convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, bad input and usage included.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from capplan import __version__
from capplan.errors import CapplanError
from capplan.output import CheckFormat, Format

if TYPE_CHECKING:
    import datetime as dt

    from capplan.config import ThresholdsConfig, TiersConfig

BAD_INPUT = 2
INTERNAL_ERROR = 70  # EX_SOFTWARE
# A command whose bad input must not read as one of its results uses its own code.
BAD_INPUT_BY_COMMAND = {"check": 3}


def _command_of(args: Sequence[str]) -> str | None:
    """The subcommand named in the arguments (top-level options take no values)."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def _fail(command: str | None, message: str, code: int) -> NoReturn:
    prefix = f"capplan {command}" if command else "capplan"
    sys.stderr.write(f"{prefix}: error: {message}\n")
    sys.exit(code)


class CapplanGroup(TyperGroup):
    """Turns every error into one line on stderr and the command's documented exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        command = _command_of(argv)
        before = argv[: argv.index(command)] if command else argv
        debug = "--debug" in before or os.environ.get("CAPPLAN_DEBUG") == "1"
        bad_input = BAD_INPUT_BY_COMMAND.get(command or "", BAD_INPUT)
        try:
            result = super().main(
                argv, prog_name or "capplan", complete_var, standalone_mode=False, **extra
            )
        except CapplanError as error:
            if debug:
                raise
            _fail(command, error.message, bad_input)
        except Exception as error:
            if debug:
                raise
            code = getattr(error, "exit_code", None)
            if isinstance(code, int) and hasattr(error, "format_message"):  # Click's errors
                message = error.format_message()
                context = getattr(error, "ctx", None)
                if context is not None:  # a usage error: the command line itself is wrong
                    words = str(getattr(context, "command_path", "")).split()[1:]
                    path = " ".join(["capplan", *words])
                    _fail(command, f"{message} (see '{path} --help')", bad_input)
                _fail(command, message, code)
            _fail(
                command,
                f"internal error: {type(error).__name__}: {error} (run with --debug for details)",
                INTERNAL_ERROR,
            )
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=CapplanGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Capacity planner and sizing calculator for a multi-tenant e-commerce SaaS.",
    epilog="Exit codes: 0 success, 1 failure of the job itself, 2 bad input or usage "
    "(check: Nagios codes 0-3, 3 for bad input).",
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"capplan {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error (or CAPPLAN_DEBUG=1).")
    ] = False,
) -> None:
    """Capacity planner and sizing calculator for a multi-tenant e-commerce SaaS."""


# --- options shared by every command --------------------------------------------------------

TiersOption = Annotated[
    Path | None,
    typer.Option(
        "--tiers",
        help="tiers.yaml to use (else $CAPPLAN_TIERS, ./tiers.yaml, the packaged default).",
        show_default=False,
    ),
]
ThresholdsOption = Annotated[
    Path | None,
    typer.Option(
        "--thresholds",
        help="thresholds.yaml to use (else $CAPPLAN_THRESHOLDS, ./thresholds.yaml, "
        "the packaged default).",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override one value of tiers.yaml or thresholds.yaml for this run, by its dotted "
        "path (repeatable): --set assumptions.avg_image_kb=300, "
        "--set pricing_tiers.business.price_eur=149.",
        show_default=False,
    ),
]


HistoryOption = Annotated[
    Path | None,
    typer.Option(
        "--history",
        help="The history database (else $CAPPLAN_HISTORY, else "
        "~/.local/share/capplan/history.db).",
        show_default=False,
    ),
]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric", help="Only this metric (cpu_percent, disk_percent, ...).", show_default=False
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only records from then on: 2026-11-01, or an age: 30d, 6w, 3m.",
        show_default=False,
    ),
]


def _format_option(*choices: str) -> Any:
    return typer.Option(
        "--format", "-f", help=f"Output format: {', '.join(choices)}.", case_sensitive=False
    )


def _load_config(
    tiers: Path | None, thresholds: Path | None, sets: list[str] | None
) -> tuple[TiersConfig, ThresholdsConfig]:
    from capplan import config

    overrides = [config.parse_override(text) for text in sets or []]
    return (
        config.load_tiers(tiers, overrides),
        config.load_thresholds(thresholds, overrides),
    )


# --- capplan tiers --------------------------------------------------------------------------


@app.command()
def tiers(
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """Show the pricing and infrastructure tiers, backups, transitions and bandwidth prices.

    Everything comes from tiers.yaml (see --tiers).
    """
    from capplan import output

    tiers_config, _ = _load_config(tiers, thresholds, sets)
    output.render(output.tiers_report(tiers_config), fmt)


# --- capplan size ---------------------------------------------------------------------------


@app.command()
def size(
    products: Annotated[
        int, typer.Option("--products", min=0, help="Products in total, over all clients.")
    ],
    images_per_product: Annotated[
        int | None,
        typer.Option(
            "--images-per-product",
            min=0,
            help="Images per product (default: assumptions.images_per_product, 5).",
            show_default=False,
        ),
    ] = None,
    orders: Annotated[int, typer.Option("--orders", min=0, help="Orders per month, in total.")] = 0,
    clients: Annotated[int, typer.Option("--clients", min=0, help="Client shops.")] = 1,
    api_requests_per_day: Annotated[
        int,
        typer.Option("--api-requests-per-day", min=0, help="API requests per client per day."),
    ] = 0,
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """The Key Formulas for one set of numbers, each total beside its formula.

    Translations, image files and storage, database size, order items, API requests and egress.

    The seed's Scale Projections: capplan size --products 500000 --images-per-product 5
    --orders 300000 --clients 1000 --api-requests-per-day 10000
    """
    from capplan import formulas, output

    tiers_config, _ = _load_config(tiers, thresholds, sets)
    a = tiers_config.assumptions
    per_product = a.images_per_product if images_per_product is None else images_per_product
    demand = formulas.Demand(
        clients=clients,
        products=products,
        product_images=products * per_product,
        orders_per_month=orders,
        api_requests_per_day=clients * api_requests_per_day,
    )
    result = formulas.totals(demand, a)
    output.render(output.size_report(result, formulas.explain(demand, result, a)), fmt)


# --- capplan project ------------------------------------------------------------------------


def _rate(value: str | None) -> float | None:
    if value is None:
        return None
    from capplan.config import parse_rate

    try:
        return parse_rate(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@app.command()
def project(
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
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """Project a tier mix: totals, the infrastructure tier it needs and why, costs, growth.

    Totals, capacity thresholds, the recommended infrastructure tier with the reason for each
    smaller tier, costs and margin, bandwidth cost per provider, backups; with growth, a
    month-by-month timeline with every tier transition and threshold crossed.

    Example: capplan project --mix examples/mix.yaml --growth 5% --months 36
    """
    from capplan import config, output
    from capplan.projection import project as run_projection

    tiers_config, thresholds_config = _load_config(tiers, thresholds, sets)
    mix_config = config.load_mix(mix, tiers_config)
    rate = _rate(growth)
    has_growth = (
        rate is not None
        or mix_config.growth is not None
        or any(row.growth is not None for row in mix_config.tiers.values())
    )
    if months is None and has_growth:
        months = 24
    result = run_projection(
        mix_config,
        tiers_config,
        thresholds_config,
        growth=rate,
        months=months,
        infra_tier=infra_tier,
    )
    output.render(output.projection_report(result), fmt)


# --- capplan check --------------------------------------------------------------------------


@app.command(
    epilog="Exit codes (Nagios plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; "
    "3 also for bad arguments or configuration."
)
def check(
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
    history_file: HistoryOption = None,
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the json, nagios or prometheus output to this file atomically "
            "(temporary file, then rename), e.g. for node_exporter's textfile collector.",
            show_default=False,
        ),
    ] = None,
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[
        CheckFormat, _format_option("table", "json", "nagios", "prometheus")
    ] = CheckFormat.table,
) -> None:
    """Check this server against thresholds.yaml, with Nagios exit codes.

    CPU, memory, disk and load, and optionally the uploads directory, a database and HTTP
    endpoints. Each metric gets OK, WARNING or CRITICAL with its action; the summary names the
    infrastructure tier this host matches and the next step.

    Example: capplan check --path / --uploads /srv/uploads --url http://127.0.0.1/health
    --format nagios
    """
    from capplan import check as checks
    from capplan import output

    if output_file is not None and fmt is CheckFormat.table:
        raise typer.BadParameter("--output needs --format json, nagios or prometheus")
    tiers_config, thresholds_config = _load_config(tiers, thresholds, sets)
    result = checks.run(
        tiers=tiers_config,
        thresholds=thresholds_config,
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

        from capplan import history

        history.record_metrics(
            history.resolve(history_file), result.metrics, dt.datetime.now(dt.timezone.utc)
        )
    output.render_check(result, fmt, output_file)
    raise typer.Exit(result.exit_code)


# --- capplan images -------------------------------------------------------------------------

images_app = typer.Typer(
    cls=TyperGroup,
    no_args_is_help=True,
    help="Product images: convert to sharded WebP variants, and tree statistics.",
)
app.add_typer(images_app, name="images")


@images_app.command(
    "convert",
    epilog="Exit codes: 0 every source converted or already "
    "complete, 1 some sources failed (listed in the summary and the manifest), "
    "2 bad input.",
)
def images_convert(
    src: Annotated[
        Path, typer.Argument(metavar="SRC", help="Directory of source images (only read).")
    ],
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="Where products/ab/cd/<sha256>_*.webp go.")
    ],
    quality: Annotated[int, typer.Option("--quality", min=0, max=100, help="WebP quality.")] = 80,
    method: Annotated[
        int, typer.Option("--method", min=0, max=6, help="WebP method: 0 fast ... 6 smallest.")
    ] = 4,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Processes (default: all cores).", show_default=False
        ),
    ] = None,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            min=1,
            help="Refuse larger images (default: Pillow's limit, 89,478,485).",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option("--max-bytes", min=1, help="Refuse larger source files.", show_default=False),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="Write a JSON line per source (source, sha256, status, "
            "outputs, sizes, dimensions, error) to this file.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; write nothing.")
    ] = False,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """Convert every image under SRC into WebP variants in a sharded tree under DEST.

    Three variants (original size, 800 px, 200 px) in DEST/products/ab/cd/, named by the
    SHA-256 of the source.

    Upright (EXIF), sRGB, alpha kept, metadata stripped, never upscaled. Safe to interrupt and
    run again: complete images are skipped, identical sources stored once, every write atomic.
    """
    from capplan import output
    from capplan.images import batch
    from capplan.images.convert import DEFAULT_MAX_PIXELS, Settings

    settings = Settings(
        quality=quality,
        method=method,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        max_bytes=max_bytes,
    )
    with output.ImageProgress(enabled=sys.stderr.isatty()) as progress:
        if sys.stderr.isatty():
            batch.count_sources(src, progress.set_total)
        summary = batch.run(
            src,
            dest,
            settings=settings,
            workers=workers,
            manifest=manifest,
            dry_run=dry_run,
            on_outcome=progress.advance,
        )
    output.render(output.convert_report(summary), fmt)
    raise typer.Exit(1 if summary.failed else 0)


@images_app.command("stats")
def images_stats(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="An image tree (DEST).")],
    top: Annotated[int, typer.Option("--top", min=1, help="Fullest directories to list.")] = 10,
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """Image storage statistics: files and bytes per variant, the fullest directories.

    The fullest directories are held against the files-per-directory bands, with the planning
    document's action.
    """
    from capplan import output
    from capplan.images.stats import stats

    _, thresholds_config = _load_config(tiers, thresholds, sets)
    output.render(output.stats_report(stats(directory, thresholds_config, top=top)), fmt)


# --- capplan history and trend --------------------------------------------------------------

history_app = typer.Typer(
    cls=TyperGroup,
    no_args_is_help=True,
    help="The history of checks: show it, or import series from another monitoring system.",
)
app.add_typer(history_app, name="history")


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    import datetime as dt

    from capplan.history import parse_since

    return parse_since(text, dt.datetime.now(dt.timezone.utc))


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
    history_file: HistoryOption = None,
) -> None:
    """Import a series exported from another monitoring system.

    The whole file is checked first: a bad line is an error naming its line number, and nothing
    of the file is imported. Timestamps are ISO 8601 (without an offset, UTC).
    """
    from capplan import history

    path = history.resolve(history_file)
    count = history.import_csv(path, csv_file)
    sys.stdout.write(f"imported {count:,} records from {csv_file} into {path}\n")


@history_app.command("show")
def history_show(
    metric: MetricOption = None,
    since: SinceOption = None,
    history_file: HistoryOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """List the recorded values, oldest first."""
    from capplan import history, output

    records = list(
        history.records(history.resolve(history_file), metric=metric, since=_since(since))
    )
    output.render(output.history_report(records), fmt)


@app.command()
def trend(
    metric: MetricOption = None,
    since: SinceOption = None,
    history_file: HistoryOption = None,
    tiers: TiersOption = None,
    thresholds: ThresholdsOption = None,
    sets: SetOption = None,
    fmt: Annotated[Format, _format_option("table", "json", "csv", "markdown")] = Format.table,
) -> None:
    """When each recorded metric will cross its warning and critical thresholds.

    The growth is a Theil-Sen fit, which one outlier does not swing. For products_total and
    storage_gb, also when the next infrastructure tier is needed.

    Record history with `capplan check --record` (from cron) or `capplan history import`.
    """
    import datetime as dt

    from capplan import history, output
    from capplan.trend import forecasts

    tiers_config, thresholds_config = _load_config(tiers, thresholds, sets)
    now = dt.datetime.now(dt.timezone.utc)
    records = history.records(history.resolve(history_file), metric=metric, since=_since(since))
    result = forecasts(records, thresholds_config, tiers_config, now)
    output.render(output.trend_report(result, now), fmt)


def main() -> None:
    """The console script's entry point."""
    app()
