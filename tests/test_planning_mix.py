"""`capplan mix`: the mix measured from a live SQLite or PostgreSQL shop equals the hand count,
and `project` on it equals `project` on the hand-written mix."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from capplan import config

from .check_servers import PASSWORD, admin_url, postgres_server
from .conftest import EXAMPLES, Run
from .shops import seed

Write = Callable[[str, str], Path]
MEASURED = EXAMPLES / "measured"
HAND = MEASURED / "hand-count.yaml"
SQLITE_QUERIES = MEASURED / "mix-queries-sqlite.yaml"
PG_QUERIES = MEASURED / "mix-queries.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        seed(connection.execute)
    connection.close()
    return path


@pytest.fixture(scope="module")
def shop_postgres() -> Iterator[str]:
    import psycopg

    with postgres_server() as port:
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            connection.execute("CREATE DATABASE shop")
        with psycopg.connect(admin_url(port, "shop"), autocommit=True) as connection:
            seed(connection.execute, postgres=True)
            connection.execute(f"CREATE ROLE planner LOGIN PASSWORD '{PASSWORD}'")
            connection.execute("GRANT pg_monitor TO planner")
            connection.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO planner")
        yield f"postgresql://planner:{PASSWORD}@127.0.0.1:{port}/shop"


def project_json(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run("project", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def measured_equals_the_hand_count(run: Run, mix: Path) -> None:
    tiers = config.load_tiers()
    assert config.load_mix(mix, tiers) == config.load_mix(HAND, tiers)
    assert project_json(run, "--mix", mix) == project_json(run, "--mix", HAND)
    grown = ("--growth", "5%", "--months", "12")
    assert project_json(run, "--mix", mix, *grown) == project_json(run, "--mix", HAND, *grown)


def test_the_mix_measured_from_sqlite_is_the_hand_count(
    run: Run, shop: Path, tmp_path: Path
) -> None:
    mix = tmp_path / "mix.yaml"
    result = run("mix", "--db", shop, "--queries", SQLITE_QUERIES, "-o", mix)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    measured_equals_the_hand_count(run, mix)
    text = mix.read_text(encoding="utf-8")
    assert text.startswith(f"# Measured by `capplan mix` from {shop} at 20")
    assert f"with the queries of {SQLITE_QUERIES} (mix_queries)" in text
    assert "    images_per_product: 0.425  # mix_queries.images_per_product\n" in text


def test_the_mix_measured_from_postgresql_is_the_hand_count(
    run: Run, shop_postgres: str, tmp_path: Path
) -> None:
    mix = tmp_path / "mix.yaml"
    result = run("mix", "--db", shop_postgres, "--queries", PG_QUERIES, "-o", mix)
    assert result.exit_code == 0, result.stderr
    measured_equals_the_hand_count(run, mix)
    text = mix.read_text(encoding="utf-8")
    assert PASSWORD not in text and "127.0.0.1" in text


def test_the_queries_may_stand_in_thresholds_yaml(run: Run, shop: Path, write: Write) -> None:
    queries = SQLITE_QUERIES.read_text(encoding="utf-8")
    thresholds = (EXAMPLES.parent / "thresholds.yaml").read_text(encoding="utf-8")
    path = write("thresholds.yaml", thresholds + "\n" + queries)
    result = run("mix", "--db", shop, "--thresholds", path)
    assert result.exit_code == 0, result.stderr
    assert "  essential:\n    clients: 4  # mix_queries.clients\n" in result.stdout
    assert f"with the queries of {path}" in result.stdout


def test_the_mix_queries_pass_the_probe_gate(run: Run, shop_postgres: str, write: Write) -> None:
    """A query that could change the database is refused before it runs, and a superuser is
    refused unless that is stated, as for check's business queries."""
    queries = write(
        "q.yaml",
        "mix_queries:\n  clients: \"SELECT 'business', pg_terminate_backend(pg_backend_pid())\"\n",
    )
    refused = run("mix", "--db", shop_postgres, "--queries", queries)
    assert refused.exit_code == 2
    assert refused.stderr.startswith("capplan mix: error: mix_queries.clients: refused")
    assert "pg_terminate_backend" in refused.stderr
    superuser = shop_postgres.replace("planner:", "capplan:")
    privileged = run("mix", "--db", superuser, "--queries", PG_QUERIES)
    assert privileged.exit_code == 2 and "superuser" in privileged.stderr
    assert PASSWORD not in refused.stderr + privileged.stderr
    allowed = run("mix", "--db", superuser, "--queries", PG_QUERIES, "--allow-privileged-role")
    assert allowed.exit_code == 0, allowed.stderr


