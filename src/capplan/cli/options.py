"""Options that many commands share, declared once.

`@config_options` gives a command `--tiers`, `--thresholds` and `--set` and hands it a Config that
loads the files when first asked; `@output_options(...)` gives it `--format` (the choices it
offers) and `-o/--output`, and hands it an Output that renders a Report. As sqlite-utils bundles
its output options, so that every command spells them the same way.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from capplan.output.formats import GENERAL, Format

if TYPE_CHECKING:
    import datetime as dt

    from capplan.config import Override, ThresholdsConfig, TiersConfig
    from capplan.output.report import Report

F = TypeVar("F", bound=Callable[..., Any])


def _bundle(
    name: str, options: Sequence[inspect.Parameter], make: Callable[..., object]
) -> Callable[[F], F]:
    """A decorator: the command gains `options`, and receives `make(**their values)` as `name`."""

    def decorate(function: F) -> F:
        signature = inspect.signature(function, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != name]
        parameters = [*own, *options]

        @functools.wraps(function)
        def command(*args: Any, **kwargs: Any) -> Any:
            values = {option.name: kwargs.pop(option.name) for option in options}
            return function(*args, **kwargs, **{name: make(**values)})

        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command  # type: ignore[return-value]

    return decorate


def between(least: float, most: float, what: str) -> Callable[[float | None], float | None]:
    """An option callback refusing a number outside least..most, nan and inf included (Typer's
    own min and max let nan through, or name the wrong bound): `expected {what}`."""

    def check(value: float | None) -> float | None:
        if value is not None and not least <= value <= most:
            raise typer.BadParameter(f"expected {what}")
        return value

    return check


def _option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


# --- --tiers, --thresholds, --set -----------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The configuration of one run: tiers.yaml and thresholds.yaml with the `--set` overrides
    applied, both checked before the command starts."""

    tiers: TiersConfig
    thresholds: ThresholdsConfig
    overrides: tuple[Override, ...] = ()  # --set (a range among them: project samples it)
    files: tuple[Path, Path] | None = None  # where they were read (a report names its inputs)

    @classmethod
    def load(cls, tiers: Path | None, thresholds: Path | None, sets: list[str] | None) -> Config:
        from capplan import config

        overrides = tuple(config.parse_override(text) for text in sets or [])
        return cls(
            config.load_tiers(tiers, overrides),
            config.load_thresholds(thresholds, overrides),
            overrides,
            (
                config.resolve(tiers, config.TIERS_ENV, "tiers.yaml"),
                config.resolve(thresholds, config.THRESHOLDS_ENV, "thresholds.yaml"),
            ),
        )


CONFIG_OPTIONS = (
    _option(
        "tiers",
        Annotated[
            Path | None,
            typer.Option(
                "--tiers",
                metavar="FILE",
                help="tiers.yaml to use (else $CAPPLAN_TIERS, ./tiers.yaml, the packaged default).",
                show_default=False,
            ),
        ],
    ),
    _option(
        "thresholds",
        Annotated[
            Path | None,
            typer.Option(
                "--thresholds",
                metavar="FILE",
                help="thresholds.yaml to use (else $CAPPLAN_THRESHOLDS, ./thresholds.yaml, "
                "the packaged default).",
                show_default=False,
            ),
        ],
    ),
    _option(
        "sets",
        Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                metavar="KEY=VALUE",
                help="Override one value of tiers.yaml or thresholds.yaml for this run, by its "
                "dotted path (repeatable): --set assumptions.avg_image_kb=300, "
                "--set pricing_tiers.business.price_eur=149.",
                show_default=False,
            ),
        ],
    ),
)

config_options = _bundle("config", CONFIG_OPTIONS, Config.load)


# --- --format, --output ---------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """Where and how a command's report goes."""

    format: Format
    destination: Path | None

    def emit(self, report: Report) -> None:
        from capplan.output.report import emit, render

        emit(render(report, self.format), self.destination)


