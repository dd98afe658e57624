"""The uploads directory: what it stores and its fullest directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement
from capplan.tree import scan


def measure(root: Path) -> Iterator[Measurement]:
    if not root.is_dir():
        yield Measurement("storage_gb", None, {"path": str(root)}, reason="not a directory")
        return
    stats = scan(root, top=1)
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
