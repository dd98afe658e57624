"""The command line: parse, call the core, hand the result to output. Nothing else happens here.

`frame.py` holds the Typer app and its frame (errors, exit codes), `options.py` the options
that many commands share, `commands.py` gathers the commands, and each other module holds the
commands named after it. `capplan --version` answers before any of them is imported.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from capplan import __version__


def main() -> None:
    """The console script's entry point."""
    if sys.argv[1:] == ["--version"] and sys.stdout is not None:  # needs no parser
        try:
            sys.stdout.write(f"capplan {__version__}\n")
            sys.stdout.flush()
        except OSError as error:  # stdout full: as the frame says it (exit 74, EX_IOERR)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if sys.stderr is not None:
                sys.stderr.write(f"capplan: error: cannot write to stdout: {error.strerror}\n")
            sys.exit(74)
        return
    from capplan.cli.commands import app

    app()


def __getattr__(name: str) -> Any:
    """`from capplan.cli import app`: the Typer app with every command, imported on demand."""
    if name == "app":
        from capplan.cli.commands import app

        return app
    raise AttributeError(name)
