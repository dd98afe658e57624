"""The history file over time: export and import round-trip, prune keeps it bounded, a file of
the previous layout is brought up to date in place."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan import history, history_csv, history_store
from capplan.metrics import METRICS, Metric, Status

from .conftest import Run
from .histories import DAY, NOW, START, Write, imported, one_line, series_csv, stored

UTC = dt.timezone.utc


def export(run: Run, db: Path, *args: str | Path) -> str:
    result = run("history", "export", "--history", db, *args)
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


def test_export_round_trips_with_import(run: Run, write: Write, tmp_path: Path) -> None:
    db, copy = tmp_path / "h.db", tmp_path / "copy.db"
    imported(run, write, db, series_csv(lambda d: 30 + d / 3, days=5), "a.csv")
    odd = (
        "timestamp,metric,value,labels,status\n"
        f'{START.isoformat()},table_rows,12,"{{""table"": ""a;b=c""}}",WARNING\n'
        f'{START.isoformat()},table_rows,7,"table= padded ",\n'
        f"{(START + DAY / 3).isoformat()},cpu_percent,0.1,,CRITICAL\n"
    )
    imported(run, write, db, odd, "b.csv")
    text = export(run, db)
    assert text.splitlines()[0] == "timestamp,metric,value,labels,status"
    assert f"{START.isoformat()},disk_percent,30,path=/," in text
    assert '"{""table"":""a;b=c""}",WARNING' in text
    assert ",table_rows,7,table=padded," in text  # key=value pairs are read trimmed
    assert ",cpu_percent,0.1,,CRITICAL" in text
    assert export(run, db, "-o", tmp_path / "out.csv") == ""
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == text
    assert imported(run, write, copy, text, "c.csv").startswith("imported 9 records")
    assert stored(copy) == stored(db)
    assert export(run, copy) == text


def test_export_filters_by_metric_and_time(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0, days=9), "a.csv")
    imported(run, write, db, series_csv(lambda d: 5.0, days=9, metric="cpu_percent", labels=""))
    since = (START + 5 * DAY).isoformat()
    lines = export(run, db, "--metric", "cpu_percent", "--since", since).splitlines()
    assert len(lines) == 1 + 5 and all(",cpu_percent," in row for row in lines[1:])
    bad = run("history", "export", "--history", db, "--format", "xlsx")
    assert bad.exit_code == 2 and "'--format': expected one of csv" in bad.stderr


def test_export_to_an_impossible_place_leaves_nothing(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0, days=2))
    result = run("history", "export", "--history", db, "-o", tmp_path / "missing" / "out.csv")
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "--output" in result.stderr and "missing" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db", "s.csv"]


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=8)
RECORDS = st.lists(
    st.tuples(
        st.datetimes(
            min_value=dt.datetime(1, 1, 2),
            max_value=dt.datetime(2025, 1, 1),
            timezones=st.just(UTC),
        ),
        st.sampled_from(sorted(METRICS)),
        st.dictionaries(TEXT.filter(bool), TEXT, max_size=3),
        st.floats(min_value=0, max_value=1e15),
        st.sampled_from(["", "OK", "WARNING", "CRITICAL", "UNKNOWN"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RECORDS)
def test_any_history_survives_an_export_and_an_import(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[tuple[dt.datetime, str, dict[str, str], float, str]],
) -> None:
    folder = tmp_path_factory.mktemp("round")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["timestamp", "metric", "value", "labels", "status"])
    for moment, metric, labels, value, status in records:
        writer.writerow([moment.isoformat(), metric, repr(value), json.dumps(labels), status])
    (folder / "in.csv").write_text(buffer.getvalue(), encoding="utf-8")
    history.import_csv(folder / "a.db", folder / "in.csv")
    exported = "".join(history_csv.write(history.rows(folder / "a.db")))
    (folder / "out.csv").write_text(exported, encoding="utf-8")
    history.import_csv(folder / "b.db", folder / "out.csv")
    assert stored(folder / "b.db") == stored(folder / "a.db")
    assert "".join(history_csv.write(history.rows(folder / "b.db"))) == exported


def test_prune_removes_what_is_older_and_says_how_much(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0), "a.csv")  # days 0-60
    imported(run, write, db, series_csv(lambda d: 5.0, days=9, metric="cpu_percent", labels=""))
    before = (START + 30 * DAY).isoformat()
    result = run("history", "prune", "--before", before, "--history", db)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"removed 40 records older than {before} from {db}; 31 remain\n"
    assert {metric for metric, *_ in stored(db)} == {"disk_percent"}
    with contextlib.closing(sqlite3.connect(db)) as connection:  # the emptied series goes too
        assert connection.execute("SELECT metric FROM series").fetchall() == [("disk_percent",)]
    kept = run("history", "prune", "--keep", "10d", "--history", db)  # day 50 is a bit older
    assert kept.exit_code == 0 and kept.stdout.startswith("removed 21 records older than ")
    assert kept.stdout.endswith("; 10 remain\n") and len(stored(db)) == 10
    again = run("history", "prune", "--keep", "10d", "--history", db)
    assert again.stdout.startswith("removed 0 records older than ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give one of --before DATE or --keep AGE"),
        (("--before", "2026-01-01", "--keep", "30d"), "give one of --before DATE or --keep AGE"),
        (("--before", (NOW + DAY).date().isoformat()), "in the future"),
        (("--before", "last tuesday"), "--before last tuesday: expected an ISO 8601 date"),
        (("--keep", "2026-01-01"), "--keep 2026-01-01: expected an age: 400d"),
        (("--keep", "99999999d"), "--keep 99999999d: expected an age of at most 100 years"),
    ],
)
def test_prune_refuses_what_it_cannot_do_and_changes_nothing(
    run: Run, write: Write, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30.0))
    before = stored(db)
    result = run("history", "prune", *args, "--history", db)
    assert result.exit_code == 2 and one_line(result.stderr), result.stderr
    assert message in result.stderr
    assert stored(db) == before


# The layout of capplan's history before records were unique (user_version 0).
LAYOUT_0 = """
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    timestamp TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    status TEXT
);
CREATE INDEX records_by_metric ON records (metric, timestamp);
"""


def layout_0(db: Path) -> None:
    """A history as the previous capplan wrote it, with a record imported twice."""
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(LAYOUT_0)
        rows = [
            ((START + d * DAY).isoformat(timespec="seconds"), "disk_percent", '{"path":"/"}', v, s)
            for d, v, s in [(0, 30.0, "OK"), (1, 31.0, "OK"), (2, 32.0, None), (0, 99.0, None)]
        ] + [(START.isoformat(timespec="seconds"), "cpu_percent", "{}", 5.0, "OK")]
        connection.executemany(
            "INSERT INTO records (timestamp, metric, labels, value, status) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def test_a_history_of_the_previous_layout_is_upgraded_in_place(run: Run, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    layout_0(db)
    shown = json.loads(run("history", "show", "--history", db, "-f", "json").stdout)["records"]
    assert [(r["metric"], r["value"], r["status"]) for r in shown] == [
        ("cpu_percent", 5, "OK"),
        ("disk_percent", 30, "OK"),  # the first of the two at that moment is kept
        ("disk_percent", 31, "OK"),
        ("disk_percent", 32, None),
    ]
    assert shown[1]["timestamp"] == START.isoformat()
    with contextlib.closing(sqlite3.connect(db)) as connection:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert version == history_store.SCHEMA_VERSION
    assert "records_0" not in tables and "records_by_metric" not in tables
    assert run("trend", "--history", db, "-f", "json").exit_code == 0


@pytest.mark.slow
def test_processes_opening_an_old_history_at_once_upgrade_it_once(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    layout_0(db)
    env = {**os.environ, "CAPPLAN_HISTORY": str(db)}
    command = [sys.executable, "-m", "capplan", "history", "show", "--format", "json"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for process in processes:
        out, error = process.communicate(timeout=120)
        assert process.returncode == 0, error
        assert len(json.loads(out)["records"]) == 4
    assert len(stored(db)) == 4


def test_a_history_from_a_newer_capplan_is_left_alone(run: Run, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute(f"PRAGMA user_version = {history_store.SCHEMA_VERSION + 1}")
        connection.execute("CREATE TABLE records (anything TEXT)")
    result = run("history", "show", "--history", db)
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "was written by a newer capplan" in result.stderr


@pytest.mark.parametrize(
    "args", [("--history", "none.db"), ("--history", "h.db", "--metric", "disk_pct")]
)
def test_an_export_that_cannot_start_writes_nothing(
    run: Run, write: Write, tmp_path: Path, args: tuple[str, ...]
) -> None:
    imported(run, write, tmp_path / "h.db", series_csv(lambda d: 30.0, days=2))
    result = run("history", "export", *args)
    assert result.exit_code == 2 and one_line(result.stderr)
    assert result.stdout == ""


def test_a_history_made_meanwhile_by_a_check_gets_the_import_too(
    monkeypatch: pytest.MonkeyPatch, write: Write, tmp_path: Path
) -> None:
    """A cron job records a check while the first import builds the new history beside it."""
    db = tmp_path / "h.db"
    metric = Metric("cpu_percent", 5.0, "%", 70, 85, Status.OK, "", {})
    build = history_store.build

    def build_while_a_check_records(path: Path, rows: Iterable[history_csv.Row]) -> object:
        result = build(path, rows)
        history.record_metrics(db, [metric], NOW)
        return result

    monkeypatch.setattr(history_store, "build", build_while_a_check_records)
    result = history.import_csv(db, write("s.csv", series_csv(lambda d: 30.0, days=4)))
    assert (result.new, result.already_there) == (5, 0)
    assert len(stored(db)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db", "s.csv"]


def test_an_interrupted_first_import_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "new" / "deeper" / "h.db"
    read = history_csv.read

    def interrupted(path: Path, *, now: dt.datetime) -> Iterator[history_csv.Row]:
        for number, row in enumerate(read(path, now=now)):
            if number == 3:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(history_csv, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        history.import_csv(db, write("s.csv", series_csv(lambda d: 30.0, days=9)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]
