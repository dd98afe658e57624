"""The history's edges: nothing dropped or deleted without a word, nothing left behind by a killed
import, nothing accepted that could only mean a mistake, and `history show` at any size."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capplan import atomic

from .conftest import Run
from .histories import NOW, START, Write, imported, series_csv, stored

# 1,501 records, an hour apart, all in the past
HOURLY = "timestamp,metric,value,labels\n" + "".join(
    f"{(NOW - dt.timedelta(hours=hour)).isoformat()},disk_percent,{30 + hour / 100},path=/\n"
    for hour in range(1501, 0, -1)
)
MOMENT = (NOW - dt.timedelta(days=1)).isoformat()
LATER = (NOW - dt.timedelta(hours=1)).isoformat()


def test_a_record_repeated_with_another_value_keeps_the_first_and_says_so(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    text = (
        "timestamp,metric,value,labels\n"
        f"{MOMENT},cpu_percent,12.5,\n"
        f"{MOMENT},cpu_percent,99,\n"
        f"{MOMENT},disk_percent,40,path=/\n"
        f"{MOMENT},disk_percent,40,path=/\n"
    )
    said = imported(run, write, db, text)
    assert "imported 2 new records" in said
    assert "1 was repeated in the file" in said
    assert "already there" not in said  # a new history: nothing was there before
    assert "warning: 1 record of" in said and "the earlier value was kept" in said
    assert [row[3] for row in stored(db)] == [12.5, 40.0]


def test_a_record_already_in_the_history_with_another_value_is_a_warning(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, f"timestamp,metric,value\n{MOMENT},memory_percent,50\n", "a.csv")
    again = imported(
        run,
        write,
        db,
        f"timestamp,metric,value\n{MOMENT},memory_percent,50\n"
        f"{MOMENT},memory_percent,51\n{LATER},memory_percent,52\n",
        "b.csv",
    )
    assert "imported 1 new record" in again
    assert "1 was already there" in again
    assert "warning: 1 record of" in again
    assert [row[3] for row in stored(db)] == [50.0, 52.0]


def test_a_file_imported_twice_adds_nothing_and_warns_of_nothing(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    text = series_csv(lambda day: 30 + day, days=5)
    imported(run, write, db, text)
    again = imported(run, write, db, text)
    assert again.startswith("imported 0 new records") and "6 were already there" in again
    assert "warning" not in again


@pytest.mark.parametrize("keep", ["0d", "0h", "0w", "0y", "00d"])
def test_prune_keeping_nothing_is_refused_and_removes_nothing(
    run: Run, write: Write, tmp_path: Path, keep: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30 + day, days=5))
    result = run("history", "prune", "--keep", keep, "--history", db)
    assert result.exit_code == 2
    assert f"--keep {keep}: would remove every record" in result.stderr
    assert len(stored(db)) == 6


@pytest.mark.parametrize(
    "command",
    [("trend",), ("history", "show"), ("history", "export"), ("report", "-o", "r.html")],
)
@pytest.mark.parametrize("since", ["2099-01-01", "2099-01-01T00:00:00Z", "9999-12-31"])
def test_since_in_the_future_is_refused_as_prune_before_is(
    run: Run, write: Write, tmp_path: Path, command: tuple[str, ...], since: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30 + day, days=5))
    result = run(*command, "--history", db, "--since", since)
    assert result.exit_code == 2
    assert f"--since {since}: is in the future" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_since_a_past_date_is_accepted(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30 + day, days=5))
    since = (START + dt.timedelta(days=3)).date().isoformat()
    result = run("history", "show", "--history", db, "--since", since, "-f", "json")
    assert result.exit_code == 0
    assert 0 < len(json.loads(result.stdout)["records"]) < 6


@pytest.mark.parametrize(("name", "fmt"), [("x.json", "json"), ("x.md", "markdown")])
def test_export_refuses_a_file_named_for_another_format(
    run: Run, write: Write, tmp_path: Path, name: str, fmt: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30 + day, days=2))
    result = run("history", "export", "--history", db, "-o", tmp_path / name)
    assert result.exit_code == 2
    assert "history export writes CSV" in result.stderr and f"--format {fmt}" in result.stderr
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", ["x.csv", "x.CSV", "x.txt", "backup"])
def test_export_writes_csv_to_any_other_name(
    run: Run, write: Write, tmp_path: Path, name: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30 + day, days=2))
    assert run("history", "export", "--history", db, "-o", tmp_path / name).exit_code == 0
    assert (tmp_path / name).read_text().startswith("timestamp,metric,value,labels,status")


@pytest.mark.parametrize(
    "args", [("--history", "h.db"), ("--history=h.db",), ("--history", "/srv/nowhere/h.db")]
)
def test_check_refuses_a_history_it_would_not_write(run: Run, args: tuple[str, ...]) -> None:
    result = run("check", "--interval", "0", *args)
    assert result.exit_code == 3
    assert "'--history': it needs --record" in result.stderr
    assert not Path("h.db").exists()


def test_history_show_csv_leaves_missing_cells_empty(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, f"timestamp,metric,value\n{MOMENT},cpu_percent,12.5\n")
    result = run("history", "show", "--history", db, "-f", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["section", "timestamp", "metric", "labels", "value", "status"]
    assert rows[1][2:] == ["cpu_percent", "", "12.5", ""]


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown"])
def test_history_show_lists_every_record_in_a_streamed_format(
    run: Run, write: Write, tmp_path: Path, fmt: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, HOURLY)
    result = run("history", "show", "--history", db, "-f", fmt)
    assert result.exit_code == 0
    if fmt == "json":
        records = json.loads(result.stdout)["records"]
        assert len(records) == 1501
        assert records[0]["labels"] == {"path": "/"} and records[0]["status"] is None
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(result.stdout)))) == 1502
    else:
        assert result.stdout.count("| disk_percent |") == 1501
        assert result.stdout.endswith("- 1,501 records\n")


def test_history_show_json_of_nothing_is_an_empty_list(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda day: 30, days=2))
    result = run("history", "show", "--history", db, "-f", "json", "--metric", "cpu_percent")
    assert json.loads(result.stdout) == {"records": []}


def test_history_show_table_stops_at_a_thousand_and_says_how_many(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, HOURLY)
    result = run("history", "show", "--history", db)
    assert result.exit_code == 0
    assert result.stdout.count("disk_percent") == 1000
    assert "the first 1,000 of 1,501 records: --format csv or json lists them all" in (
        result.stdout
    )


def test_an_import_killed_midway_leaves_nothing_the_next_one_keeps(
    write: Write, tmp_path: Path
) -> None:
    """kill -9 while a new history is built: its temporary file names a writer that is gone,
    and the next import (or any run that writes the history) removes it."""
    lines = ["timestamp,metric,value,labels"]
    start = NOW - dt.timedelta(days=300)
    for minute in range(0, 300 * 24 * 60, 2):
        moment = (start + dt.timedelta(minutes=minute)).isoformat()
        lines.append(f"{moment},disk_percent,{minute % 97},path=/")
    source = write("big.csv", "\n".join(lines) + "\n")
    db = tmp_path / "h.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "capplan", "history", "import", str(source), "--history", str(db)]
    )
    deadline = time.monotonic() + 60
    while not atomic.temporaries(db) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = atomic.temporaries(db)
    assert left and not db.exists(), "the kill came after the import finished"
    small = write("small.csv", series_csv(lambda day: 30, days=2))
    finished = subprocess.run(
        [sys.executable, "-m", "capplan", "history", "import", str(small), "--history", str(db)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert not atomic.temporaries(db)
    assert len(stored(db)) == 3


def test_a_temporary_file_of_a_running_import_is_left_alone(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    in_flight = tmp_path / f"{atomic.temporary_prefix(db)}abc{atomic.TEMP_SUFFIX}"
    in_flight.write_bytes(b"")  # this very process: alive, and touched just now
    imported(run, write, db, series_csv(lambda day: 30, days=2))
    assert in_flight.exists()
