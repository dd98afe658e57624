"""`capplan trend --format json` over a year-sized history: time, peak memory, and baselines.

For each size (default 1,000,000 and 5,000,000 records: twenty series every five minutes) the
script writes the CSV, imports it, then runs as a user would, in the same run:
- `capplan trend --history DB --format json`;
- the baseline: the reference path, which reads every record into Python objects and groups
  them in Python (how trend worked before), at 1,000,000 records only (at 5,000,000 it needs
  gigabytes); it must give the same dates and slopes as the command;
- the floor: SQLite reading every record once from Python (count and sum by series);
- `python -c pass`, the floor of any command.
It prints wall time, the peak resident memory of the process tree, and the ratios.

Targets (issue 15): 1,000,000 records under 3 s and 150 MiB; 5,000,000 under 12 s with flat
memory.

Run: .venv/bin/python benchmarks/trend.py [--records 1000000 5000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from capplan import history
from history_data import CAPPLAN, Measured, how_to_run, measure, write_csv

TARGET_SECONDS = {1_000_000: 3.0, 5_000_000: 12.0}
TARGET_MIB_1M = 150.0
REFERENCE_UP_TO = 1_000_000
COMPARED = ("metric", "labels", "points", "slope_per_day", "warning_at", "critical_at")
REFERENCE = """
import datetime as dt, sys
from pathlib import Path
from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.output.report import Format, render
from capplan.output.trend import trend_report
from capplan.trend import forecasts
now = dt.datetime.now(dt.timezone.utc)
found = forecasts(history.records(Path(sys.argv[1])), load_thresholds(), load_tiers(), now)
sys.stdout.write(render(trend_report(found, now), Format.json))
"""
FLOOR = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT series, count(*), sum(value) FROM records GROUP BY series").fetchall()
"""


def line(name: str, measured: Measured, base: Measured | None = None, what: str = "") -> str:
    ratio = f"  {measured.seconds / base.seconds:5.2f}x {what}" if base else ""
    return f"{name:<40} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB{ratio}"


def forecasts_of(command: list[str | Path]) -> list[dict[str, Any]]:
    output = subprocess.run(
        [str(part) for part in command], check=True, capture_output=True, text=True
    ).stdout
    return [{key: f[key] for key in COMPARED} for f in json.loads(output)["forecasts"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = parser.parse_args()
    print(how_to_run("trend.py", "[--records 1000000 5000000]"))
    ok = True
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        python = measure([sys.executable, "-c", "pass"])
        print(line("python -c pass", python))
        for records in args.records:
            source, db = root / f"history-{records}.csv", root / f"history-{records}.db"
            write_csv(source, records)
            history.import_csv(db, source)
            source.unlink()
            print(f"\n{records:,} records (20 series every 5 minutes)")
            floor = measure([sys.executable, "-c", FLOOR, db])
            print(line("floor: SQLite reads every record once", floor))
            command: list[str | Path] = [*CAPPLAN, "trend", "--history", db, "--format", "json"]
            fast = measure(command)
            peaks[records] = fast.peak_mib
            if records <= REFERENCE_UP_TO:
                reference = measure([sys.executable, "-c", REFERENCE, db])
                print(line("baseline: every record in Python", reference))
                print(line("capplan trend --format json", fast, reference, "baseline"))
                same = forecasts_of(command) == forecasts_of([sys.executable, "-c", REFERENCE, db])
                print(f"same slopes and dates as the baseline: {'yes' if same else 'NO'}")
                ok &= same
            else:
                print(line("capplan trend --format json", fast, floor, "floor"))
            target = TARGET_SECONDS.get(records)
            if target is not None:
                meets = fast.seconds < target
                print(f"target: under {target:.0f} s: {'meets' if meets else 'MISSES'}")
                ok &= meets
            if records == 1_000_000:
                meets = fast.peak_mib < TARGET_MIB_1M
                print(f"target: under {TARGET_MIB_1M:.0f} MiB: {'meets' if meets else 'MISSES'}")
                ok &= meets
            db.unlink()
    if len(peaks) > 1:
        sizes = sorted(peaks)
        extra = peaks[sizes[-1]] - peaks[sizes[0]]
        flat = extra < 20
        print(
            f"\npeak memory at {sizes[-1]:,} records minus at {sizes[0]:,}: {extra:+.1f} MiB "
            f"(flat: under 20 MiB more): {'meets' if flat else 'MISSES'}"
        )
        ok &= flat
    print(f"(measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
