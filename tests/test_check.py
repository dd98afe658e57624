"""`capplan check` on the real host, a real uploads tree and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .check_servers import HTTP_PASSWORD, TOKEN, USER, http_server
from .conftest import ROOT, Run

Write = Callable[[str, str], Path]
FAST = ("check", "--interval", "0")
HOST_TRIGGERS = ("cpu_percent", "memory_percent", "disk_percent", "load_per_core")


def thresholds_with(write: Write, **edits: str) -> Path:
    """thresholds.yaml with some triggers replaced: memory_percent='1, critical: 99'."""
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    for name, replacement in edits.items():
        text = re.sub(
            rf"  {name}: \{{warning: [^,]+, critical: [^,]+",
            f"  {name}: {{warning: {replacement}",
            text,
        )
    return write("thresholds.yaml", text)


def data(run: Run, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run(*FAST, *args, "--format", "json")
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def metric(report: dict[str, Any], name: str, **labels: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        m
        for m in report["metrics"]
        if m["name"] == name and all(m["labels"].get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, report["metrics"])
    return found[0]


def test_core_metrics_are_present_and_plausible(run: Run) -> None:
    result = run("check", "--interval", "0.1", "--format", "json")
    assert result.exit_code in (0, 1, 2), result.stderr
    report = json.loads(result.stdout)
    assert report["status"] in ("OK", "WARNING", "CRITICAL")
    for name in ("cpu_percent", "memory_percent"):
        m = metric(report, name)
        assert 0 <= m["value"] <= 100
        assert m["unit"] == "%"
        assert m["status"] in ("OK", "WARNING", "CRITICAL")
    disk = metric(report, "disk_percent", path="/")
    assert 0 < disk["value"] <= 100
    assert (disk["warning"], disk["critical"], disk["action"] in ("", "Expand storage")) == (
        70,
        85,
        True,
    )
    assert metric(report, "load_per_core")["value"] >= 0
    assert report["host"]["vcpu"] >= 1 and report["host"]["ram_gb"] > 0
    assert report["next_step"]


def test_memory_over_warning_exits_1_and_says_what_to_do(run: Run, write: Write) -> None:
    path = thresholds_with(write, memory_percent="0.001, critical: 99.99")
    code, report = data(run, "--thresholds", path)
    memory = metric(report, "memory_percent")
    assert memory["status"] == "WARNING"
    assert memory["action"] == "Upgrade RAM or add server"
    assert report["status"] in ("WARNING", "CRITICAL")
    if report["status"] == "WARNING":
        assert code == 1
    assert "move to" in report["next_step"] or "Upgrade RAM" in report["next_step"]


def test_memory_over_critical_exits_2(run: Run, write: Write) -> None:
    path = thresholds_with(write, memory_percent="0.001, critical: 0.002")
    code, report = data(run, "--thresholds", path)
    assert metric(report, "memory_percent")["status"] == "CRITICAL"
    assert (report["status"], code) == ("CRITICAL", 2)


def test_all_ok_exits_0(run: Run, write: Write) -> None:
    generous = dict.fromkeys(HOST_TRIGGERS, "1000, critical: 2000")
    code, report = data(run, "--thresholds", thresholds_with(write, **generous))
    assert (report["status"], code) == ("OK", 0)
    assert report["next_step"].startswith("nothing to do")


def test_missing_path_is_unknown_not_a_crash(run: Run, write: Write) -> None:
    generous = dict.fromkeys(HOST_TRIGGERS, "1000, critical: 2000")
    code, report = data(
        run, "--thresholds", thresholds_with(write, **generous), "--path", "/no/such/place"
    )
    disk = metric(report, "disk_percent", path="/no/such/place")
    assert disk["status"] == "UNKNOWN" and disk["value"] is None
    assert "cannot measure /no/such/place" in disk["action"]
    assert (report["status"], code) == ("UNKNOWN", 3)


def test_uploads_tree_triggers_the_files_per_directory_action(
    run: Run, write: Write, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    crowded = uploads / "products" / "ab"
    crowded.mkdir(parents=True)
    for n in range(30):
        (crowded / f"{n:064x}_200.webp").write_bytes(b"x" * 100)
    (uploads / "products" / "cd").mkdir()
    (uploads / "products" / "cd" / "one_800.webp").write_bytes(b"y" * 50)
    (uploads / "notes.txt").write_text("not an image", encoding="utf-8")
    text = (
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace("{from: 100000, label: Degraded", "{from: 20, label: Degraded")
        .replace("{from: 10000, label: Good", "{from: 10, label: Good")
    )
    code, report = data(run, "--uploads", uploads, "--thresholds", write("t.yaml", text))
    fullest = metric(report, "files_per_directory_max", path=str(uploads))
    assert fullest["value"] == 30
    assert (fullest["status"], fullest["action"]) == ("WARNING", "Implement sharding")
    assert str(crowded) in fullest["detail"]
    assert metric(report, "image_files")["value"] == 31
    storage = metric(report, "storage_gb")
    assert storage["value"] == pytest.approx((30 * 100 + 50 + len("not an image")) / 1e9)
    assert code in (1, 2)


def test_missing_uploads_dir_is_unknown_and_the_host_is_still_measured(run: Run) -> None:
    code, report = data(run, "--uploads", "/no/such/uploads")
    storage = metric(report, "storage_gb", path="/no/such/uploads")
    assert (storage["status"], storage["action"]) == ("UNKNOWN", "not a directory")
    assert metric(report, "memory_percent")["value"] > 0
    assert code in (1, 2, 3)


@pytest.fixture
def server() -> Iterator[str]:
    with http_server() as url:
        yield url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_latency_and_a_warning_for_the_slow_path(run: Run, write: Write, server: str) -> None:
    path = thresholds_with(write, api_p95_ms="200, critical: 5000")
    code, report = data(
        run,
        "--thresholds",
        path,
        "--url",
        f"{server}/fast",
        "--url",
        f"{server}/slow",
        "--requests",
        "4",
    )
    fast = metric(report, "api_p95_ms", url=f"{server}/fast")
    slow = metric(report, "api_p95_ms", url=f"{server}/slow")
    assert fast["status"] == "OK" and fast["value"] < 200
    assert slow["status"] == "WARNING" and slow["value"] >= 300
    assert slow["action"] == "Scale horizontally"
    p50 = metric(report, "api_p50_ms", url=f"{server}/slow")["value"]
    p99 = metric(report, "api_p99_ms", url=f"{server}/slow")["value"]
    assert 300 <= p50 <= slow["value"] <= p99
    assert metric(report, "api_error_rate_percent", url=f"{server}/slow")["value"] == 0
    average = metric(report, "api_avg_ms", url=f"{server}/slow")
    assert 300 <= average["value"] <= p99
    assert (average["warning"], average["critical"]) == (200, 500)  # the seed's avg_response_ms
    assert code in (1, 2)


def test_server_errors_count_in_the_error_rate(run: Run, server: str) -> None:
    _, report = data(run, "--url", f"{server}/broken", "--requests", "3")
    rate = metric(report, "api_error_rate_percent", url=f"{server}/broken")
    assert (rate["value"], rate["status"]) == (100, "CRITICAL")
    assert "3 x HTTP 500" in rate["detail"]


def test_a_closed_port_gives_errors_not_a_crash(run: Run) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run(*FAST, "--url", url, "--requests", "2", "--timeout", "1", "--format", "json")
    report = json.loads(result.stdout)
    assert metric(report, "api_error_rate_percent", url=url)["value"] == 100
    p95 = metric(report, "api_p95_ms", url=url)
    assert p95["status"] == "UNKNOWN" and p95["action"].startswith("no answer (2 x ")
    assert "refused" in p95["action"].lower()
    assert result.exit_code == 2  # the 100 % error rate is CRITICAL


def test_prometheus_output_parses(run: Run, server: str, tmp_path: Path) -> None:
    result = run(
        *FAST,
        "--url",
        f"{server}/fast",
        "--requests",
        "2",
        "--format",
        "prometheus",
        "--path",
        "/",
        "--path",
        str(tmp_path),
    )
    families = {f.name: f for f in text_string_to_metric_families(result.stdout)}
    assert "capplan_cpu_usage_ratio" in families
    memory = families["capplan_memory_usage_ratio"].samples[0].value
    assert 0 <= memory <= 1
    disks = {s.labels["path"]: s.value for s in families["capplan_disk_usage_ratio"].samples}
    assert set(disks) == {"/", str(tmp_path)} and all(0 <= v <= 1 for v in disks.values())
    latency = families["capplan_api_latency_p95_seconds"].samples[0]
    assert latency.labels == {"url": f"{server}/fast"} and 0 < latency.value < 1
    assert families["capplan_check_status"].samples[0].value == result.exit_code
    assert all(f.type == "gauge" for f in families.values())
    assert all(f.documentation for f in families.values())
    assert not any(s.timestamp for f in families.values() for s in f.samples)


PERFDATA = re.compile(
    r"""^(?:'[^'=]+'|[^'= ]+)=(?:-?\d+(?:\.\d+)?|U)(?:%|s|ms|us|B|KB|MB|TB|c)?"""
    r"""(?:;(?:-?\d+(?:\.\d+)?)?){0,4}$"""
)


def test_nagios_line_follows_the_perfdata_grammar(run: Run, tmp_path: Path) -> None:
    result = run(*FAST, "--format", "nagios", "--path", str(tmp_path))
    first, *rest = result.stdout.splitlines()
    match = re.match(r"^CAPPLAN (OK|WARNING|CRITICAL|UNKNOWN) - (.+?) \| (.+)$", first)
    assert match, first
    assert {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[match[1]] == result.exit_code
    items = match[3].split(" ")
    labels = []
    for item in _join_quoted(items):
        assert PERFDATA.match(item), item
        labels.append(item.split("=")[0])
    assert "cpu_percent" in labels and f"'disk_percent_{tmp_path}'" in labels
    assert rest[-1].startswith("next step: ")


def _join_quoted(items: list[str]) -> list[str]:
    """Perfdata items split on spaces, rejoined where a quoted label held a space."""
    joined: list[str] = []
    for item in items:
        if joined and joined[-1].startswith("'") and joined[-1].count("'") == 1:
            joined[-1] += " " + item
        else:
            joined.append(item)
    return joined


def test_output_file_is_written_atomically(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "capplan.prom"
    target.write_text("old\n", encoding="utf-8")
    result = run(*FAST, "--format", "prometheus", "--output", target)
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8").startswith("# HELP capplan_")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capplan.prom"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_output_into_a_missing_directory_is_exit_3(run: Run) -> None:
    result = run(*FAST, "--format", "json", "--output", "/no/such/dir/x.json")
    assert result.exit_code == 3
    assert result.stderr.startswith("capplan check: error: --output /no/such/dir/x.json: ")


@pytest.mark.parametrize(
    "args",
    [
        ("--bogus",),
        ("--interval", "soon"),
        ("--format", "xml"),
        ("--requests", "0"),
        ("--format", "table", "--output", "x.prom"),
    ],
)
def test_bad_arguments_exit_3_not_critical(run: Run, args: tuple[str, ...]) -> None:
    result = run(*FAST, *args)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("capplan check: error: ")


def test_warning_above_critical_exits_3(run: Run, write: Write) -> None:
    path = thresholds_with(write, cpu_percent="90, critical: 80")
    result = run(*FAST, "--thresholds", path)
    assert result.exit_code == 3
    assert "scaling_triggers.cpu_percent: warning (90) must be below critical (80)" in (
        result.stderr
    )
    assert result.stderr.count("\n") == 1


def test_the_table_names_status_host_tier_and_next_step(run: Run) -> None:
    result = run(*FAST)
    for text in (
        "capplan check:",
        "cpu_percent",
        "memory_percent",
        "disk_percent",
        "host: ",
        "next step: ",
        "status: ",
    ):
        assert text in result.stdout
    assert re.search(r"host: \d+ vCPU, [\d.,]+ GB RAM \((matches \w+|smaller than)", result.stdout)


def test_host_tier_matching() -> None:
    from capplan.check import host_tier
    from capplan.config import load_tiers

    tiers = load_tiers().infrastructure_tiers
    assert host_tier(tiers, 1, 2) is None
    ids = [
        getattr(host_tier(tiers, cpu, ram), "id", None)
        for cpu, ram in ((2, 3.8), (4, 15.5), (64, 512))
    ]
    assert ids == ["starter", "medium", "enterprise"]


def test_a_timed_out_request_counts_at_the_timeout_in_the_percentiles(
    run: Run, server: str
) -> None:
    """Two of ten requests to /flaky hang: p95 reads the 0.5 s timeout, not the fast answers."""
    url = f"{server}/flaky"
    code, report = data(
        run, "--url", url, "--requests", "10", "--timeout", "0.5",
        "--set", "scaling_triggers.api_p95_ms.warning=400",
    )  # fmt: skip
    p95 = metric(report, "api_p95_ms", url=url)
    assert p95["value"] == pytest.approx(500) and p95["status"] == "WARNING"
    assert p95["detail"] == "10 of 10 requests (2 x timed out after 0.5 s)"
    assert metric(report, "api_p50_ms", url=url)["value"] < 100
    rate = metric(report, "api_error_rate_percent", url=url)
    assert (rate["value"], rate["status"]) == (20, "CRITICAL")
    assert code == 2


def test_userinfo_is_sent_as_basic_auth_and_never_shown(run: Run, server: str) -> None:
    host = server.removeprefix("http://")
    url = f"http://{USER}:{HTTP_PASSWORD.replace('@', '%40').replace('#', '%23')}@{host}/basic"
    _, report = data(run, "--url", url, "--requests", "2")
    shown = f"http://{host}/basic"  # from its parts: no user, no password
    assert metric(report, "api_error_rate_percent", url=shown)["value"] == 0
    assert HTTP_PASSWORD.split("@")[0] not in json.dumps(report)
    _, report = data(run, "--url", f"{server}/basic", "--requests", "2")
    refused = metric(report, "api_error_rate_percent", url=f"{server}/basic")
    assert (refused["value"], refused["detail"]) == (100, "2 x HTTP 401")


def test_a_header_carries_a_token_that_is_never_shown(run: Run, server: str) -> None:
    url = f"{server}/token"
    result = run(
        *FAST, "--url", url, "--requests", "2", "--header", f"Authorization: Bearer {TOKEN}",
        "--format", "json",
    )  # fmt: skip
    assert metric(json.loads(result.stdout), "api_error_rate_percent", url=url)["value"] == 0
    assert TOKEN not in result.stdout + result.stderr
    result = run(*FAST, "--url", url, "--header", f"Bearer {TOKEN}")
    assert result.exit_code == 3 and TOKEN not in result.stdout + result.stderr
    assert "--header ***: expected 'Name: value'" in result.stderr
    result = run(*FAST, "--url", url, "--header", f"Authorization: Bearer {TOKEN}\nX-Evil: 1")
    assert result.exit_code == 3 and TOKEN not in result.stdout + result.stderr
    assert "--header Authorization: ***: a header's value holds printable ASCII" in result.stderr


def test_a_path_or_url_given_twice_is_measured_once(run: Run, server: str) -> None:
    url = f"{server}/open"
    _, report = data(run, "--path", "/", "--path", "/", "--url", url, "--url", url)
    assert [m["labels"] for m in report["metrics"] if m["name"] == "disk_percent"] == [
        {"path": "/"}
    ]
    assert len([m for m in report["metrics"] if m["name"] == "api_p95_ms"]) == 1
