"""Where a target enters capplan: database URLs, libpq connection strings, HTTP URLs, headers.

`redact` is capplan.secrets' redaction of URLs (shared with `images`), extended to libpq keyword
strings. Every target given on the command line becomes a Target here, before anything else sees
it: `shown` (passwords, tokens and secret parameters replaced by
***) is what every label, message, history record and report carries; the secret-bearing text
is kept only to connect, and `scrub` removes its secrets from a library's error message.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from capplan.errors import InputError
from capplan.secrets import MASK as MASK  # re-exported: check's names for them
from capplan.secrets import URL, Redacted, is_secret, split_userinfo, variants
from capplan.secrets import redact as redact_url
from capplan.secrets import scrub as scrub

KEYWORDS = re.compile(r"^\s*[A-Za-z_]+\s*=")
POSTGRES_SCHEMES = ("postgresql", "postgres")
SUPPORTED_DATABASES = (
    "a SQLite file path, sqlite:///path, postgresql://... or a libpq connection string "
    "('host=... dbname=... user=...')"
)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def redact(text: str) -> Redacted:
    """A target as it may be shown, and the secrets it holds.

    URLs of any scheme are redacted as capplan.secrets.redact does; libpq keyword strings lose
    the values of secret keys.
    """
    if URL.match(text) is None and KEYWORDS.match(text):
        pairs = _keywords(text)
        shown = " ".join(f"{key}={MASK if is_secret(key) else _quote(v)}" for key, v in pairs)
        secrets = [value for key, value in pairs if is_secret(key) and value]
        return Redacted(shown, variants(secrets))
    return redact_url(text)


def _encoded_userinfo(scheme: str, rest: str) -> str:
    """The URL with its user and password percent-encoded: libpq ends the userinfo at the first
    @, so an unencoded @ (or #) in a password would otherwise send the rest of it as the host."""
    userinfo, _, remainder = split_userinfo(rest)
    if userinfo is None:
        return f"{scheme}://{rest}"
    parts = [
        urllib.parse.quote(urllib.parse.unquote(part), safe="") for part in userinfo.split(":", 1)
    ]
    return f"{scheme}://{':'.join(parts)}@{remainder}"


# --- libpq keyword strings --------------------------------------------------------------------


def _keywords(text: str) -> list[tuple[str, str]]:
    """`host=db password='a b'` as libpq reads it: key = value pairs separated by spaces, a value
    either single-quoted or up to the next space, with backslash escapes."""
    pairs: list[tuple[str, str]] = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position == end:
            return pairs
        start = position
        while position < end and not text[position].isspace() and text[position] != "=":
            position += 1
        key = text[start:position]
        while position < end and text[position].isspace():
            position += 1
        if position == end or text[position] != "=":
            shown = " ".join(f"{k}={MASK if is_secret(k) else _quote(v)}" for k, v in pairs)
            raise InputError(
                "db",
                f"{shown} {key} ...".strip(),
                f"missing '=' after {key!r} in the connection string",
            )
        position += 1
        while position < end and text[position].isspace():
            position += 1
        value, position = _value(text, position)
        pairs.append((key, value))


def _value(text: str, position: int) -> tuple[str, int]:
    chars = []
    quoted = position < len(text) and text[position] == "'"
    if quoted:
        position += 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chars.append(text[position + 1])
            position += 2
            continue
        if (quoted and char == "'") or (not quoted and char.isspace()):
            position += 1 if quoted else 0
            return "".join(chars), position
        chars.append(char)
        position += 1
    return "".join(chars), position


def _quote(value: str) -> str:
    if value and not any(c.isspace() or c in "'\\" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- databases --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Database:
    """A --db target: a SQLite file or a PostgreSQL connection (URI or keyword string)."""

    kind: Literal["sqlite", "postgres"]
    shown: str
    conninfo: str = field(repr=False)  # the path for SQLite; what libpq is given for PostgreSQL
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def path(self) -> Path:
        return Path(self.conninfo)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def database(text: str) -> Database:
    """A --db value: a SQLite path or sqlite:///path, a postgresql:// URI, or a libpq keyword
    string; anything else is refused naming what is supported."""
    redacted = redact(text)
    match = URL.match(text)
    if match is not None:
        scheme = match["scheme"].lower()
        if scheme in POSTGRES_SCHEMES:
            conninfo = _encoded_userinfo(match["scheme"], match["rest"])
            return Database("postgres", redacted.shown, conninfo, redacted.secrets)
        if scheme == "sqlite":
            if not match["rest"].startswith("/") or len(match["rest"]) < 2:
                raise InputError("db", redacted.shown, "expected sqlite:///path/to/file.db")
            return Database("sqlite", redacted.shown, match["rest"])
        raise InputError(
            "db", redacted.shown, f"unsupported scheme {scheme}://; expected {SUPPORTED_DATABASES}"
        )
    if KEYWORDS.match(text) and not Path(text).exists():
        return Database("postgres", redacted.shown, text, redacted.secrets)
    return Database("sqlite", text, text)


# --- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Http:
    """A --url target: what is requested (without userinfo), how it is shown, its headers."""

    shown: str
    url: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def header(text: str) -> tuple[str, str]:
    """`Name: value` (its value is never shown)."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not HEADER_NAME.match(name):
        shown = f"{name}: {MASK}" if colon else MASK
        raise InputError("headers", shown, "expected 'Name: value', such as 'Authorization: ...'")
    return name, value.strip()


def http(text: str, headers: tuple[tuple[str, str], ...] = ()) -> Http:
    """An http:// or https:// URL; its userinfo becomes HTTP basic authentication."""
    redacted = redact(text)
    match = URL.match(text)
    if match is None or match["scheme"].lower() not in ("http", "https"):
        raise InputError("urls", redacted.shown, "expected an http:// or https:// URL")
    userinfo, _, remainder = split_userinfo(match["rest"])
    if not remainder or remainder[0] in "/?#":
        raise InputError("urls", redacted.shown, "expected a host name after //")
    sent = list(headers)
    secrets = list(redacted.secrets) + [value for _, value in headers if value]
    if userinfo is not None:
        user, _, password = userinfo.partition(":")
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        sent.append(("Authorization", f"Basic {token}"))
        secrets.append(token)
    url = f"{match['scheme']}://{remainder}"
    return Http(redacted.shown, url, tuple(sent), variants(secrets))
