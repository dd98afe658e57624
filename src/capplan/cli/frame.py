"""The frame of the command line: the Typer app, `--version`, `--debug`, and the edge where every
error becomes one line on stderr and the command's documented exit code.

Exit codes: 0 success; 1 a command's own failure (a source image that failed); 2 bad input or
usage (a missing or invalid file, an unknown option); `capplan check` follows the Nagios plugin
convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, bad input and usage included.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from capplan import __version__
from capplan.errors import CapplanError, InputError

BAD_INPUT = 2
INTERNAL_ERROR = 70  # EX_SOFTWARE
OUTPUT_LOST = 74  # EX_IOERR: stdout closed or full
# A command whose bad input must not read as one of its results uses its own code.
BAD_INPUT_BY_COMMAND = {"check": 3}
OUTPUT_LOST_BY_COMMAND = {"check": 3}
# What a command has already made lasting before it writes its result (history import: the
# records are committed), said should the result not reach stdout.
COMMITTED: list[str] = []
# how an option may be named in a message: as declared, never a value typed after it
OPTION_NAME = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9-]{0,40}$")
WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$")
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
    with contextlib.suppress(Exception):  # stderr closed: the exit code still tells
        sys.stderr.write(f"{prefix}: error: {message}\n")
        sys.stderr.flush()
    sys.exit(code)


def committed(note: str) -> None:
    """Say, should the result not reach stdout, what is already done (`the records are in X`)."""
    COMMITTED.append(note)


class OutputLost(Exception):
    """stdout is closed, full or failing: the result could not be written."""


class _Stdout:
    """sys.stdout, with a failure to write (closed, full, an I/O error) raised as OutputLost.
    A reader that left (a broken pipe) stays a BrokenPipeError: `| head` is no failure."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _call(self, name: str, *args: Any) -> Any:
        if self._stream is None:
            raise OutputLost("it is closed")
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as error:  # ValueError: I/O operation on a closed file
            raise OutputLost(getattr(error, "strerror", None) or str(error)) from None

    def write(self, text: str) -> int:
        result: int = self._call("write", text)
        return result

    def flush(self) -> None:
        self._call("flush")

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            if name == "isatty":
                return lambda: False
            raise OutputLost("it is closed")
        return getattr(self._stream, name)


def _guard_streams() -> Any:
    """stdout as _Stdout; a closed stderr as the null device, so that an error still ends with
    its own exit code. Returns what to put back."""
    saved = (sys.stdout, sys.stderr)
    if not isinstance(sys.stdout, _Stdout):
        sys.stdout = _Stdout(sys.stdout)
    if sys.stderr is None:
        sys.stderr = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115
    return saved


def _quiet_stdout() -> None:
    """After stdout failed: nothing more is written to it, and the exit does not try again."""
    stream = getattr(sys.stdout, "_stream", sys.stdout)
    with contextlib.suppress(Exception):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    sys.stdout = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115


def _kinds(error: BaseException) -> set[str]:
    return {kind.__name__ for kind in type(error).__mro__}


def click_message(error: Any, argv: Sequence[str]) -> str:
    """Click's and Typer's usage errors naming the option or argument, never a value typed on
    the command line (a URL with its password, a header with its token)."""
    kinds = _kinds(error)
    if {"NoSuchOption", "BadOptionUsage"} & kinds:  # their messages name the option only
        close = getattr(error, "possibilities", None) or ()
        if all(OPTION_NAME.match(name) for name in (error.option_name, *close)):
            return str(error.format_message())
        return "No such option" if "NoSuchOption" in kinds else "an option needs a value"
    if "BadParameter" in kinds and "MissingParameter" not in kinds:
        where = _param_name(error)
        if _from_library(error):  # the library's own conversion: its message repeats the value
            return f"Invalid value for '{where}': expected {_expected(error.param)}"
        return str(error.format_message())  # capplan's own callback: its message holds no value
    message = str(error.format_message())
    if message.startswith("Got unexpected extra argument"):
        return (
            "unexpected extra argument: a value that no option takes (is its option missing, or "
            "does an unquoted value hold a space?)"
        )
    if message.startswith("No such command"):
        quoted = message.split("'")
        name = quoted[1] if len(quoted) > 2 else ""
        return f"No such command '{name}'." if WORD.match(name) else "No such command."
    values = [arg.partition("=")[2] if arg.startswith("-") else arg for arg in argv]
    if any(len(value) >= 2 and value in message for value in values):
        return "the command line is not valid"
    return message


