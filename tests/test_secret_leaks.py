"""No fragment of a secret leaves capplan, whatever characters it holds and whatever form carries
it: a property over passwords, tokens and header values drawn from all printable characters
(`@ / # ? % : ' "`, space and beyond ASCII), through every target form, every check output
format, the history file, the `-o` file and the errors.

Every target points at a closed port on 127.0.0.1: it fails at once, and its label and its error
must still be clean. A drawn secret has a character beyond ASCII in every three (the rest drawn
from everything printable), so that any four characters of it are found in an output only if
the output holds the secret: no ordinary word or number matches by chance.
"""

from __future__ import annotations

import base64
import sqlite3
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .check_servers import free_port
from .conftest import Run

FRAGMENT = 4
# characters no output of capplan holds: one in every three characters of a secret
MARKERS = "¤§¶ÆØÞßæøþĐđĦħŁłŒœŦŧ"
PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"), max_codepoint=0x2FFF
)
SPECIAL = st.sampled_from("@/#?%:'\" =&\\;,!$+*()[]{}|<>^`~\t")
FORMATS = ("table", "json", "nagios", "prometheus")


@st.composite
def secrets(draw: st.DrawFn) -> str:
    chunks = draw(
        st.lists(
            st.tuples(st.one_of(SPECIAL, PRINTABLE), PRINTABLE, st.sampled_from(MARKERS)),
            min_size=3,
            max_size=6,
        )
    )
    return "".join(a + b + marker for a, b, marker in chunks).replace("\t", " ")


