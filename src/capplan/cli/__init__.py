"""The command line: parse, call the core, hand the result to output. Nothing else happens here.

`frame.py` holds the Typer app and its frame (errors, exit codes), `options.py` the options
that many commands share, `commands.py` gathers the commands, and each other module holds the
commands named after it. `capplan --version` answers before any of them is imported.
"""

from __future__ import annotations

import sys
from typing import Any

from capplan import __version__


def main() -> None:
    """The console script's entry point."""
    if sys.argv[1:] == ["--version"]:  # the one question that needs no command line parser
        sys.stdout.write(f"capplan {__version__}\n")
        return
    from capplan.cli.commands import app

    app()


def __getattr__(name: str) -> Any:
    """`from capplan.cli import app`: the Typer app with every command, imported on demand."""
    if name == "app":
        from capplan.cli.commands import app

        return app
    raise AttributeError(name)
