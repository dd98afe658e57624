"""The manifest: a JSON line per source, written whole or not at all; shards' manifests merged.

A local manifest is written to a temporary file next to it and renamed into place when the run
ends; a manifest at a URL is spooled locally and stored in one PUT. A shard writes
`NAME-K-of-N.jsonl`; `merge` joins the N of them into one, in shard order, after checking
that none is missing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from capplan import atomic
from capplan.errors import ConfigError, InputError
from capplan.images.locations import Location, Options, locate
from capplan.images.outcome import STATUSES, Outcome
from capplan.images.shards import Shard
from capplan.images.storage import RemoteStorage, describe, open_storage

SHARD_NAME = re.compile(r"^(?P<stem>.*)-(?P<index>\d+)-of-(?P<count>\d+)(?P<suffix>\.[^.]*)?$")


def shard_name(name: str, shard: Shard) -> str:
    """`manifest.jsonl` -> `manifest-2-of-8.jsonl`."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return f"{name}-{shard.label}"
    return f"{stem}-{shard.label}.{suffix}"


def target(text: str, shard: Shard | None, src: Location) -> Location:
    """Where the manifest goes, checked before any work starts: not a directory (except with
    --shard, where a directory receives manifest-K-of-N.jsonl), not inside SRC, in a folder
    that exists."""
    location = locate(text, src.options, subject="manifest", writes=True)
    if location.is_local:
        path = Path(location.root)
        if path.is_dir() or text.endswith(os.sep):
            if shard is None:
                raise InputError(
                    "manifest",
                    text,
                    f"is a directory: name a file, for example {path / 'manifest.jsonl'}",
                )
            path = path / shard_name("manifest.jsonl", shard)
        elif shard is not None:
            path = path.with_name(shard_name(path.name, shard))
        if not path.parent.is_dir():
            raise InputError("manifest", text, f"folder {path.parent} does not exist")
        location = locate(str(path))
    elif shard is not None:
        head, _, name = location.root.rpartition("/")
        if text.endswith("/"):
            head, name = location.root, "manifest.jsonl"
        location = Location(
            f"{location.protocol}://{head}/{shard_name(name, shard)}",
            location.protocol,
            f"{head}/{shard_name(name, shard)}",
            location.options,
        )
    if src.contains(location):
        raise InputError(
            "manifest", text, f"is inside SRC {src.name}: the next run would take it as a source"
        )
    return location


class Manifest:
    """JSON lines to a temporary file, put in place when the run ends (or removed if it fails)."""

    def __init__(self, location: Location | None) -> None:
        self.location = location
        self.stream: IO[str] | None = None
        self.temporary: Path | None = None
        if location is None:
            return
        folder = Path(location.root).parent if location.is_local else None
        try:
            if folder is not None:
                atomic.remove_abandoned(folder)
            handle, temporary = tempfile.mkstemp(
                dir=folder,
                prefix=atomic.temporary_prefix(Path(location.root)),
                suffix=atomic.TEMP_SUFFIX,
            )
        except OSError as error:
            raise InputError("manifest", location.name, str(error.strerror or error)) from None
        self.temporary = Path(temporary)
        self.stream = os.fdopen(handle, "w", encoding="utf-8")

    def write(self, outcome: Outcome) -> None:
        if self.stream is not None:
            self.stream.write(outcome.manifest_line())

    def close(self, complete: bool) -> None:
        if self.stream is None or self.temporary is None or self.location is None:
            return
        self.stream.close()
        try:
            if not complete:
                return
            if self.location.is_local:
                self.temporary.chmod(0o644)
                self.temporary.replace(self.location.root)
            else:
                storage = open_storage(self.location)
                try:
                    storage.write(self.location.root, self.temporary.read_bytes())
                except Exception as error:  # the store's client errors share no base class
                    problem = f"not stored: {describe(error, self.location)}"
                    raise InputError("manifest", self.location.name, problem) from None
        finally:
            self.temporary.unlink(missing_ok=True)


@dataclass
class Merged:
    """What `images manifest merge` did; the fields are its JSON keys."""

    manifest: str
    shards: int = 0
    lines: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    relabelled_duplicates: int = 0


@dataclass(frozen=True)
class _ShardFile:
    index: int
    count: int
    name: str  # as the user would write it
    location: Location

    def lines(self) -> Iterator[str]:
        if self.location.is_local:
            with Path(self.location.root).open(encoding="utf-8") as stream:
                yield from stream
        else:
            storage = open_storage(self.location)
            assert isinstance(storage, RemoteStorage)
            with storage.fs.open(self.location.root, "r", encoding="utf-8") as stream:
                yield from stream


