"""One pass over a directory tree: files, bytes, image files per variant, the fullest directories.

Used by `capplan check --uploads` and `capplan images stats`. The first levels are read here;
the folders found there are then walked by one process per core (listing a folder and
stat-ing its files is per-entry work that threads would serialise on the GIL), each with its
own tally, added up at the end: the answer is the same as one process's. A walk holds a stack
of folders still to read, never a list of all paths, and follows no symbolic link. `tally`
does the same for listings that come from elsewhere (an object store's prefixes).
"""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".avif", ".bmp")
VARIANTS = ("original", "800", "200")
# '<sha256>_800.webp' is the 800 variant: each variant's endings, for one C-level check a file
_ENDINGS = {name: tuple(f"_{name}{suffix}" for suffix in IMAGE_SUFFIXES) for name in VARIANTS}
_ANY_VARIANT = tuple(ending for endings in _ENDINGS.values() for ending in endings)
SPREAD = 8  # folders per process before the walk is shared out
_REGULAR, _TYPE = 0o100000, 0o170000  # stat.S_IFREG, stat.S_IFMT


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


class _Tally:
    """What one thread has seen; tallies add up in any order to the same answer."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.files = self.bytes = self.image_files = self.directories = 0
        self.variants = dict.fromkeys(VARIANTS, 0)
        self.variant_bytes = dict.fromkeys(VARIANTS, 0)
        self.heap: list[tuple[int, str]] = []  # the `top` fullest directories, smallest first
        self.unreadable: list[str] = []

    def file(self, name: str, size: int) -> None:
        self.bytes += size
        name = name.lower()
        if name.endswith(IMAGE_SUFFIXES):
            self.image_files += 1
            if name.endswith(_ANY_VARIANT):
                for variant, endings in _ENDINGS.items():
                    if name.endswith(endings):
                        self.variants[variant] += 1
                        self.variant_bytes[variant] += size
                        break

    def folder(self, path: str, count: int) -> None:
        self.directories += 1
        self.files += count
        if len(self.heap) < self.top:
            heapq.heappush(self.heap, (count, path))
        elif (count, path) > self.heap[0]:
            heapq.heapreplace(self.heap, (count, path))

    def add_to(self, stats: TreeStats, heap: list[tuple[int, str]]) -> None:
        stats.files += self.files
        stats.bytes += self.bytes
        stats.image_files += self.image_files
        stats.directories += self.directories
        for name in VARIANTS:
            stats.variants[name] += self.variants[name]
            stats.variant_bytes[name] += self.variant_bytes[name]
        stats.unreadable += self.unreadable
        heap += self.heap


def _read(folder: str, tally: _Tally, pending: list[str]) -> None:
    """One folder: its files into the tally, its subfolders onto the stack."""
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
                    tally.unreadable.append(entry.path)
                    continue
                if info.st_mode & _TYPE == _REGULAR:  # not links, sockets, devices
                    count += 1
                    tally.file(entry.name, info.st_size)
    except OSError:
        tally.unreadable.append(folder)
        return
    tally.folder(folder, count)


def _walk(folder: str, top: int) -> _Tally:
    """Everything under one folder, in one process."""
    counted = _Tally(top)
    pending = [folder]
    while pending:
        _read(pending.pop(), counted, pending)
    return counted


def scan(root: Path, *, top: int = 5, processes: int | None = None) -> TreeStats:
    """Walk `root`; `top` is how many of the fullest directories to keep."""
    processes = processes or os.cpu_count() or 1
    here = _Tally(top)
    frontier = [os.fspath(root)]
    # read the first levels here until there are enough folders to share out
    for _ in range(3):
        if len(frontier) >= SPREAD * processes or not frontier:
            break
        found: list[str] = []
        for folder in frontier:
            _read(folder, here, found)
        frontier = found
    tallies = [here]
    if processes > 1 and len(frontier) > 1:
        import multiprocessing

        # fork: a copy of this process starts at once and needs no import (nothing to pickle
        # but folder names and tallies)
        context = multiprocessing.get_context("fork")
        with context.Pool(min(processes, len(frontier))) as pool:
            walk = functools.partial(_walk, top=top)
            tallies += pool.imap_unordered(walk, frontier, chunksize=SPREAD // 2)
    else:
        tallies += [_walk(folder, top) for folder in frontier]
    return _total(str(root), tallies, top)


def tally(
    root: str, listing: Iterable[tuple[str, Iterable[tuple[str, int]]]], top: int
) -> TreeStats:
    """The same statistics from a listing of (folder, its files' (name, size))."""
    counted = _Tally(top)
    for folder, files in listing:
        count = 0
        for name, size in files:
            count += 1
            counted.file(name, size)
        counted.folder(folder, count)
    return _total(root, [counted], top)


def _total(root: str, tallies: list[_Tally], top: int) -> TreeStats:
    stats = TreeStats(root=root)
    heap: list[tuple[int, str]] = []
    for each in tallies:
        each.add_to(stats, heap)
    from capplan.images.storage import printable

    stats.unreadable = sorted(printable(path) for path in stats.unreadable)
    stats.fullest = [Directory(printable(path), files) for files, path in heapq.nlargest(top, heap)]
    return stats
