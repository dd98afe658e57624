"""A shared history in PostgreSQL (a real server started by the tests): created on first use and
versioned, recorded into by many hosts at once with a role that may only INSERT and SELECT,
imported by COPY atomically, and read by trend and report exactly as a history file is."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.check_servers import PASSWORD, admin_url, postgres_server
from tests.conftest import Run
from tests.prometheus_fleet import END, history_csv

RECORDER_PASSWORD = "Rec0rder-not-shown"


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with postgres_server() as port:
        yield port


_made = iter(range(1000))


@pytest.fixture
def database(server: int) -> str:
    """A new, empty database, and its admin URL."""
    name = f"hist{next(_made)}"
    with psycopg.connect(admin_url(server), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return admin_url(server, name)


def _recorder(server: int, database: str) -> str:
    """A role that may only SELECT and INSERT on the history's tables (made by the admin)."""
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name}_rec LOGIN PASSWORD '{RECORDER_PASSWORD}'")
        connection.execute(f"GRANT SELECT, INSERT ON capplan_schema, capplan_records TO {name}_rec")
    return f"postgresql://{name}_rec:{RECORDER_PASSWORD}@127.0.0.1:{server}/{name}"


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.csv"
    path.write_text(history_csv(END), encoding="utf-8")
    return path


def test_the_schema_is_created_on_first_use_and_versioned(run: Run, database: str) -> None:
    result = run("history", "show", "--history", database, "--format", "json")
    assert result.exit_code == 0, result.stderr
    with psycopg.connect(database, autocommit=True) as connection:
        assert connection.execute("SELECT version FROM capplan_schema").fetchall() == [(1,)]
        connection.execute("UPDATE capplan_schema SET version = 2")
    refused = run("trend", "--history", database)
    assert refused.exit_code == 2
    assert "written by a newer capplan" in refused.stderr
    assert PASSWORD not in refused.stderr


def test_a_role_that_may_not_create_tables_is_told_what_to_do(
    run: Run, server: int, database: str
) -> None:
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name}_ro LOGIN PASSWORD '{RECORDER_PASSWORD}'")
    url = f"postgresql://{name}_ro:{RECORDER_PASSWORD}@127.0.0.1:{server}/{name}"
    result = run("trend", "--history", url)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "cannot create the history's tables" in result.stderr
    assert RECORDER_PASSWORD not in result.stderr


