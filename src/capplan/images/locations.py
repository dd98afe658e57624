"""Where a root enters `images`: a local path, `file://path` or `s3://bucket/prefix`, with its
storage options, checked and named from its parts (`locate`) before any storage is opened; and
names made printable whatever bytes they hold."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan import secrets
from capplan.errors import InputError
from capplan.secrets import URL

OBJECT_STORES = ("s3", "s3a")  # through s3fs
SUPPORTED = "a local path, file://path or s3://bucket/prefix"
# S3's rules for bucket names: no user, password or host can hide in one
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CREDENTIALS = (
    "credentials come from the AWS_* variables, ~/.aws or the key and secret storage options"
)


Options = tuple[tuple[str, Any], ...]


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
