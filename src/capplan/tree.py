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
import math
import os
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline

IMAGE_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".avif", ".bmp")
VARIANTS = ("original", "800", "200")
# '<sha256>_800.webp' is the 800 variant: each variant's endings, for one C-level check a file
_ENDINGS = {name: tuple(f"_{name}{suffix}" for suffix in IMAGE_SUFFIXES) for name in VARIANTS}
_ANY_VARIANT = tuple(ending for endings in _ENDINGS.values() for ending in endings)
# what follows the last '_' of a variant's name ('800.webp') -> the variant
_VARIANT_OF = {f"{name}{suffix}": name for name in VARIANTS for suffix in IMAGE_SUFFIXES}
SPREAD = 8  # folders per process before the walk is shared out
_REGULAR, _TYPE = 0o100000, 0o170000  # stat.S_IFREG, stat.S_IFMT
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


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
    cut_short: bool = False  # the deadline came first: the counts are not the total

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
        self.cut_short = False

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
        stats.cut_short = stats.cut_short or self.cut_short
        heap += self.heap


def _read(folder: str, tally: _Tally, pending: list[str]) -> None:
    """One folder: its files into the tally, its subfolders onto the stack. The per-file work
    is inlined (one stat, one dictionary look-up for the variant): it is what a walk of
    millions of files costs beyond the system calls that `du` makes too."""
    count = size_sum = images = 0
    variants, variant_bytes = tally.variants, tally.variant_bytes
    try:
        # listed through a descriptor: each file's stat is then relative to its folder
        # (fstatat), as du's, not a lookup of the whole path from the root
        descriptor = os.open(folder, _DIRECTORY)
    except OSError:
        tally.unreadable.append(folder)
        return
    try:
        with os.scandir(descriptor) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(f"{folder}/{entry.name}")
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    tally.unreadable.append(f"{folder}/{entry.name}")
                    continue
                if info.st_mode & _TYPE != _REGULAR:  # not links, sockets, devices
                    continue
                count += 1
                size = info.st_size
                size_sum += size
                name = entry.name
                cut = name.rfind("_")
                variant = _VARIANT_OF.get(name[cut + 1 :]) if cut >= 0 else None
                if variant is None:  # not as capplan names them: any case, any image
                    name = name.lower()
                    if not name.endswith(IMAGE_SUFFIXES):
                        continue
                    images += 1
                    cut = name.rfind("_")
                    variant = _VARIANT_OF.get(name[cut + 1 :]) if cut >= 0 else None
                    if variant is None:
                        continue
                else:
                    images += 1
                variants[variant] += 1
                variant_bytes[variant] += size
    except OSError:
        tally.unreadable.append(folder)
        return
    finally:
        os.close(descriptor)
    tally.bytes += size_sum
    tally.image_files += images
    tally.folder(folder, count)


def _walk(folder: str, top: int, until: float | None = None) -> _Tally:
    """Everything under one folder, in one process; `until` (the monotonic clock, which forked
    processes share) cuts it short."""
    counted = _Tally(top)
    pending = [folder]
    while pending:
        if until is not None and time.monotonic() >= until:
            counted.cut_short = True
            break
        _read(pending.pop(), counted, pending)
    return counted


