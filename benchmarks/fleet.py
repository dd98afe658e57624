"""A fleet's Platform Health page from Prometheus: 50 instances x 8 metrics x 90 days.

The script backfills a temporary Prometheus (Debian's `prometheus`, on 127.0.0.1) with
`promtool tsdb create-blocks-from openmetrics`: per instance node_exporter's series for
cpu_percent (two cores), memory_percent, disk_percent and load_per_core, and capplan's for
db_size_gb, storage_gb, products_total and api_p95_ms, a sample every --every minutes over 90
days. Then, in the same run:
- `capplan report --history URL --mix examples/growing.yaml -o page.html` (wall time and the
  peak resident memory of capplan's process; Prometheus is a process of its own);
- the same reads in-process, summing Prometheus' own evaluation time of every query
  (`stats=all`: evalTotalTime), beside capplan's wall time for them;
- `python -c pass`, the floor of any command.

Targets (issue 23): under 20 s and under 300 MB for 50 x 8 x 90 days.

Run (scaled down, a few minutes): .venv/bin/python benchmarks/fleet.py --instances 50 --every 60
Full density (5-minute samples; about 25 minutes of promtool): --instances 50 --every 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from history_data import CAPPLAN, Measured, how_to_run, measure

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20.0
TARGET_MIB = 300.0
DAYS = 90


def openmetrics(path: Path, instances: int, every: int, end: dt.datetime) -> int:
    """The fleet's series, written family by family; the number of samples."""
    steps = DAYS * 24 * 60 // every
    times = [int((end - dt.timedelta(minutes=every * k)).timestamp()) for k in range(steps, -1, -1)]
    hosts = [f"app-{i:02d}:9100" for i in range(instances)]
    written = 0

    def days(t: int) -> float:
        return (t - times[0]) / 86_400

    families: list[tuple[str, str, str, Callable[[int, int], float]]] = [
        ("node_memory_MemTotal_bytes", "gauge", "", lambda i, t: 16e9),
        ("node_memory_MemAvailable_bytes", "gauge", "",
         lambda i, t: 16e9 * (1 - (30 + 0.3 * (i % 7) * days(t) / 10) / 100)),
        ("node_filesystem_size_bytes", "gauge", ',device="/dev/vda1",fstype="ext4",mountpoint="/"',
         lambda i, t: 200e9),
        ("node_filesystem_free_bytes", "gauge", ',device="/dev/vda1",fstype="ext4",mountpoint="/"',
         lambda i, t: 200e9 * (1 - (20 + 0.2 * (i % 5 + 1) * days(t)) / 100)),
        ("node_filesystem_avail_bytes", "gauge", ',device="/dev/vda1",fstype="ext4",mountpoint="/"',
         lambda i, t: 200e9 * (1 - (20 + 0.2 * (i % 5 + 1) * days(t)) / 100)),
        ("node_load1", "gauge", "", lambda i, t: 2 * (0.2 + 0.004 * (i % 9) * days(t))),
        ("capplan_db_size_bytes", "gauge", ',db="shop"', lambda i, t: (5 + 0.05 * days(t)) * 1e9),
        ("capplan_storage_bytes", "gauge", ',path="/srv/uploads"',
         lambda i, t: (100 + (i % 4) * days(t)) * 1e9),
        ("capplan_products", "gauge", "", lambda i, t: 100_000 + 500 * (i % 3) * days(t)),
        ("capplan_api_latency_p95_seconds", "gauge", ',url="https://shop.example/api"',
         lambda i, t: 0.12 + 0.001 * (i % 6) * days(t)),
    ]  # fmt: skip
    with path.open("w", encoding="utf-8") as stream:
        for name, kind, extra, value in families:
            stream.write(f"# TYPE {name} {kind}\n")
            for i, host in enumerate(hosts):
                labels = f'instance="{host}",job="node"{extra}'
                stream.writelines(f"{name}{{{labels}}} {value(i, t):.6g} {t}\n" for t in times)
                written += len(times)
        stream.write("# TYPE node_cpu_seconds_total counter\n")
        for host in hosts:
            for cpu in range(2):
                labels = f'instance="{host}",job="node",cpu="{cpu}",mode="idle"'
                stream.writelines(
                    f"node_cpu_seconds_total{{{labels}}} {0.6 * (t - times[0]):.6g} {t}\n"
                    for t in times
                )
                written += len(times)
        stream.write("# EOF\n")
    return written


def start_prometheus(data: Path, every: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = data.parent / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n", encoding="utf-8")
    process = subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=10y",
            f"--query.lookback-delta={max(5, 2 * every)}m",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("prometheus did not become ready")


def line(name: str, measured: Measured, note: str = "") -> str:
    return f"{name:<46} {measured.seconds:7.2f} s  {measured.peak_mib:6.1f} MiB  {note}"


def in_process(url: str) -> tuple[float, float, int]:
    """capplan's wall time reading every series, Prometheus' own evaluation time, series read."""
    from capplan.history_prometheus import PrometheusHistory
    from capplan.history_source import locate
    from capplan.trend import MAX_POINTS

    source = PrometheusHistory(locate(url))
    start = time.perf_counter()
    count = sum(1 for _ in source.series(most=MAX_POINTS))
    source.facts()
    return time.perf_counter() - start, source.server_seconds, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--every", type=int, default=60, help="minutes between samples")
    args = parser.parse_args()
    print(how_to_run("fleet.py", f"--instances {args.instances} --every {args.every}"))
    end = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    end -= dt.timedelta(minutes=end.minute % args.every)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source, data, page = root / "fleet.om", root / "data", root / "fleet.html"
        data.mkdir()
        started = time.perf_counter()
        samples = openmetrics(source, args.instances, args.every, end)
        subprocess.run(
            [shutil.which("promtool") or "promtool", "tsdb", "create-blocks-from", "openmetrics",
             "-q", "--max-block-duration=2400h", str(source), str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        source.unlink()
        print(
            f"backfilled {samples:,} samples ({args.instances} instances, a sample every "
            f"{args.every} min over {DAYS} days) in {time.perf_counter() - started:.0f} s"
        )
        process, url = start_prometheus(data, args.every)
        try:
            floor = measure([sys.executable, "-c", "pass"])
            mix = ROOT / "examples" / "growing.yaml"
            report = measure([*CAPPLAN, "report", "--history", url, "--mix", mix, "-o", page])
            reads, server, series = in_process(url)
            as_json = subprocess.run(
                [*CAPPLAN, "report", "--history", url, "--format", "json"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            hosts = len(json.loads(as_json)["fleet"])
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(line("python -c pass", floor))
        print(line("capplan report (fleet page from Prometheus)", report))
        print(
            f"{'  of which reading the series (in-process)':<46} {reads:7.2f} s  "
            f"Prometheus' own query time {server:.2f} s; {series:,} series, {hosts} hosts"
        )
        print(f"page: {page.stat().st_size / 1e6:.2f} MB" if page.exists() else "page: missing")
        ok = report.seconds < TARGET_SECONDS and report.peak_mib < TARGET_MIB
        verdict = "meets" if ok else "MISSES"
        print(
            f"{verdict} the target: under {TARGET_SECONDS:g} s and {TARGET_MIB:g} MB "
            f"({math.ceil(report.seconds * 100) / 100:g} s, {report.peak_mib:.0f} MiB)"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
