"""`capplan history show` of a year-sized history in every format: time and peak memory, beside
`history export` of the same records (the streaming floor of the same reading).

json, csv and markdown stream a record at a time, so their memory must stay flat however many
records there are; the table shows the first 1,000 and counts the rest. Target (issue 26):
flat memory at any size, in every format (here: under 100 MiB at 1,000,000 records and no more
than 10 MiB above the figure at 100,000).

Run: .venv/bin/python benchmarks/history_show.py [--records 100000 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from history_data import CAPPLAN, Measured, how_to_run, measure, write_csv

TARGET_MIB = 100.0
FLAT_MIB = 10.0
FORMATS = ("table", "json", "csv", "markdown")


def line(name: str, measured: Measured, floor: Measured) -> str:
    ratio = measured.seconds / floor.seconds
    return (
        f"{name:<36} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB  {ratio:5.2f}x export"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print(how_to_run("history_show.py", "[--records 100000 1000000]"))
    peaks: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for records in args.records:
            source, db = root / f"h-{records}.csv", root / f"h-{records}.db"
            write_csv(source, records)
            measure([*CAPPLAN, "history", "import", source, "--history", db])
            print(f"\n{records:,} records")
            export = measure([*CAPPLAN, "history", "export", "--history", db])
            print(
                f"{'history export (csv)':<36} {export.seconds:7.2f} s  {export.peak_mib:6.1f} MiB"
            )
            for fmt in FORMATS:
                shown = measure([*CAPPLAN, "history", "show", "--history", db, "-f", fmt])
                peaks[fmt].append(shown.peak_mib)
                print(line(f"history show -f {fmt}", shown, export))
            source.unlink()
            db.unlink()
    ok = True
    print()
    for fmt, found in peaks.items():
        flat = max(found) - min(found) <= FLAT_MIB and max(found) < TARGET_MIB
        ok &= flat
        verdict = "meets" if flat else "MISSES"
        print(
            f"{fmt:<9} peak {min(found):6.1f} to {max(found):6.1f} MiB: {verdict} "
            f"(flat within {FLAT_MIB:.0f} MiB, under {TARGET_MIB:.0f})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
