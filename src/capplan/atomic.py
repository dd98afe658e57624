"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader sees the old file or the new one, never half of one; a crash leaves at most a hidden
`.NAME.@HOST@PID.*.tmp` file, which `is_leftover` recognises and `is_abandoned` tells from one
that another run (a shard on a shared file system, say) is writing right now.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".tmp"
# No write of capplan's takes this long: a temporary file untouched for longer is abandoned,
# whoever wrote it.
STALE_AFTER_S = 15 * 60
_WRITER = re.compile(r"\.@(?P<host>[A-Za-z0-9-]+)@(?P<pid>\d+)\.[^.]*\.tmp$")


@functools.cache
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def temporary_prefix(path: Path) -> str:
    """The name a temporary file for `path` starts with: hidden, and naming its writer."""
    return f".{path.name}.@{_host()}@{os.getpid()}."


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path` atomically; `durable` also waits for it to reach the disk."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=temporary_prefix(path), suffix=TEMP_SUFFIX
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
    """A temporary file of an atomic write: being written, or left behind by a killed writer."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def is_abandoned(path: Path) -> bool:
    """Whether nobody will finish the temporary file `path`: its writer was a process of this
    host that no longer runs, or it has not been touched for STALE_AFTER_S (a writer on another
    host, or a name that does not say)."""
    writer = _WRITER.search(path.name)
    if writer is not None and writer["host"] == _host():
        return not _running(int(writer["pid"]))
    try:
        return time.time() - path.stat().st_mtime > STALE_AFTER_S
    except FileNotFoundError:
        return False  # finished or removed meanwhile


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
