"""`capplan report` over a year of five-minute records for 20 metrics: time, peak memory, page size.

The script writes the CSV of the history (default 2,000,000 records: twenty series every five
minutes, about 347 days), imports it, then runs as a user would, in the same run:
- `capplan report --history DB --mix examples/growing.yaml -o page.html`;
- the baseline: `capplan trend --history DB --format json`, which computes the same forecasts
  (the page adds the charts, the alerts, the tiers, the projection and the template);
- `python -c pass`, the floor of any command.
It prints wall time, the peak resident memory of the process tree, the ratio to the baseline, the
size of the page, and whether the page's forecasts are the trend command's.

Targets (issue 16): the page under 2 MB, generated in under 10 s.

Run: .venv/bin/python benchmarks/report.py [--records 2000000]
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

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0
TARGET_BYTES = 2_000_000
COMPARED = ("metric", "labels", "points", "slope_per_day", "warning_at", "critical_at")


def line(name: str, measured: Measured, base: Measured | None = None, what: str = "") -> str:
    ratio = f"  {measured.seconds / base.seconds:5.2f}x {what}" if base else ""
    return f"{name:<44} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB{ratio}"


def forecasts_of(command: list[str | Path]) -> list[dict[str, Any]]:
    output = subprocess.run(
        [str(part) for part in command], check=True, capture_output=True, text=True
    ).stdout
    found = [{key: f[key] for key in COMPARED} for f in json.loads(output)["forecasts"]]
    return sorted(found, key=lambda f: json.dumps([f["metric"], f["labels"]]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2_000_000)
    args = parser.parse_args()
    print(how_to_run("report.py", "[--records 2000000]"))
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source, db, page = root / "history.csv", root / "history.db", root / "health.html"
        write_csv(source, args.records)
        history.import_csv(db, source)
        source.unlink()
        print(f"{args.records:,} records (20 series every 5 minutes)")
        python = measure([sys.executable, "-c", "pass"])
        print(line("python -c pass", python))
        trend: list[str | Path] = [*CAPPLAN, "trend", "--history", db, "--format", "json"]
        baseline = measure(trend)
        print(line("baseline: capplan trend --format json", baseline))
        mix = ROOT / "examples" / "growing.yaml"
        report: list[str | Path] = [*CAPPLAN, "report", "--history", db, "--mix", mix]
        made = measure([*report, "-o", page])
        print(line("capplan report --mix ... -o health.html", made, baseline, "baseline"))
        size = page.stat().st_size
        print(f"page: {size:,} bytes ({size / 1e6:.2f} MB)")
        same = forecasts_of([*report, "--format", "json"]) == forecasts_of(trend)
        print(f"same slopes and dates as capplan trend: {'yes' if same else 'NO'}")
        ok &= same
        meets = made.seconds < TARGET_SECONDS
        print(f"target: under {TARGET_SECONDS:.0f} s: {'meets' if meets else 'MISSES'}")
        ok &= meets
        small = size < TARGET_BYTES
        print(f"target: under {TARGET_BYTES / 1e6:.0f} MB: {'meets' if small else 'MISSES'}")
        ok &= small
    print(f"(measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
