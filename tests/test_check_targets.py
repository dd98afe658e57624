"""Where a target enters capplan: every form of secret is redacted, and what is used to connect
keeps it exactly."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.check.targets import MASK, database, header, http, redact, scrub
from capplan.errors import InputError

SECRET = "Sw0rd-f1sh"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:Sw0rd-f1sh@db:5432/shop", "postgresql://app:***@db:5432/shop"),
        ("postgresql://db/shop?password=Sw0rd-f1sh", "postgresql://db/shop?password=***"),
        (
            "postgresql://db/shop?sslmode=require&sslpassword=Sw0rd-f1sh&passfile=Sw0rd-f1sh",
            "postgresql://db/shop?sslmode=require&sslpassword=***&passfile=***",
        ),
        ("postgresql://app:Sw0rd%40f1sh@db/shop", "postgresql://app:***@db/shop"),
        ("postgresql://app:Sw0rd@f1sh@db/shop", "postgresql://app:***@db/shop"),
        ("postgresql://app:Sw0rd#f1sh@db/shop", "postgresql://app:***@db/shop"),
        ("postgresql://app:Sw0rd?f1sh@db/shop", "postgresql://app:***@db/shop"),
        ("mysql://app:Sw0rd-f1sh@db/shop", "mysql://app:***@db/shop"),
        ("http://bob:Sw0rd-f1sh@127.0.0.1:8080/health", "http://bob:***@127.0.0.1:8080/health"),
        ("https://host/x?token=Sw0rd-f1sh&page=2", "https://host/x?token=***&page=2"),
        (
            "host=db dbname=shop user=app password=Sw0rd-f1sh",
            "host=db dbname=shop user=app password=***",
        ),
        (
            "host=db password = 'Sw0rd f1sh\\'s' sslpassword=Sw0rd-f1sh passfile=/etc/Sw0rd-f1sh",
            "host=db password=*** sslpassword=*** passfile=***",
        ),
        ("/srv/shop.db", "/srv/shop.db"),
        ("postgresql://app@db/shop", "postgresql://app@db/shop"),
    ],
)
def test_every_form_of_secret_is_redacted(text: str, shown: str) -> None:
    redacted = redact(text)
    assert redacted.shown == shown
    assert "Sw0rd" not in redacted.shown
    for fragment in ("Sw0rd-f1sh", "Sw0rd@f1sh", "Sw0rd#f1sh", "Sw0rd f1sh's"):
        if fragment in text or fragment.replace("@", "%40") in text:
            assert fragment in redacted.secrets or fragment.replace("@", "%40") in (
                redacted.secrets
            )


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "!#$%&()*+,;=?@[]^_`{|}~-.", min_size=6)
)
def test_any_password_in_a_url_is_redacted_and_scrubbed(password: str) -> None:
    password = "pw" + password  # distinct from the rest of the URL
    text = f"postgresql://monitor:{password}@127.0.0.1:5432/shop"
    redacted = redact(text)
    assert redacted.shown == "postgresql://monitor:***@127.0.0.1:5432/shop"
    assert scrub(f"failed for {password} and {text}", redacted.secrets).count(password) == 0


def test_the_postgres_url_sent_to_libpq_has_its_password_encoded() -> None:
    target = database("postgresql://app:p@ss#w0rd@db:5432/shop")
    assert target.kind == "postgres"
    assert target.conninfo == "postgresql://app:p%40ss%23w0rd@db:5432/shop"
    assert target.shown == "postgresql://app:***@db:5432/shop"
    assert "p@ss" not in repr(target)


@pytest.mark.parametrize(
    ("text", "kind", "conninfo"),
    [
        ("shop.db", "sqlite", "shop.db"),
        ("sqlite:///srv/shop.db", "sqlite", "/srv/shop.db"),
        ("postgres://db/shop", "postgres", "postgres://db/shop"),
        ("dbname=shop", "postgres", "dbname=shop"),
        ("host=/run/postgresql dbname=shop", "postgres", "host=/run/postgresql dbname=shop"),
    ],
)
def test_database_kinds(text: str, kind: str, conninfo: str) -> None:
    target = database(text)
    assert (target.kind, target.conninfo) == (kind, conninfo)


def test_an_unsupported_scheme_names_the_supported_ones_without_the_password() -> None:
    with pytest.raises(InputError) as caught:
        database(f"mysql://app:{SECRET}@db/shop")
    assert SECRET not in str(caught.value)
    assert "unsupported scheme mysql://" in caught.value.problem
    assert "postgresql://" in caught.value.problem and "sqlite:///" in caught.value.problem


def test_a_broken_keyword_string_is_refused_without_its_secret() -> None:
    with pytest.raises(InputError) as caught:
        database(f"host=db password={SECRET} dbname")
    assert SECRET not in str(caught.value)
    assert "missing '=' after 'dbname'" in caught.value.problem


def test_userinfo_becomes_basic_auth_and_leaves_the_url() -> None:
    target = http(f"http://bob:{SECRET.replace('-', '%2D')}@127.0.0.1:8080/health?x=1")
    assert target.url == "http://127.0.0.1:8080/health?x=1"
    assert target.shown == "http://bob:***@127.0.0.1:8080/health?x=1"
    (name, value), *_ = target.headers
    assert name == "Authorization"
    assert base64.b64decode(value.removeprefix("Basic ")).decode() == f"bob:{SECRET}"
    assert scrub(f"sent {value}", target.secrets) == f"sent Basic {MASK}"


def test_headers_are_sent_and_their_values_are_secrets() -> None:
    token = header(f"Authorization: Bearer {SECRET}")
    assert token == ("Authorization", f"Bearer {SECRET}")
    target = http("https://api.example/health", (token,))
    assert target.headers == (token,)
    assert scrub(f"echo Bearer {SECRET}", target.secrets) == "echo ***"
    with pytest.raises(InputError) as caught:
        header(f"Bearer {SECRET}")
    assert SECRET not in str(caught.value)


def test_a_url_without_http_is_refused() -> None:
    with pytest.raises(InputError, match="expected an http:// or https:// URL"):
        http(f"ftp://bob:{SECRET}@host/")
    with pytest.raises(InputError, match="expected a host name"):
        http("http:///path")


def test_a_short_secret_withholds_the_message_instead_of_mangling_it() -> None:
    assert scrub("password authentication failed for ab", ("ab",)).startswith("(message withheld")
    assert scrub("nothing here", ("xyz",)) == "nothing here"
