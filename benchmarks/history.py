"""`capplan history import` of a year-sized CSV export: time, peak memory, and the floor.

For each size (default 1,000,000 and 5,000,000 records: twenty series every five minutes) the
script writes the CSV, then runs as a user would, in the same run:
- `capplan history import FILE.csv --history NEW.db`: a new history (the file is checked once,
  then streamed into one transaction);
- the same command again: every record is already there;
- the floor: Python's csv module and sqlite3's executemany into a table with the same unique
  key, with no checks at all;
- `python -c pass`, the floor of any command.
It prints wall time, the peak resident memory of the process tree, and the ratio to the floor.

Targets (issue 15): 1,000,000 records under 8 s; memory flat, under 100 MiB at any size; time
linear in the records.

Run: .venv/bin/python benchmarks/history.py [--records 1000000 5000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from history_data import CAPPLAN, Measured, how_to_run, measure, write_csv

TARGET_SECONDS_1M = 8.0
TARGET_MIB = 100.0
FLOOR = """
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
db.execute("CREATE TABLE r (metric TEXT, labels TEXT, ts TEXT, value REAL,"
           " PRIMARY KEY (metric, labels, ts)) WITHOUT ROWID")
with open(sys.argv[1], newline="") as f:
    rows = csv.reader(f)
    next(rows)
    db.executemany("INSERT OR IGNORE INTO r VALUES (?, ?, ?, ?)",
                   ((m, l, t, v) for t, m, v, l in rows))
db.commit()
"""


def line(name: str, measured: Measured, floor: Measured | None = None) -> str:
    ratio = f"  {measured.seconds / floor.seconds:5.2f}x floor" if floor else ""
    return f"{name:<44} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB{ratio}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = parser.parse_args()
    print(how_to_run("history.py", "[--records 1000000 5000000]"))
    ok = True
    per_record: dict[int, float] = {}
    peaks: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        python = measure([sys.executable, "-c", "pass"])
        print(line("python -c pass", python))
        for records in args.records:
            source = root / f"history-{records}.csv"
            write_csv(source, records)
            size = source.stat().st_size / 1e6
            print(f"\n{records:,} records ({size:,.0f} MB of CSV, 20 series every 5 minutes)")
            floor = measure([sys.executable, "-c", FLOOR, source, root / f"floor-{records}.db"])
            print(line("floor: csv + executemany, no checks", floor))
            db = root / f"history-{records}.db"
            new = measure([*CAPPLAN, "history", "import", source, "--history", db])
            print(line("capplan history import (new history)", new, floor))
            again = measure([*CAPPLAN, "history", "import", source, "--history", db])
            print(line("capplan history import (all already there)", again, floor))
            per_record[records] = new.seconds / records
            peaks += [new.peak_mib, again.peak_mib]
            if records == 1_000_000:
                ok &= new.seconds < TARGET_SECONDS_1M
                print(
                    f"target: 1,000,000 records under {TARGET_SECONDS_1M:.0f} s: "
                    f"{'meets' if new.seconds < TARGET_SECONDS_1M else 'MISSES'}"
                )
            for path in (db, root / f"floor-{records}.db", source):
                path.unlink()
    most = max(peaks)
    ok &= most < TARGET_MIB
    print(f"\npeak memory at every size under {TARGET_MIB:.0f} MiB: {most:.1f} MiB: ", end="")
    print("meets" if most < TARGET_MIB else "MISSES")
    if len(per_record) > 1:
        sizes = sorted(per_record)
        growth = per_record[sizes[-1]] / per_record[sizes[0]]
        print(
            f"time per record at {sizes[-1]:,} / at {sizes[0]:,}: {growth:.2f} "
            f"(1.00 is linear): {'meets' if growth < 1.3 else 'MISSES'}"
        )
        ok &= growth < 1.3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