def scan(
    root: Path,
    *,
    top: int = 5,
    processes: int | None = None,
    deadline: RunDeadline | None = None,
) -> TreeStats:
    """Walk `root`; `top` is how many of the fullest directories to keep. A walk that the
    deadline cuts short says so (`cut_short`): its counts are not the total."""
    processes = processes or os.cpu_count() or 1
    until = deadline.at if deadline is not None else None
    here = _Tally(top)
    frontier = [os.fspath(root)]
    # read the first levels here until there are enough folders to share out
    for _ in range(3):
        if len(frontier) >= SPREAD * processes or not frontier:
            break
        found: list[str] = []
        for folder in frontier:
            if until is not None and time.monotonic() >= until:
                here.cut_short = True
                return _total(str(root), [here], top)
            _read(folder, here, found)
        frontier = found
    tallies = [here]
    walk = functools.partial(_walk, top=top, until=until)
    if processes > 1 and len(frontier) > 1:
        import multiprocessing

        # fork: a copy of this process starts at once and needs no import (nothing to pickle
        # but folder names and tallies)
        context = multiprocessing.get_context("fork")
        with context.Pool(min(processes, len(frontier))) as pool:
            tallies += pool.imap_unordered(walk, frontier, chunksize=SPREAD // 2)
    else:
        tallies += [walk(folder) for folder in frontier]
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
    from capplan.images.locations import printable

    stats.unreadable = sorted(printable(path) for path in stats.unreadable)
    stats.fullest = [Directory(printable(path), files) for files, path in heapq.nlargest(top, heap)]
    return stats


# --- a sampled estimate of a hash-sharded tree ------------------------------------------------

SHARD = re.compile(r"[0-9a-f]{2}")
Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval
SAMPLE_LEAST = 30  # shard folders sampled at the least (all of them when there are fewer)


@dataclass(frozen=True, slots=True)
class Interval:
    value: float  # the estimate
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Estimate:
    """Files and bytes of a hash-sharded tree, estimated from a random sample of its shard
    folders (products/ab/cd): each with its 95 % interval."""

    root: str
    files: Interval
    bytes: Interval
    image_files: Interval
    largest: int  # files in the fullest sampled folder
    folders: int  # shard folders in the tree
    sampled: int  # of which read
    unreadable: list[str] = field(default_factory=list)
    cut_short: bool = False


def shard_folders(root: Path) -> list[str] | None:
    """The shard folders of a hash-sharded tree (ROOT/products/ab/cd, or ROOT/ab/cd), or None
    when `root` is not one: anything but two-hex-digit folders at those levels (hidden entries
    beside `products` aside). Reads the two upper levels only."""
    base = f"{os.fspath(root)}/products"
    names = _listing(os.fspath(root))
    if names is None:
        return None
    if "products" in names:
        if any(name != "products" and not name.startswith(".") for name in names):
            return None
    else:
        base = os.fspath(root)
    first = _listing(base, folders_only=True)
    if first is None or not first or not all(SHARD.fullmatch(name) for name in first):
        return None
    leaves: list[str] = []
    for name in first:
        upper = f"{base}/{name}"
        second = _listing(upper, folders_only=True)
        if second is None or not all(SHARD.fullmatch(each) for each in second):
            return None
        leaves += [f"{upper}/{each}" for each in second]
    return leaves


def _listing(folder: str, *, folders_only: bool = False) -> list[str] | None:
    """The names in a folder; None when it cannot be read or (`folders_only`) holds a file."""
    try:
        with os.scandir(folder) as entries:
            names = []
            for entry in entries:
                if folders_only and not entry.is_dir(follow_symlinks=False):
                    return None
                names.append(entry.name)
            return names
    except OSError:
        return None


def estimate(
    root: Path,
    leaves: list[str],
    fraction: float,
    *,
    seed: int | None = None,
    deadline: RunDeadline | None = None,
) -> Estimate:
    """Files and bytes from a simple random sample of `fraction` of the shard folders (at least
    SAMPLE_LEAST), each read in full: the total is the mean per folder times the folders, its
    interval the normal one with the finite-population correction."""
    population = len(leaves)
    size = min(population, max(SAMPLE_LEAST, math.ceil(fraction * population)))
    chosen = random.Random(seed).sample(leaves, size)
    counted = _Tally(1)
    files: list[int] = []
    sizes: list[int] = []
    images: list[int] = []
    for folder in chosen:
        if deadline is not None and deadline.passed:
            counted.cut_short = True
            break
        each = _walk(folder, 1)
        counted.unreadable += each.unreadable
        files.append(each.files)
        sizes.append(each.bytes)
        images.append(each.image_files)
        counted.heap += each.heap
    return Estimate(
        str(root),
        _total_of(files, population),
        _total_of(sizes, population),
        _total_of(images, population),
        max((count for count, _ in counted.heap), default=0),
        population,
        len(files),
        sorted(counted.unreadable),
        counted.cut_short,
    )


def _total_of(values: list[int], population: int) -> Interval:
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    mean = sum(values) / n
    total = population * mean
    if n < 2 or n >= population:
        return Interval(total, total, total)  # every folder read: exact
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = Z95 * population * math.sqrt((1 - n / population) * variance / n)
    return Interval(total, max(0.0, total - half), total + half)
