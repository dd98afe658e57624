"""The access log over a --window it does not cover: rates over the part it covers, with a note;
lines stamped in the future left out and counted apart; gzip rotations and every older numbered
rotation that the window reaches read, and what could not be read named."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.check import access_log, log_reading
from capplan.metrics import Measurement

from .conftest import Run

CALM = tuple(
    f"--set=scaling_triggers.{name}.{level}={value}"
    for name in ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
    for level, value in (("critical", 2000), ("warning", 1000))
)
FAST = ("check", "--interval", "0", "--format", "json", *CALM)


def line(moment: dt.datetime, path: str = "/health", status: int = 200) -> str:
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S %z")
    client = f"10.0.0.{moment.minute % 7}"
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 2 "-" "x" 0.012\n'


def lines(now: dt.datetime, seconds_ago: range | list[int], path: str = "/health") -> str:
    """One line for each offset, the oldest first, as a log holds them."""
    ordered = sorted(seconds_ago, reverse=True)
    return "".join(line(now - dt.timedelta(seconds=s), path) for s in ordered)


def report(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run(*FAST, *args)
    assert result.exit_code in (0, 1, 2, 3), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def the(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in data["metrics"] if m["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def endpoints(data: dict[str, Any]) -> dict[str, int]:
    return {
        m["labels"]["endpoint"]: m["value"]
        for m in data["metrics"]
        if m["name"] == "access_endpoint_requests"
    }


def measured(
    log: Path, now: dt.datetime, window: int = 300
) -> tuple[dict[str, Measurement], list[str]]:
    found, notes = access_log.measure(log, window=window, top=50, log_format="auto", now=now)
    return {m.name: m for m in found if "endpoint" not in m.labels}, notes


# --- a log that covers less than the window ---------------------------------------------------


@pytest.mark.parametrize(
    ("window", "covered_s", "said"),
    [("1h", 420, r"7 min( [1-9] s)? of the 60 min window"),
     ("5m", 120, r"2 min( [1-9] s)? of the 5 min window"),
     ("1d", 10_800, r"180 min( [1-9] s)? of the 1,440 min window"),
     ("90s", 45, r"4[5-9] s of the 1 min 30 s window")],
)  # fmt: skip
def test_a_log_younger_than_the_window_gives_its_rate_over_what_it_covers(
    run: Run, tmp_path: Path, now: dt.datetime, window: str, covered_s: int, said: str
) -> None:
    """A request a second over the last `covered_s` seconds, and nothing before: the rate is one a
    second, not diluted over the whole window (the note counts the seconds the run took)."""
    log = tmp_path / "access.log"
    log.write_text(lines(now, range(covered_s, 0, -1)), encoding="utf-8")
    data = report(run, "--access-log", log, "--window", window)
    rate = the(data, "access_requests_per_second")
    assert rate["value"] == pytest.approx(1.0, rel=0.05)  # the seconds the run took, at most
    assert "that the log covers" in rate["detail"]
    (note,) = [n for n in data["notes"] if "the log covers" in n]
    assert re.match(f"{re.escape(str(log))}: the log covers {said}", note), note
    assert endpoints(data) == {"GET /health": covered_s}


def test_a_log_that_covers_the_window_gives_its_rate_over_the_whole_window(
    tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"
    log.write_text(lines(now, [3600, *range(120, 0, -1)]), encoding="utf-8")
    found, notes = measured(log, now, window=600)
    assert found["access_requests_per_second"].value == pytest.approx(120 / 600)
    assert not any("covers" in note for note in notes)


def test_the_oldest_rotation_read_starts_what_the_log_covers(
    tmp_path: Path, now: dt.datetime
) -> None:
    """access.log.1 holds the first requests: the log covers the window from its first line."""
    log = tmp_path / "access.log"
    (tmp_path / "access.log.1").write_text(lines(now, [1200, 900]), encoding="utf-8")
    log.write_text(lines(now, [600, 300]), encoding="utf-8")
    found, notes = measured(log, now, window=3600)
    assert found["access_requests_per_second"].value == pytest.approx(4 / 1200)
    assert found["access_requests_per_second"].detail == (
        "4 requests in the 20 min of the last 60 min that the log covers "
        "(access.log and access.log.1)"
    )
    assert any("the log covers 20 min of the 60 min window" in note for note in notes)


@given(
    offsets=st.lists(st.integers(min_value=-3 * 600, max_value=3 * 600), max_size=40),
    window=st.sampled_from([60, 300, 600]),
)
def test_every_line_counts_in_the_window_before_it_or_in_the_future(
    offsets: list[int], window: int
) -> None:
    """For any log (seconds before now, negative for the future): the requests are the lines from
    the window's start to a minute after now, the future lines those later still, and the rate
    is over the window when a line precedes it, else from the oldest line counted."""
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "access.log"
        log.write_text(lines(now, offsets), encoding="utf-8")
        found, _ = measured(log, now, window=window)
    inside = [s for s in offsets if -log_reading.FUTURE_SKEW_S <= s <= window]
    future = [s for s in offsets if s < -log_reading.FUTURE_SKEW_S]
    assert found["access_future_lines"].value == len(future)
    before = any(s > window for s in offsets)
    covered = window if before or not inside else max(1, *inside)
    assert found["access_requests_per_second"].value == pytest.approx(len(inside) / covered)


# --- lines stamped in the future --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ahead", "said"),
    [(dt.timedelta(minutes=84), r"(84 min|83 min 5\d s)"),
     (dt.timedelta(minutes=2), r"(2 min|1 min 5\d s)"),
     (dt.timedelta(days=1), r"(1,440 min|1,439 min 5\d s)"),
     (dt.timedelta(seconds=90), r"1 min (30|2\d) s")],
)  # fmt: skip
def test_a_line_stamped_in_the_future_is_left_out_and_counted_apart(
    run: Run, tmp_path: Path, now: dt.datetime, ahead: dt.timedelta, said: str
) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        lines(now, [900, 30, 20])  # a line before the window: it covers it whole
        + line(now + ahead, "/future")
        + line(now + dt.timedelta(seconds=30), "/skewed"),  # within the minute allowed
        encoding="utf-8",
    )
    data = report(run, "--access-log", log, "--window", "5m")
    assert endpoints(data) == {"GET /health": 2, "GET /skewed": 1}
    assert the(data, "access_future_lines")["value"] == 1
    assert the(data, "access_requests_per_second")["value"] == pytest.approx(3 / 300)
    (note,) = [n for n in data["notes"] if "future" in n or "after now" in n]
    assert note.startswith(f"{log}: 1 line(s) stamped more than 60 s after now were left out")
    assert re.search(f"the latest {said} ahead", note), note  # less the seconds the run took
    prometheus = ("check", "--interval", "0", "--format", "prometheus", *CALM)
    assert "access_future_lines" in run(*prometheus, "--access-log", log).stdout


def test_a_log_without_future_lines_says_zero_and_notes_nothing(
    tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"
    log.write_text(lines(now, [900, 10]), encoding="utf-8")
    found, notes = measured(log, now)
    assert found["access_future_lines"].value == 0
    assert not any("after now" in note for note in notes)


# --- gzip and older rotations -----------------------------------------------------------------


def gzipped(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.mark.parametrize("name", ["access.log.2.gz", "access.log.1.gz", "access.old", "x.gz"])
def test_a_gzip_log_given_itself_is_read_whatever_its_name(
    run: Run, tmp_path: Path, now: dt.datetime, name: str
) -> None:
    log = gzipped(tmp_path / name, lines(now, [900, 40, 30, 20]))
    data = report(run, "--access-log", log, "--window", "5m")
    assert endpoints(data) == {"GET /health": 3}
    assert the(data, "access_requests_per_second")["value"] == pytest.approx(3 / 300)
    assert the(data, "access_malformed_lines")["value"] == 0


def test_a_window_past_access_log_1_reads_every_older_rotation_it_reaches(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    """logrotate's compress and delaycompress: access.log, access.log.1, then .2.gz, .3.gz... A
    1-hour window reaching into .3.gz reads them all, and stops there: .4.gz (not gzip at all)
    is never opened."""
    log = tmp_path / "access.log"
    log.write_text(lines(now, [600, 300], "/now"), encoding="utf-8")
    (tmp_path / "access.log.1").write_text(lines(now, [1200, 900], "/one"), encoding="utf-8")
    gzipped(tmp_path / "access.log.2.gz", lines(now, [2400, 1800], "/two"))
    gzipped(tmp_path / "access.log.3.gz", lines(now, [7200, 5400, 3000], "/three"))
    (tmp_path / "access.log.4.gz").write_bytes(b"not gzip: never reached")
    data = report(run, "--access-log", log, "--window", "1h")
    assert endpoints(data) == {"GET /now": 2, "GET /one": 2, "GET /two": 2, "GET /three": 1}
    rate = the(data, "access_requests_per_second")
    assert rate["value"] == pytest.approx(7 / 3600)
    assert rate["detail"] == (
        "7 requests in the last 60 min "
        "(access.log, access.log.1, access.log.2.gz and access.log.3.gz)"
    )
    assert not any("covers" in note or "not read" in note for note in data["notes"])


def test_a_gzip_file_longer_than_a_block_skips_what_is_older_and_counts_the_rest(
    tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"
    log.write_text(lines(now, [30]), encoding="utf-8")
    old = line(now - dt.timedelta(days=1), "/old") * (3 * log_reading.BLOCK // 60)
    recent = lines(now, range(250, 40, -1), "/recent")
    gzipped(tmp_path / "access.log.1.gz", old + recent)
    found, notes = measured(log, now, window=300)
    assert found["access_requests_per_second"].value == pytest.approx((1 + 210) / 300)
    assert found["access_malformed_lines"].value == 0
    assert not notes


@pytest.mark.parametrize(
    ("damage", "said"),
    [(lambda data: data[: len(data) // 2], "access.log.2.gz could not be read"),
     (lambda data: data[:10] + b"\xff" * (len(data) - 10), "access.log.2.gz could not be read"),
     (lambda data: b"", None)],
)  # fmt: skip
def test_a_rotation_that_cannot_be_read_is_named_and_the_rest_is_measured(
    tmp_path: Path, now: dt.datetime, damage: Any, said: str | None
) -> None:
    log = tmp_path / "access.log"
    log.write_text(lines(now, [600, 300]), encoding="utf-8")
    (tmp_path / "access.log.1").write_text(lines(now, [1200, 900]), encoding="utf-8")
    whole = gzip.compress(lines(now, range(3000, 1500, -5)).encode())
    (tmp_path / "access.log.2.gz").write_bytes(damage(whole))
    found, notes = measured(log, now, window=3600)
    assert found["access_requests_per_second"].value == pytest.approx(4 / 1200)
    assert any("the log covers 20 min of the 60 min window" in note for note in notes)
    if said is not None:
        assert any(note.startswith(f"{log}: {said}") for note in notes)


@pytest.mark.parametrize(
    "others",
    [["access.log-20261205.gz"], ["access.log.3.gz"],
     ["access.log-20261203.gz", "access.log-20261204.gz", "access.log-20261205", "access.log.9"]],
)  # fmt: skip
def test_older_files_outside_the_numbered_series_are_named_when_the_window_reaches_them(
    tmp_path: Path, now: dt.datetime, others: list[str]
) -> None:
    """dateext names, or a gap in the numbers (no access.log.2): not followed, never left out
    in silence."""
    log = tmp_path / "access.log"
    log.write_text(lines(now, [600, 300]), encoding="utf-8")
    (tmp_path / "access.log.1").write_text(lines(now, [1200, 900]), encoding="utf-8")
    for name in others:
        gzipped(tmp_path / name, lines(now, [2400]))
    found, notes = measured(log, now, window=3600)
    assert found["access_requests_per_second"].value == pytest.approx(4 / 1200)
    (note,) = [n for n in notes if "not read" in n]
    assert note.startswith(f"{log}: not read: {sorted(others)[0]}")
    if len(others) > 3:
        assert f"and {len(others) - 3} more" in note
    covered = log.with_name("covered.log")
    covered.write_text(lines(now, [7200, 60]), encoding="utf-8")  # covers the window itself
    gzipped(tmp_path / "covered.log-20261205.gz", lines(now, [9000]))
    _, notes = measured(covered, now, window=3600)
    assert not any("not read" in note for note in notes)


def test_a_rotation_given_itself_goes_on_with_the_older_ones_never_the_newer(
    tmp_path: Path, now: dt.datetime
) -> None:
    """--access-log access.log.2.gz: access.log.3.gz is read after it; access.log and
    access.log.1 are newer, neither read nor named; a dateext file is named."""
    (tmp_path / "access.log").write_text(lines(now, [60], "/now"), encoding="utf-8")
    (tmp_path / "access.log.1").write_text(lines(now, [600], "/one"), encoding="utf-8")
    given_log = gzipped(tmp_path / "access.log.2.gz", lines(now, [1800, 1200], "/two"))
    gzipped(tmp_path / "access.log.3.gz", lines(now, [3000, 2400], "/three"))
    gzipped(tmp_path / "access.log-20261201.gz", lines(now, [9000], "/dated"))
    found, notes = access_log.measure(given_log, window=7200, top=50, log_format="auto", now=now)
    counted = {m.labels["endpoint"]: m.value for m in found if "endpoint" in m.labels}
    assert counted == {"GET /two": 2, "GET /three": 2}
    (note,) = [n for n in notes if "not read" in n]
    assert note == (
        f"{given_log}: not read: access.log-20261201.gz "
        "(rotations are followed by number: access.log.1, access.log.2.gz, ...)"
    )


@pytest.mark.parametrize("compressed", [False, True])
def test_a_log_without_line_breaks_is_read_in_pieces_never_whole(
    tmp_path: Path, now: dt.datetime, compressed: bool
) -> None:
    """4 MB without a newline, then the window's lines: memory stays flat (pieces of at most a
    megabyte each), the pieces are malformed lines, the lines after them are counted."""
    noise = b"x" * (4 * 1024 * 1024)
    data = lines(now, [900]).encode() + noise + b"\n" + lines(now, [20, 10]).encode()
    log = tmp_path / "access.log"
    if compressed:
        log.write_text("", encoding="utf-8")
        (tmp_path / "access.log.1.gz").write_bytes(gzip.compress(data))
    else:
        log.write_bytes(data)
    found, _ = measured(log, now, window=3600)
    assert found["access_requests_per_second"].value == pytest.approx(3 / 900)
    malformed = found["access_malformed_lines"].value
    assert malformed is not None and 1 <= malformed <= 6
    pieces = log_reading.blocks_forward if compressed else log_reading.lines_backwards
    source = tmp_path / "access.log.1.gz" if compressed else log
    assert (
        max(len(piece) for piece in pieces(source)) <= log_reading.LONGEST_LINE + log_reading.BLOCK
    )
