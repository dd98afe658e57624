"""The exceptions that the core raises; the CLI turns each into one line and an exit code."""

from __future__ import annotations

from pathlib import Path


class CapplanError(Exception):
    """A problem the user can act on: bad input, a missing file, an unreachable server."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(CapplanError):
    """A value the user gave that cannot be used. It names the input by its name in the core
    (`infra_tier`, `db`); the command line shows the option it came from (`--infra-tier`)."""

    def __init__(self, subject: str, value: object, problem: str) -> None:
        self.subject = subject
        self.value = value
        self.problem = problem
        super().__init__(f"{subject} {value}: {problem}")

    def for_option(self, option: str) -> str:
        """The message with the input named as the user wrote it."""
        return f"{option} {self.value}: {self.problem}"


class ConfigError(CapplanError):
    """Bad input in a file: names the file, the key path, the line where it stands, and what was
    expected."""

    def __init__(
        self,
        source: str | Path,
        problem: str,
        *,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = str(source)
        self.key = key
        self.line = line
        self.problem = problem
        where = self.source
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {problem}")

    @classmethod
    def not_utf8(
        cls, source: str | Path, raw: bytes, error: UnicodeDecodeError, line: int, offset: int = 0
    ) -> ConfigError:
        """A file whose bytes are not UTF-8: the first bad byte and where it stands (`raw` read
        from byte `offset` of the file)."""
        return cls(
            source,
            f"not UTF-8 text: byte 0x{raw[error.start]:02x} at byte offset "
            f"{offset + error.start:,}; save it as UTF-8",
            line=line,
        )


class BeyondExact(CapplanError):
    """Figures, each within its ceiling, whose totals pass what a float counts to the unit; the
    command names the mix they came from."""

    def in_file(self, source: str | Path) -> ConfigError:
        return ConfigError(source, self.message)


class ServerError(CapplanError):
    """A history server (Prometheus, PostgreSQL) could not be reached, refused, or timed out:
    exit 3 whatever the command, since no result could be computed from it."""

    exit_code = 3


class AccessError(InputError):
    """A place that a run, or one of its workers, cannot reach, read or write (no credentials,
    no permission, no scheduler listening), found before any work starts. Commands that document
    it exit with `exit_code` (images convert: 3) instead of their bad-input code."""

    exit_code = 3