def _listed(given: str, options: Options) -> list[Location]:
    """A shard manifest, or the shard manifests in a folder or under a prefix."""
    location = locate(given, options, subject="shards")
    if location.is_local:
        path = Path(location.root)
        if path.is_dir():
            found = sorted(path.glob("*-of-*.jsonl"))
            return [locate(str(p)) for p in found]
        if not path.is_file():
            raise InputError("shards", location.name, "no such file or folder")
        return [location]
    try:
        storage = open_storage(location)
        assert isinstance(storage, RemoteStorage)
        if not storage.fs.isdir(location.root):
            return [location]
        names = sorted(storage.fs.glob(f"{location.root.rstrip('/')}/*-of-*.jsonl"))
    except InputError as error:
        raise InputError("shards", location.name, error.problem) from None
    except Exception as error:  # the store's client errors share no base class
        raise InputError("shards", location.name, describe(error, location)) from None
    return [Location(f"{location.protocol}://{n}", location.protocol, n, options) for n in names]


def _shard_files(inputs: list[str], options: Options) -> list[_ShardFile]:
    found: list[_ShardFile] = []
    for given in inputs:
        locations = _listed(given, options)
        if not locations:
            raise InputError("shards", given, "holds no NAME-K-of-N.jsonl manifest")
        for location in locations:
            match = SHARD_NAME.match(location.root.rpartition("/")[2])
            if match is None:
                raise InputError(
                    "shards", location.name, "not a shard manifest (NAME-K-of-N.jsonl)"
                )
            found.append(
                _ShardFile(int(match["index"]), int(match["count"]), location.name, location)
            )
    return sorted(found, key=lambda shard: (shard.index, shard.name))


def merge(inputs: list[str], destination: Path, options: Options = ()) -> Merged:
    """Join the N manifests of one sharded run (files, folders or prefixes that hold them),
    checking that each shard is there once."""
    shards = _shard_files(inputs, options)
    counts = {shard.count for shard in shards}
    if len(counts) > 1:
        raise InputError("shards", inputs[0], f"mixes runs of {sorted(counts)} shards")
    count = counts.pop()
    indexes = Counter(shard.index for shard in shards)
    if twice := sorted(index for index, seen in indexes.items() if seen > 1):
        raise InputError("shards", inputs[0], f"shard(s) {twice} given twice")
    if missing := sorted(set(range(count)) - set(indexes)):
        listed = ", ".join(f"{index}-of-{count}" for index in missing)
        raise InputError("shards", inputs[0], f"missing shard(s) {listed} of {count}")
    if destination.is_dir():
        raise InputError("manifest", destination, "is a directory: name a file")
    local = [Path(shard.location.root).resolve() for shard in shards if shard.location.is_local]
    if destination.resolve() in local:
        raise InputError("manifest", destination, "is one of the shards: name another file")
    if not destination.parent.is_dir():
        raise InputError("manifest", destination, f"folder {destination.parent} does not exist")
    merged = Merged(str(destination), shards=count)
    seen: set[bytes] = set()
    try:
        handle, name = tempfile.mkstemp(
            dir=destination.parent,
            prefix=atomic.temporary_prefix(destination),
            suffix=atomic.TEMP_SUFFIX,
        )
    except OSError as error:
        raise InputError("manifest", destination, str(error.strerror or error)) from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for shard in shards:
                for number, line in enumerate(shard.lines(), 1):
                    out.write(_relabelled(line, shard.name, number, seen, merged))
        temporary.chmod(0o644)
        temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)
    return merged


def _relabelled(line: str, path: str, number: int, seen: set[bytes], merged: Merged) -> str:
    """One line; a later line of the same content (stored by an earlier shard) becomes a
    `duplicate`, as one run would have said."""
    try:
        record = json.loads(line)
        status, digest = record["status"], record.get("sha256")
    except (ValueError, KeyError, TypeError):
        raise ConfigError(path, "not a manifest line (JSON with a status)", line=number) from None
    if status not in merged.statuses:
        raise ConfigError(path, f"unknown status {status!r}", line=number)
    if digest and status in ("converted", "skipped"):
        key = bytes.fromhex(digest)[:16]
        if key in seen:
            status = "duplicate"
            record["status"], record["bytes_out"] = status, 0
            merged.relabelled_duplicates += 1
            line = json.dumps(record, ensure_ascii=False) + "\n"
        seen.add(key)
    merged.lines += 1
    merged.statuses[status] += 1
    return line if line.endswith("\n") else line + "\n"
