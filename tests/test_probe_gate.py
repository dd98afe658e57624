"""The probe gate (check/gate/): a user's query is allowed by what it is, never refused by what
it resembles. Against the real PostgreSQL the tests start, logging every statement
(`log_statement=all`) with dblink installed: every probe the security review found, and more, is
refused in one line with exit 3, and the server's log shows that none of them ran. On SQLite the
authorizer lets a query only read, and the file stays byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.check import gate, targets
from capplan.check.database import Refused
from capplan.errors import InputError

from .check_servers import PASSWORD, admin_url, postgres_server
from .conftest import ROOT, Run

FAST = ("check", "--interval", "0", "--format", "json")
MONITOR, MONITOR_PASSWORD = "watcher", "W4tcher-reads-only"
SIGNALLER, SIGNALLER_PASSWORD = "signaller", "S1gnals-others"
TOUCHED = Path("/tmp/capplan-probe-gate-program-ran")
WRITTEN = Path("/tmp/capplan-probe-gate-file.csv")

SETUP = [
    "CREATE TABLE vendors (id serial PRIMARY KEY, name text)",
    "INSERT INTO vendors (name) SELECT 'v' || n FROM generate_series(1, 5) n",
    "CREATE EXTENSION dblink",
    "CREATE FUNCTION touch() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'",
    "CREATE VIEW touching AS SELECT id, touch() AS t FROM vendors",
    "CREATE VIEW plain AS SELECT id, upper(name) AS name FROM vendors",
    "CREATE VIEW over_touching AS SELECT * FROM touching",
    # stable by its word, but its body stops other sessions
    "CREATE FUNCTION hidden() RETURNS bool LANGUAGE sql STABLE AS 'SELECT pg_terminate_backend(0)'",
    "CREATE FUNCTION shout(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper($1)'",
    "CREATE FUNCTION atomic() RETURNS int LANGUAGE sql STABLE BEGIN ATOMIC SELECT touch(); END",
    "CREATE FUNCTION napping() RETURNS void LANGUAGE sql STABLE RETURN pg_sleep(1)",
    "CREATE FUNCTION plus_one(int) RETURNS int LANGUAGE sql IMMUTABLE RETURN $1 + 1",
    "CREATE FUNCTION opaque() RETURNS int LANGUAGE plpgsql STABLE AS 'BEGIN RETURN 1; END'",
    "CREATE FUNCTION bump(vendors) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'",
    "CREATE FUNCTION same(int, int) RETURNS bool LANGUAGE sql VOLATILE AS 'SELECT $1 = $2'",
    "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = same)",
    "CREATE TABLE guarded (id int)",
    "ALTER TABLE guarded ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY everyone ON guarded USING (touch() = 1)",
    f"CREATE ROLE {MONITOR} LOGIN PASSWORD '{MONITOR_PASSWORD}'",
    f"GRANT pg_monitor, pg_read_all_data TO {MONITOR}",
    f"CREATE ROLE {SIGNALLER} LOGIN PASSWORD '{SIGNALLER_PASSWORD}'",
    f"GRANT pg_read_all_data, pg_signal_backend TO {SIGNALLER}",
]


def dblink_installed() -> None:
    """dblink (Debian package postgresql-contrib): skipped without it, failed under CI=true."""
    if not list(Path("/usr/share/postgresql").glob("*/extension/dblink.control")):
        if os.environ.get("CI") == "true":
            pytest.fail("dblink (Debian package postgresql-contrib) is missing under CI")
        pytest.skip("dblink is not installed (Debian package postgresql-contrib)")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, Path]]:
    """The server's port and its log, every statement logged."""
    import psycopg

    dblink_installed()
    with postgres_server() as port, psycopg.connect(admin_url(port), autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        admin.execute("SELECT pg_reload_conf()")
        admin.execute("CREATE DATABASE gate")
        found = admin.execute("SHOW data_directory").fetchone()
        assert found is not None
        with psycopg.connect(admin_url(port, "gate"), autocommit=True) as connection:
            for statement in SETUP:
                connection.execute(statement)
        yield port, Path(found[0]).parent / "log"


def url_of(port: int, who: str = MONITOR) -> str:
    password = {MONITOR: MONITOR_PASSWORD, SIGNALLER: SIGNALLER_PASSWORD}.get(who, PASSWORD)
    return f"postgresql://{who}:{password}@127.0.0.1:{port}/gate"


def check(run: Run, url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    result = run(*FAST, "--db", url, "--requests", "2", *args)
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, data, result.stderr


def logged_after(run: Run, server: tuple[int, Path], marker: str, since: int = 0) -> str:
    """The server's log from byte `since`, once a harmless probe run after the refused one has
    reached it: what the refused probe would have logged is there by then."""
    port, log = server
    probe = f"SELECT 1 AS {marker}"
    code, _, error = check(run, url_of(port), "--db-probe", probe)
    assert code != 3, error
    for _ in range(100):
        with log.open("rb") as stream:
            stream.seek(since)
            text = stream.read().decode("utf-8", errors="replace")
        if probe in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"the harmless probe never reached the server's log {log}")


# Every probe the review found running, each with why it is refused.
FOUND = [
    (f"COPY (SELECT 1) TO PROGRAM 'id > {TOUCHED}'", "refused: COPY is not a query"),
    (f"COPY (SELECT * FROM vendors) TO '{WRITTEN}'", "refused: COPY is not a query"),
    (
        "SELECT dblink_exec('dbname=gate', 'INSERT INTO vendors (name) VALUES (''x'')')",
        "it calls public.dblink_exec, which is volatile",
    ),
    (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE usename = current_user AND pid <> pg_backend_pid()",
        "it calls pg_catalog.pg_terminate_backend, which is volatile",
    ),
    ("SELECT pg_stat_reset()", "it calls pg_catalog.pg_stat_reset, which is volatile"),
    ("ANALYZE vendors", "refused: ANALYZE is not a query"),
    ("CLUSTER vendors USING vendors_pkey", "refused: CLUSTER is not a query"),
    ("REINDEX TABLE vendors", "refused: REINDEX is not a query"),
    ("SELECT lo_import('/etc/hostname')", "it calls pg_catalog.lo_import, which is volatile"),
    (
        "SELECT set_config('work_mem', '1GB', false)",
        "it calls pg_catalog.set_config, which is volatile",
    ),
    ("SELECT pg_sleep(2)", "it calls pg_catalog.pg_sleep, which is volatile"),
]
# And what the review did not name.
UNNAMED = [
    ("SELECT * INTO stolen FROM vendors", "refused: SELECT ... INTO creates a table"),
    ("SELECT * FROM vendors FOR UPDATE", "refused: FOR UPDATE locks rows"),
    (
        "SELECT * FROM (SELECT id FROM vendors FOR KEY SHARE) v",
        "refused: FOR KEY SHARE locks rows",
    ),
    (
        "WITH added AS (INSERT INTO vendors (name) VALUES ('x') RETURNING id) SELECT * FROM added",
        "refused: its WITH part added is INSERT",
    ),
    ("SELECT nextval('vendors_id_seq')", "it calls pg_catalog.nextval, which is volatile"),
    ("SELECT txid_current()", "it calls pg_catalog.txid_current, which is parallel unsafe"),
    ("SELECT pg_advisory_lock(1)", "it calls pg_catalog.pg_advisory_lock, which is volatile"),
    ("SELECT pg_notify('c', 'x')", "it calls pg_catalog.pg_notify, which is volatile"),
    ("SELECT touch()", "it calls public.touch, which is volatile"),
    (
        "SELECT count(*) FROM over_touching",
        "it calls public.touch (in the view public.touching (in the view public.over_touching)),"
        " which is volatile",
    ),
    (
        "SELECT hidden()",
        "it calls pg_catalog.pg_terminate_backend (inside public.hidden), which is volatile",
    ),
    ("SELECT atomic()", "it calls public.touch (inside public.atomic), which is volatile"),
    ("SELECT napping()", "it calls pg_catalog.pg_sleep (inside public.napping), which is"),
    ("SELECT opaque()", "it calls public.opaque, written in plpgsql, whose body capplan"),
    ("SELECT 1 === 1", "it calls public.same (behind the operator ===), which is volatile"),
    ("SELECT v.bump FROM vendors v", "it calls public.bump (in attribute notation)"),
    (
        "SELECT count(*) FROM guarded",
        "it calls public.touch (in a row security policy of public.guarded)",
    ),
    ("SELECT * FROM vendors, LATERAL pg_sleep(1)", "pg_catalog.pg_sleep, which is volatile"),
    ("SELECT * FROM dblink('dbname=gate', 'SELECT 1') AS t(x int)", "public.dblink, which"),
    ("EXPLAIN ANALYZE DELETE FROM vendors", "refused: EXPLAIN is not a query"),
    ("LOCK TABLE vendors", "refused: LOCK is not a query"),
    ("SET work_mem = '1GB'", "refused: SET is not a query"),
    ("DO 'BEGIN PERFORM pg_sleep(1); END'", "refused: DO is not a query"),
    ("SELECT 1; SELECT pg_sleep(1)", "refused: more than one statement"),
    ("SELECT nowhere_to_be_found()", "which is no function on the server's search_path"),
    ("SELECT * FROM other.public.vendors", "refused: it names the database other"),
]


def assert_refused_and_never_run(
    run: Run, server: tuple[int, Path], url: str, probe: str, reason: str, *args: str
) -> None:
    since = server[1].stat().st_size
    code, report, error = check(run, url, *args, "--db-probe", probe)
    assert (code, report) == (3, {})
    assert error.startswith("capplan check: error: --db-probe ") and error.count("\n") == 1
    assert reason in error
    log = logged_after(run, server, f"after_{abs(hash(probe))}", since)
    assert probe not in log


@pytest.mark.postgres
@pytest.mark.parametrize(("probe", "reason"), FOUND + UNNAMED)
def test_a_probe_that_could_change_anything_is_refused_and_never_runs(
    run: Run, server: tuple[int, Path], probe: str, reason: str
) -> None:
    assert_refused_and_never_run(run, server, url_of(server[0]), probe, reason)
    assert not TOUCHED.exists() and not WRITTEN.exists()


@pytest.mark.postgres
@pytest.mark.parametrize(("probe", "reason"), FOUND)
def test_a_superuser_who_says_it_is_intended_still_gets_no_such_probe_through(
    run: Run, server: tuple[int, Path], probe: str, reason: str
) -> None:
    url = url_of(server[0], "capplan")
    assert_refused_and_never_run(run, server, url, probe, reason, "--allow-privileged-role")
    assert not TOUCHED.exists() and not WRITTEN.exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("who", "why"),
    [
        ("capplan", "the role it connects as is a superuser"),
        (SIGNALLER, "the role it connects as is a member of pg_signal_backend"),
    ],
)
def test_a_privileged_role_runs_no_probe_unless_that_is_intended(
    run: Run, server: tuple[int, Path], who: str, why: str
) -> None:
    port = server[0]
    probe = f"SELECT count(*) AS as_{who} FROM vendors"
    since = server[1].stat().st_size
    code, report, error = check(run, url_of(port, who), "--db-probe", probe)
    assert (code, report) == (3, {})
    assert error == (
        f"capplan check: error: --db postgresql://127.0.0.1:{port}/gate: refused to "
        f"run user queries: {why}; {gate.USE_MONITORING_ROLE}\n"
    )
    assert probe not in logged_after(run, server, f"after_{who}", since)
    code, report, _ = check(run, url_of(port, who), "--allow-privileged-role", "--db-probe", probe)
    p95 = next(m for m in report["metrics"] if m["name"] == "db_query_p95_ms")
    assert code != 3 and p95["value"] >= 0 and p95["detail"] == "--db-probe run 2 times"


