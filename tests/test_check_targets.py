"""Where a target enters capplan: it is shown from its parsed, non-secret parts only, a string that
does not parse one way only is refused with its parts masked, and what is used to connect keeps
every secret exactly."""

from __future__ import annotations

import base64
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.check.targets import MASK, database, header, http, redact, scrub
from capplan.errors import InputError

SECRET = "Sw0rd-f1sh"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:Sw0rd-f1sh@db:5432/shop", "postgresql://db:5432/shop"),
        ("postgresql://db/shop?password=Sw0rd-f1sh", "postgresql://db/shop"),
        (
            "postgresql://db/shop?sslmode=require&sslpassword=Sw0rd-f1sh&passfile=Sw0rd-f1sh",
            "postgresql://db/shop",
        ),
        ("postgresql://app:Sw0rd%40f1sh@db/shop", "postgresql://db/shop"),
        ("postgres://app:Sw0rd%2Ff1sh@h1:5432,h2:5433/shop", "postgres://h1:5432,h2:5433/shop"),
        ("postgresql://[::1]:5432/shop", "postgresql://[::1]:5432/shop"),
        ("postgresql:///shop?host=/run/postgresql", "postgresql://%2Frun%2Fpostgresql/shop"),
        ("mysql://app:Sw0rd-f1sh@db/shop", "mysql://db/shop"),
        ("http://bob:Sw0rd-f1sh@127.0.0.1:8080/health", "http://127.0.0.1:8080/health"),
        ("https://host/x?token=Sw0rd-f1sh&page=2#Sw0rd-f1sh", "https://host/x"),
        ("https://host/x?session=Sw0rd-f1sh&jwt=Sw0rd-f1sh&sid=Sw0rd-f1sh", "https://host/x"),
        ("host=db dbname=shop user=app password=Sw0rd-f1sh", "host=db dbname=shop"),
        (
            "host=db port=5432 password = 'Sw0rd f1sh\\'s' sslpassword=Sw0rd-f1sh passfile=/Sw0rd",
            "host=db port=5432",
        ),
        ("service=shop dbname=orders user=Sw0rd-f1sh", "service=shop dbname=orders"),
        ("/srv/shop.db", "/srv/shop.db"),
        ("sqlite:///srv/shop.db", "sqlite:///srv/shop.db"),
        ("postgresql://Sw0rd-f1sh@db/shop", "postgresql://db/shop"),  # no user name either
    ],
)
def test_a_target_is_shown_from_its_parts_only(text: str, shown: str) -> None:
    redacted = redact(text)
    assert redacted.shown == shown
    assert "Sw0rd" not in redacted.shown


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://monitor:S3cr3t#p@ss/w0rd%41@host/shop", "postgresql://***"),
        ("postgresql://monitor:S3cr3tp@ss/w0rd%41@host/shop", "postgresql://***"),
        ("postgresql://app:Sw0rd/f1sh@db/shop", "postgresql://***"),
        ("postgresql://app:Sw0rd@f1sh@db/shop", "postgresql://***"),
        ("postgresql://app:Sw0rd?f1sh@db/shop", "postgresql://***"),
        ("postgresql://app:Sw0rd f1sh@db/shop", "postgresql://***"),
        ("postgresql://app:12/f1sh@db/shop", "postgresql://***"),
        ("postgresql://db/shop?password=Sw0rd#f1sh", "postgresql://***"),
        ("host=db password=Sw0rd f1sh dbname=shop", "(connection string)"),
        ("host=db password=Sw0rd f1sh=x", "(connection string)"),
        ("host=db dbname=sh@Sw0rd/f1sh", "(connection string)"),
        ("app:Sw0rd-f1sh@db/shop", MASK),
        ("sqlite:///srv/shop.db?key=Sw0rd-f1sh", "sqlite://***"),
    ],
)
def test_a_database_that_parses_more_than_one_way_is_refused_masked(text: str, masked: str) -> None:
    with pytest.raises(InputError) as caught:
        database(text)
    assert caught.value.value == masked
    message = str(caught.value)
    for fragment in ("Sw0rd", "f1sh", "S3cr3t", "w0rd", "@ss", "ss/"):
        assert fragment not in message
    assert "%40" in message or "quoted" in message or "expected" in message


@pytest.mark.parametrize(
    "text",
    [
        "http://bob:a/b@Sw0rd@host/x",
        "http://bob:Sw0rd#f1sh@host/",
        "http://bob:12#Sw0rd@host/",
        "http://bob:Sw0rd f1sh@host/",
        "http://bob:Sw0rd-f1sh@host/@x",
        "https://bob:Sw0rdé@host/",
        "http://host:8080/users/@Sw0rd",
    ],
)
def test_an_http_url_that_parses_more_than_one_way_is_refused_masked(text: str) -> None:
    with pytest.raises(InputError) as caught:
        http(text)
    assert str(caught.value.value).endswith("://***")
    assert "Sw0rd" not in str(caught.value)
    assert "percent-encode" in caught.value.problem


