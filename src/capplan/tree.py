"""One pass over a directory tree: files, bytes, image files per variant, the fullest directories.

Used by `capplan check --uploads` and `capplan images stats`. The walk holds a stack of
directories still to read, never a list of all paths, and follows no symbolic link.
"""

from __future__ import annotations

import heapq
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = frozenset(
    {".webp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".avif", ".bmp"}
)
VARIANTS = ("original", "800", "200")


@dataclass(frozen=True, slots=True)
class Directory:
    path: str
    files: int


@dataclass
class TreeStats:
    root: str
    files: int = 0
    bytes: int = 0
    image_files: int = 0
    directories: int = 0
    variants: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VARIANTS, 0))
    variant_bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VARIANTS, 0))
    fullest: list[Directory] = field(default_factory=list)  # most files first
    unreadable: list[str] = field(default_factory=list)

    @property
    def files_per_directory_max(self) -> int:
        return self.fullest[0].files if self.fullest else 0


def _variant(name: str) -> str | None:
    """'<sha256>_800.webp' -> '800'."""
    stem, _, _ = name.rpartition(".")
    _, sep, variant = stem.rpartition("_")
    return variant if sep and variant in VARIANTS else None


def scan(root: Path, *, top: int = 5) -> TreeStats:
    """Walk `root`; `top` is how many of the fullest directories to keep."""
    stats = TreeStats(root=str(root))
    heap: list[tuple[int, str]] = []  # the `top` fullest directories, smallest first
    pending = [os.fspath(root)]
    while pending:
        folder = pending.pop()
        stats.directories += 1
        count = 0
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                            continue
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        stats.unreadable.append(entry.path)
                        continue
                    if not stat.S_ISREG(info.st_mode):
                        continue  # symbolic links, sockets, devices
                    count += 1
                    stats.bytes += info.st_size
                    name = entry.name
                    dot = name.rfind(".")
                    if dot > 0 and name[dot:].lower() in IMAGE_SUFFIXES:
                        stats.image_files += 1
                        variant = _variant(name)
                        if variant is not None:
                            stats.variants[variant] += 1
                            stats.variant_bytes[variant] += info.st_size
        except OSError:
            stats.unreadable.append(folder)
            continue
        stats.files += count
        if len(heap) < top:
            heapq.heappush(heap, (count, folder))
        elif count > heap[0][0]:
            heapq.heapreplace(heap, (count, folder))
    stats.fullest = [Directory(path, files) for files, path in sorted(heap, reverse=True)]
    return stats
