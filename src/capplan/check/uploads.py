"""The uploads directory: what it stores and its fullest directory.

The exact walk reads every folder (capplan.tree.scan). `sample` (a fraction, `--uploads-sample
1%`) estimates a hash-sharded tree (DEST/products/ab/cd) from a random sample of its shard
folders instead, with 95 % intervals, and says that it is an estimate; on a tree that is not
sharded it falls back to the exact walk and says so. A count is the total or nothing: a folder
that cannot be read, or a walk that the run's deadline cuts short, makes the metrics UNKNOWN with
the reason, never a partial count shown as the total.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement
from capplan.tree import Estimate, estimate, scan, shard_folders

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline

NAMES = ("storage_gb", "image_files", "files_per_directory_max")


def _unknown(root: Path, reason: str) -> Iterator[Measurement]:
    for name in NAMES:
        yield Measurement(name, None, {"path": str(root)}, reason=reason)


def _named(unreadable: list[str]) -> str:
    shown = ", ".join(unreadable[:3]) + (", ..." if len(unreadable) > 3 else "")
    return f"{len(unreadable):,} folders or files could not be read: {shown}"


def measure(
    root: Path, *, sample: float | None = None, deadline: RunDeadline | None = None
) -> Iterator[Measurement]:
    """The uploads metrics of `root`: exact, or (`sample`, a fraction from 0 to 1) estimated
    from that share of a hash-sharded tree's shard folders; `deadline` bounds the walk."""
    if not root.is_dir():
        yield Measurement("storage_gb", None, {"path": str(root)}, reason="not a directory")
        return
    note = ""
    if sample is not None:
        leaves = shard_folders(root)
        if leaves:
            yield from _estimated(root, estimate(root, leaves, sample, deadline=deadline))
            return
        note = "exact walk: not a hash-sharded tree (products/ab/cd), so not sampled; "
    stats = scan(root, top=1, deadline=deadline)
    if stats.cut_short:
        yield from _unknown(
            root,
            f"the walk was cut short by the run's deadline after {stats.files:,} files: "
            "no total (raise --deadline, or use --uploads-sample on a sharded tree)",
        )
        return
    if stats.unreadable:
        yield from _unknown(root, _named(stats.unreadable))
        return
    fullest = stats.fullest[0] if stats.fullest else None
    yield Measurement(
        "storage_gb",
        stats.bytes / BYTES_PER_GB,
        {"path": str(root)},
        detail=f"{note}{stats.files:,} files",
    )
    yield Measurement("image_files", stats.image_files, {"path": str(root)})
    yield Measurement(
        "files_per_directory_max",
        stats.files_per_directory_max,
        {"path": str(root)},
        detail=f"fullest: {fullest.path}" if fullest else "",
    )


def _estimated(root: Path, found: Estimate) -> Iterator[Measurement]:
    if found.cut_short:
        yield from _unknown(
            root,
            f"the sample was cut short by the run's deadline after {found.sampled:,} of "
            f"{found.folders:,} shard folders: no estimate",
        )
        return
    if found.unreadable:
        yield from _unknown(root, _named(found.unreadable))
        return
    share = f"estimate from {found.sampled:,} of {found.folders:,} shard folders"
    files, size, images = found.files, found.bytes, found.image_files
    yield Measurement(
        "storage_gb",
        size.value / BYTES_PER_GB,
        {"path": str(root)},
        detail=(
            f"{share}: {files.value:,.0f} files (95 %: {files.low:,.0f} to {files.high:,.0f}), "
            f"{size.value / BYTES_PER_GB:,.3f} GB (95 %: {size.low / BYTES_PER_GB:,.3f} to "
            f"{size.high / BYTES_PER_GB:,.3f})"
        ),
    )
    yield Measurement(
        "image_files",
        round(images.value),
        {"path": str(root)},
        detail=f"{share} (95 %: {images.low:,.0f} to {images.high:,.0f})",
    )
    yield Measurement(
        "files_per_directory_max",
        found.largest,
        {"path": str(root)},
        detail=f"the fullest of the {found.sampled:,} sampled shard folders (an estimate)",
    )