def test_an_at_in_a_path_is_a_path_when_nothing_else_could_be_a_password() -> None:
    assert http("http://host/users/@me").shown == "http://host/users/@me"


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "!$&'()*+,;=-._~", min_size=6),
    st.sampled_from(["postgresql", "http", "https"]),
)
def test_any_allowed_password_is_sent_whole_and_never_shown(password: str, scheme: str) -> None:
    password = "pw" + password  # distinct from the rest of the URL
    text = f"{scheme}://monitor:{password}@127.0.0.1:5432/shop"
    target = database(text) if scheme == "postgresql" else http(text)
    assert target.shown == f"{scheme}://127.0.0.1:5432/shop"
    assert scrub(f"failed for {password} and {text}", target.secrets).count(password) == 0


def test_the_postgres_url_is_given_to_libpq_as_written() -> None:
    target = database("postgresql://app:p%40ss%23w0rd@db:5432/shop")
    assert target.kind == "postgres"
    assert target.conninfo == "postgresql://app:p%40ss%23w0rd@db:5432/shop"
    assert target.shown == "postgresql://db:5432/shop"
    assert "p@ss#w0rd" in target.secrets
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
    assert caught.value.value == "mysql://db/shop"
    assert "unsupported scheme mysql://" in caught.value.problem
    assert "postgresql://" in caught.value.problem and "sqlite:///" in caught.value.problem


def test_a_broken_keyword_string_is_refused_without_its_secret() -> None:
    with pytest.raises(InputError) as caught:
        database(f"host=db password={SECRET} dbname")
    assert SECRET not in str(caught.value)
    assert "single-quoted" in caught.value.problem and "PGPASSWORD" in caught.value.problem


def test_userinfo_becomes_basic_auth_and_leaves_the_url() -> None:
    target = http(f"http://bob:{SECRET.replace('-', '%2D')}@127.0.0.1:8080/health?x=1")
    assert target.url == "http://127.0.0.1:8080/health?x=1"
    assert target.shown == "http://127.0.0.1:8080/health"
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
    assert scrub(f"token {SECRET} refused", target.secrets) == "token *** refused"
    with pytest.raises(InputError) as caught:
        header(f"Bearer {SECRET}")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("value", ["Bearer a\nb", "Bearer a\rb", "Bearer a\x00b", "Bearer é"])
def test_a_header_value_with_a_line_break_or_beyond_ascii_is_refused(value: str) -> None:
    with pytest.raises(InputError) as caught:
        header(f"Authorization: {value}")
    assert caught.value.value == "Authorization: ***"
    assert "line break" in caught.value.problem


def test_secrets_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    assert header("Authorization: Bearer @env:API_TOKEN") == (
        "Authorization",
        f"Bearer {SECRET}",
    )
    line = tmp_path / "header"
    line.write_text(f"X-Probe-Token: {SECRET}\n", encoding="utf-8")
    assert header(f"@file:{line}") == ("X-Probe-Token", SECRET)
    monkeypatch.setenv("HEALTH_URL", f"https://bob:{SECRET}@api.example/health?sid={SECRET}")
    site = http("@env:HEALTH_URL")
    assert site.shown == "https://api.example/health"
    assert site.url == f"https://api.example/health?sid={SECRET}"
    url = tmp_path / "db.url"
    url.write_text(f"postgresql://monitor:{SECRET}@db/shop\n", encoding="utf-8")
    assert database(f"@file:{url}").shown == "postgresql://db/shop"


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("@env:NOT_SET_ANYWHERE", "the variable NOT_SET_ANYWHERE is not set"),
        ("@env:not a name", "expected @env:NAME"),
        ("@file:/no/such/file", "cannot read the file"),
    ],
)
def test_a_reference_that_cannot_be_read_says_why(reference: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        http(reference)


def test_a_url_without_http_is_refused() -> None:
    with pytest.raises(InputError, match="expected an http:// or https:// URL") as caught:
        http(f"ftp://bob:{SECRET}@host/")
    assert SECRET not in str(caught.value)
    with pytest.raises(InputError, match="expected a host name"):
        http("http:///path")


def test_a_short_secret_withholds_the_message_instead_of_mangling_it() -> None:
    assert scrub("password authentication failed for ab", ("ab",)).startswith("(message withheld")
    assert scrub("nothing here", ("xyz",)) == "nothing here"
