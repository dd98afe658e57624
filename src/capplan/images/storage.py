"""Where sources are read and variants written: a local directory, or an object store.

A local path (or `file://`) costs nothing extra: plain `os` calls and atomic renames. An
`s3://bucket/prefix` URL goes through fsspec and s3fs, imported only then: a variant is
written in one PUT of the complete object, so nothing partial is ever visible, and an object
counts as there when it exists with a size above zero. Credentials come from the usual places
(AWS_* variables, AWS_ENDPOINT_URL, ~/.aws) or from storage options; they are never printed:
a URL is named from its parts where it enters (`locate`), and a library's error is one line
without them (`describe`).
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capplan import atomic, secrets
from capplan.errors import AccessError, InputError
from capplan.images.locations import Location

SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# Every temporary file of a local tree is made here and renamed into place: the folder is on the
# tree's own file system, and finding what a killed run left reads this folder only.
STAGING = ".capplan-staging"


@dataclass(frozen=True, slots=True)
class Entry:
    """One file found under a root: its path for the storage, its path relative to the root
    (with `/`), its size, and whether it is a regular file (links and devices are not). A file
    or folder that could not be read is an Entry with the `problem`."""

    path: str
    relative: str
    size: int
    regular: bool = True
    problem: str | None = None


def known_secrets(*locations: Location | None) -> tuple[str, ...]:
    """Every credential capplan knows of: the AWS_* variables, the password of an endpoint URL,
    and the secret storage options of these locations."""
    found = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    endpoints = [os.environ.get("AWS_ENDPOINT_URL", "")]
    for location in locations:
        for key, value in location.options if location is not None else ():
            if isinstance(value, str) and secrets.is_secret(key):
                found.append(value)
            elif isinstance(value, str) and key == "endpoint_url":
                endpoints.append(value)
    endpoint_secrets = [s for url in endpoints for s in secrets.redact(url).secrets]
    return tuple(sorted({*secrets.variants(found), *endpoint_secrets}, key=len, reverse=True))


def describe(error: BaseException, *locations: Location | None) -> str:
    """A library's error as one line that holds no credential: its type and the first line of
    its message (with the next one when the first only announces it, ending in a colon)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else " ".join(lines[:1])
    message = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return secrets.scrub(message, known_secrets(*locations))


class Storage:
    """Reading, walking and writing under one root."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def read(self, path: str) -> bytes:
        raise NotImplementedError

    def size(self, path: str) -> int | None:
        """The bytes of a complete file, or None when it is not there."""
        raise NotImplementedError

    def write(self, path: str, data: bytes) -> None:
        """Write a whole file: no reader ever sees part of it."""
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def check_readable(self) -> None:
        """Raises the storage's own error when the root cannot be listed."""
        raise NotImplementedError

    def is_dir(self) -> bool:
        raise NotImplementedError

    def walk(self) -> Iterator[tuple[str, list[str], list[Entry]]]:
        """(folder relative to the root, its subfolder names, its files), top-down; a caller
        may prune the subfolder list in place. Links are not followed."""
        raise NotImplementedError


