"""The uploads directory: what it stores and its fullest directory.

A count is the total or nothing: a folder that cannot be read, or a walk that the run's deadline
cuts short, makes the metrics UNKNOWN with the reason, never a partial count shown as the total.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement
from capplan.tree import scan

NAMES = ("storage_gb", "image_files", "files_per_directory_max")


def _unknown(root: Path, reason: str) -> Iterator[Measurement]:
    for name in NAMES:
        yield Measurement(name, None, {"path": str(root)}, reason=reason)


def measure(root: Path) -> Iterator[Measurement]:
    if not root.is_dir():
        yield Measurement("storage_gb", None, {"path": str(root)}, reason="not a directory")
        return
    stats = scan(root, top=1)
    if stats.unreadable:
        shown = ", ".join(stats.unreadable[:3]) + (", ..." if len(stats.unreadable) > 3 else "")
        yield from _unknown(
            root, f"{len(stats.unreadable):,} folders or files could not be read: {shown}"
        )
        return
    fullest = stats.fullest[0] if stats.fullest else None
    yield Measurement(
        "storage_gb",
        stats.bytes / BYTES_PER_GB,
        {"path": str(root)},
        detail=f"{stats.files:,} files",
    )
    yield Measurement("image_files", stats.image_files, {"path": str(root)})
    yield Measurement(
        "files_per_directory_max",
        stats.files_per_directory_max,
        {"path": str(root)},
        detail=f"fullest: {fullest.path}" if fullest else "",
    )