def test_a_figure_without_a_query_is_the_plans_and_says_so(
    run: Run, shop: Path, write: Write
) -> None:
    queries = write(
        "q.yaml",
        "mix_queries:\n"
        "  clients: SELECT plan, count(*) FROM vendors WHERE is_active GROUP BY plan\n",
    )
    result = run("mix", "--db", shop, "--queries", queries)
    assert result.exit_code == 0, result.stderr
    assert "    # products: no query; the plan's figure applies\n" in result.stdout
    mix = write("mix.yaml", result.stdout)
    assert project_json(run, "--mix", mix)["totals"]["clients"] == 6


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        ("DELETE FROM vendors", "mix_queries.clients: refused"),
        ("SELECT 'gold', 3", "mix_queries.clients: unknown pricing plan 'gold'"),
        ("SELECT count(*) FROM vendors", "expected rows of (plan, value)"),
        ("SELECT 'essential', -1", "mix_queries.clients: essential: expected a number >= 0"),
        ("SELECT 'essential', 2.5", "mix_queries.clients: essential: expected a whole count"),
        ("SELECT plan, count(*) FROM nowhere GROUP BY plan", "mix_queries.clients: query failed"),
        ("SELECT 'essential', 0", "no plan has active clients"),
    ],
)
def test_a_query_that_cannot_give_a_mix_is_one_line_and_nothing_written(
    run: Run, shop: Path, write: Write, tmp_path: Path, clients: str, expected: str
) -> None:
    queries = write("q.yaml", f'mix_queries:\n  clients: "{clients}"\n')
    out = tmp_path / "mix.yaml"
    result = run("mix", "--db", shop, "--queries", queries, "-o", out)
    assert result.exit_code == 2, result.stdout
    assert expected in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()
    with sqlite3.connect(shop) as connection:
        assert connection.execute("SELECT count(*) FROM vendors").fetchone() == (7,)
    connection.close()


def test_no_queries_anywhere_is_one_line_saying_where_to_declare_them(run: Run, shop: Path) -> None:
    result = run("mix", "--db", shop)
    assert result.exit_code == 2
    assert "no mix_queries to measure the mix with" in result.stderr
    assert "give --queries FILE (see examples/measured/mix-queries.yaml)" in result.stderr


def test_an_unreachable_database_is_one_line(run: Run, tmp_path: Path) -> None:
    result = run("mix", "--db", tmp_path / "absent.db", "--queries", SQLITE_QUERIES)
    assert result.exit_code == 2
    assert "no such SQLite file" in result.stderr and result.stderr.count("\n") == 1


# --- the README's walk-through, as pasted -----------------------------------------------------


def readme_block(title: str) -> list[str]:
    text = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index(title) :]
    block = section[section.index("```\n") + 4 :]
    return block[: block.index("```\n")].splitlines()


def test_the_readme_walk_through_from_the_platforms_own_numbers_runs(
    run: Run, tmp_path: Path
) -> None:
    import shlex

    lines = readme_block("#### From the platform's own numbers")
    commands = [line.removeprefix("$ ") for line in lines if line.startswith("$ ")]
    shown = [line for line in lines if not line.startswith(("$ ", "..."))]
    outputs: list[str] = []
    for command in commands:
        command = command.replace("examples/", f"{EXAMPLES}/")
        if command.startswith("sqlite3 "):
            database, script = command.removeprefix("sqlite3 ").split(" < ")
            with sqlite3.connect(tmp_path / database) as connection:
                connection.executescript(Path(script).read_text(encoding="utf-8"))
            connection.close()
            continue
        if command.startswith("cat "):
            outputs.append((tmp_path / command.removeprefix("cat ")).read_text(encoding="utf-8"))
            continue
        args = shlex.split(command)
        assert args[0] == "capplan"
        result = run(*args[1:])
        assert result.exit_code == 0, (command, result.stderr)
        outputs.append(result.stdout)
    assert len(commands) == 5
    printed = " ".join(" ".join(outputs).split()).replace(f"{EXAMPLES}/", "examples/")
    for line in shown:
        if line.startswith("# Measured by"):  # the moment differs from run to run
            line = line.split(" at ")[0]
        assert " ".join(line.split()) in printed, line
    tiers = config.load_tiers()
    assert config.load_mix(tmp_path / "mix.yaml", tiers) == config.load_mix(HAND, tiers)


def test_an_output_that_cannot_be_written_is_one_line(run: Run, shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "absent" / "mix.yaml"
    result = run("mix", "--db", shop, "--queries", SQLITE_QUERIES, "-o", out)
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"capplan mix: error: --output {out}: cannot write: No such file or directory\n"
    )
