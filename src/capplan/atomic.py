"""Atomic file writes: a temporary file in the target's directory, then a rename.

A reader sees the old file or the new one, never half of one; a crash leaves at most a hidden
`.NAME.@WRITER@PID.*.tmp` file, which `is_leftover` recognises and `is_abandoned` tells from one
that another run (a shard on a shared file system, say) is writing right now.
"""

from __future__ import annotations

import functools
import glob
import hashlib
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
NAME_KEPT = 150  # bytes of the target's name in its temporary file's (at most 255 in all)
_WRITER = re.compile(r"\.@(?P<writer>[0-9a-f]{12})@(?P<pid>\d+)\.[^.]*\.tmp$")


@functools.cache
def _writer() -> str:
    """Where this process's pids mean something: its host, the host's boot and its pid
    namespace (containers on one host, or with one hostname, each have their own)."""
    parts = [socket.gethostname()]
    for read in (_boot_id, _pid_namespace):
        try:
            parts.append(read())
        except OSError:
            parts.append("")  # not Linux: the hostname alone
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()


def _pid_namespace() -> str:
    return str(Path("/proc/self/ns/pid").stat().st_ino)


def temporary_prefix(path: Path) -> str:
    """The name a temporary file for `path` starts with: hidden, and naming its writer."""
    return f".{_kept(path.name)}.@{_writer()}@{os.getpid()}."


def temporaries(path: Path) -> list[Path]:
    """The temporary files of writes to `path`, finished or not."""
    return list(path.parent.glob(f".{glob.escape(_kept(path.name))}.*{TEMP_SUFFIX}"))


def _kept(name: str) -> str:
    return name.encode()[:NAME_KEPT].decode(errors="ignore")


def write_bytes(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    durable: bool = True,
    staging: Path | None = None,
) -> None:
    """Write `data` to `path` atomically; `durable` also waits for it to reach the disk.

    The temporary file is made beside `path`, or in `staging`: a folder on the same file system
    where every temporary file of a tree lives, so that finding leftovers reads one folder."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent if staging is None else staging,
        prefix=temporary_prefix(path),
        suffix=TEMP_SUFFIX,
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
    """Whether nobody will finish the temporary file `path`: it has not been touched for
    STALE_AFTER_S, or its writer was a process of this host, boot and pid namespace that no
    longer runs."""
    try:
        if time.time() - path.stat().st_mtime > STALE_AFTER_S:
            return True
    except FileNotFoundError:
        return False  # finished or removed meanwhile
    writer = _WRITER.search(path.name)
    return writer is not None and writer["writer"] == _writer() and not _running(writer["pid"])


def _running(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, ValueError):
        return False  # no process has such a number
    return True


def remove_abandoned(folder: Path, *, dry_run: bool = False) -> int:
    """Remove the abandoned temporary files directly in `folder` (a staging folder, or the
    folder of a file about to be written), reading that folder only; returns how many there
    were (with `dry_run`, would be removed). One that cannot be removed is left."""
    removed = 0
    try:
        entries = os.scandir(folder)
    except OSError:  # missing, or not ours to read: the write itself will tell
        return 0
    with entries:
        for entry in entries:
            if not is_leftover(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            if is_abandoned(Path(entry.path)):
                if not dry_run:
                    try:
                        Path(entry.path).unlink(missing_ok=True)
                    except OSError:
                        continue  # not ours to remove: the write itself will tell
                removed += 1
    return removed
