"""Where `capplan check` answers when it fails, and what a killed run left beside its --output.

A check that fails (bad arguments included) still answers where and how it was asked to: the
Nagios status line, or `capplan_up 0` in the Prometheus output or its --output file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from capplan.output.formats import Format


def promised(command: Any, args: Sequence[str]) -> dict[str, Any]:
    """The raw values of check's options, read by check's own option parser whatever else stands
    on the command line (an unknown option, a bad value, an extra argument): nothing is
    converted, nothing can fail."""
    context = command.make_context("check", [], resilient_parsing=True)
    parser = command.make_parser(context)
    parser.ignore_unknown_options = True
    try:
        values, _, _ = parser.parse_args(list(args))
    except Exception:  # an option without its value at the very end
        return {}
    return dict(values)


def clean_leftovers(output: Path | None) -> None:
    """What a killed earlier run left beside --output (the rule `images` follows: a dead
    writer's temporary files, or any untouched for 15 minutes)."""
    if output is not None and output.parent.is_dir():
        from capplan import atomic

        atomic.remove_abandoned(output.parent)


def report(command: Any, args: Sequence[str], message: str) -> None:
    """A check that failed still answers where and how it was asked to: Nagios gets its status
    line, the Prometheus output (or its --output file) `capplan_up 0` with the time of the run
    and every valid --label, whatever the command line's mistake and wherever it stands."""
    import datetime as dt

    from capplan.check import run_labels
    from capplan.cli.options import BY_SUFFIX
    from capplan.errors import CapplanError
    from capplan.output.check import nagios_failure, prometheus_failure
    from capplan.output.report import emit

    values = promised(command, args)
    output = Path(values["output"]) if values.get("output") else None
    if output is not None and not (output == Path() or output.is_dir()):
        clean_leftovers(output)
    fmt = str(values.get("fmt") or "").lower()
    if not fmt and output is not None:
        fmt = BY_SUFFIX.get(output.suffix.lower(), Format.table).value
    labels: dict[str, str] = {}
    for pair in values.get("labels") or []:
        try:
            label = run_labels([pair])
        except CapplanError:
            continue
        labels.update({key: value for key, value in label.items() if key not in labels})
    if fmt == "nagios":
        text = nagios_failure(message)
    elif fmt == "prometheus":
        text = prometheus_failure(labels, dt.datetime.now(dt.timezone.utc))
    else:
        return
    try:
        emit(text, output)
    except CapplanError:
        if fmt == "nagios":  # the file cannot be written: Nagios still reads its line
            emit(text)
