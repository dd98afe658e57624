"""capplan.secrets, the one redaction of URLs that check's targets and images' locations share."""

from __future__ import annotations

import pytest

from capplan.check.targets import database, http
from capplan.secrets import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("s3://AKIAX:wJalr/K7MDENG/bPxRfiCY+EXAMPLE@bucket/x", "s3://AKIAX:***@bucket/x"),
        ("postgresql://app:Sw0rd/f1sh@db/shop", "postgresql://app:***@db/shop"),
        ("https://bob:a/b@c@host/x?page=2", "https://bob:***@host/x?page=2"),
        ("http://host:8080/users/@me", "http://host:8080/users/@me"),
        ("s3://bucket/photos/a@2x.jpg", "s3://bucket/photos/a@2x.jpg"),
        ("s3://bucket/a:b/c@d", "s3://bucket/a:b/c@d"),
    ],
)
def test_a_password_with_a_slash_is_masked_whole(text: str, shown: str) -> None:
    """An AWS secret key often holds a /, which ends a URL's authority early."""
    assert redact(text).shown == shown


def test_a_password_with_a_slash_reaches_the_server_whole() -> None:
    target = database("postgresql://app:Sw0rd/f1sh@db/shop")
    assert target.shown == "postgresql://app:***@db/shop"
    assert target.conninfo == "postgresql://app:Sw0rd%2Ff1sh@db/shop"
    assert "Sw0rd/f1sh" in target.secrets
    site = http("https://bob:pa/ss@host/x")
    assert (site.shown, site.url) == ("https://bob:***@host/x", "https://host/x")
    assert dict(site.headers)["Authorization"] == "Basic Ym9iOnBhL3Nz"  # bob:pa/ss
