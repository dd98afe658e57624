"""Time limits of `capplan check`: --timeout bounds each HTTP request as a whole (a server that
trickles a byte at a time fails at it), and --deadline bounds the whole run (what it stops is
UNKNOWN with the reason, the rest keep their figures). Against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from capplan.check import access_log, http, log_reading, targets
from capplan.check.deadline import RunDeadline

from .check_servers import serving, system_binary
from .conftest import Run

# the host's own figures never outrank what these tests look at (the machine is loaded)
CALM = tuple(
    f"--set=scaling_triggers.{name}.{level}={value}"
    for name in ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")
    for level, value in (("critical", 2000), ("warning", 1000))
)
FAST = ("check", "--interval", "0", "--format", "json", *CALM)
TRICKLE_S = 0.5  # one byte every half second
MOST_BYTES = 400  # a trickle ends by itself after 200 s, or when the client goes away
MARGIN_S = 4.0  # the machine is shared and loaded: generous, and far below what a bug takes


class Trickler(BaseHTTPRequestHandler):
    """/open answers at once, /slow after a second; /trickle-body sends its headers at once and
    its body a byte at a time, /trickle-head its status line and headers a byte at a time,
    /trickle-close a body without a length (ended by closing) a byte at a time; /redirect sends
    to /trickle-body after half a second."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            if self.path in ("/open", "/open-after"):
                self._answer(b"ok")
            elif self.path == "/slow":
                time.sleep(1.0)
                self._answer(b"slow")
            elif self.path == "/trickle-body":
                self.send_response(200)
                self.send_header("Content-Length", str(MOST_BYTES))
                self.end_headers()
                self._trickle(b"x" * MOST_BYTES)
            elif self.path == "/trickle-head":
                head = f"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: {'p' * MOST_BYTES}\r\n\r\n"
                self._trickle(head.encode() + b"ok")
            elif self.path == "/redirect":  # to a trickle: the limit holds across the hop
                time.sleep(0.5)
                self.send_response(302)
                self.send_header("Location", "/trickle-body")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/trickle-close":
                self.close_connection = True
                self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                self._trickle(b"x" * MOST_BYTES)
            else:
                self.send_error(404)
        except OSError:  # the client gave up: what the timeout is for
            self.close_connection = True

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, data: bytes) -> None:
        for offset in range(len(data)):
            self.wfile.write(data[offset : offset + 1])
            self.wfile.flush()
            time.sleep(TRICKLE_S)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serving(Trickler) as url:
        yield url


def report(run: Run, *args: str | Path) -> tuple[int, dict[str, Any], float]:
    """Exit code, the JSON report and the seconds the run took."""
    start = time.monotonic()
    result = run(*FAST, *args)
    took = time.monotonic() - start
    assert result.exit_code in (0, 1, 2, 3), result.stderr
    return result.exit_code, json.loads(result.stdout), took


def figures(data: dict[str, Any], url: str) -> dict[str, tuple[Any, str]]:
    """Each figure of one --url: its value, and its reason when UNKNOWN, else its detail."""
    return {
        m["name"]: (m["value"], m["action"] if m["value"] is None else m.get("detail", ""))
        for m in data["metrics"]
        if m["labels"].get("url") == url
    }


