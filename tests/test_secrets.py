"""capplan.secrets, the one reading of URLs that check's targets and images' locations share."""

from __future__ import annotations

import pytest

from capplan.check.targets import http
from capplan.errors import InputError
from capplan.images.locations import locate
from capplan.secrets import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("s3://AKIAX:wJalr/K7MDENG/bPxRfiCY+EXAMPLE@bucket/x", "s3://***"),
        ("postgresql://app:Sw0rd/f1sh@db/shop", "postgresql://***"),
        ("https://bob:a/b@c@host/x?page=2", "https://***"),
        ("https://bob:secret@host:8443/x?page=2#top", "https://host:8443/x"),
        ("tcp://bob:secret@127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("http://host/users/@me", "http://host/users/@me"),
    ],
)
def test_a_url_is_shown_from_its_parts_or_masked_whole(text: str, shown: str) -> None:
    assert redact(text).shown == shown


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("s3://bucket/photos/a@2x.jpg", "s3://bucket/photos/a@2x.jpg"),
        ("s3://bucket/a:b/c@d", "s3://bucket/a:b/c@d"),
        ("s3://shop-images/products/", "s3://shop-images/products/"),
    ],
)
def test_an_s3_key_may_hold_at_and_colon(text: str, name: str) -> None:
    assert locate(text).name == name


@pytest.mark.parametrize(
    "text",
    [
        "s3://AKIAX:wJalr/K7MDENG/bPxRfiCY+EXAMPLE@bucket/x",
        "s3://key:S3cretvalue@bucket/x",
        "s3://key:S3cret@value/x",
    ],
)
def test_credentials_in_an_s3_url_leave_no_bucket_as_s3fs_reads_it(text: str) -> None:
    """s3fs reads the bucket up to the first /: with a user and password in it, that is no
    bucket name, and the refusal shows the scheme alone."""
    with pytest.raises(InputError) as caught:
        locate(text, subject="dest", writes=True)
    assert caught.value.value == "s3://***"
    assert "takes no user or password" in caught.value.problem
    for fragment in ("wJalr", "S3cret", "AKIAX", "EXAMPLE"):
        assert fragment not in str(caught.value)


def test_a_password_with_a_slash_is_refused_not_guessed() -> None:
    with pytest.raises(InputError) as caught:
        http("https://bob:pa/ss@host/x")
    assert caught.value.value == "https://***"
    assert "%2F" in caught.value.problem
    assert "pa/ss" not in str(caught.value)