def _param_name(error: Any) -> str:
    param = getattr(error, "param", None)
    if param is None:
        hint = str(getattr(error, "param_hint", None) or "").strip("'")
        return hint if OPTION_NAME.match(hint) else "a value"
    if getattr(param, "param_type_name", "") == "argument":
        return str(param.human_readable_name)
    return str(max(param.opts, key=len))


def _from_library(error: BaseException) -> bool:
    """Whether the error was raised outside capplan (by Typer's conversion of a value, whose
    message quotes it), rather than by one of capplan's own option callbacks."""
    frames = traceback.extract_tb(error.__traceback__)
    own = str(Path(__file__).resolve().parents[1])
    return not frames or not str(Path(frames[-1].filename).resolve()).startswith(own)


def _expected(param: Any) -> str:
    """What a parameter takes, from its declared type and bounds: never from the value given."""
    import enum
    import typing

    descriptor = getattr(param, "type_descriptor", None)
    kind = getattr(descriptor, "annotation", None)
    while typing.get_origin(kind) is not None:  # list[Path], Path | None
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), None)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in kind)
    words = {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}
    what = words.get(kind, "a valid value") if isinstance(kind, type) else "a valid value"
    least, most = getattr(param, "min", None), getattr(param, "max", None)
    if least is not None and most is not None:
        what += f" from {least} to {most}"
    elif least is not None:
        what += f" of at least {least}"
    elif most is not None:
        what += f" of at most {most}"
    return what


def _internal(error: BaseException) -> str:
    """An internal error's line: its type and where it was raised, never its message (which may
    repeat an argument's value)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (
        f"internal error: {type(error).__name__}{where} (run it again with CAPPLAN_DEBUG=1 "
        "for the traceback)"
    )


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
        name = path[0].name if path else ""
        bad_input = BAD_INPUT_BY_COMMAND.get(name, BAD_INPUT)
        own = argv[first + 1 :]
        saved = _guard_streams()
        COMMITTED.clear()
        try:
            result = super().main(argv, "capplan", complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()  # stdout full: said here, not at the exit
        except OutputLost as error:
            _quiet_stdout()
            done = "".join(f"; {note}" for note in COMMITTED)
            _fail(
                path,
                f"cannot write to stdout: {error}{done}",
                OUTPUT_LOST_BY_COMMAND.get(name, OUTPUT_LOST),
                own,
            )
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
                try:
                    sys.stdout.write(error.format_message() + "\n")  # type: ignore[attr-defined]
                    sys.stdout.flush()
                except OutputLost as lost:
                    _quiet_stdout()
                    _fail(path, f"cannot write to stdout: {lost}", OUTPUT_LOST)
                sys.exit(0)
            code = getattr(error, "exit_code", None)
            if isinstance(code, int) and hasattr(error, "format_message"):  # Click's errors
                message = click_message(error, argv)
                context = getattr(error, "ctx", None)
                if context is not None:  # a usage error: the command line itself is wrong
                    words = str(getattr(context, "command_path", "")).split()[1:]
                    where = " ".join(["capplan", *words])
                    _fail(path, f"{message} (see '{where} --help')", bad_input, own)
                _fail(path, message, bad_input if code == BAD_INPUT else code, own)
            if debug:
                traceback.print_exc()
            _fail(path, _internal(error), INTERNAL_ERROR, own)
        finally:
            if isinstance(sys.stdout, _Stdout):
                sys.stdout, sys.stderr = saved
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
