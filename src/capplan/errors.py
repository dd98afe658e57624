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
