"""A real Prometheus for the fleet tests, on 127.0.0.1 with a temporary storage directory, its TSDB
backfilled by `promtool tsdb create-blocks-from openmetrics` with a fleet of known slopes."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.check_servers import free_port, system_binary

HOUR = 3600
DAYS = 90
# The fleet's history ends at the last full hour but one; forecasts are made half an hour later.
END = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) - dt.timedelta(
    hours=1
)
NOW = END + dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Line:
    """value(t) = level + slope_per_day * (days from `cross`): it crosses `level` at `cross`."""

    level: float
    slope_per_day: float
    cross: dt.datetime

    def at(self, moment: dt.datetime) -> float:
        return self.level + self.slope_per_day * (moment - self.cross).total_seconds() / 86_400


def instances() -> list[str]:
    return [f"web-{i}:9100" for i in range(3)]


def fleet_lines(end: dt.datetime) -> dict[tuple[str, str], Line]:
    """(metric, instance) -> the known line; every crossing falls at noon, days after `end`."""
    noon = end.replace(hour=12, minute=0, second=0, microsecond=0)
    lines: dict[tuple[str, str], Line] = {}
    for i, instance in enumerate(instances()):
        day = dt.timedelta(days=1)
        lines[("memory_percent", instance)] = Line(
            75, (0.1, 0.05, 0.2)[i], noon + (10 + 20 * i) * day
        )
        lines[("disk_percent", instance)] = Line(70, (0.2, 0.3, 0.1)[i], noon + (30 + 15 * i) * day)
        lines[("load_per_core", instance)] = Line(1.0, 0.005, noon + (40 + 5 * i) * day)
        lines[("db_size_gb", instance)] = Line(20, 0.1, noon + (50 + 10 * i) * day)
    lines[("products_total", instances()[0])] = Line(
        400_000, 1000, noon + 60 * dt.timedelta(days=1)
    )
    return lines


MEM_TOTAL = 8e9
DISK_SIZE = 100e9
CORES = 2


def moments(end: dt.datetime) -> list[dt.datetime]:
    return [end - dt.timedelta(hours=h) for h in range(DAYS * 24 - 1, -1, -1)]


def openmetrics(end: dt.datetime) -> str:
    """node_exporter's and capplan's series for the fleet, hourly over 90 days up to `end`."""
    lines = fleet_lines(end)
    times = moments(end)
    out: list[str] = []

    def family(name: str, kind: str, rows: list[tuple[str, list[float]]]) -> None:
        out.append(f"# TYPE {name} {kind}")
        for labels, values in rows:
            for moment, value in zip(times, values, strict=True):
                out.append(f"{name}{{{labels}}} {value!r} {int(moment.timestamp())}")

    def node(instance: str, extra: str = "") -> str:
        return f'instance="{instance}",job="node"{extra}'

    family("node_memory_MemTotal_bytes", "gauge",
           [(node(i), [MEM_TOTAL] * len(times)) for i in instances()])  # fmt: skip
    family(
        "node_memory_MemAvailable_bytes",
        "gauge",
        [
            (node(i), [MEM_TOTAL * (1 - lines[("memory_percent", i)].at(t) / 100) for t in times])
            for i in instances()
        ],
    )
    root = ',device="/dev/vda1",fstype="ext4",mountpoint="/"'
    run = ',device="tmpfs",fstype="tmpfs",mountpoint="/run"'
    family(
        "node_filesystem_size_bytes",
        "gauge",
        [(node(i, fs), [DISK_SIZE] * len(times)) for i in instances() for fs in (root, run)],
    )
    avail_rows = [
        (node(i, root), [DISK_SIZE * (1 - lines[("disk_percent", i)].at(t) / 100) for t in times])
        for i in instances()
    ] + [(node(i, run), [DISK_SIZE * 0.01] * len(times)) for i in instances()]
    family("node_filesystem_free_bytes", "gauge", avail_rows)  # no blocks reserved for root
    family(
        "node_filesystem_avail_bytes",
        "gauge",
        [
            (
                node(i, root),
                [DISK_SIZE * (1 - lines[("disk_percent", i)].at(t) / 100) for t in times],
            )
            for i in instances()
        ]
        + [(node(i, run), [DISK_SIZE * 0.01] * len(times)) for i in instances()],
    )
    family(
        "node_load1",
        "gauge",
        [
            (node(i), [CORES * lines[("load_per_core", i)].at(t) for t in times])
            for i in instances()
        ],
    )
    start = times[0]
    family(
        "node_cpu_seconds_total",
        "counter",
        [
            (node(i, f',cpu="{c}",mode="idle"'), [0.5 * (t - start).total_seconds() for t in times])
            for i in instances()
            for c in range(CORES)
        ],
    )
    family(
        "capplan_db_size_bytes",
        "gauge",
        [
            (f'db="shop",{node(i)}', [lines[("db_size_gb", i)].at(t) * 1e9 for t in times])
            for i in instances()
        ],
    )
    first = instances()[0]
    family("capplan_products", "gauge",
           [(node(first), [lines[("products_total", first)].at(t) for t in times])])  # fmt: skip
    out.append("# EOF")
    return "\n".join(out) + "\n"


def history_csv(end: dt.datetime) -> str:
    """The same samples, as capplan's metrics, in the CSV that `history import` reads."""
    lines = fleet_lines(end)
    rows = ["timestamp,metric,value,labels"]
    for moment in moments(end):
        stamp = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
        for (metric, instance), line in lines.items():
            labels: dict[str, str] = {"instance": instance}
            if metric == "disk_percent":
                labels["path"] = "/"
            if metric == "db_size_gb":
                labels["db"] = "shop"
            text = json.dumps(labels, sort_keys=True).replace('"', '""')
            rows.append(f'{stamp},{metric},{line.at(moment)!r},"{text}"')
        for instance in instances():
            rows.append(f'{stamp},cpu_percent,50.0,"{{""instance"": ""{instance}""}}"')
    return "\n".join(rows) + "\n"


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("prometheus did not become ready")


@contextmanager
def prometheus_server(
    *, openmetrics_text: str | None = None, scrape: str = "", rules: Path | None = None
) -> Iterator[str]:
    """A Prometheus on 127.0.0.1 (its URL), backfilled with `openmetrics_text` when given,
    scraping what `scrape` (scrape_configs YAML) says, loading `rules` when given."""
    prometheus = system_binary("prometheus", "prometheus")
    base = Path(tempfile.mkdtemp(prefix="capplan-prom-"))
    data = base / "data"
    data.mkdir()
    if openmetrics_text is not None:
        promtool = system_binary("promtool", "prometheus")
        (base / "fleet.om").write_text(openmetrics_text, encoding="utf-8")
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
             "--max-block-duration=2400h", str(base / "fleet.om"), str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        (base / "fleet.om").unlink()
    config = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
    if rules is not None:
        config += f"rule_files:\n  - {rules}\n"
    if scrape:
        config += "scrape_configs:\n" + scrape
    (base / "prometheus.yml").write_text(config, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={base / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=10y",
            # the history ends an hour before the hour the tests were collected in: a run that
            # crosses the next hour reads its latest sample up to two hours and more later
            "--query.lookback-delta=3h",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(base / "log").open("wb"),
    )
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """A Prometheus whose TSDB holds the fleet's 90 days (see openmetrics)."""
    with prometheus_server(openmetrics_text=openmetrics(END)) as url:
        yield url