def fragments(secret: str) -> set[str]:
    """Every 4 characters of the secret, as written, percent-encoded (each way a URL encodes),
    and in base64 (the full groups that those characters decide, whatever their alignment)."""
    found: set[str] = set()
    for start in range(len(secret) - FRAGMENT + 1):
        piece = secret[start : start + FRAGMENT]
        found |= {
            piece,
            urllib.parse.quote(piece, safe=""),
            urllib.parse.quote(piece),
            urllib.parse.quote_plus(piece),
        }
    raw = secret.encode("utf-8")
    for start in range(len(raw)):  # base64: groups of 3 bytes entirely inside 6 or more bytes
        for pad in range(3):
            encoded = base64.b64encode(b"\0" * pad + raw[start : start + 9]).decode()
            inner = encoded[4 if pad else 0 : 4 * ((pad + len(raw[start : start + 9])) // 3)]
            if len(inner) >= 8:
                found.add(inner)
    return found


@dataclass(frozen=True)
class Form:
    """A way a secret reaches capplan: the arguments for a given secret and closed port."""

    name: str
    args: Callable[[str, int], list[str]]
    env: bool = False  # the secret is in the environment variable CAPPLAN_TEST_SECRET

    def __str__(self) -> str:
        return self.name


def quoted(secret: str) -> str:
    return "'" + secret.replace("\\", "\\\\").replace("'", "\\'") + "'"


ENCODED = urllib.parse.quote
FORMS = [
    Form("postgres URL", lambda s, p: ["--db", f"postgresql://mon:{s}@127.0.0.1:{p}/shop"]),
    Form(
        "postgres URL, encoded",
        lambda s, p: ["--db", f"postgresql://mon:{ENCODED(s, safe='')}@127.0.0.1:{p}/shop"],
    ),
    Form(
        "postgres ?password=", lambda s, p: ["--db", f"postgresql://127.0.0.1:{p}/x?password={s}"]
    ),
    Form(
        "libpq keywords",
        lambda s, p: ["--db", f"host=127.0.0.1 port={p} dbname=shop user=mon password={s}"],
    ),
    Form(
        "libpq keywords, quoted",
        lambda s, p: ["--db", f"host=127.0.0.1 port={p} dbname=x sslpassword={quoted(s)}"],
    ),
    Form("sqlite URL", lambda s, p: ["--db", f"sqlite:///srv/{p}.db?key={s}"]),
    Form("stray URL", lambda s, p: [f"postgresql://mon:{s}@127.0.0.1:{p}/shop"]),
    Form("http userinfo", lambda s, p: ["--url", f"http://bob:{s}@127.0.0.1:{p}/health"]),
    Form(
        "http userinfo, encoded",
        lambda s, p: ["--url", f"http://bob:{ENCODED(s, safe='')}@127.0.0.1:{p}/health"],
    ),
    Form("http ?session=", lambda s, p: ["--url", f"http://127.0.0.1:{p}/h?page=2&session={s}"]),
    Form(
        "http ?jwt= encoded",
        lambda s, p: ["--url", f"http://127.0.0.1:{p}/h?jwt={ENCODED(s, safe='')}#sid={s}"],
    ),
    Form(
        "header",
        lambda s, p: ["--url", f"http://127.0.0.1:{p}/h", "--header", f"Authorization: Bearer {s}"],
    ),
    Form(
        "header from the environment",
        lambda s, p: [
            "--url",
            f"http://127.0.0.1:{p}/h",
            "--header",
            "X-Api-Key: @env:CAPPLAN_TEST_SECRET",
        ],
        env=True,
    ),
    Form("header name", lambda s, p: ["--url", f"http://127.0.0.1:{p}/h", "--header", s]),
    Form("bad option value", lambda s, p: ["--interval", s, "--requests", f"{s}"]),
]
S3_FORMS = [
    lambda s: f"s3://AKIAX:{s}@bucket/x",
    lambda s: f"s3://bucket/x?X-Amz-Signature={s}",
    lambda s: f"s3://{s}/x",
]


def outputs(run: Run, tmp_path: Path, args: list[str]) -> dict[str, str]:
    """What a check with these arguments shows: every format, --debug, its history, its -o."""
    base = ["check", "--interval", "0", "--requests", "1", "--timeout", "2", *args]
    texts = {}
    for fmt in FORMATS:
        result = run(*base, "--format", fmt)
        assert result.exit_code in (0, 1, 2, 3), (fmt, result.output)
        texts[fmt] = result.stdout + result.stderr
    debug = run("--debug", *base, "--format", "nagios")
    texts["--debug"] = debug.stdout + debug.stderr
    history = tmp_path / "history.db"
    for old in tmp_path.glob("history.db*"):
        old.unlink()
    recorded = run(*base, "--format", "json", "--record", "--history", history)
    texts["--record"] = recorded.stdout + recorded.stderr
    if history.exists():
        with sqlite3.connect(history) as connection:
            texts["history rows"] = "\n".join(
                repr(row) for row in connection.execute("SELECT * FROM records")
            )
        texts["history file"] = b"".join(p.read_bytes() for p in tmp_path.glob("history.db*"))[
            :2_000_000
        ].decode("utf-8", "replace")
    for name, fmt in (("out.prom", "prometheus"), ("status.txt", "nagios")):
        target = tmp_path / name
        target.unlink(missing_ok=True)
        result = run(*base, "--format", fmt, "--output", target)
        texts[f"-o {name}"] = result.stdout + result.stderr
        if target.exists():
            texts[f"{name} file"] = target.read_text(encoding="utf-8")
    return texts


def assert_clean(texts: dict[str, str], secret: str) -> None:
    for fragment in fragments(secret):
        for where, text in texts.items():
            assert fragment not in text, (where, fragment, text[:2000])


@pytest.mark.slow
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=secrets(), form=st.sampled_from(FORMS))
def test_no_fragment_of_a_secret_reaches_any_output(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str, form: Form
) -> None:
    monkeypatch.setenv("CAPPLAN_TEST_SECRET", secret)
    texts = outputs(run, tmp_path, form.args(secret, free_port()))
    assert_clean(texts, secret)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=secrets(), form=st.sampled_from(S3_FORMS), command=st.sampled_from(["stats", "dest"]))
def test_no_fragment_of_a_secret_in_an_s3_url_reaches_images_output(
    run: Run, tmp_path: Path, secret: str, form: Callable[[str], str], command: str
) -> None:
    url = form(secret)
    if command == "stats":
        result = run("images", "stats", url, "--format", "json")
    else:
        result = run("images", "convert", tmp_path, url, "--format", "json")
    assert result.exit_code == 2
    assert_clean({"output": result.stdout + result.stderr}, secret)


def test_the_fragments_of_a_secret_find_it_in_every_form() -> None:
    """The property can fail: a secret shown plainly, percent-encoded or in base64 is found."""
    secret = "p@ss/w0rd¤ §x"
    found = fragments(secret)
    for shown in (
        f"label db=postgresql://u:{secret}@h",
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(f"bob:{secret}".encode()).decode(),
        f"...{secret[3:8]}...",
    ):
        assert any(fragment in shown for fragment in found), shown
    assert not any(fragment in "CAPPLAN UNKNOWN - db_size_gb 0.1 %" for fragment in found)