def test_eight_concurrent_recorders_with_insert_and_select_only_lose_no_record(
    run: Run, server: int, database: str
) -> None:
    assert run("history", "show", "--history", database).exit_code == 0  # creates the tables
    url = _recorder(server, database)
    command = [sys.executable, "-m", "capplan", "check", "--record", "--history", url]
    recorders = [
        subprocess.Popen(
            [*command, "--interval", "0.2", "--format", "json", "--label", f"instance=host-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    measured: dict[str, int] = {}
    for i, process in enumerate(recorders):
        out, err = process.communicate(timeout=120)
        assert process.returncode in (0, 1, 2), err
        metrics = json.loads(out)["metrics"]
        measured[f"host-{i}"] = sum(1 for m in metrics if m["value"] is not None)
    with psycopg.connect(database) as connection:
        stored: dict[str, int] = dict(
            connection.execute(
                "SELECT labels::json->>'instance', count(*) FROM capplan_records GROUP BY 1"
            ).fetchall()
        )
    assert stored == measured
    shown = run("history", "show", "--history", url, "--format", "json")
    assert shown.exit_code == 0, shown.stderr
    assert len(json.loads(shown.stdout)["records"]) == sum(measured.values())


def test_trend_and_report_give_the_same_results_as_a_history_file(
    run: Run, database: str, tmp_path: Path
) -> None:
    csv = _csv(tmp_path)
    assert run("history", "import", csv, "--history", tmp_path / "h.db").exit_code == 0
    imported = run("history", "import", csv, "--history", database)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout.startswith("imported 34,560 records")
    for command in (("trend",), ("report", "--host-tier", "small")):
        from_file = run(*command, "--history", tmp_path / "h.db", "--format", "json")
        from_postgres = run(*command, "--history", database, "--format", "json")
        assert from_file.exit_code == from_postgres.exit_code == 0, from_postgres.stderr
        a, b = json.loads(from_file.stdout), json.loads(from_postgres.stdout)
        for data in (a, b):
            for moving in ("history", "generated_at", "now"):
                data.pop(moving, None)
        assert _without_ages(a) == _without_ages(b)
    exported = [
        run("history", "export", "--history", where).stdout
        for where in (tmp_path / "h.db", database)
    ]
    assert exported[0] == exported[1]


def _without_ages(data: Any) -> Any:
    """The content without what moves between two runs a moment apart (ages, 'just now')."""
    if isinstance(data, dict):
        return {k: _without_ages(v) for k, v in data.items() if k not in ("age_days", "age_hours")}
    if isinstance(data, list):
        return [_without_ages(v) for v in data]
    return data


def test_an_import_is_idempotent_and_a_bad_line_imports_nothing(
    run: Run, database: str, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "timestamp,metric,value,labels\n"
        "2026-01-01T00:00:00Z,disk_percent,40,path=/\n"
        "2026-01-01T00:00:00Z,disk_percent,99,path=/\n"  # the same moment: the first counts
        "2026-01-02T00:00:00Z,disk_percent,41,path=/\n",
        encoding="utf-8",
    )
    first = run("history", "import", good, "--history", database)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("imported 2 new records")
    assert "warning: 1 record of" in first.stdout  # 99 came again for 40's moment: 40 kept
    again = run("history", "import", good, "--history", database)
    assert "imported 0 new records" in again.stdout and "2 were already there" in again.stdout
    assert "warning: 1 record of" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,metric,value\n2026-01-03T00:00:00Z,disk_percent,42\nnot a date,disk_percent,1\n",
        encoding="utf-8",
    )
    refused = run("history", "import", bad, "--history", database)
    assert refused.exit_code == 2
    assert "nothing was imported" in refused.stderr
    shown = json.loads(run("history", "show", "--history", database, "-f", "json").stdout)
    assert [r["value"] for r in shown["records"]] == [40, 41]


def test_prune_removes_old_records(run: Run, database: str, tmp_path: Path) -> None:
    csv = tmp_path / "old.csv"
    csv.write_text(
        "timestamp,metric,value\n2020-01-01T00:00:00Z,cpu_percent,10\n"
        "2026-01-01T00:00:00Z,cpu_percent,20\n",
        encoding="utf-8",
    )
    assert run("history", "import", csv, "--history", database).exit_code == 0
    pruned = run("history", "prune", "--before", "2025-01-01", "--history", database)
    assert pruned.exit_code == 0, pruned.stderr
    assert pruned.stdout.startswith("removed 1 record older than 2025-01-01")
    assert "1 remain" in pruned.stdout
    assert PASSWORD not in pruned.stdout


def test_a_wrong_password_is_one_line_that_never_shows_it(run: Run, server: int) -> None:
    url = f"postgresql://capplan:Wr0ng-pw-value@127.0.0.1:{server}/postgres"
    result = run("trend", "--history", url)
    assert result.exit_code == 3  # as for any history server that cannot be reached
    assert result.stderr.count("\n") == 1
    assert "cannot connect" in result.stderr
    assert "Wr0ng-pw-value" not in result.stderr


def test_labels_with_backslashes_tabs_and_newlines_come_back_as_they_went_in(
    run: Run, database: str, tmp_path: Path
) -> None:
    labels = {"path": "C:\\data\tx", "note": 'line\nnext \\N "quoted" é'}
    text = json.dumps(labels).replace('"', '""')  # a JSON object in a quoted CSV field
    csv = tmp_path / "odd.csv"
    csv.write_text(
        "timestamp,metric,value,labels\n"
        f'2026-01-01T00:00:00Z,disk_percent,40.5,"{text}"\n'
        f'2026-01-02T00:00:00Z,disk_percent,41.25,"{text}"\n',
        encoding="utf-8",
    )
    for where in (tmp_path / "h.db", database):
        result = run("history", "import", csv, "--history", where)
        assert result.exit_code == 0, result.stderr
    again = run("history", "import", csv, "--history", database)  # through the temporary table
    assert "imported 0 new records" in again.stdout and "2 were already there" in again.stdout
    shown = json.loads(run("history", "show", "--history", database, "-f", "json").stdout)
    assert [r["labels"] for r in shown["records"]] == [labels, labels]
    exported = [
        run("history", "export", "--history", w).stdout for w in (tmp_path / "h.db", database)
    ]
    assert exported[0] == exported[1]
