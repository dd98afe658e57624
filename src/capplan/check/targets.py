"""Where a target enters capplan: database URLs, libpq connection strings, HTTP URLs, headers.

Every target given on the command line becomes a Target here, before anything else sees it. It is
parsed with the grammar of the library that will use it (libpq's own parser, through psycopg's
`conninfo_to_dict`, for PostgreSQL; urllib.parse, which urllib.request uses, for HTTP), each part
is held to what it may be, and `shown` is built from the parts that hold no secret: scheme, host,
port, database or path. It is what every label, message, history record and report carries; the
user name, the password, the query and the fragment never are. A string that does not parse one
way only (an unencoded @ or / in a password) is refused with its parts masked, never guessed.
The secret-bearing text is kept only to connect, and `scrub` removes its secrets from a library's
error message.

Any target, and a header's value, may be `@env:NAME` or `@file:PATH` (capplan.secrets.dereference)
so that no secret need stand on the command line.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from capplan.errors import InputError
from capplan.secrets import (
    ENCODE,
    REFERENCE,
    URL,
    Redacted,
    Unclear,
    dereference,
    is_secret,
    masked,
    split_url,
    variants,
)
from capplan.secrets import MASK as MASK  # re-exported: check's names for them
from capplan.secrets import redact as redact_url
from capplan.secrets import scrub as scrub

KEYWORDS = re.compile(r"^\s*[A-Za-z_]+\s*=")
POSTGRES_SCHEMES = ("postgresql", "postgres")
SUPPORTED_DATABASES = (
    "a SQLite file path, sqlite:///path, postgresql://... or a libpq connection string "
    "('host=... dbname=... user=...')"
)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# RFC 9110 field value: visible ASCII, spaces and tabs; never a line break
HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
CONNECTION_STRING = "(connection string)"  # how a refused keyword string is named
# what a PostgreSQL part may hold: host names and addresses, socket directories, ports, names
PG_HOST = re.compile(r"^(?:[A-Za-z0-9._-]*|[0-9A-Fa-f:.]+|/[A-Za-z0-9._/-]*)$")
PG_PORT = re.compile(r"^[0-9]{0,5}$")
PG_NAME = re.compile(r"^[\w .$-]+$")
SHOWN_KEYS = ("service", "host", "hostaddr", "port", "dbname")
QUOTING = (
    "a value holding a space, a quote or a backslash is single-quoted (password='a b'); better, "
    "give the password in PGPASSWORD or a PGPASSFILE, or the whole string as @env:NAME"
)


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


def redact(text: str) -> Redacted:
    """A --db or --url value as it may be shown, and the secrets it holds (masked when it does
    not parse one way only)."""
    try:
        target = http(text) if text.lower().startswith("http") else database(text)
    except InputError as error:
        return Redacted(str(error.value), ())
    return Redacted(target.shown, target.secrets)


def database(text: str) -> Database:
    """A --db value: a SQLite path or sqlite:///path, a postgresql:// URI, or a libpq keyword
    string; anything else is refused naming what is supported."""
    text = dereference(text, "db")
    match = URL.match(text)
    if match is not None:
        scheme = match["scheme"].lower()
        if scheme in POSTGRES_SCHEMES:
            return _postgres(text, scheme)
        if scheme == "sqlite":
            return _sqlite(text)
        shown = redact_url(text).shown
        raise InputError(
            "db", shown, f"unsupported scheme {scheme}://; expected {SUPPORTED_DATABASES}"
        )
    if KEYWORDS.match(text) and not Path(text).exists():
        return _postgres(text, None)
    if "@" in text and not Path(text).exists():
        raise InputError("db", MASK, f"no such file, and not a URL; expected {SUPPORTED_DATABASES}")
    return Database("sqlite", text, text)


def _sqlite(text: str) -> Database:
    try:
        parts = split_url(text)
    except Unclear as error:
        raise InputError("db", masked("sqlite"), str(error)) from None
    path = urllib.parse.unquote(parts.path)
    if parts.host or parts.port is not None or parts.rest != parts.path or len(path) < 2:
        raise InputError("db", masked("sqlite"), "expected sqlite:///path/to/file.db")
    return Database("sqlite", f"sqlite://{parts.path}", path)


def _postgres(text: str, scheme: str | None) -> Database:
    """A URI (scheme given) or a keyword string, read by libpq's own parser."""
    hidden = masked(scheme) if scheme else CONNECTION_STRING
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise InputError("db", hidden, "needs psycopg; install capplan[postgres]") from None
    try:
        if scheme is not None:
            _unambiguous_uri(text)
        try:
            params = {key: str(value) for key, value in conninfo_to_dict(text).items()}
        except Exception:  # psycopg.ProgrammingError, quoting the string: never shown
            raise Unclear(
                "libpq cannot read it as a connection URI (check the query parameters and the "
                f"percent-encoding; {ENCODE})"
                if scheme
                else f"libpq cannot read it as a connection string: {QUOTING}"
            ) from None
        _allowed(params)
    except Unclear as error:
        raise InputError("db", hidden, str(error)) from None
    secrets = [value for key, value in params.items() if is_secret(key)]
    if scheme is not None:
        secrets.append(_uri_userinfo(text)[1])
    return Database("postgres", _label(params, scheme), text, variants(secrets))


