"""A live node_exporter on this host, scraped every second by a real Prometheus: the current
values that `trend` reads from Prometheus agree with `capplan check` run on the same host,
within the noise of a scrape (memory and load move between the two readings)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.check_servers import free_port, system_binary
from tests.conftest import Run
from tests.prometheus_fleet import prometheus_server

COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "diskstats", "netdev")


@pytest.fixture(scope="module")
def scraped() -> Iterator[str]:
    """A Prometheus that has scraped this host's node_exporter for a few seconds."""
    exporter = system_binary("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            *(f"--collector.{name}" for name in COLLECTORS),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scrape = (
        "  - job_name: node\n"
        "    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    try:
        with prometheus_server(scrape=scrape) as url:
            _wait_for_samples(url, "node_cpu_seconds_total", 5)
            yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_for_samples(url: str, name: str, count: int, seconds: float = 90) -> None:
    query = urllib.parse.urlencode({"query": f"count_over_time({name}[5m])"})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as answer:
            result = json.loads(answer.read())["data"]["result"]
        if result and min(float(r["value"][1]) for r in result) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {name} {count} times")


def _latest(forecasts: list[dict[str, Any]], metric: str, **labels: str) -> float:
    found = [
        f["latest"]
        for f in forecasts
        if f["metric"] == metric and all(f["labels"].get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (metric, labels, [f["labels"] for f in forecasts])
    value: float = found[0]
    return value


def test_current_values_from_prometheus_agree_with_check_on_the_same_host(
    run: Run, scraped: str
) -> None:
    from_prometheus = run("trend", "--history", scraped, "--since", "1h", "--format", "json")
    checked = run("check", "--format", "json", "--interval", "1", "--path", "/")
    assert from_prometheus.exit_code == 0, from_prometheus.stderr
    forecasts = json.loads(from_prometheus.stdout)["forecasts"]
    measured = {
        (m["name"], tuple(sorted(m.get("labels", {}).items()))): m["value"]
        for m in json.loads(checked.stdout)["metrics"]
    }
    assert {f["labels"]["instance"] for f in forecasts} == {scraped_instance(forecasts)}
    memory = _latest(forecasts, "memory_percent")
    assert memory == pytest.approx(measured[("memory_percent", ())], abs=3)
    disk = _latest(forecasts, "disk_percent", path="/")
    assert disk == pytest.approx(measured[("disk_percent", (("path", "/"),))], abs=1)
    load = _latest(forecasts, "load_per_core")
    assert load == pytest.approx(measured[("load_per_core", ())], abs=1.0)  # a busy shared host
    cpu = _latest(forecasts, "cpu_percent")
    assert 0 <= cpu <= 100
    assert any(f["metric"] == "disk_write_bytes_per_second" for f in forecasts)


def scraped_instance(forecasts: list[dict[str, Any]]) -> str:
    instance: str = forecasts[0]["labels"]["instance"]
    assert instance.startswith("127.0.0.1:")
    return instance
