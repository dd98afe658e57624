"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader sees the old file or the new one, never half of one; a crash leaves at most a hidden
`.NAME.*.tmp` file, which `is_leftover` recognises so that the next run can remove it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path` atomically; `durable` also waits for it to reach the disk."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def is_leftover(name: str) -> bool:
    """A temporary file that a killed writer left behind."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)