@pytest.mark.postgres
def test_a_privileged_role_still_gets_the_checks_own_figures(
    run: Run, server: tuple[int, Path]
) -> None:
    code, report, _ = check(run, url_of(server[0], "capplan"))
    names = {m["name"] for m in report["metrics"]}
    assert code != 3 and {"db_size_gb", "table_rows"} <= names


@pytest.mark.postgres
@pytest.mark.parametrize(
    "probe",
    [
        "SELECT count(*) FROM vendors WHERE name LIKE 'v%' AND id BETWEEN 1 AND 9",
        "VALUES (1), (2)",
        "WITH a AS (SELECT id FROM vendors) SELECT count(*) FROM a",
        "TABLE vendors",
        "SELECT * FROM plain",
        "SELECT shout(name), plus_one(id) FROM vendors",
        "SELECT random() < 2, clock_timestamp(), now(), current_schema, 'vendors'::regclass",
        "SELECT count(*) FROM pg_stat_activity",
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'vendors'",
        "SELECT extract(year FROM now()), trim(name), substring(name FROM 1) FROM vendors",
    ],
)
def test_a_plain_query_of_harmless_functions_is_timed(
    run: Run, server: tuple[int, Path], probe: str
) -> None:
    since = server[1].stat().st_size
    code, report, error = check(run, url_of(server[0]), "--db-probe", probe)
    assert code != 3, error
    p95 = next(m for m in report["metrics"] if m["name"] == "db_query_p95_ms")
    assert p95["value"] >= 0 and p95["detail"] == "--db-probe run 2 times"
    assert probe in logged_after(run, server, "after_a_plain_query", since)


