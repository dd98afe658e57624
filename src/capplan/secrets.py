"""Secrets in what a user types: a URL is shown only from its parsed, non-secret parts, a string
that does not parse one way only is refused, a secret may come from the environment or a file
instead of the command line, and a library's message is scrubbed of the secrets it may repeat.

`split_url` reads a URL with the grammar of the standard library's client (urllib.parse, which
urllib.request uses) and then holds each part to what RFC 3986 allows there: a user name and
password of unreserved, sub-delimiter and percent-encoded characters only, a host name or an IP
literal, a port of digits. A URL that a person may have meant another way (an unencoded `@`,
`/`, `#` or `?` in a password: `user:pa/ss@host` reads as the host `user` and the port `pa`) is
refused: it is never guessed, so it is never connected to. `label` is what every label, message,
manifest and report carries: scheme, host, port and path, never the user name, the password, the
query or the fragment.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from capplan.errors import InputError

MASK = "***"
# A parameter whose name contains one of these words holds a secret: password, sslpassword,
# passfile, token, access_token, api_key, secret, signature...
SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "sig", "credential")
URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
# Shorter secrets would be found inside ordinary words of an error message: a message that holds
# one is withheld whole instead.
SHORTEST_SCRUBBED = 4

# RFC 3986, 3.2.1: userinfo = *( unreserved / pct-encoded / sub-delims / ":" )
USERINFO = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*$")
# a host name (RFC 3986 reg-name without the sub-delimiters no resolver reads), or an IP literal
HOST_NAME = re.compile(r"^(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+$")
IP_LITERAL = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
PORT = re.compile(r"^[0-9]{1,5}$")
# path, query and fragment: printable ASCII, no space (http.client refuses the rest)
VISIBLE = re.compile(r"^[\x21-\x7e]*$")

ENCODE = (
    "percent-encode a user name, password or value (@ as %40, / as %2F, # as %23, ? as %3F, "
    ": as %3A, a space as %20)"
)
REFERENCE = re.compile(r"^@(?P<kind>env|file):(?P<name>.+)$", re.DOTALL)
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Unclear(ValueError):
    """A target that does not parse one way only, or holds what its grammar does not allow."""


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


@dataclass(frozen=True, slots=True)
class Redacted:
    shown: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UrlParts:
    """A URL read one way only: what may be shown, and (never shown) its credentials."""

    scheme: str
    host: str  # as written: a name, an IPv4 address or a bracketed IP literal
    port: int | None
    path: str  # as written (percent-encoded)
    user: str | None = field(default=None, repr=False)  # decoded
    password: str | None = field(default=None, repr=False)  # decoded
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    rest: str = field(default="", repr=False)  # path, query and fragment as written

    @property
    def label(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The password, and the query values (the short ones only of secret-named keys: a short
        value is found inside ordinary words)."""
        found = [self.password or ""]
        found += [
            value for key, value in self.query if is_secret(key) or len(value) >= SHORTEST_SCRUBBED
        ]
        return variants(found)


def masked(scheme: str) -> str:
    """A target that cannot be shown from its parts: its scheme only."""
    return f"{scheme}://{MASK}" if URL.match(f"{scheme}://") else MASK


def split_url(text: str) -> UrlParts:
    """A URL as urllib.parse reads it, each part held to what RFC 3986 allows there; Unclear
    (saying what to do, never what the part held) when it does not parse one way only."""
    match = URL.match(text)
    if match is None:
        raise Unclear("expected a URL: scheme://host/...")
    if not text.isascii() or not text.isprintable() or " " in text:
        raise Unclear(f"a URL holds printable ASCII characters only; {ENCODE}")
    scheme = match["scheme"].lower()
    parts = urllib.parse.urlsplit(text)
    netloc = parts.netloc
    rest = match["rest"][len(netloc) :]
    userinfo, at, hostport = netloc.rpartition("@")
    plain_host = not at and ":" not in netloc.replace("[", "").split("]")[-1]
    if "@" in userinfo or ("@" in rest and not plain_host):
        raise Unclear(f"an @ stands where it may end the password or start the host; {ENCODE}")
    if at and not USERINFO.match(userinfo):
        raise Unclear(f"the user name or password holds a character a URL does not allow; {ENCODE}")
    host, port = _host_port(hostport)
    if not VISIBLE.match(rest):
        raise Unclear("the path or query holds a character a URL does not allow: percent-encode it")
    user = password = None
    if at:
        name, colon, secret = userinfo.partition(":")
        user = urllib.parse.unquote(name)
        password = urllib.parse.unquote(secret) if colon else None
    return UrlParts(
        scheme,
        host,
        port,
        parts.path,
        user,
        password,
        tuple(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
        rest,
    )


def _host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, after = hostport.partition("]")
        host += "]"
        if not IP_LITERAL.match(host) or (after and not after.startswith(":")):
            raise Unclear("expected an IP literal such as [::1] in brackets")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_found = hostport.partition(":")
        port_text = port_text_found if colon else None
        if host and not HOST_NAME.match(host):
            raise Unclear(f"the host is not a host name or IP address; {ENCODE}")
    if port_text is None or port_text == "":
        return host, None
    if not PORT.match(port_text) or int(port_text) > 65535:
        raise Unclear(f"the port is not a number from 0 to 65535; {ENCODE}")
    return host, int(port_text)


def redact(text: str) -> Redacted:
    """A URL as it may be shown (scheme, host, port, path) and the secrets it holds; text that is
    not a URL as it is. A URL that does not parse one way only shows its scheme alone."""
    match = URL.match(text)
    if match is None:
        return Redacted(text, ())
    try:
        parts = split_url(text)
    except Unclear:
        return Redacted(masked(match["scheme"].lower()), variants([match["rest"]]))
    return Redacted(parts.label, parts.secrets)


def variants(secrets: list[str]) -> tuple[str, ...]:
    """Each secret as written, percent-decoded and percent-encoded, longest first."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        decoded = urllib.parse.unquote(secret)
        encoded = urllib.parse.quote(decoded, safe="")
        found |= {secret, decoded, encoded, urllib.parse.quote(decoded)}
    return tuple(sorted(found, key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """A library's message with the given secrets replaced by ***."""
    for secret in secrets:
        if secret and secret in text:
            if len(secret) < SHORTEST_SCRUBBED:
                return "(message withheld: it might contain the password)"
            text = text.replace(secret, MASK)
    return text


# --- secrets from the environment or a file ---------------------------------------------------


def dereference(text: str, subject: str) -> str:
    """`@env:NAME` as the value of the environment variable NAME, `@file:PATH` as the content of
    the file PATH (one trailing line break dropped); any other text as it is. So that a secret
    need not stand on the command line, where `ps` shows it."""
    match = REFERENCE.match(text)
    if match is None:
        return text
    kind, name = match["kind"], match["name"]
    if kind == "env":
        if not VARIABLE.match(name):
            raise InputError(subject, "@env:...", "expected @env:NAME, NAME a variable's name")
        value = os.environ.get(name)
        if not value:
            raise InputError(subject, f"@env:{name}", f"the variable {name} is not set or empty")
        return value
    try:
        raw = Path(name).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(subject, f"@file:{name}", f"cannot read the file: {reason}") from None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(subject, f"@file:{name}", "the file is not UTF-8 text") from None
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise InputError(subject, f"@file:{name}", "the file is empty")
    return value
