"""Secrets in what a user types: URLs shown with their passwords and secret parameters masked,
and library messages scrubbed of the secrets they may repeat.

`redact` is the one redaction of a URL, for every command that takes one (check's targets,
images' locations): `shown` is what labels, messages, manifests and reports carry; the
secrets it returns are what `scrub` removes from a library's message.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

MASK = "***"
# A parameter whose name contains one of these words holds a secret: password, sslpassword,
# passfile, token, access_token, api_key, secret, signature...
SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "sig", "credential")
URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
# Shorter secrets would be found inside ordinary words of an error message: a message that holds
# one is withheld whole instead.
SHORTEST_SCRUBBED = 4


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


@dataclass(frozen=True, slots=True)
class Redacted:
    shown: str
    secrets: tuple[str, ...]


def redact(text: str) -> Redacted:
    """A URL as it may be shown, and the secrets it holds; text that is not a URL as it is.

    URLs of any scheme lose the password of their userinfo (everything up to the last @ before
    the path, so an unencoded @, # or ? stays inside it) and the values of secret query
    parameters.
    """
    match = URL.match(text)
    if match is None:
        return Redacted(text, ())
    scheme, rest = match["scheme"], match["rest"]
    userinfo, _, remainder = split_userinfo(rest)
    secrets = []
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        if colon:
            secrets.append(password)
            userinfo = f"{user}:{MASK}"
    before, question, query = remainder.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        parts = []
        for pair in query.split("&"):
            key, equals, value = pair.partition("=")
            if equals and is_secret(urllib.parse.unquote_plus(key)) and value:
                secrets.append(value)
                pair = f"{key}={MASK}"
            parts.append(pair)
        remainder = f"{before}?{'&'.join(parts)}{hash_}{fragment}"
    authority = "" if userinfo is None else f"{userinfo}@"
    return Redacted(f"{scheme}://{authority}{remainder}", variants(secrets))


def split_userinfo(rest: str) -> tuple[str | None, str, str]:
    """What follows `scheme://`, as (userinfo or None, '@', host and the rest).

    The userinfo ends at the last @ before the path. A password with an unencoded / (an AWS
    secret key often has one) ends the authority early: `user:pa/ss@host` is read as userinfo
    up to the last @ when what follows `user:` is not a port.
    """
    slash = rest.find("/")
    head = rest if slash < 0 else rest[:slash]
    at = head.rfind("@")
    if at >= 0:
        return rest[:at], "@", rest[at + 1 :]
    _, colon, port = head.partition(":")
    last = rest.rfind("@")
    if colon and not port.isdigit() and last > slash >= 0:
        return rest[:last], "@", rest[last + 1 :]
    return None, "", rest


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
