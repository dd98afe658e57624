"""What the history and trend benchmarks share: a year-like history as a CSV export, and a
command run as a user runs it, with its wall time and the peak memory of its process tree."""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

CAPPLAN = [sys.executable, "-m", "capplan"]
EVERY = dt.timedelta(minutes=5)
MiB = 1024 * 1024

# Twenty series, as a host with three disks, a database of eight tables and an uploads
# directory records them every five minutes: (metric, labels, start value, rise a day).
SERIES = [
    ("cpu_percent", "", 35.0, 0.02),
    ("memory_percent", "", 55.0, 0.03),
    ("load_per_core", "", 0.4, 0.001),
    *(("disk_percent", f"path=/srv/{n}", 30.0 + 5 * n, 0.04 + 0.01 * n) for n in range(3)),
    ("db_size_gb", "", 12.0, 0.05),
    ("db_connections_percent", "", 20.0, 0.01),
    ("storage_gb", "", 800.0, 1.5),
    ("image_files", "", 2_000_000.0, 4_000.0),
    ("products_total", "", 250_000.0, 300.0),
    ("files_per_directory_max", "", 3_000.0, 5.0),
    *(("table_rows", f"table=t{n}", 50_000.0 * (n + 1), 200.0 * (n + 1)) for n in range(8)),
]


def write_csv(path: Path, records: int) -> None:
    """`records` records of the twenty series, every five minutes, ending five minutes ago."""
    steps = math.ceil(records / len(SERIES))
    end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - EVERY
    start = end - EVERY * (steps - 1)
    written = 0
    with path.open("w", encoding="utf-8") as stream:
        stream.write("timestamp,metric,value,labels\n")
        for step in range(steps):
            stamp = (start + EVERY * step).isoformat()
            day = step * EVERY / dt.timedelta(days=1)
            wobble = math.sin(step / 12)
            lines = []
            for metric, labels, base, rise in SERIES[: records - written]:
                value = base + rise * day + 0.02 * base * wobble
                lines.append(f"{stamp},{metric},{value:.3f},{labels}\n")
            stream.writelines(lines)
            written += len(lines)


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float  # the largest resident memory of the command's process tree at once


def measure(command: Sequence[str | Path], **environment: str) -> Measured:
    """Run a command (output discarded) and measure it; it must succeed."""
    env = {**os.environ, **environment}
    start = time.perf_counter()
    process = subprocess.Popen([str(part) for part in command], env=env, stdout=subprocess.DEVNULL)
    peak = _watch(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    peak.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({process.returncode})")
    # ru_maxrss (KiB) is exact for the process itself; the sampled sum covers its children
    return Measured(seconds, max(usage.ru_maxrss * 1024, peak.most) / MiB)


class _watch:
    """Samples the resident memory of a process and its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.most = 0
        self._done = threading.Event()
        self._process = psutil.Process(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                self.most = max(self.most, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def how_to_run(script: str, options: str) -> str:
    return f"run: .venv/bin/python benchmarks/{script} {options}".rstrip()