# `-o plan.json` without --format: the file's suffix names the format
BY_SUFFIX = {
    ".json": Format.json,
    ".csv": Format.csv,
    ".md": Format.markdown,
    ".prom": Format.prometheus,
    ".html": Format.html,
}


def output_options(*formats: Format) -> Callable[[F], F]:
    """`--format` with these choices (default: the general ones; the first is the default) and
    `-o/--output FILE`, written atomically."""
    formats = formats or GENERAL
    choices = enum.Enum(  # type: ignore[misc]
        "Formats", {fmt.name: fmt.value for fmt in formats}, type=str
    )
    files = [fmt.value for fmt in formats if fmt is not Format.table]
    written = ", ".join(files[:-1]) + f" or {files[-1]}" if len(files) > 1 else files[0]

    suffixes = ", ".join(suffix for suffix, fmt in BY_SUFFIX.items() if fmt in formats)

    def make(fmt: enum.Enum | None, output: Path | None) -> Output:
        if output is not None and (output == Path() or output.is_dir()):
            raise typer.BadParameter("is a directory, expected a file name", param_hint="--output")
        if fmt is not None:
            chosen = Format(fmt.value)
        elif output is not None:  # -o plan.json: the file's name says the format
            chosen = BY_SUFFIX.get(output.suffix.lower(), formats[0])
            chosen = chosen if chosen in formats else formats[0]
        else:
            chosen = formats[0]
        if output is not None and chosen is Format.table:
            hint = f" (or name the file for it: {suffixes})" if suffixes else ""
            raise typer.BadParameter(f"--output needs --format {written}{hint}")
        return Output(chosen, output)

    options = (
        _option(
            "fmt",
            Annotated[
                choices | None,
                typer.Option(
                    "--format",
                    "-f",
                    help=f"Output format: {', '.join(f.value for f in formats)} (default "
                    f"{formats[0].value}; with -o, the one the file's name says).",
                    case_sensitive=False,
                    show_default=False,
                ),
            ],
        ),
        _option(
            "output",
            Annotated[
                Path | None,
                typer.Option(
                    "--output",
                    "-o",
                    metavar="FILE",
                    help=f"Write the {written} output to this file atomically (a temporary "
                    "file, then a rename) instead of printing it.",
                    show_default=False,
                ),
            ],
        ),
    )
    return _bundle("out", options, make)


# --- the history ----------------------------------------------------------------------------

AllowPrivilegedRoleOption = Annotated[
    bool,
    typer.Option(
        "--allow-privileged-role",
        help="Run the queries given (check: --db-probe and the business queries; mix: its "
        "mix_queries) even when the PostgreSQL role is a superuser or a member of "
        "pg_write_server_files, pg_execute_server_program or pg_signal_backend: state that this "
        "is intended. Without it they are refused; connect as a monitoring role (granted "
        "pg_monitor) instead.",
    ),
]
HistoryOption = Annotated[
    str | None,
    typer.Option(
        "--history",
        metavar="FILE|URL",
        help="The history: a SQLite file, or for trend and report a Prometheus server "
        "(http://HOST:9090) (else $CAPPLAN_HISTORY, else ~/.local/share/capplan/history.db).",
        show_default=False,
    ),
]
MetricOption = Annotated[
    str | None,
    typer.Option(
        "--metric",
        metavar="NAME",
        help="Only this metric (cpu_percent, disk_percent, ...).",
        show_default=False,
    ),
]
StaleOption = Annotated[
    int,
    typer.Option(
        "--stale",
        metavar="DAYS",
        min=0,
        max=36_500,
        help="Call a series stale when its last point is older than this many days.",
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only records from then on: 2026-11-01, or an age: 30d, 6w, 3m.",
        show_default=False,
    ),
]


def since_moment(text: str | None) -> dt.datetime | None:
    """--since as a moment in UTC."""
    if text is None:
        return None
    import datetime as dt

    from capplan.history import parse_since

    return parse_since(text, dt.datetime.now(dt.timezone.utc))
