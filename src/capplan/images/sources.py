"""Which files under SRC are sources, in which order they are handed to the workers.

The walk is lazy and follows no link. A file that is plainly not an image by its name (text,
data, documents, archives, audio, video, hidden files and folders) is `ignored`, not `failed`,
unless `strict`; `--exclude` globs leave files and whole folders out; `--shard K/N` keeps the
K-th of N disjoint parts. Everything else is a source, whatever its extension: its content
decides. The order is largest first within a bounded look-ahead window, so that the biggest
images do not run alone at the end while memory stays flat.
"""

from __future__ import annotations

import fnmatch
import heapq
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from capplan.images.shards import Shard
from capplan.images.storage import Entry, Storage

# Names that no one expects to become product images: documents, data, archives, media, code.
NOT_IMAGE_SUFFIXES = frozenset(
    {
        ".txt",
        ".text",
        ".md",
        ".rst",
        ".csv",
        ".tsv",
        ".json",
        ".jsonl",
        ".ndjson",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".xml",
        ".html",
        ".htm",
        ".log",
        ".sql",
        ".db",
        ".sqlite",
        ".pdf",
        ".doc",
        ".docx",
        ".odt",
        ".xls",
        ".xlsx",
        ".ods",
        ".ppt",
        ".pptx",
        ".rtf",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".tar",
        ".mp4",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".m4v",
        ".mp3",
        ".wav",
        ".ogg",
        ".flac",
        ".js",
        ".css",
        ".py",
        ".php",
        ".sh",
        ".exe",
        ".dll",
        ".so",
    }
)
NOT_IMAGE_NAMES = frozenset({"thumbs.db", "desktop.ini"})
LOOK_AHEAD = 64


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file or folder under SRC that could not be read: a failure, never a silence."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class Skip:
    """A file that is not a source, and why."""

    entry: Entry
    reason: str


def not_an_image(name: str) -> str | None:
    """Why a name is plainly not an image, or None when the content must decide."""
    if name.startswith("."):
        return "hidden file"
    lowered = name.lower()
    if lowered in NOT_IMAGE_NAMES:
        return "not an image by its name"
    dot = lowered.rfind(".")
    if dot > 0 and lowered[dot:] in NOT_IMAGE_SUFFIXES:
        return f"not an image by its name ({lowered[dot:]})"
    return None


class Exclusions:
    """--exclude globs: a pattern with a `/` matches the path relative to SRC, one without it
    matches the name of any file or folder (as .gitignore and rsync read them)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        paths = [p.strip("/") for p in patterns if "/" in p.strip("/")]
        names = [p.strip("/") for p in patterns if "/" not in p.strip("/")]
        self.paths = re.compile("|".join(fnmatch.translate(p) for p in paths)) if paths else None
        self.names = re.compile("|".join(fnmatch.translate(p) for p in names)) if names else None

    def __bool__(self) -> bool:
        return self.paths is not None or self.names is not None

    def excludes(self, relative: str, name: str) -> bool:
        if self.names is not None and self.names.match(name):
            return True
        return self.paths is not None and self.paths.match(relative) is not None


def find(
    storage: Storage,
    *,
    exclude: Sequence[str] = (),
    strict: bool = False,
    shard: Shard | None = None,
) -> Iterator[Entry | Skip | Unreadable]:
    """Every source under the storage's root, every file that is not one with its reason, and
    every file or folder that could not be read; excluded files and files of other shards are
    left out silently (an unreadable folder belongs to the shard its path falls in)."""
    exclusions = Exclusions(exclude)
    for folder, folders, files in storage.walk():
        kept = []
        for name in folders:
            relative = f"{folder}/{name}" if folder else name
            if exclusions and exclusions.excludes(relative, name):
                continue
            if not strict and name.startswith("."):
                continue  # hidden folders (.git, .thumbnails) are not walked
            kept.append(name)
        folders[:] = kept
        for entry in files:
            name = entry.relative.rpartition("/")[2]
            if exclusions and exclusions.excludes(entry.relative, name):
                continue
            if shard is not None and not shard.holds(entry.relative):
                continue
            if entry.problem is not None:
                yield Unreadable(entry)
                continue
            if not entry.regular:
                yield Skip(entry, "not a regular file (a symbolic link is not followed)")
                continue
            reason = None if strict else not_an_image(name)
            yield entry if reason is None else Skip(entry, reason)


def largest_first(entries: Iterable[Entry], window: int = LOOK_AHEAD) -> Iterator[Entry]:
    """The entries, each time the largest of the next `window` ones: a bounded reordering."""
    heap: list[tuple[int, int, Entry]] = []
    counter = itertools.count()
    for entry in entries:
        heapq.heappush(heap, (-entry.size, next(counter), entry))
        if len(heap) >= window:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]
