"""`capplan history import` into a shared PostgreSQL history against psql's `\\copy` of the
same CSV, in one run on a throwaway server (Debian's PostgreSQL 15 binaries, on 127.0.0.1).

- capplan: `capplan history import history.csv --history postgresql://...` into a new database
  (the tables made on first use; every line checked; COPY into a temporary table, then the
  new records inserted);
- the floor: `psql -c "\\copy keyed FROM history.csv (FORMAT csv, HEADER)"` into a table of the
  CSV's own columns with the key capplan's table has (metric, labels, moment), in another new
  database of the same server: what loading the same records into the same table costs, with no
  checks; and, for reference, the same \\copy into a table with no key at all.

Target (issue 23): 1,000,000 records in at most 2x the time of psql's \\copy into the same
(keyed) table.

Run: .venv/bin/python benchmarks/history_postgres.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from history_data import CAPPLAN, Measured, how_to_run, measure, write_csv

TARGET_RATIO = 2.0


def binary(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit(f"{name} not found (Debian package postgresql)")
    return str(found[-1])


def start(base: Path) -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = int(free.getsockname()[1])
    user = "nobody" if os.geteuid() == 0 else None  # initdb refuses to run as root
    if user is not None:
        shutil.chown(base, user)
    subprocess.run(
        [binary("initdb"), "-D", str(base / "data"), "-U", "capplan", "--auth=trust"],
        check=True, user=user, capture_output=True,
    )  # fmt: skip
    settings = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on"
    subprocess.run(
        [binary("pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"), "-w",
         "-o", settings, "start"],
        check=True, user=user, capture_output=True,
    )  # fmt: skip
    return port


def stop(base: Path) -> None:
    user = "nobody" if os.geteuid() == 0 else None
    subprocess.run(
        [binary("pg_ctl"), "-D", str(base / "data"), "-m", "fast", "stop"],
        check=False, user=user, capture_output=True,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    print(how_to_run("history_postgres.py", f"--records {args.records}"))
    base = Path(tempfile.mkdtemp(prefix="capplan-bench-pg-"))
    csv = base / "history.csv"
    write_csv(csv, args.records)
    csv.chmod(0o644)
    port = start(base)
    try:
        url = f"postgresql://capplan@127.0.0.1:{port}"
        psql = shutil.which("psql") or binary("psql")
        for name in ("capplan_history", "floor"):
            subprocess.run([psql, f"{url}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        columns = "timestamp timestamptz, metric text, value double precision, labels text"
        subprocess.run(
            [psql, f"{url}/floor", "-qc",
             f"CREATE TABLE keyed ({columns}, status text, PRIMARY KEY (metric, labels, "
             f"timestamp)); CREATE TABLE raw ({columns}, status text)"],
            check=True,
        )  # fmt: skip
        floors: dict[str, Measured] = {
            table: measure(
                [
                    psql,
                    f"{url}/floor",
                    "-qc",
                    f"\\copy {table} (timestamp, metric, value, labels) "
                    f"FROM '{csv}' WITH (FORMAT csv, HEADER, FORCE_NOT_NULL (labels))",
                ]
            )
            for table in ("keyed", "raw")
        }
        floor = floors["keyed"]
        ours = measure([*CAPPLAN, "history", "import", csv, "--history", f"{url}/capplan_history"])
        count = subprocess.run(
            [psql, f"{url}/capplan_history", "-tAc", "SELECT count(*) FROM capplan_records"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    finally:
        stop(base)
        shutil.rmtree(base, ignore_errors=True)
    ratio = ours.seconds / floor.seconds
    raw = floors["raw"]
    for name, measured in (
        ("psql \\copy, same key (the floor)", floor),
        ("psql \\copy, no key", raw),
    ):
        print(f"{name:<44} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB")
    print(
        f"{'capplan history import (PostgreSQL)':<44} {ours.seconds:7.2f} s  "
        f"{ours.peak_mib:6.1f} MiB  {ratio:5.2f}x the floor; {int(count):,} records stored"
    )
    ok = ratio <= TARGET_RATIO and int(count) == args.records
    print(f"{'meets' if ok else 'MISSES'} the target: at most {TARGET_RATIO:g}x psql's \\copy")
    print(f"(against the table with no key: {ours.seconds / raw.seconds:.2f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
