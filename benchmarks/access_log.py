"""`capplan check --access-log` with a 5-minute window on a 10 MB and a 1 GB log: the cost follows
the window, not the file. Target: the 1 GB log within 1.5x the time of the 10 MB one, both holding
the same last five minutes of traffic, measured in the same run.

Each log is nginx's combined format with $request_time: older lines, then the same 20,000 lines
in the last five minutes (66 requests a second). Timed: the whole command as a user runs it
(`capplan check --interval 0 --access-log LOG --format json`), and the log reading alone,
in-process.

Run: .venv/bin/python benchmarks/access_log.py [--big-mb 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from capplan.check.access_log import pattern, read
from timing import median_ms

TARGET_RATIO = 1.5
WINDOW_S = 300
RECENT_LINES = 20_000


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
            moment = now - dt.timedelta(seconds=WINDOW_S - 1 - n * (WINDOW_S - 2) / RECENT_LINES)
            stream.write(line(moment, n))
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-mb", type=int, default=10)
    parser.add_argument("--big-mb", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    compiled = pattern("auto")
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for label, megabytes in (("small", args.small_mb), ("big", args.big_mb)):
            path = Path(folder) / f"{label}.log"
            size = build(path, megabytes, now)
            command = [
                sys.executable, "-m", "capplan", "check", "--interval", "0", "--access-log",
                str(path), "--window", "5m", "--format", "json",
            ]  # fmt: skip
            start = dt.datetime.now(dt.timezone.utc).timestamp() - WINDOW_S
            tally = read(path, compiled, start)
            assert tally.requests >= RECENT_LINES * 0.95, tally.requests
            whole = median_ms(partial(subprocess.run, command, capture_output=True), args.runs)
            alone = median_ms(partial(read, path, compiled, start), args.runs)
            results[label] = (size, whole, alone, tally.requests)
            path.unlink()
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
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