# --- --timeout: each request as a whole -------------------------------------------------------


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-head", "/trickle-close", "/redirect"])
def test_a_trickling_server_fails_at_the_timeout(server: str, path: str) -> None:
    start = time.monotonic()
    answer = http.one(targets.http(server + path), timeout=1.5)
    took = time.monotonic() - start
    assert answer == http.Answer(1500.0, "timed out after 1.5 s")
    assert 1.4 <= took < 1.5 + MARGIN_S  # a byte every 0.5 s would keep it for 200 s


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The same server over TLS, with a certificate made for the test and trusted by it."""
    openssl = system_binary("openssl", "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # each request's default context trusts it
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Trickler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-head"])
def test_a_trickle_over_tls_fails_at_the_timeout(tls_server: str, path: str) -> None:
    assert http.one(targets.http(tls_server + "/open"), timeout=5).problem is None  # trusted
    start = time.monotonic()
    answer = http.one(targets.http(tls_server + path), timeout=1.5)
    assert answer == http.Answer(1500.0, "timed out after 1.5 s")
    assert time.monotonic() - start < 1.5 + MARGIN_S


def test_an_answer_within_the_timeout_is_timed_not_cut(server: str) -> None:
    answer = http.one(targets.http(server + "/slow"), timeout=5)
    assert answer.problem is None and not answer.cut
    assert answer.ms is not None and 1000 <= answer.ms < 5000


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-head", "/trickle-close"])
def test_the_check_of_a_trickling_url_ends_at_requests_times_the_timeout(
    run: Run, server: str, path: str
) -> None:
    url = server + path
    _, data, took = report(run, "--url", url, "--requests", "3", "--timeout", "1")
    assert took < 3 * 1 + MARGIN_S
    found = figures(data, url)
    assert found["api_error_rate_percent"][0] == 100
    assert found["api_p50_ms"] == (1000, "3 of 3 requests (3 x timed out after 1 s)")


# --- --deadline: the whole run ----------------------------------------------------------------


def access_lines(now: dt.datetime, count: int) -> str:
    """A line from before a 5-minute window (which it then covers), and `count` in it."""
    stamps = [now - dt.timedelta(seconds=seconds) for seconds in (600, *range(60, 60 - count, -1))]
    return "".join(
        f'10.0.0.1 - - [{moment:%d/%b/%Y:%H:%M:%S %z}] "GET /p/{n} HTTP/1.1" 200 2 "-" "x" 0.010\n'
        for n, moment in enumerate(stamps)
    )


def test_a_slow_url_stops_at_the_deadline_and_the_rest_keep_their_figures(
    run: Run, server: str, tmp_path: Path, now: dt.datetime
) -> None:
    """20 requests of a second each would take 20 s; the deadline of 3 s ends the run, the slow
    URL and the one after it are UNKNOWN with the reason, the host, the URL before it and the
    access log keep their figures."""
    log = tmp_path / "access.log"
    log.write_text(access_lines(now, 5), encoding="utf-8")
    fast, slow, after = server + "/open", server + "/slow", server + "/open-after"
    code, data, took = report(
        run,
        *("--url", fast, "--url", slow, "--url", after, "--access-log", log),
        *("--requests", "20", "--timeout", "5", "--deadline", "3s"),
    )
    assert took < 3 + MARGIN_S
    assert code == 3 and data["status"] == "UNKNOWN"
    stopped = figures(data, slow)
    assert set(stopped) == set(http.FIGURES)
    reasons = {action for value, action in stopped.values() if value is None}
    assert len(reasons) == 1 and len(stopped) == 5
    (reason,) = reasons
    done = re.fullmatch(r"deadline of 3 s reached after (\d+) of 20 requests", reason)
    assert done is not None and int(done[1]) < 3
    assert all(value is None for value, _ in figures(data, after).values())
    assert {action for _, action in figures(data, after).values()} == {
        "deadline of 3 s reached before it was measured"
    }
    assert figures(data, fast)["api_error_rate_percent"][0] == 0
    assert figures(data, fast)["api_p95_ms"][0] is not None
    measured = {m["name"]: m["value"] for m in data["metrics"] if m["value"] is not None}
    assert measured["access_requests_per_second"] == pytest.approx(5 / 300)
    assert "cpu_percent" in measured and "memory_percent" in measured


def test_a_trickle_is_cut_by_a_deadline_shorter_than_its_timeout(run: Run, server: str) -> None:
    url = server + "/trickle-body"
    _, data, took = report(run, "--url", url, "--timeout", "60", "--deadline", "2s")
    assert took < 2 + MARGIN_S
    assert {action for _, action in figures(data, url).values()} == {
        "deadline of 2 s reached after 0 of 20 requests"
    }


def test_a_run_within_its_deadline_keeps_every_figure(run: Run, server: str) -> None:
    url = server + "/open"
    code, data, _ = report(run, "--url", url, "--requests", "5", "--deadline", "30s")
    assert code == 0 and data["status"] == "OK"
    found = figures(data, url)
    assert set(found) == set(http.FIGURES)
    assert all(value is not None for value, _ in found.values())
    assert found["api_p50_ms"][1] == "5 of 5 requests"


def test_the_nagios_line_of_a_run_the_deadline_stopped_is_unknown(run: Run, server: str) -> None:
    result = run(
        "check", "--interval", "0", "--format", "nagios", "--url", server + "/slow",
        "--deadline", "2s", *CALM,
    )  # fmt: skip
    assert result.exit_code == 3
    assert result.stdout.startswith("CAPPLAN UNKNOWN")
    assert "deadline of 2 s reached" in result.stdout


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("0s", "expected a duration such as 30s, 5m, 1h"),
        ("50", "expected a duration such as 30s, 5m, 1h"),
        ("-5s", "expected a duration such as 30s, 5m, 1h"),
        ("1.5s", "expected a duration such as 30s, 5m, 1h"),
        ("99999999999999h", "expected a duration of at most 100 years (36500d)"),
        ("36501d", "expected a duration of at most 100 years (36500d)"),
    ],
)
def test_a_bad_deadline_is_refused_in_one_line(run: Run, given: str, problem: str) -> None:
    result = run(*FAST, "--deadline", given)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"capplan check: error: --deadline {given}: {problem}"
    ]


@pytest.mark.parametrize(("interval", "deadline"), [("5", "5s"), ("120", "1m"), ("3600", "50s")])
def test_an_interval_as_long_as_the_deadline_is_refused(
    run: Run, interval: str, deadline: str
) -> None:
    result = run("check", "--interval", interval, "--deadline", deadline, *FAST[3:])
    assert result.exit_code == 3
    assert "--interval" in result.stderr and "--deadline" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the access log under the deadline --------------------------------------------------------


def test_an_access_log_after_the_deadline_is_unknown_before_it_is_read(
    tmp_path: Path, now: dt.datetime
) -> None:
    log = tmp_path / "access.log"
    log.write_text(access_lines(now, 3), encoding="utf-8")
    passed = RunDeadline(time.monotonic() - 1, 7)
    found, _ = access_log.measure(
        log, window=300, top=5, log_format="auto", now=now, deadline=passed
    )
    assert {(m.name, m.value, m.reason) for m in found} == {
        ("access_requests_per_second", None, "deadline of 7 s reached before it was read"),
        ("active_sessions", None, "deadline of 7 s reached before it was read"),
    }


@pytest.mark.parametrize("calls", [1, 2, 4])
def test_the_deadline_stops_a_log_read_between_blocks_naming_the_file(
    tmp_path: Path, now: dt.datetime, calls: int
) -> None:
    """Each file is read in blocks; the deadline is looked at before each, and the file being
    read when it passes is named."""
    lines = access_lines(now, 1).encode()
    for name in ("access.log", "access.log.1", "access.log.2"):  # each a block and a half
        (tmp_path / name).write_bytes(lines * (log_reading.BLOCK * 3 // 2 // len(lines)))
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks > calls:
            raise log_reading.DeadlinePassed("deadline of 9 s reached")

    start = now.timestamp() - 3600  # the window reaches past every file
    with pytest.raises(log_reading.DeadlinePassed) as stopped:
        log_reading.read(tmp_path / "access.log", access_log.pattern("auto"), start, tick=tick)
    reading = {1: "access.log", 2: "access.log.1", 4: "access.log.2"}[calls]
    assert str(stopped.value) == f"deadline of 9 s reached while reading {reading}"
