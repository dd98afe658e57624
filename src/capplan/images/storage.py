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
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan import atomic, secrets
from capplan.errors import AccessError, InputError
from capplan.secrets import URL

SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
OBJECT_STORES = ("s3", "s3a")  # through s3fs
SUPPORTED = "a local path, file://path or s3://bucket/prefix"
# S3's rules for bucket names: no user, password or host can hide in one
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CREDENTIALS = (
    "credentials come from the AWS_* variables, ~/.aws or the key and secret storage options"
)


Options = tuple[tuple[str, Any], ...]
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


@dataclass(frozen=True)
class Location:
    """A root as the user named it (`uploads/`, `s3://bucket/images`) with its storage options.

    Picklable: a worker process or a Dask worker opens its own storage from it. The options
    (which may hold credentials) never appear in its repr."""

    name: str
    protocol: str | None = None  # None: the local file system
    root: str = ""  # the path without the protocol
    options: Options = field(default=(), repr=False)

    @property
    def is_local(self) -> bool:
        return self.protocol is None

    def join(self, relative: str) -> str:
        """The storage path of a file under this root."""
        return posixpath.join(self.root, relative)

    def display(self, relative: str) -> str:
        """The file as the user would name it: under the root as given."""
        if self.is_local:
            return printable(posixpath.join(self.name, relative))
        return printable(f"{self.protocol}://{posixpath.join(self.root, relative)}")

    def contains(self, other: Location) -> bool:
        """Whether `other` is this root or lies under it."""
        if self.protocol != other.protocol:
            return False
        if self.is_local:
            mine, theirs = Path(self.root).resolve(), Path(other.root).resolve()
            return theirs == mine or mine in theirs.parents
        mine_text, theirs_text = self.root.rstrip("/"), other.root.rstrip("/")
        return theirs_text == mine_text or theirs_text.startswith(mine_text + "/")


def printable(text: str) -> str:
    """A path as text that can be written anywhere (UTF-8 JSON, a manifest, a terminal): the
    bytes of a name that are not UTF-8, which Python keeps as surrogates, shown as \\xNN."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate of another origin
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_options(pairs: list[str] | None) -> Options:
    """`KEY=VALUE` pairs as storage options: true/false and whole numbers typed, the rest text."""
    options: list[tuple[str, Any]] = []
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("storage_options", pair.split("=")[0] or pair, "expected KEY=VALUE")
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        elif text.isdigit():
            value = int(text)
        options.append((key.strip(), value))
    return tuple(options)


def locate(
    text: str, options: Options = (), *, subject: str = "location", writes: bool = False
) -> Location:
    """A local path, `file://path` or `s3://bucket/prefix`, checked where it enters.

    A URL is named from its parts from here on (capplan.secrets: scheme, host, port, path;
    `s3://bucket/prefix` as s3fs reads it). A scheme that capplan does not read (`writes`:
    write) is refused naming those it does; so is a user, password or query in the URL, which
    the store would not read (an S3 key named after the query, at worst), with the URL masked.
    """
    match = URL.match(text)
    if match is None:
        return Location(printable(text), None, text)
    shown = secrets.redact(text).shown
    scheme = match["scheme"].lower()
    if scheme in ("http", "https"):
        raise InputError(subject, shown, _not_web(scheme, text, writes))
    if scheme == "file":
        return _file(text, subject)
    if scheme not in OBJECT_STORES:
        raise InputError(subject, shown, f"unsupported scheme {scheme}://; expected {SUPPORTED}")
    root = _object_path(f"{scheme}://{match['rest']}")
    bucket = root.split("/", 1)[0]
    if not BUCKET.match(bucket):
        problem = (
            f"{scheme}:// takes no user or password in the URL; {CREDENTIALS}"
            if "@" in root or ":" in bucket
            else "expected a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens"
        )
        raise InputError(subject, secrets.masked(scheme), problem)
    if "?" in root:
        name = f"{scheme}://{root.split('?', 1)[0]}"
        raise InputError(subject, name, f"{scheme}:// takes no query (?...); {CREDENTIALS}")
    if not root.isprintable():
        raise InputError(subject, secrets.masked(scheme), "the key holds a control character")
    _check_options(scheme, options)
    trail = "/" if text.endswith("/") and not root.endswith("/") else ""
    return Location(f"{scheme}://{root}{trail}", scheme, root.rstrip("/"), options)


# Keyword arguments of a file system's constructors that are not options a user gives as text:
# objects, capplan's own choice (no listing cache), and the catch-alls.
NOT_OPTIONS = frozenset(
    {"self", "args", "kwargs", "storage_options", "session", "loop", "asynchronous",
     "use_listings_cache"}
)  # fmt: skip


def storage_option_names(scheme: str) -> frozenset[str]:
    """The options that the file system of `scheme` takes: the named keyword arguments of its
    constructors (its own and its bases') and of fsspec's listing cache."""
    import inspect

    import fsspec
    from fsspec.dircache import DirCache

    names: set[str] = {"skip_instance_cache"}
    for cls in (*fsspec.get_filesystem_class(scheme).__mro__, DirCache):
        if "__init__" in vars(cls):
            names.update(inspect.signature(cls.__init__).parameters)
    return frozenset(names - NOT_OPTIONS)


def _check_options(scheme: str, options: Options) -> None:
    """Every option is one that the file system takes (an unknown one would reach the HTTP
    session, which fails at the first request with a TypeError of its own)."""
    if not options:
        return
    try:
        known = storage_option_names(scheme)
    except ImportError:
        return  # RemoteStorage says what to install
    for key, _ in options:
        if key not in known:
            raise InputError(
                "storage_options",
                key,
                f"unknown option for {scheme}://; it takes: {', '.join(sorted(known))}",
            )


def _object_path(text: str) -> str:
    """`bucket/key` as s3fs reads the URL: the protocol stripped, the first part the bucket."""
    try:
        from s3fs import S3FileSystem
    except ImportError:  # s3fs's own rule, when it is not installed (the store then says so)
        return text.split("://", 1)[1].lstrip("/")
    return str(S3FileSystem._strip_protocol(text)).lstrip("/")


def _file(text: str, subject: str) -> Location:
    try:
        parts = secrets.split_url(text)
    except secrets.Unclear as error:
        raise InputError(subject, secrets.masked("file"), str(error)) from None
    if parts.user is not None or parts.password is not None:
        raise InputError(subject, parts.label, "file:// takes no user or password in the URL")
    if parts.rest != parts.path:
        raise InputError(subject, parts.label, "file:// takes no query (?...)")
    rest = text.split("://", 1)[1]
    return Location(printable(rest), None, rest)


def _not_web(scheme: str, text: str, writes: bool) -> str:
    """Why an http(s) URL is refused; for a destination, how an S3-compatible server at that
    address is reached instead."""
    if not writes:
        return f"an {scheme}:// URL is not a folder capplan can read; expected {SUPPORTED}"
    try:
        parts = secrets.split_url(text)
        port = "" if parts.port is None else f":{parts.port}"
        server = f"{scheme}://{parts.host}{port}"
    except secrets.Unclear:
        server = f"{scheme}://HOST:PORT"
    return (
        f"an {scheme}:// URL is not somewhere capplan writes; expected {SUPPORTED} (an "
        f"S3-compatible server at {server}: s3://BUCKET/PREFIX with the storage option "
        f"endpoint_url={server})"
    )


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