class LocalStorage(Storage):
    def read(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def size(self, path: str) -> int | None:
        try:
            info = Path(path).stat()
        except FileNotFoundError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    @property
    def staging(self) -> Path:
        return Path(self.location.root, STAGING)

    def write(self, path: str, data: bytes) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a shard that ended may just have removed the empty staging folder
            try:
                atomic.write_bytes(target, data, durable=False, staging=self.staging)
                return
            except FileNotFoundError:
                self.staging.mkdir(exist_ok=True)
            except OSError as error:
                if error.errno != errno.EXDEV:
                    raise
                break  # the tree spans file systems here: the temporary file beside its target
        atomic.write_bytes(target, data, durable=False)

    def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    def check_readable(self) -> None:
        with os.scandir(self.location.root) as entries:
            next(entries, None)

    def is_dir(self) -> bool:
        return Path(self.location.root).is_dir()

    def walk(self) -> Iterator[tuple[str, list[str], list[Entry]]]:
        """A folder or file that cannot be read is an Entry with its problem, not a silence."""
        pending = [""]
        while pending:
            relative = pending.pop()
            folder = self.location.join(relative) if relative else self.location.root
            folders: list[str] = []
            files: list[Entry] = []
            try:
                entries = os.scandir(folder)
            except OSError as error:
                problem = f"cannot read this folder ({_reason(error)}): nothing in it was read"
                yield relative, [], [Entry(folder, relative or ".", 0, False, problem)]
                continue
            with entries:
                for entry in entries:
                    name = f"{relative}/{entry.name}" if relative else entry.name
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError as error:
                        problem = f"cannot read it ({_reason(error)})"
                        files.append(Entry(entry.path, name, 0, False, problem))
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        folders.append(entry.name)
                    else:
                        files.append(
                            Entry(entry.path, name, info.st_size, stat.S_ISREG(info.st_mode))
                        )
            yield relative, folders, files
            pending.extend(f"{relative}/{name}" if relative else name for name in reversed(folders))


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


class RemoteStorage(Storage):
    """fsspec: s3fs for `s3://`."""

    def __init__(self, location: Location) -> None:
        super().__init__(location)
        try:
            import fsspec
        except ImportError:
            raise InputError(
                "location", location.name, "URLs need fsspec: pip install 'capplan[s3]'"
            ) from None
        try:
            # no listing cache: a run checks for objects that it or another shard just wrote
            self.fs = fsspec.filesystem(
                location.protocol, use_listings_cache=False, **dict(location.options)
            )
        except ImportError as error:
            problem = f"{describe(error, location)} (pip install 'capplan[s3]')"
            raise InputError("location", location.name, problem) from None
        except (ValueError, TypeError) as error:
            raise InputError("location", location.name, describe(error, location)) from None

    def read(self, path: str) -> bytes:
        data: bytes = self.fs.cat_file(path)
        return data

    def size(self, path: str) -> int | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type") != "file" or not info.get("size"):
            return None
        return int(info["size"])

    def write(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)  # one PUT of the whole object

    def remove(self, path: str) -> None:
        self.fs.rm_file(path)

    def check_readable(self) -> None:
        if not self.fs.isdir(self.location.root):
            raise FileNotFoundError(f"no such folder or bucket prefix: {self.location.name}")

    def is_dir(self) -> bool:
        return bool(self._ask(self.fs.isdir, self.location.root))

    def reachable(self) -> None:
        """The top of the location (an S3 bucket) is there and answers, or an InputError."""
        top = self.location.root.split("/", 1)[0]
        if not self._ask(self.fs.info, top):
            raise InputError("location", self.location.name, f"bucket {top} does not exist")

    def _ask(self, question: Any, path: str) -> Any:
        try:
            return question(path)
        except FileNotFoundError:
            return False
        except Exception as error:  # botocore's and aiohttp's errors share no base class
            problem = f"cannot reach it: {describe(error, self.location)}"
            raise AccessError("location", self.location.name, problem) from None

    def walk(self) -> Iterator[tuple[str, list[str], list[Entry]]]:
        root = self.location.root
        for folder, folders, files in self.fs.walk(root, detail=True):
            relative = posixpath.relpath(folder.rstrip("/"), root) if folder != root else ""
            relative = "" if relative == "." else relative
            names = list(folders)
            entries = [
                Entry(
                    info["name"],
                    f"{relative}/{name}" if relative else name,
                    int(info.get("size") or 0),
                )
                for name, info in sorted(files.items())
                if name
            ]
            yield relative, names, entries
            for name in set(folders) - set(names):
                del folders[name]  # pruned by the caller: not walked


def open_storage(location: Location) -> Storage:
    """The storage of a location, one per process: a forked worker opens its own (a client's
    connections and event loop do not survive a fork)."""
    return _open(location, os.getpid())


@functools.lru_cache(maxsize=8)
def _open(location: Location, pid: int) -> Storage:
    return LocalStorage(location) if location.is_local else RemoteStorage(location)