@pytest.mark.postgres
def test_an_implicit_cast_to_a_volatile_function_refuses_every_probe(
    run: Run, server: tuple[int, Path]
) -> None:
    import psycopg

    port = server[0]
    with psycopg.connect(admin_url(port), autocommit=True) as admin:
        admin.execute("CREATE DATABASE casting")
    with psycopg.connect(admin_url(port, "casting"), autocommit=True) as connection:
        for statement in (
            "CREATE TYPE money_ish AS (cents int)",
            "CREATE FUNCTION to_money_ish(int) RETURNS money_ish LANGUAGE sql VOLATILE"
            " AS 'SELECT ROW($1)::money_ish'",
            "CREATE CAST (int AS money_ish) WITH FUNCTION to_money_ish(int) AS IMPLICIT",
        ):
            connection.execute(statement)
    url = admin_url(port, "casting")
    code, _, error = check(run, url, "--allow-privileged-role", "--db-probe", "SELECT 1")
    assert code == 3
    assert "it calls public.to_money_ish (in an implicit cast), which is volatile" in error


# --- business queries pass the same gate, and their error says where they were given ----------


def thresholds_with(tmp_path: Path, query: str) -> Path:
    path = tmp_path / "business.yaml"
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    given = f"business:\n  active_clients: {{query: {json.dumps(query)}}}"
    path.write_text(text.replace("business: {}", given), encoding="utf-8")
    return path


