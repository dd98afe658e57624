"""No secret leaves the process: every form a credential can take on the command line, in every
output format, on stderr, under --debug and in the history file, against a real PostgreSQL server
and a real HTTP server that want them."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .check_servers import (
    HTTP_PASSWORD,
    PASSWORD,
    TOKEN,
    USER,
    admin_url,
    free_port,
    http_server,
    postgres_server,
)
from .conftest import Run

FORMATS = ("table", "json", "csv", "markdown", "nagios", "prometheus")
ODD_USER, ODD_PASSWORD = "odd", "p@ss#w0rd?Odd!"  # unencoded @, # and ? in a URL
SSL_PASSWORD = "Ssl-key-Secret"
PASSFILE = "Passfile-Secret-name"


@dataclass
class Form:
    """One way a secret reaches capplan: the arguments, the secrets they carry, and (when the
    check gets that far) the label it must show instead."""

    name: str
    args: list[str]
    secrets: list[str]
    shown: str = ""
    env: dict[str, str] = field(default_factory=dict)
    measured: bool = True  # False: the target shows only as an UNKNOWN metric (not recorded)


def variants(secret: str) -> set[str]:
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    }


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    import psycopg

    with postgres_server() as port:
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            connection.execute("CREATE DATABASE shop")
            connection.execute(f"CREATE ROLE {ODD_USER} LOGIN PASSWORD '{ODD_PASSWORD}'")
            connection.execute(f"GRANT pg_read_all_data TO {ODD_USER}")
        with psycopg.connect(admin_url(port, "shop"), autocommit=True) as connection:
            connection.execute("CREATE TABLE products (id serial PRIMARY KEY, gtin text)")
            connection.execute("INSERT INTO products (gtin) VALUES ('1'), ('2')")
        yield port


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    with http_server() as url:
        yield url


def forms(port: int, web: str, passfile: Path) -> list[Form]:
    host = f"127.0.0.1:{port}"
    encoded = urllib.parse.quote(ODD_PASSWORD, safe="")
    basic = base64.b64encode(f"{USER}:{HTTP_PASSWORD}".encode()).decode()
    web_host = web.removeprefix("http://")
    keywords = f"host=127.0.0.1 port={port} dbname=shop"
    return [
        Form(
            "password in the URL",
            ["--db", f"postgresql://capplan:{PASSWORD}@{host}/shop"],
            [PASSWORD],
            f"postgresql://{host}/shop",
        ),
        Form(
            "?password= in the URL",
            ["--db", f"postgresql://capplan@{host}/shop?password={PASSWORD}"],
            [PASSWORD],
            f"postgresql://{host}/shop",
        ),
        Form(
            "libpq keyword string",
            ["--db", f"{keywords} user=capplan password={PASSWORD}"],
            [PASSWORD],
            keywords,
        ),
        Form(  # refused: libpq would read the host `ss#w0rd?Odd!`, a URL the host `odd`
            "unencoded @ # ? in the password",
            ["--db", f"postgresql://{ODD_USER}:{ODD_PASSWORD}@{host}/shop"],
            [ODD_PASSWORD, "ss#w0rd", "w0rd?Odd"],
        ),
        Form(
            "percent-encoded password",
            ["--db", f"postgresql://{ODD_USER}:{encoded}@{host}/shop"],
            [ODD_PASSWORD],
            f"postgresql://{host}/shop",
        ),
        Form(
            "the whole URL from the environment",
            ["--db", "@env:SHOP_DATABASE_URL"],
            [ODD_PASSWORD],
            f"postgresql://{host}/shop",
            env={"SHOP_DATABASE_URL": f"postgresql://{ODD_USER}:{encoded}@{host}/shop"},
        ),
        Form(
            "sslpassword and passfile",
            [
                "--db",
                f"{keywords} user=capplan sslpassword={SSL_PASSWORD} passfile={passfile}",
            ],
            [SSL_PASSWORD, PASSFILE, PASSWORD],
            keywords,
        ),
        Form(
            "PGPASSWORD",
            ["--db", f"postgresql://capplan@{host}/shop"],
            [PASSWORD],
            f"postgresql://{host}/shop",
            env={"PGPASSWORD": PASSWORD},
        ),
        Form(
            "wrong password",
            ["--db", f"postgresql://capplan:Wr0ng-{PASSWORD}@{host}/shop"],
            [f"Wr0ng-{PASSWORD}"],
            f"postgresql://{host}/shop",
            measured=False,
        ),
        Form(
            "database down",
            ["--db", f"postgresql://capplan:{PASSWORD}@127.0.0.1:{free_port()}/shop"],
            [PASSWORD],
        ),
        Form("unsupported scheme", ["--db", f"mysql://root:{PASSWORD}@{host}/shop"], [PASSWORD]),
        Form(
            "a URL without its --db",
            [f"postgresql://capplan:{PASSWORD}@{host}/shop"],
            [PASSWORD],
        ),
        Form(
            "HTTP basic authentication",
            ["--url", f"http://{USER}:{urllib.parse.quote(HTTP_PASSWORD)}@{web_host}/basic"],
            [HTTP_PASSWORD, basic],
            f"http://{web_host}/basic",
        ),
        Form(
            "a token in a header",
            ["--url", f"{web}/token", "--header", f"Authorization: Bearer {TOKEN}"],
            [TOKEN],
            f"{web}/token",
        ),
        Form(
            "a token in a header, from the environment",
            ["--url", f"{web}/token", "--header", "Authorization: Bearer @env:PROBE_TOKEN"],
            [TOKEN],
            f"{web}/token",
            env={"PROBE_TOKEN": TOKEN},
        ),
        Form(
            "session, jwt and sid in the query",
            ["--url", f"{web}/open?session={TOKEN}&jwt={PASSWORD}&sid={SSL_PASSWORD}"],
            [TOKEN, PASSWORD, SSL_PASSWORD],
            f"{web}/open",
        ),
    ]


def matrix() -> list[str]:
    return [form.name for form in forms(1, "http://127.0.0.1:1", Path("/x"))]


@pytest.mark.postgres
@pytest.mark.parametrize("name", matrix())
def test_no_secret_in_any_output_format_error_or_history(
    run: Run,
    port: int,
    web: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    passfile = tmp_path / PASSFILE
    passfile.write_text(f"127.0.0.1:{port}:shop:capplan:{PASSWORD}\n", encoding="utf-8")
    passfile.chmod(0o600)
    form = next(f for f in forms(port, web, passfile) if f.name == name)
    for key, value in form.env.items():
        monkeypatch.setenv(key, value)
    secrets = set().union(*(variants(secret) for secret in form.secrets))
    base = ["check", "--interval", "0", "--requests", "1", *form.args]
    history = tmp_path / "history.db"
    texts = {}
    for fmt in FORMATS:
        result = run(*base, "--format", fmt)
        texts[fmt] = result.stdout + result.stderr
        assert result.exit_code in (0, 1, 2, 3)
    recorded = run(*base, "--format", "json", "--record", "--history", history)
    debug = run("--debug", *base, "--format", "nagios")
    texts["--record"] = recorded.stdout + recorded.stderr
    texts["--debug"] = debug.stdout + debug.stderr
    if history.exists():
        texts["history file"] = b"".join(
            p.read_bytes() for p in tmp_path.glob("history.db*")
        ).decode("utf-8", "replace")
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, (where, secret)
    if form.shown:  # the check got as far as measuring: the target shows, redacted
        report = json.loads(recorded.stdout)
        assert form.shown in json.dumps(report["metrics"], ensure_ascii=False)
        assert form.shown in texts["history file"] or not form.measured
        assert form.shown.split("://")[-1].split("/")[0] in texts["prometheus"]


MONITOR_PASSWORD = "M0nitor p@ss/w0rd#"  # every character a URL would need encoded


@pytest.mark.postgres
def test_the_readme_example_hands_every_secret_over_outside_argv(
    port: int, web: str, tmp_path: Path
) -> None:
    """examples/secrets.sh, as the README shows it, run by /bin/sh: the database is reached
    through PGPASSFILE and through @env:, the endpoint through @file: and a token from @env:."""
    import subprocess
    import sys

    import psycopg

    from .conftest import EXAMPLES, ROOT

    script = (EXAMPLES / "secrets.sh").read_text(encoding="utf-8")
    assert f"```sh\n{script}```" in (ROOT / "README.md").read_text(encoding="utf-8")
    with psycopg.connect(admin_url(port), autocommit=True) as connection:
        connection.execute("DROP ROLE IF EXISTS monitor")
        connection.execute(f"CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PASSWORD}'")
        connection.execute("GRANT pg_read_all_data, pg_monitor TO monitor")
    passfile = tmp_path / "pgpass"
    escaped = MONITOR_PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    passfile.write_text(f"127.0.0.1:{port}:shop:monitor:{escaped}\n", encoding="utf-8")
    passfile.chmod(0o600)
    encoded = urllib.parse.quote(MONITOR_PASSWORD, safe="")
    health = tmp_path / "health.url"
    health.write_text(f"{web}/token?sid={PASSWORD}\n", encoding="utf-8")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGPASSFILE": str(passfile),
        "SHOP_DATABASE_URL": f"postgresql://monitor:{encoded}@127.0.0.1:{port}/shop",
        "HEALTH_URL_FILE": str(health),
        "PROBE_TOKEN": TOKEN,
    }
    result = subprocess.run(
        ["/bin/sh", str(EXAMPLES / "secrets.sh")],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("CAPPLAN ")]
    assert len(lines) == 3, result.stdout + result.stderr
    for line in lines[:2]:  # both reached the database: its size is measured
        assert " db_size=U;" not in line and " db_size=" in line, line
    assert "token'=0%;" in lines[2], lines[2]  # the token from @env: was sent and accepted
    for secret in (MONITOR_PASSWORD, encoded, TOKEN, PASSWORD, HTTP_PASSWORD, "M0nitor"):
        assert secret not in result.stdout + result.stderr
