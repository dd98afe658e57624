"""Where a history lives, and the one interface `trend` and `report` read it through.

`--history` (or $CAPPLAN_HISTORY) names a SQLite file, a Prometheus server (`http://` or
`https://`, read only), or a PostgreSQL database shared by many hosts (`postgresql://`,
`postgres://`; history_postgres). Its text is parsed into
one of these kinds before anything opens it: a URL is never taken for a file name, and a text
that has a scheme capplan does not know is refused rather than written to as a path.

A source gives the forecasts their input, one `Series` per metric and set of labels, with at
most `most` points evenly spread over the time asked for; the forecasts do not know where the
points came from. `label` is how messages and the page name the source: a path, or a URL by its
non-secret parts (scheme://host:port/path, never its userinfo or query).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from capplan.errors import InputError
from capplan.history import Series

SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
PROMETHEUS_SCHEMES = ("http", "https")
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What a server history knows of a host's size: cores, memory, and its real file systems
    (a source that knows them has a `facts()` method: instance -> HostFacts)."""

    vcpu: int | None = None
    ram_gb: float | None = None
    disk_used_gb: float | None = None
    disk_free_gb: float | None = None


class HistorySource(Protocol):
    """A history that the forecasts read: a file, a server."""

    @property
    def label(self) -> str:
        """How messages and the page name it, without secrets."""

    @property
    def writable(self) -> bool:
        """Whether `check --record` and `history import/prune` may write it."""

    def series(
        self, *, most: int, metric: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Series]:
        """Every series (by metric, then labels), with at most `most` points evenly spread."""


@dataclass(frozen=True, slots=True)
class SqliteHistory:
    """A history file that `check --record` and `history import` write."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def writable(self) -> bool:
        return True

    def series(
        self, *, most: int, metric: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Series]:
        from capplan import history

        return history.series(self.path, most=most, metric=metric, since=since)


@dataclass(frozen=True, slots=True)
class Location:
    """A history's text parsed: a path, or a URL of a known scheme split into its parts."""

    kind: str  # "sqlite", "prometheus" or "postgresql"
    text: str  # as given (it may hold a password: never shown)
    path: Path | None = None
    scheme: str = ""
    host: str = ""
    port: int | None = None
    url_path: str = ""
    has_userinfo: bool = False

    @property
    def label(self) -> str:
        """scheme://host:port/path for a URL (no userinfo, no query), else the path."""
        if self.path is not None:
            return str(self.path)
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.url_path.rstrip('/')}"


def locate(text: str, subject: str = "history") -> Location:
    """Parse a history's text: a URL of a known scheme, else a file path. A URL of any other
    scheme (or a malformed one) is refused, never taken for a path."""
    match = SCHEME.match(text)
    if match is None:
        if not text.strip():
            raise InputError(subject, repr(text), "expected a file or a URL")
        return Location("sqlite", text, path=Path(text))
    scheme = match["scheme"].lower()
    if scheme in PROMETHEUS_SCHEMES:
        kind = "prometheus"
    elif scheme in POSTGRES_SCHEMES:
        kind = "postgresql"
    else:
        known = ", ".join(f"{s}://" for s in (*PROMETHEUS_SCHEMES, *POSTGRES_SCHEMES))
        raise InputError(
            subject, f"{scheme}://...", f"unknown scheme: expected a file, or a URL ({known})"
        )
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InputError(subject, f"{scheme}://...", f"not a valid URL: {error}") from None
    host = parts.hostname or ""
    if not host and kind == "prometheus":
        raise InputError(subject, f"{scheme}://", "expected a host: http://HOST:PORT")
    return Location(
        kind,
        text,
        scheme=scheme,
        host=host,
        port=port,
        url_path=parts.path,
        has_userinfo="@" in parts.netloc,
    )


def location_of(text: str | None) -> Location:
    """--history, else $CAPPLAN_HISTORY, else the default history file."""
    import os

    from capplan import history

    if text is None:
        text = os.environ.get(history.HISTORY_ENV) or None
    return Location("sqlite", "", path=history.default_path()) if text is None else locate(text)


def sqlite_path(location: Location, doing: str) -> Path:
    """The file of a SQLite history; a server history is refused for what only a file does."""
    if location.path is not None:
        return location.path
    if location.kind == "postgresql":
        raise InputError("history", location.label, f"{doing} needs a history file")
    raise InputError(
        "history",
        location.label,
        f"is a Prometheus server, which capplan reads but does not write: {doing} needs a "
        "history file (Prometheus keeps its own history)",
    )


def open_source(
    text: str | None,
    *,
    match: tuple[str, ...] = (),
    access: object | None = None,
) -> HistorySource:
    """The history that --history (else $CAPPLAN_HISTORY, else the default file) names, for
    reading. `match` (PromQL label matchers) and `access` (history_prometheus.Access) apply to
    a Prometheus server."""
    location = location_of(text)
    if location.kind == "postgresql":
        if match:
            raise InputError("match", " ".join(match), "applies to a Prometheus history only")
        from capplan.history_postgres import history as postgres_history

        return postgres_history(location.text)
    if location.kind == "sqlite":
        if match:
            raise InputError("match", " ".join(match), "applies to a Prometheus history only")
        assert location.path is not None
        return SqliteHistory(location.path)
    from capplan.history_prometheus import Access, PrometheusHistory

    given = access if isinstance(access, Access) else Access()
    return PrometheusHistory(location, given, match)
