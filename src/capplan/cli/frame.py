"""The frame of the command line: the Typer app, `--version`, `--debug`, and the edge where every
error becomes one line on stderr and the command's documented exit code.

Exit codes: 0 success; 1 a command's own failure (a source image that failed); 2 bad input or
usage (a missing or invalid file, an unknown option); `capplan check` follows the Nagios plugin
convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, bad input and usage included.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from capplan import __version__
from capplan.errors import CapplanError, InputError

BAD_INPUT = 2
INTERNAL_ERROR = 70  # EX_SOFTWARE
# A command whose bad input must not read as one of its results uses its own code.
BAD_INPUT_BY_COMMAND = {"check": 3}
# A command may also report a failure where its users read its results (check: the Nagios status
# line on stdout, the Prometheus textfile).
# It gets the command, its own arguments and the message.
ON_FAILURE: dict[str, Callable[[Any, Sequence[str], str], None]] = {}


def _command_path(group: Any, args: Sequence[str]) -> list[Any]:
    """The commands named in the arguments, outermost first: [images, convert]."""
    path = []
    for arg in args:
        if arg.startswith("-"):
            continue
        command = getattr(group, "commands", {}).get(arg)
        if command is None:
            break
        path.append(command)
        group = command
    return path


def _option_name(command: Any, subject: str) -> str | None:
    """How the user wrote the input that the core calls `subject`: --infra-tier, SRC."""
    for param in getattr(command, "params", []):
        if param.name == subject:
            if getattr(param, "param_type_name", "") == "argument":
                return str(param.metavar or param.name.upper())
            longest = max(param.opts, key=len)
            return str(longest)
    return None


def _fail(path: Sequence[Any], message: str, code: int, args: Sequence[str] = ()) -> NoReturn:
    report = ON_FAILURE.get(path[0].name) if path else None
    if report is not None:
        with contextlib.suppress(Exception):  # the line on stderr and the exit code still tell
            report(path[0], args, message)
    prefix = " ".join(["capplan", *(command.name for command in path)])
    sys.stderr.write(f"{prefix}: error: {message}\n")
    sys.exit(code)


class ReaderLeft(Exception):
    """The reader of stdout closed the pipe before the command finished writing."""


# How `capplan --help` lists the commands: from planning to operating.
HELP_ORDER = ("tiers", "size", "project", "check", "images", "history", "trend", "report")


class CapplanGroup(TyperGroup):
    """Turns every error into one line on stderr and the command's documented exit code."""

    def get_help_option(self, ctx: Any) -> Any:
        """The group's --help, not given, reads as False rather than None: Typer then skips the
        coercion that would import pydantic on every `capplan COMMAND --help` (about 80 ms)."""
        option: Any = super().get_help_option(ctx)
        if option is not None and not getattr(option, "capplan_flag", False):
            process = option.process_value
            option.process_value = lambda ctx, value: process(ctx, bool(value))
            option.capplan_flag = True
        return option

    def invoke(self, ctx: Any) -> Any:
        """Typer ends a command whose reader closed the pipe with exit 1; capplan ends it quietly
        with 0 (`capplan ... | head` got what it wanted), so the pipe gets its own exception."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:
            raise ReaderLeft() from error

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        order = {name: index for index, name in enumerate(HELP_ORDER)}
        return sorted(names, key=lambda name: order.get(name, len(order)))

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        path = _command_path(self, argv)
        first = argv.index(path[0].name) if path else len(argv)
        debug = "--debug" in argv[:first] or os.environ.get("CAPPLAN_DEBUG") == "1"
        bad_input = BAD_INPUT_BY_COMMAND.get(path[0].name if path else "", BAD_INPUT)
        own = argv[first + 1 :]
        try:
            result = super().main(argv, "capplan", complete_var, standalone_mode=False, **extra)
        except (BrokenPipeError, ReaderLeft):
            # `capplan ... | head` closed the pipe: what was wanted has been read
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except CapplanError as error:
            if debug:  # the traceback, then the same line and exit code as without --debug
                traceback.print_exc()
            message = error.message
            if isinstance(error, InputError) and path:
                option = _option_name(path[-1], error.subject)
                if option is not None:
                    message = error.for_option(option)
            _fail(path, message, getattr(error, "exit_code", bad_input), own)
        except Exception as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `capplan`, `capplan images`
                sys.stdout.write(error.format_message() + "\n")  # type: ignore[attr-defined]
                sys.exit(0)
            code = getattr(error, "exit_code", None)
            if isinstance(code, int) and hasattr(error, "format_message"):  # Click's errors
                message = error.format_message()
                context = getattr(error, "ctx", None)
                if context is not None:  # a usage error: the command line itself is wrong
                    words = str(getattr(context, "command_path", "")).split()[1:]
                    where = " ".join(["capplan", *words])
                    _fail(path, f"{message} (see '{where} --help')", bad_input, own)
                _fail(path, message, bad_input if code == BAD_INPUT else code, own)
            if debug:
                traceback.print_exc()
            _fail(
                path,
                f"internal error: {type(error).__name__}: {error} (run it again with "
                "CAPPLAN_DEBUG=1 for the traceback)",
                INTERNAL_ERROR,
                own,
            )
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


# Plain help: paragraphs rewrapped to the terminal, option names never cut, no Rich to import.
HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    cls=CapplanGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=HELP,
    help="Capacity planner and sizing calculator for a multi-tenant e-commerce SaaS.",
    epilog="Exit codes: 0 success, 1 failure of the job itself, 2 bad input or usage "
    "(check: Nagios codes 0-3, 3 for bad input).",
)


def subgroup(name: str, help_text: str) -> typer.Typer:
    """A group of subcommands under `capplan NAME`."""
    group = typer.Typer(
        cls=TyperGroup,
        no_args_is_help=True,
        help=help_text,
        rich_markup_mode=None,
        context_settings=HELP,
    )
    app.add_typer(group, name=name)
    return group


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