def _uri_userinfo(text: str) -> tuple[str | None, str]:
    """The userinfo of a postgresql:// URI where libpq ends it (the first @ before a /), and its
    password as written."""
    rest = text.split("://", 1)[1]
    end = len(rest) if (slash := rest.find("/")) < 0 else slash
    at = rest.find("@", 0, end)
    if at < 0:
        return None, ""
    userinfo = rest[:at]
    return userinfo, userinfo.partition(":")[2]


def _unambiguous_uri(text: str) -> None:
    """libpq and the URL grammar read this URI the same way: no #, which libpq keeps in a value
    where a URL ends at it; a userinfo of the characters a URL allows there; no @ after it."""
    from capplan.secrets import USERINFO

    if "#" in text:
        raise Unclear(
            f"an unencoded # (libpq reads it as part of a value, a URL as its end); {ENCODE}"
        )
    if not text.isascii() or not text.isprintable() or " " in text:
        raise Unclear(f"a URL holds printable ASCII characters only; {ENCODE}")
    userinfo, _ = _uri_userinfo(text)
    rest = text.split("://", 1)[1]
    after = rest[len(userinfo) + 1 :] if userinfo is not None else rest
    if "@" in after.split("?", 1)[0]:
        raise Unclear(f"an @ stands where it may end the password or start the host; {ENCODE}")
    if userinfo is not None and not USERINFO.match(userinfo):
        raise Unclear(f"the user name or password holds a character a URL does not allow; {ENCODE}")


def _allowed(params: Mapping[str, str]) -> None:
    """Each part that names where to connect holds what such a part may hold."""
    for key, pattern, what in (
        ("host", PG_HOST, "host names, addresses or a socket directory"),
        ("hostaddr", PG_HOST, "IP addresses"),
        ("port", PG_PORT, "port numbers"),
    ):
        if key in params and not all(pattern.match(item) for item in params[key].split(",")):
            raise Unclear(f"its {key} is not {what}; {ENCODE}")
    for key in ("dbname", "service"):
        if key in params and not PG_NAME.match(params[key]):
            raise Unclear(f"its {key} may hold letters, digits, spaces and _ . $ - only; {ENCODE}")


def _label(params: Mapping[str, str], scheme: str | None) -> str:
    """The target from its parts: `postgresql://host:port/dbname` for a URI, `host=... port=...
    dbname=...` for a keyword string. Never the user, the password or another parameter."""
    if scheme is None:
        return " ".join(f"{key}={_quote(params[key])}" for key in SHOWN_KEYS if key in params)
    hosts = params.get("host", "").split(",")
    ports = params.get("port", "").split(",")
    ports += [ports[-1] if len(ports) == 1 else ""] * (len(hosts) - len(ports))
    where = ",".join(
        _uri_host(host) + (f":{port}" if port else "")
        for host, port in zip(hosts, ports, strict=True)
    )
    dbname = params.get("dbname")
    path = "" if dbname is None else "/" + urllib.parse.quote(dbname, safe="$-._~")
    return f"{scheme}://{where}{path}"


def _uri_host(host: str) -> str:
    if host.startswith("/"):
        return urllib.parse.quote(host, safe="")
    return f"[{host}]" if ":" in host else host


def _quote(value: str) -> str:
    if value and not any(c.isspace() or c in "'\\" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
    """`Name: value` (its value is never shown). The whole header, or the last word of its value
    (`Authorization: Bearer @env:API_TOKEN`), may be @env:NAME or @file:PATH."""
    text = dereference(text, "headers")
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not HEADER_NAME.match(name):
        raise InputError("headers", MASK, "expected 'Name: value', such as 'Authorization: ...'")
    value = value.strip()
    head, space, last = value.rpartition(" ")
    if REFERENCE.match(last):
        value = head + space + dereference(last, "headers")
    if not HEADER_VALUE.match(value):
        raise InputError(
            "headers",
            f"{name}: {MASK}",
            "a header's value holds printable ASCII characters, spaces and tabs only (a line "
            "break would start another header)",
        )
    return name, value.strip()


def http(text: str, headers: tuple[tuple[str, str], ...] = ()) -> Http:
    """An http:// or https:// URL; its userinfo becomes HTTP basic authentication."""
    text = dereference(text, "urls")
    match = URL.match(text)
    if match is None or match["scheme"].lower() not in ("http", "https"):
        raise InputError("urls", redact_url(text).shown, "expected an http:// or https:// URL")
    scheme = match["scheme"].lower()
    try:
        parts = split_url(text)
    except Unclear as error:
        raise InputError("urls", masked(scheme), str(error)) from None
    if not parts.host:
        raise InputError("urls", parts.label, "expected a host name after //")
    sent = list(headers)
    secrets = list(parts.secrets)
    for _, value in headers:  # the value, and its last word (the token after `Bearer`)
        secrets += [value, value.rpartition(" ")[2]]
    if parts.user is not None or parts.password is not None:
        pair = f"{parts.user or ''}:{parts.password or ''}"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        sent.append(("Authorization", f"Basic {token}"))
        secrets.append(token)
    port = "" if parts.port is None else f":{parts.port}"
    url = f"{scheme}://{parts.host}{port}{parts.rest}"
    return Http(parts.label, url, tuple(sent), variants(secrets))
