"""`capplan check --access-log` with a 5-minute window on a 10 MB and a 1 GB log: the cost follows
the window, not the file. Target: the 1 GB log within 1.5x the time of the 10 MB one, both holding
the same last five minutes of traffic, measured in the same run.

Each log is nginx's combined format with $request_time: older lines, then the same 20,000 lines
in the last five minutes (66 requests a second). Timed: the whole command as a user runs it
(`capplan check --interval 0 --access-log LOG --format json`), and the log reading alone,
in-process.

A gzip rotation (`access.log.1.gz`) cannot be read backwards: it is read forwards, and the blocks
older than the window are skipped without reading their lines. Target: a 5-minute window that
reaches into a gzip rotation of --gzip-mb MB (older lines, then the same 20,000 recent ones) costs
at most 1.5x the floor: decompressing that file alone, plus reading the same 20,000 lines from a
plain log that holds little else, both measured in the same run.

Run: .venv/bin/python benchmarks/access_log.py [--big-mb 1000] [--gzip-mb 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from capplan.check.access_log import pattern
from capplan.check.log_reading import BLOCK, read
from timing import median_ms

TARGET_RATIO = 1.5
GZIP_TARGET_RATIO = 1.5  # reading a gzip rotation over the window / its floor
WINDOW_S = 300
RECENT_LINES = 20_000
RECENT_S = 240  # the recent lines' span: a minute short of the window, so that building the
# other file first does not move any of them out of it


def line(moment: dt.datetime, n: int) -> bytes:
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        f'10.1.{n % 250}.{n % 199} - - [{stamp}] "GET /products/{n % 5000}?page=2 HTTP/1.1" '
        f'200 5123 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)" 0.0{n % 90:02d}\n'
    ).encode()


def build(path: Path, megabytes: int, now: dt.datetime) -> int:
    """Older lines up to the size, then RECENT_LINES spread over the last five minutes."""
    target = megabytes * 1_000_000 - RECENT_LINES * len(line(now, 0))
    per_second = 200
    written = 0
    with path.open("wb") as stream:
        old_seconds = max(1, (target // len(line(now, 0))) // per_second)
        start = now - dt.timedelta(seconds=WINDOW_S + 120 + old_seconds)
        for second in range(old_seconds):
            moment = start + dt.timedelta(seconds=second)
            block = b"".join(line(moment, n) for n in range(per_second))
            stream.write(block)
            written += len(block)
            if written >= target:
                break
        now = dt.datetime.now(dt.timezone.utc)  # the window ends when the log does
        for n in range(RECENT_LINES):
            moment = now - dt.timedelta(seconds=RECENT_S - n * RECENT_S / RECENT_LINES)
            stream.write(line(moment, n))
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--big-mb", type=int, default=1000)
    parser.add_argument("--gzip-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    compiled = pattern("auto")
    with tempfile.TemporaryDirectory() as folder:
        paths = {label: Path(folder) / f"{label}.log" for label in ("big", "small")}
        sizes = {
            label: build(paths[label], mb, now)
            for label, mb in (("big", args.big_mb), ("small", args.small_mb))
        }
        os.sync()  # the writing is over before the timing starts
        start = dt.datetime.now(dt.timezone.utc).timestamp() - WINDOW_S
        commands, reads = {}, {}
        for label, path in paths.items():
            command = [sys.executable, "-m", "capplan", "check", "--interval", "0"]
            command += ["--access-log", str(path), "--window", "5m", "--format", "json"]
            commands[label] = partial(subprocess.run, command, capture_output=True)
            reads[label] = partial(read, path, compiled, start)
            assert reads[label]().requests == RECENT_LINES, label
        # small and big take turns, so that the machine's load falls on both alike
        times: dict[str, dict[str, list[float]]] = {"whole": {}, "alone": {}}
        for _ in range(args.runs):
            for label in ("small", "big"):
                times["whole"].setdefault(label, []).append(median_ms(commands[label], 1))
                times["alone"].setdefault(label, []).append(median_ms(reads[label], 1))
        results = {
            label: (
                sizes[label],
                statistics.median(times["whole"][label]),
                statistics.median(times["alone"][label]),
                RECENT_LINES,
            )
            for label in ("small", "big")
        }
    print(f"access log, 5-minute window of {RECENT_LINES:,} requests; median of {args.runs} runs")
    for label, (size, whole, alone, requests) in results.items():
        print(
            f"{label:5} log {size / 1e6:8,.0f} MB   capplan check {whole:7.1f} ms   "
            f"reading alone {alone:7.1f} ms   ({requests:,} requests in the window)"
        )
    ratio = results["big"][1] / results["small"][1]
    alone_ratio = results["big"][2] / results["small"][2]
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"big / small: {ratio:.2f}x the whole command, {alone_ratio:.2f}x the reading alone")
    print(f"target: within {TARGET_RATIO}x: {verdict}")
    gzip_ratio = gzip_rotation(args.gzip_mb, args.runs, compiled)
    return 0 if ratio <= TARGET_RATIO and gzip_ratio <= GZIP_TARGET_RATIO else 1


def decompress(path: Path) -> None:
    with gzip.open(path, "rb") as stream:
        while stream.read(BLOCK):
            pass


def gzip_rotation(megabytes: int, runs: int, compiled: re.Pattern[str]) -> float:
    """An empty access.log and access.log.1.gz holding the window: reading it against its floor,
    decompressing it alone and reading the window's lines from a short plain log."""
    with tempfile.TemporaryDirectory() as folder:
        log, rotated = Path(folder) / "access.log", Path(folder) / "access.log.1.gz"
        plain, short = Path(folder) / "plain.log", Path(folder) / "short.log"
        build(plain, megabytes, dt.datetime.now(dt.timezone.utc))
        with plain.open("rb") as source, gzip.open(rotated, "wb", compresslevel=6) as target:
            while chunk := source.read(BLOCK):
                target.write(chunk)
        plain.unlink()
        build(short, 0, dt.datetime.now(dt.timezone.utc))  # a second of older lines, the window
        log.write_bytes(b"")
        start = dt.datetime.now(dt.timezone.utc).timestamp() - WINDOW_S
        assert read(log, compiled, start).requests == RECENT_LINES
        assert read(short, compiled, start).requests == RECENT_LINES
        reading, floor = [], []
        for _ in range(runs):  # taking turns, as above
            reading.append(median_ms(partial(read, log, compiled, start), 1))
            floor.append(
                median_ms(partial(decompress, rotated), 1)
                + median_ms(partial(read, short, compiled, start), 1)
            )
        size = rotated.stat().st_size
    ratio = statistics.median(reading) / statistics.median(floor)
    verdict = "meets" if ratio <= GZIP_TARGET_RATIO else "MISSES"
    print(
        f"gzip rotation {megabytes:,} MB ({size / 1e6:,.0f} MB compressed): reading over the "
        f"window {statistics.median(reading):.1f} ms, floor (decompressing + the window's lines) "
        f"{statistics.median(floor):.1f} ms: {ratio:.2f}x"
    )
    print(f"target: within {GZIP_TARGET_RATIO}x: {verdict}")
    return ratio


if __name__ == "__main__":
    sys.exit(main())
