"""The rest of the Essential Metrics: disk I/O and network measured while the test makes known
traffic, and the web server's access log written by a real nginx that the test starts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .check_servers import free_port, http_server, system_binary
from .conftest import Run

FAST = ("check", "--interval", "0", "--format", "json")


def report(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run(*FAST, *args)
    assert result.exit_code in (0, 1, 2, 3), result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def values(data: dict[str, Any], name: str, label: str) -> dict[str, Any]:
    return {m["labels"][label]: m["value"] for m in data["metrics"] if m["name"] == name}


# --- disk I/O and network ---------------------------------------------------------------------


def block_device_of(path: Path) -> str:
    """The whole disk that holds `path` (vda for /dev/vda1)."""
    device = path.stat().st_dev
    link = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")
    if not link.exists():
        pytest.skip(f"{path} is on no block device (overlay or tmpfs)")
    resolved = link.resolve()
    return resolved.parent.name if (resolved / "partition").exists() else resolved.name


def later(seconds: float, action: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_disk_writes_during_the_interval_show_in_the_write_rate(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = block_device_of(tmp_path)
    size = 32 * 1024 * 1024
    from capplan.check import io

    started = threading.Event()
    read = io.counters

    def first_reading() -> io.Counters:  # the real counters; the writer waits for the first
        counters = read()
        started.set()
        return counters

    monkeypatch.setattr(io, "counters", first_reading)

    def write() -> None:
        assert started.wait(60), "the check never read the disk counters"
        with (tmp_path / "blob").open("wb") as stream:
            stream.write(os.urandom(size))
            stream.flush()
            os.fsync(stream.fileno())

    writer = later(0.0, write)
    result = run("check", "--interval", "2", "--device", device, "--format", "json")
    writer.join()
    data = json.loads(result.stdout)
    written = values(data, "disk_write_bytes_per_second", "device")[device]
    assert written >= size / 2.25  # the bytes over the interval (and the counters' reading)
    assert values(data, "disk_write_ops_per_second", "device")[device] > 0
    assert 0 < values(data, "disk_busy_percent", "device")[device] <= 100


def test_loopback_traffic_shows_when_asked_for(run: Run) -> None:
    size = 8 * 1024 * 1024
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            while connection.recv(1 << 16):
                pass

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"x" * size)

    receiver = threading.Thread(target=serve)
    receiver.start()
    sender = later(0.3, send)
    result = run("check", "--interval", "2", "--nic", "lo", "--format", "json")
    sender.join()
    receiver.join()
    server.close()
    data = json.loads(result.stdout)
    assert values(data, "network_receive_bytes_per_second", "nic")["lo"] >= size / 2.25
    assert values(data, "network_transmit_bytes_per_second", "nic")["lo"] >= size / 2.25
    assert values(data, "network_errors_per_second", "nic")["lo"] == 0


def test_loopback_and_virtual_devices_are_left_out_by_default(run: Run) -> None:
    data = report(run)
    assert "lo" not in values(data, "network_receive_bytes_per_second", "nic")
    assert not [d for d in values(data, "disk_read_bytes_per_second", "device") if "loop" in d]
    rates = [m for m in data["metrics"] if m["name"] == "disk_read_bytes_per_second"]
    assert all(m["detail"] == "average since boot (--interval 0)" for m in rates)
    assert all(m["warning"] is None and m["status"] == "OK" for m in rates)  # no thresholds


def test_an_unknown_device_is_unknown_and_names_the_devices(run: Run) -> None:
    data = report(run, "--device", "nosuchdisk")
    (missing,) = [m for m in data["metrics"] if m["labels"].get("device") == "nosuchdisk"]
    assert missing["status"] == "UNKNOWN" and missing["action"].startswith("no such device")


def test_io_thresholds_apply_when_thresholds_yaml_gives_them(run: Run, tmp_path: Path) -> None:
    from .conftest import ROOT

    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  # network_errors_per_second:",
        "  network_drops_per_second: {warning: -2, critical: -1, action: Check the NIC}\n"
        "  # network_errors_per_second:",
    )
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    data = report(run, "--thresholds", path, "--nic", "lo")
    (drops,) = [m for m in data["metrics"] if m["name"] == "network_drops_per_second"]
    assert (drops["status"], drops["action"], drops["critical"]) == (
        "CRITICAL",
        "Check the NIC",
        -1,
    )


# --- the access log ---------------------------------------------------------------------------

TIMED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time'
)
# path -> (requests, status)
TRAFFIC = {
    "/health": (5, 200),
    "/products/1": (1, 200),
    "/products/22?color=red": (1, 200),
    "/products/333": (1, 200),
    "/missing": (2, 404),
    "/slow": (2, 200),
    "/broken": (1, 500),
}


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real nginx on 127.0.0.1 that logs $request_time, in front of a Python backend for the
    slow and broken answers; yields its URL and its access log."""
    binary = system_binary("nginx", "nginx", where="/usr/sbin")
    root = tmp_path / "nginx"
    for folder in ("logs", "temp"):
        (root / folder).mkdir(parents=True)
    port = free_port()
    log = root / "logs" / "access.log"
    with http_server() as backend:
        config = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    log_format timed '{TIMED}';
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        access_log {log} timed;
        location = /health {{ return 200 "ok"; }}
        location /products/ {{ return 200 "product"; }}
        location = /missing {{ return 404; }}
        location = /slow {{ proxy_pass {backend}/slow; }}
        location = /broken {{ proxy_pass {backend}/broken; }}
    }}
}}
"""
        (root / "nginx.conf").write_text(config, encoding="utf-8")
        process = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{url}/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            while not log.stat().st_size:  # the probe's line, written as its request ended
                time.sleep(0.01)
            log.write_bytes(b"")  # forget the readiness probes (nginx appends: O_APPEND)
            yield url, log
        finally:
            process.terminate()
            process.wait(timeout=10)


def drive(url: str) -> None:
    for path, (times, _) in TRAFFIC.items():
        for _ in range(times):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"{url}{path}", timeout=5).close()


def logged_times_ms(log: Path) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) * 1000 for line in log.read_text().splitlines()]


def test_nginx_access_log_gives_exact_counts_and_latency(run: Run, nginx: tuple[str, Path]) -> None:
    url, log = nginx
    began = time.time()
    drive(url)
    time.sleep(0.2)  # nginx writes each line as its request ends
    total = sum(times for times, _ in TRAFFIC.values())
    assert len(log.read_text().splitlines()) == total
    data = report(run, "--access-log", log, "--window", "5m")
    ended = time.time()
    assert values(data, "access_endpoint_requests", "endpoint") == {
        "GET /health": 5,
        "GET /products/:id": 3,
        "GET /missing": 2,
        "GET /slow": 2,
        "GET /broken": 1,
    }
    assert values(data, "access_status_requests", "status") == {"200": 10, "404": 2, "500": 1}
    rates = values(data, "access_error_rate_percent", "status")
    assert rates == pytest.approx({"4xx": 100 * 2 / total, "5xx": 100 * 1 / total})
    # the log began with this traffic, a few seconds ago: the rate is over what it covers, from
    # its first line (stamped to the second) to now, at least a second, and a note says so
    (overall,) = [m for m in data["metrics"] if m["name"] == "access_requests_per_second"]
    covered = total / overall["value"]
    assert 1 <= covered <= max(1.0, ended - int(began))
    assert overall["detail"].startswith(f"{total} requests in the ")
    assert "of the last 5 min that the log covers" in overall["detail"]
    assert any(f"{log}: the log covers" in note for note in data["notes"])
    logged = logged_times_ms(log)
    expected = statistics.quantiles(sorted(logged), n=100, method="inclusive")
    for name, q in (("api_p50_ms", 50), ("api_p95_ms", 95), ("api_p99_ms", 99)):
        (latency,) = [m for m in data["metrics"] if m["name"] == name]
        assert latency["labels"] == {"log": str(log)}
        assert latency["value"] == pytest.approx(expected[q - 1], abs=1e-6)
    p95 = next(m for m in data["metrics"] if m["name"] == "api_p95_ms")
    assert p95["value"] >= 300 and p95["warning"] == 500  # the slow path, against api_p95_ms
    sessions = next(m for m in data["metrics"] if m["name"] == "active_sessions")
    assert sessions["value"] == 1 and "estimate" in sessions["detail"]


def clf(moment: dt.datetime) -> str:
    return moment.strftime("%d/%b/%Y:%H:%M:%S %z")


def line(moment: dt.datetime, path: str = "/health", status: int = 200, ms: int = 12) -> str:
    return (
        f'10.0.0.{moment.second % 7} - - [{clf(moment)}] "GET {path} HTTP/1.1" {status} 2 "-" '
        f'"curl/8" {ms / 1000:.3f}\n'
    )


def test_a_rotated_log_is_followed_when_the_window_reaches_into_it(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"
    (tmp_path / "access.log.1").write_text(
        line(now - dt.timedelta(minutes=30), "/old")
        + "".join(line(now - dt.timedelta(minutes=4, seconds=s), "/rotated") for s in (9, 8, 7)),
        encoding="utf-8",
    )
    log.write_text(
        "".join(line(now - dt.timedelta(minutes=1, seconds=s), "/current") for s in (3, 2)),
        encoding="utf-8",
    )
    wide = report(run, "--access-log", log, "--window", "5m")
    assert values(wide, "access_endpoint_requests", "endpoint") == {
        "GET /rotated": 3,
        "GET /current": 2,
    }
    narrow = report(run, "--access-log", log, "--window", "2m")
    assert values(narrow, "access_endpoint_requests", "endpoint") == {"GET /current": 2}


def test_garbage_lines_are_counted_never_fatal(run: Run, tmp_path: Path, now: dt.datetime) -> None:
    log = tmp_path / "access.log"
    recent = [line(now - dt.timedelta(seconds=s), "/ok") for s in (50, 40, 30)]
    log.write_text(
        recent[0] + "\x00\x01 binary noise\n" + recent[1] + "not a log line at all\n" + recent[2]
        + '1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "-"\n',
        encoding="utf-8",
    )  # fmt: skip
    data = report(run, "--access-log", log)
    assert values(data, "access_endpoint_requests", "endpoint") == {"GET /ok": 3}
    assert values(data, "access_malformed_lines", "log") == {str(log): 3}
    assert any("3 line(s) could not be read" in note for note in data["notes"])


def test_only_the_end_of_the_file_that_the_window_needs_is_read(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    """Garbage at the start of a long log is never reached: the reading stops at the first line
    older than the window."""
    log = tmp_path / "access.log"
    old = line(now - dt.timedelta(days=1), "/yesterday")
    with log.open("w", encoding="utf-8") as stream:
        stream.write("garbage that a full read would count\n" * 3)
        stream.write(old * 20_000)
        stream.writelines(line(now - dt.timedelta(seconds=s), "/now") for s in (9, 8))
    data = report(run, "--access-log", log)
    assert values(data, "access_endpoint_requests", "endpoint") == {"GET /now": 2}
    assert values(data, "access_malformed_lines", "log") == {str(log): 0}


def test_apache_microseconds_and_a_custom_pattern(
    run: Run, tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "apache.log"
    moment = clf(now - dt.timedelta(seconds=10))
    log.write_text(
        f'10.0.0.1 - - [{moment}] "POST /api/orders HTTP/1.1" 201 2 "-" "x" 250000\n',
        encoding="utf-8",
    )
    data = report(run, "--access-log", log, "--log-format", "apache")
    assert next(m for m in data["metrics"] if m["name"] == "api_p50_ms")["value"] == 250
    custom = tmp_path / "custom.log"
    custom.write_text(f"{moment}|GET|/x/42|503|0.5\n", encoding="utf-8")
    data = report(
        run, "--access-log", custom, "--log-format",
        r"^(?P<time>[^|]+)\|(?P<method>\w+)\|(?P<path>[^|]+)\|(?P<status>\d+)\|(?P<seconds>[\d.]+)$",
    )  # fmt: skip
    assert values(data, "access_status_requests", "status") == {"503": 1}
    assert values(data, "access_endpoint_requests", "endpoint") == {"- /x/:id": 1}
    result = run(*FAST, "--access-log", custom, "--log-format", "(?P<time>x")
    assert result.exit_code == 3 and "not a regular expression" in result.stderr


def test_a_missing_log_is_unknown_and_a_bad_window_is_refused(run: Run, tmp_path: Path) -> None:
    data = report(run, "--access-log", tmp_path / "none.log")
    (missing,) = [m for m in data["metrics"] if m["name"] == "access_requests_per_second"]
    assert (missing["status"], missing["action"]) == ("UNKNOWN", "no such file")
    result = run(*FAST, "--access-log", tmp_path / "none.log", "--window", "5 minutes")
    assert result.exit_code == 3
    assert "--window 5 minutes: expected a duration such as 30s, 5m, 1h" in result.stderr