@pytest.mark.postgres
def test_a_business_query_is_refused_naming_its_file_line_and_key(
    run: Run, server: tuple[int, Path], tmp_path: Path
) -> None:
    path = thresholds_with(tmp_path, "SELECT count(*) FROM vendors WHERE pg_stat_reset() IS NULL")
    line = path.read_text(encoding="utf-8").splitlines().index("business:") + 2
    code, report, error = check(run, url_of(server[0]), "--thresholds", str(path))
    assert (code, report) == (3, {})
    assert error.startswith(
        f"capplan check: error: {path}:{line}: business.active_clients.query: refused: it calls "
        "pg_catalog.pg_stat_reset, which is volatile"
    )
    assert error.count("\n") == 1


@pytest.mark.postgres
def test_a_business_query_given_with_set_is_refused_naming_the_set(
    run: Run, server: tuple[int, Path], tmp_path: Path
) -> None:
    path = thresholds_with(tmp_path, "SELECT count(*) FROM vendors")
    code, report, error = check(
        run,
        url_of(server[0]),
        "--thresholds",
        str(path),
        "--set",
        "business.active_clients.query=SELECT 1 FROM vendors FOR UPDATE",
    )
    assert (code, report) == (3, {})
    assert error == (
        "capplan check: error: --set business.active_clients.query: refused: FOR UPDATE locks "
        f"rows; {gate.PLAIN} without a locking clause\n"
    )


@pytest.mark.postgres
def test_a_business_query_of_a_privileged_role_is_refused_too(
    run: Run, server: tuple[int, Path], tmp_path: Path
) -> None:
    path = thresholds_with(tmp_path, "SELECT count(*) FROM vendors")
    code, _, error = check(run, url_of(server[0], "capplan"), "--thresholds", str(path))
    assert code == 3 and "refused to run user queries: the role it connects as is a superuser" in (
        error
    )
    code, report, _ = check(run, url_of(server[0]), "--thresholds", str(path))
    assert next(m for m in report["metrics"] if m["name"] == "active_clients")["value"] == 5


# --- the rule holds for every function of the catalog ----------------------------------------


