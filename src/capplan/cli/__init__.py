"""The command line: parse, call the core, hand the result to output. Nothing else happens here.

`app.py` holds the frame (errors, exit codes, --version), `options.py` the options that many
commands share, and each other module the commands named after it.
"""

# in the order `capplan --help` lists them
from capplan.cli import size, project, check, images, trend  # noqa: I001
from capplan.cli.app import app

__all__ = ["app", "check", "images", "main", "project", "size", "trend"]


def main() -> None:
    """The console script's entry point."""
    app()
