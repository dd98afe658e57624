"""The history of checks: import, show, export, prune, concurrent recording, an older file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from capplan import history
from capplan.errors import CapplanError
from capplan.metrics import Metric, Status

from .conftest import Run
from .histories import DAY, NOW, START, Write, imported, one_line, series_csv, stored

GOOD = series_csv(lambda d: 30.0, days=3)  # four lines after the header


def with_line(bad_line: str, at: int = 3) -> str:
    lines = GOOD.splitlines()
    lines.insert(at, bad_line)
    return "\n".join(lines) + "\n"


BAD_LINES = [
    ("yesterday,disk_percent,5,", "timestamp 'yesterday': expected ISO 8601"),
    ("2026-13-01T00:00:00Z,disk_percent,5,", "timestamp '2026-13-01T00:00:00Z': expected"),
    ("0001-01-01T00:00:00+01:00,disk_percent,5,", "timestamp '0001-01-01T00:00:00+01:00'"),
    (f"{(NOW + DAY).isoformat()},disk_percent,5,", "is in the future"),
    ("9999-12-31T23:59:59Z,disk_percent,5,", "is in the future"),
    (f"{NOW.isoformat()},disk_pct,5,", "metric 'disk_pct': expected one of"),
    (f"{NOW.isoformat()},disk_percent,lots,", "value 'lots': expected a number"),
    (f"{NOW.isoformat()},disk_percent,nan,", "value 'nan': expected a number from 0 to 1e15"),
    (f"{NOW.isoformat()},disk_percent,-inf,", "expected a number from 0 to 1e15"),
    (f"{NOW.isoformat()},table_rows,1e300,", "expected a number from 0 to 1e15"),
    (f"{NOW.isoformat()},table_rows,-1,", "value '-1': expected a number from 0 to 1e15"),
    (f"{NOW.isoformat()},disk_percent,5,path", "labels 'path': expected key=value"),
    (f"{NOW.isoformat()},disk_percent,5,path=/;path=/x", "label 'path' is given twice"),
    (f'{NOW.isoformat()},disk_percent,5,"{{""path"": [1]}}"', "expected a JSON object of"),
    (f"{NOW.isoformat()},disk_percent", "expected 4 fields (timestamp,metric,value,labels)"),
    (f"{NOW.isoformat()},disk_percent,5,path=/,extra", "got 5"),
]


@pytest.mark.parametrize("existing", [False, True], ids=["new history", "existing history"])
@pytest.mark.parametrize(("bad_line", "message"), BAD_LINES)
def test_a_bad_line_anywhere_is_named_and_imports_nothing(
    run: Run, write: Write, tmp_path: Path, bad_line: str, message: str, existing: bool
) -> None:
    db = tmp_path / "h.db"
    if existing:
        imported(run, write, db, series_csv(lambda d: 20.0, days=2, metric="cpu_percent"), "a.csv")
    before = stored(db)
    path = write("bad.csv", with_line(bad_line))
    result = run("history", "import", path, "--history", db)
    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert result.stderr.startswith(f"capplan history import: error: {path}:4: ")
    assert message in result.stderr and result.stderr.endswith("; nothing was imported\n")
    assert stored(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["bad.csv", *(["a.csv", "h.db"] if existing else [])]
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("time,name,value", "missing timestamp, metric; unknown 'time', 'name'"),
        ("timestamp,metric", "missing value"),
        ("timestamp,metric,value,value", "'value' twice"),
        ("timestamp,metric,value,colour", "unknown 'colour'"),
    ],
)
def test_wrong_columns_are_refused(
    run: Run, write: Write, tmp_path: Path, header: str, message: str
) -> None:
    result = run("history", "import", write("x.csv", header + "\n"), "--history", tmp_path / "h.db")
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "x.csv:1: expected the columns timestamp,metric,value[,labels][,status]" in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "h.db").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not UTF-8 text: byte 0x89 at byte offset 0"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(40), "a NUL byte at byte offset 7: not a text file"),
        (GOOD.encode()[:70] + b"caf\xe9" + GOOD.encode()[70:], "byte 0xe9 at byte offset 73"),
        ("timestamp,metric,value\n".encode("utf-16"), "this is UTF-16 text: export it as UTF-8"),
        (b"", "empty file: expected a header line"),
        (b"x" * (1 << 21), "a line longer than 1 MiB: not a CSV export"),
    ],
    ids=["png", "elf", "latin-1", "utf-16", "empty", "endless line"],
)
def test_a_file_that_is_not_utf8_text_is_one_line_naming_the_byte(
    run: Run, tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(content)
    result = run("history", "import", source, "--history", tmp_path / "h.db")
    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert str(source) in result.stderr and message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_a_csv_with_a_byte_order_mark_imports(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "excel.csv"
    source.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    db = tmp_path / "h.db"
    result = run("history", "import", source, "--history", db)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"imported 4 records from {source} into {db}\n"
    assert len(stored(db)) == 4


@pytest.mark.parametrize("invisible", ["\ufeff", "\u200b", "\u00a0", "\u2060", "\x1b[31m"])
def test_an_invisible_character_never_appears_in_a_message(
    run: Run, write: Write, tmp_path: Path, invisible: str
) -> None:
    path = write("x.csv", with_line(f"{NOW.isoformat()},disk{invisible}percent,5,"))
    result = run("history", "import", path, "--history", tmp_path / "h.db")
    assert result.exit_code == 2 and one_line(result.stderr), repr(result.stderr)
    assert invisible not in result.stderr
    assert f"metric {f'disk{invisible}percent'!r}" in result.stderr


def test_a_reimport_adds_nothing_and_says_what_was_there(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    text = series_csv(lambda d: 30 + d, days=10)
    assert (
        imported(run, write, db, text)
        == f"imported 11 records from {tmp_path / 's.csv'} into {db}\n"
    )
    first = stored(db)
    again = imported(run, write, db, text)
    assert again.startswith("imported 0 new records from ")
    assert again.endswith("; 11 were already there\n")
    assert stored(db) == first
    overlapping = series_csv(lambda d: 99.0, days=14, start=START + 5 * DAY)  # days 5 to 19
    said = imported(run, write, db, overlapping)
    assert said.startswith(
        "imported 9 new records from " + str(tmp_path / "s.csv") + f" into {db}\n"
    )
    assert "warning: 6 records of" in said and "another value; the earlier value was kept" in said
    values = {value for *_, value, _ in stored(db)}
    assert 35.0 in values and 99.0 in values  # a record already there keeps its value


@pytest.mark.parametrize(
    ("days", "reimport", "said"),
    [
        (0, False, "imported 1 record from"),
        (1, False, "imported 2 records from"),
        (0, True, "imported 0 new records from"),
    ],
)
def test_counts_are_said_in_words_that_agree(
    run: Run, write: Write, tmp_path: Path, days: int, reimport: bool, said: str
) -> None:
    db = tmp_path / "h.db"
    text = series_csv(lambda d: 1.0, days=days)
    out = imported(run, write, db, text)
    if reimport:
        out = imported(run, write, db, text)
        assert out.endswith("; 1 was already there\n")
    assert out.startswith(said)


def test_a_record_twice_in_one_file_is_imported_once(
    run: Run, write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    stamp = START.isoformat()
    text = f"timestamp,metric,value\n{stamp},cpu_percent,5\n{stamp},cpu_percent,7\n"
    said = imported(run, write, db, text)
    assert said.startswith(f"imported 1 new record from {tmp_path / 's.csv'} into {db}\n")
    assert "warning: 1 record of" in said
    assert [row[3] for row in stored(db)] == [5.0]


def test_a_future_moment_is_refused_by_record(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    metric = Metric("cpu_percent", 5.0, "%", 70, 85, Status.OK, "", {})
    with pytest.raises(CapplanError, match="in the future"):
        history.record_metrics(db, [metric], NOW + DAY)
    assert not db.exists()
    assert history.record_metrics(db, [metric], dt.datetime.now(dt.timezone.utc)) == 1


@pytest.mark.parametrize(
    "since", ["99999999d", "36501d", "101y", "99999999999999999999h", "1000000w", "9" * 5000 + "d"]
)
def test_an_age_beyond_a_century_is_one_line(
    run: Run, write: Write, tmp_path: Path, since: str
) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, GOOD)
    for command in (("history", "show"), ("trend",), ("history", "export")):
        result = run(*command, "--history", db, "--since", since)
        assert result.exit_code == 2 and one_line(result.stderr), result.stderr
        assert f"--since {since}: expected an age of at most 100 years" in result.stderr
    assert run("history", "show", "--history", db, "--since", "36500d").exit_code == 0


def test_history_show_filters(run: Run, write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    imported(run, write, db, series_csv(lambda d: 30 + d, days=10), "a.csv")
    imported(run, write, db, series_csv(lambda d: 5.0, days=10, metric="cpu_percent", labels=""))
    every = json.loads(run("history", "show", "--history", db, "-f", "json").stdout)["records"]
    assert len(every) == 22
    disk = json.loads(
        run("history", "show", "--history", db, "--metric", "disk_percent", "-f", "json").stdout
    )["records"]
    assert len(disk) == 11 and {r["metric"] for r in disk} == {"disk_percent"}
    assert disk[0] == {
        "timestamp": START.isoformat(),
        "metric": "disk_percent",
        "labels": {"path": "/"},
        "value": 30,
        "status": None,
    }
    since = (START + dt.timedelta(days=8)).date().isoformat()
    recent = json.loads(
        run("history", "show", "--history", db, "--since", since, "-f", "json").stdout
    )["records"]
    assert len(recent) == 6  # days 8, 9, 10 of both metrics (START's time of day is passed)
    assert all(r["timestamp"] >= since for r in recent)
    bad = run("history", "show", "--history", db, "--since", "last week")
    assert bad.exit_code == 2 and "--since last week" in bad.stderr


def test_history_without_a_database_says_so(run: Run, tmp_path: Path) -> None:
    for command in (("trend",), ("history", "show"), ("history", "export")):
        result = run(*command, "--history", tmp_path / "none.db")
        assert result.exit_code == 2 and one_line(result.stderr)
        assert "no history yet" in result.stderr
    result = run("history", "prune", "--keep", "30d", "--history", tmp_path / "none.db")
    assert result.exit_code == 2 and "no history yet" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all, but long enough to have a header" * 20, "not a database"),
        (None, "is not a capplan history"),
    ],
)
def test_a_file_that_is_not_a_history_is_refused(
    run: Run, tmp_path: Path, content: bytes | None, message: str
) -> None:
    db = tmp_path / "h.db"
    if content is None:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            connection.execute("CREATE TABLE shop (id INTEGER)")
    else:
        db.write_bytes(content)
    before = db.read_bytes()
    result = run("trend", "--history", db)
    assert result.exit_code == 2 and one_line(result.stderr)
    assert message in result.stderr
    assert db.read_bytes() == before


@pytest.mark.slow
def test_eight_concurrent_checks_leave_eight_complete_records(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    env = {**os.environ, "CAPPLAN_HISTORY": str(db)}
    command = [sys.executable, "-m", "capplan", "check", "--interval", "0", "--record"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    for process in processes:
        _, error = process.communicate(timeout=120)
        assert process.returncode in (0, 1, 2), error
    counts: dict[str, int] = {}
    for metric, *_ in stored(db):
        counts[metric] = counts.get(metric, 0) + 1
    with contextlib.closing(sqlite3.connect(db)) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"cpu_percent", "memory_percent", "disk_percent", "load_per_core"} <= set(counts)
    assert set(counts.values()) == {8}  # every metric of every check, disk I/O and network too
    assert mode == "wal"


@pytest.mark.parametrize(
    "command", [("trend",), ("history", "show"), ("history", "export"), ("report", "-o", "x.html")]
)
def test_a_directory_given_as_the_history_is_said_to_be_one(
    run: Run, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run(*command, "--history", tmp_path)
    assert result.exit_code == 2
    assert f"--history {tmp_path}: is a directory: name the history file in it" in result.stderr
    assert result.stderr.count("\n") == 1