@pytest.fixture(scope="module")
def catalog(server: tuple[int, Path]) -> dict[str, list[str]]:
    """pg_catalog's function names: those with an overload that may change something (volatile
    or parallel unsafe) and not allowed, and those with none."""
    import psycopg

    with psycopg.connect(url_of(server[0])) as connection:
        rows = connection.execute(
            "SELECT proname, bool_or(provolatile = 'v' OR proparallel = 'u') FROM pg_proc "
            "WHERE pronamespace = 'pg_catalog'::regnamespace GROUP BY proname"
        ).fetchall()
    allowed = {name.split(".")[1] for name in gate.ALLOWED_VOLATILE}
    return {
        "changing": sorted(name for name, changing in rows if changing and name not in allowed),
        "harmless": sorted(name for name, changing in rows if not changing),
    }


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.postgres
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_function_that_may_change_something_is_refused(
    server: tuple[int, Path], catalog: dict[str, list[str]], data: st.DataObject
) -> None:
    import psycopg

    name = data.draw(st.sampled_from(catalog["changing"]))
    with (
        psycopg.connect(url_of(server[0])) as connection,
        pytest.raises(Refused, match=re.escape(f"it calls pg_catalog.{name}, which is")),
    ):
        gate.Resolver(connection).admit(f"SELECT pg_catalog.{quoted(name)}()")


@pytest.mark.postgres
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_function_that_changes_nothing_is_admitted(
    server: tuple[int, Path], catalog: dict[str, list[str]], data: st.DataObject
) -> None:
    import psycopg

    name = data.draw(st.sampled_from(catalog["harmless"]))
    with psycopg.connect(url_of(server[0])) as connection:
        gate.Resolver(connection).admit(f"SELECT pg_catalog.{quoted(name)}()")


@given(st.text())
def test_any_text_is_either_one_plain_query_or_refused_in_a_sentence(text: str) -> None:
    try:
        calls = gate.plain_query(text)
    except Refused as refusal:
        assert str(refusal).startswith("refused: ") and "\n" not in str(refusal).strip()
    else:
        assert isinstance(calls, gate.Calls)


def test_the_docs_list_the_allowed_functions_and_show_a_refusal_as_it_is(
    run: Run, server: tuple[int, Path]
) -> None:
    text = (ROOT / "docs" / "probes.md").read_text(encoding="utf-8")
    table = text.split("| Function | Why it may be called |")[1].split("\n\n")[0]
    listed = {
        ("information_schema." if "information_schema." in cell else "pg_catalog.")
        + cell.strip().split(".")[-1].split("(")[0]
        for row in table.splitlines()[2:]
        for cell in row.split("|")[1].replace("`", "").split(",")
    }
    assert listed == gate.ALLOWED_VOLATILE
    shown = text.split("```\n$ capplan check ")[1].split("\n```")[0].splitlines()
    probe = shown[0].split("--db-probe ")[1].strip('"')
    _, _, error = check(run, url_of(server[0]), "--db-probe", probe)
    assert error == shown[1] + "\n"


def test_the_allow_list_names_no_function_the_tests_refuse() -> None:
    refused = {reason.split("it calls ")[1].split(",")[0] for _, reason in FOUND + UNNAMED if (
        "it calls " in reason)}  # fmt: skip
    assert not refused & gate.ALLOWED_VOLATILE


# --- the public reader that other commands use -------------------------------------------------


@pytest.mark.postgres
def test_the_reader_runs_a_declared_query_through_the_gate(server: tuple[int, Path]) -> None:
    target = targets.database(url_of(server[0]))
    with gate.reader(target) as read:
        assert read("SELECT count(*) FROM vendors", where="mix.yaml: queries.vendors") == [(5,)]
        with pytest.raises(gate.QueryRefused) as refused:
            read("SELECT pg_stat_reset()", "mix.yaml: queries.reset")
        assert str(refused.value).startswith(
            "mix.yaml: queries.reset: refused: it calls pg_catalog.pg_stat_reset, which is volatile"
        )
        with pytest.raises(gate.QueryFailed, match=r"^mix.yaml: queries.x: query failed: .*nowhe"):
            read("SELECT * FROM nowhere", "mix.yaml: queries.x")
    with (
        pytest.raises(InputError, match="a superuser"),
        gate.reader(targets.database(url_of(server[0], "capplan"))),
    ):
        pass


# --- SQLite ------------------------------------------------------------------------------------


def shop(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO products (name) VALUES (?)", [(f"p{n}",) for n in range(4)])
    db.close()
    return path


def hashed(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        ("ATTACH DATABASE 'other.db' AS other", "and this one attaches a database"),
        ("PRAGMA writable_schema = 1", "and this one runs a PRAGMA"),
        ("SELECT load_extension('/tmp/nothing')", "calls load_extension(), which is not a"),
        ("SELECT changes()", "calls changes(), which is not a deterministic function"),
        ("SELECT fts3_tokenizer('simple')", "calls fts3_tokenizer(), which is not a"),
        ("DELETE FROM products", "and this one would change the database"),
        ("VACUUM INTO 'copy.db'", "and this one"),
    ],
)
def test_a_sqlite_probe_that_is_not_a_read_is_refused_and_the_file_is_unchanged(
    run: Run, tmp_path: Path, probe: str, reason: str
) -> None:
    path = shop(tmp_path / "shop.db")
    before = hashed(tmp_path)
    result = run(*FAST, "--db", path, "--db-probe", probe)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr.startswith(f"capplan check: error: --db-probe {probe}: refused: a query")
    assert reason in result.stderr and result.stderr.count("\n") == 1
    assert hashed(tmp_path) == before


def test_a_sqlite_probe_of_reads_and_deterministic_functions_is_timed(
    run: Run, tmp_path: Path
) -> None:
    path = shop(tmp_path / "shop.db")
    before = hashed(tmp_path)
    probe = (
        "SELECT count(*), max(abs(id)), lower(group_concat(name)), date('now'), random() "
        "FROM products"
    )
    result = run(*FAST, "--db", path, "--db-probe", probe, "--requests", "2")
    p95 = next(m for m in json.loads(result.stdout)["metrics"] if m["name"] == "db_query_p95_ms")
    assert p95["value"] >= 0 and p95["detail"] == "--db-probe run 2 times"
    assert hashed(tmp_path) == before


def test_the_sqlite_reader_runs_a_declared_query_through_the_gate(tmp_path: Path) -> None:
    path = shop(tmp_path / "shop.db")
    before = hashed(tmp_path)
    with gate.reader(targets.database(str(path))) as read:
        assert read("SELECT count(*) FROM products", "mix.yaml: queries.products") == [(4,)]
        with pytest.raises(gate.QueryRefused, match=r"^mix.yaml: queries.a: refused: .*attaches"):
            read("ATTACH DATABASE 'x.db' AS x", "mix.yaml: queries.a")
        with pytest.raises(gate.QueryFailed, match="no such table: nowhere"):
            read("SELECT * FROM nowhere", "mix.yaml: queries.b")
    assert hashed(tmp_path) == before


def test_a_sqlite_business_query_is_refused_naming_its_file_line_and_key(
    run: Run, tmp_path: Path
) -> None:
    path = shop(tmp_path / "shop.db")
    thresholds = thresholds_with(tmp_path, "SELECT load_extension('/tmp/nothing')")
    before = hashed(tmp_path)
    line = thresholds.read_text(encoding="utf-8").splitlines().index("business:") + 2
    result = run(*FAST, "--db", path, "--thresholds", thresholds)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        f"capplan check: error: {thresholds}:{line}: business.active_clients.query: refused: a "
        "query may only read tables and call deterministic functions, and this one calls "
        "load_extension(), which is not a deterministic function\n"
    )
    assert hashed(tmp_path) == before


# --- before anything is measured -----------------------------------------------------------------


def test_a_postgresql_probe_that_is_no_plain_query_is_refused_before_connecting(
    run: Run,
) -> None:
    # nothing listens on port 1: the refusal comes before any connection is tried
    url = "postgresql://monitor:Not-to-be-shown@127.0.0.1:1/shop"
    result = run(*FAST, "--db", url, "--db-probe", "COPY products TO PROGRAM 'id'")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == (
        "capplan check: error: --db-probe COPY products TO PROGRAM 'id': refused: COPY is not a "
        f"query; {gate.PLAIN}\n"
    )


def test_allow_privileged_role_needs_a_database(run: Run) -> None:
    result = run(*FAST, "--allow-privileged-role")
    assert result.exit_code == 3
    assert "'--allow-privileged-role': it needs --db" in result.stderr
