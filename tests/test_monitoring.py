"""What reaches the monitor: the shipped alert rules (promtool, and a real Prometheus scraping
node_exporter's textfile collector), labels Prometheus would misread, the Nagios line whatever
--output is, leftovers of a killed writer, and options that must not be dropped in silence."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from capplan import atomic

from .check_servers import free_port, http_server, system_binary
from .conftest import EXAMPLES, Run

FAST = ("check", "--interval", "0")
RULES = EXAMPLES / "monitoring" / "capplan-rules.yml"
ALERTS = ("CapplanRunFailed", "CapplanStale", "CapplanTargetDown")


def small_db(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, gtin TEXT)")
    db.close()
    return path


# --- the shipped rules, with promtool -------------------------------------------------------


def test_the_shipped_rules_pass_promtool_check_rules() -> None:
    promtool = system_binary("promtool", "prometheus")
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


def rule(name: str) -> dict[str, Any]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]["rules"]
    found: dict[str, Any] = next(r for r in rules if r["alert"] == name)
    return found


def expected(name: str, **labels: str) -> dict[str, Any]:
    """The alert as promtool reports it: the rule's labels and its annotations expanded."""
    annotations = {
        key: text.replace("{{ $labels.instance }}", labels.get("instance", "")).replace(
            "{{ $labels.target }}", labels.get("target", "")
        )
        for key, text in rule(name)["annotations"].items()
    }
    return {"exp_labels": {**labels, **rule(name)["labels"]}, "exp_annotations": annotations}


def rule_tests() -> dict[str, Any]:
    """Series as node_exporter would show them, minute by minute, and what each alert does."""
    host = 'instance="shop-1", job="node"'
    db = 'target="db", db="sqlite:///srv/shop.db"'
    healthy = [
        {"series": f"capplan_up{{{host}}}", "values": "1x20"},
        {"series": f"capplan_last_run_timestamp_seconds{{{host}}}", "values": "0+60x20"},
        {"series": f"capplan_target_up{{{db}, {host}}}", "values": "1x20"},
    ]
    labels = {"instance": "shop-1", "job": "node"}
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "healthy: no alert",
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [
                    {"eval_time": "15m", "alertname": name, "exp_alerts": []} for name in ALERTS
                ],
            },
            {
                "name": "the run failed",
                "interval": "1m",
                "input_series": [{**healthy[0], "values": "1 1 0x18"}, *healthy[1:]],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CapplanRunFailed", "exp_alerts": []},
                    {
                        "eval_time": "8m",
                        "alertname": "CapplanRunFailed",
                        "exp_alerts": [expected("CapplanRunFailed", **labels)],
                    },
                ],
            },
            {
                "name": "the database went down",
                "interval": "1m",
                "input_series": [*healthy[:2], {**healthy[2], "values": "1 1 0x18"}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CapplanTargetDown", "exp_alerts": []},
                    {
                        "eval_time": "8m",
                        "alertname": "CapplanTargetDown",
                        "exp_alerts": [
                            expected(
                                "CapplanTargetDown",
                                target="db",
                                db="sqlite:///srv/shop.db",
                                **labels,
                            )
                        ],
                    },
                    {"eval_time": "8m", "alertname": "CapplanRunFailed", "exp_alerts": []},
                ],
            },
            {
                "name": "the file stopped changing",
                "interval": "1m",
                "input_series": [{**healthy[1], "values": "0+60x2 120x18"}],
                "alert_rule_test": [
                    {"eval_time": "6m", "alertname": "CapplanStale", "exp_alerts": []},
                    {
                        "eval_time": "14m",
                        "alertname": "CapplanStale",
                        "exp_alerts": [expected("CapplanStale", **labels)],
                    },
                ],
            },
            {
                "name": "the file is gone: absent()",
                "interval": "1m",
                "input_series": [{"series": f"up{{{host}}}", "values": "1x20"}],
                "alert_rule_test": [
                    {
                        "eval_time": "6m",
                        "alertname": "CapplanStale",
                        "exp_alerts": [expected("CapplanStale")],
                    }
                ],
            },
        ],
    }


def test_each_shipped_alert_fires_on_its_series_and_not_when_healthy(tmp_path: Path) -> None:
    promtool = system_binary("promtool", "prometheus")
    tests = tmp_path / "capplan-rules.test.yml"
    tests.write_text(yaml.safe_dump(rule_tests()), encoding="utf-8")
    tested = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_rule_test_that_expects_the_wrong_alert_fails(tmp_path: Path) -> None:
    """The rule tests can fail: a healthy database expected to alert does not."""
    promtool = system_binary("promtool", "prometheus")
    broken = rule_tests()
    broken["tests"][0]["alert_rule_test"][2]["exp_alerts"] = [expected("CapplanTargetDown")]
    tests = tmp_path / "wrong.test.yml"
    tests.write_text(yaml.safe_dump(broken), encoding="utf-8")
    tested = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True)
    assert tested.returncode != 0


# --- labels, --output, repeated options -------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "said"),
    [
        ("le=0.5", "le is reserved by Prometheus"),
        ("quantile=0.9", "quantile is reserved by Prometheus"),
        ("__name__=x", "__name__ is reserved by Prometheus"),
        ("__meta_x=1", "__meta_x is reserved by Prometheus"),
        ("shop=", "the value is empty"),
        ("target=db", "target is a label of capplan's own"),
    ],
)
def test_a_label_prometheus_would_misread_is_refused(
    run: Run, tmp_path: Path, label: str, said: str
) -> None:
    target = tmp_path / "capplan.prom"
    result = run(*FAST, "--format", "prometheus", "--label", label, "--output", target)
    assert result.exit_code == 3
    assert said in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert "capplan_up 0" in target.read_text(encoding="utf-8")


def test_nagios_with_a_directory_as_output_still_prints_its_line(run: Run, tmp_path: Path) -> None:
    result = run(*FAST, "--format", "nagios", "--output", tmp_path)
    assert result.exit_code == 3
    assert result.stdout.startswith("CAPPLAN UNKNOWN - ")
    assert "is a directory" in result.stdout and result.stdout.count("\n") == 1


def test_uploads_given_twice_is_refused_not_reduced_to_the_last(run: Run, tmp_path: Path) -> None:
    result = run(*FAST, "--format", "nagios", "--uploads", tmp_path, "--uploads", "/srv")
    assert result.exit_code == 3
    assert result.stdout.startswith("CAPPLAN UNKNOWN - ")
    assert "--uploads" in result.stderr and "given 2 times" in result.stderr


@pytest.mark.parametrize(
    ("twice", "named"),
    [
        (("--timeout", "1", "--timeout=2"), "--timeout"),
        (("--schema", "a", "--schema", "b", "--db", "x.db"), "--schema"),
        (("--window", "5m", "--window", "1h", "--access-log", "a.log"), "--window"),
        (("-o", "a.prom", "--output", "b.prom"), "--output"),
        (("--tiers", "a.yaml", "--tiers", "b.yaml"), "--tiers"),
    ],
)
def test_any_option_that_takes_one_value_is_refused_when_given_twice(
    run: Run, twice: tuple[str, ...], named: str
) -> None:
    result = run(*FAST, "--format", "prometheus", *twice)
    assert result.exit_code == 3
    assert named in result.stderr and "given 2 times" in result.stderr
    assert result.stderr.count("\n") == 1


def test_repeatable_options_and_flags_given_twice_are_still_taken(run: Run, tmp_path: Path) -> None:
    result = run(
        *FAST, "--format", "json", "--path", "/", "--path", tmp_path,
        "--label", "a=1", "--label", "b=2",
    )  # fmt: skip
    assert result.exit_code in (0, 1, 2, 3) and result.stderr == ""
    assert json.loads(result.stdout)["labels"] == {"a": "1", "b": "2"}


def test_two_urls_on_one_host_have_distinct_short_perfdata_labels(run: Run, tmp_path: Path) -> None:
    long = "/" + "a" * 150
    with http_server() as server:
        result = run(
            *FAST, "--format", "nagios", "--requests", "1",
            "--url", f"{server}/open{long}/x", "--url", f"{server}/open{long}/y",
        )  # fmt: skip
    perfdata = result.stdout.splitlines()[0].split(" | ", 1)[1].split(" ")
    labels = [item.split("=")[0].strip("'") for item in perfdata if "api_p95_ms" in item]
    assert len(labels) == 2 and len(set(labels)) == 2
    assert all(len(label) <= 100 for label in labels)


# --- leftovers of --output --------------------------------------------------------------------


def test_a_planted_leftover_untouched_for_15_minutes_is_removed(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "capplan.prom"
    old = tmp_path / f".capplan.prom.@0123456789ab@1.x{atomic.TEMP_SUFFIX}"
    fresh = tmp_path / f".capplan.prom.@0123456789ab@2.y{atomic.TEMP_SUFFIX}"
    for leftover in (old, fresh):
        leftover.write_text("capplan_up 1\n", encoding="utf-8")
    then = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(old, (then, then))
    result = run(*FAST, "--format", "prometheus", "--output", target)
    assert result.exit_code in (0, 1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, fresh.name])


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_run(
    run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "capplan.prom"
    target.parent.mkdir()
    started = tmp_path / "started"
    writer = tmp_path / "writer.py"
    writer.write_text(
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from capplan import atomic\n"
        "import tempfile\n"
        "handle, name = tempfile.mkstemp(dir=sys.argv[1], "
        "prefix=atomic.temporary_prefix(Path(sys.argv[1]) / 'capplan.prom'), "
        "suffix=atomic.TEMP_SUFFIX)\n"
        "os.write(handle, b'capplan_up 1\\n# HEL')\n"
        "Path(sys.argv[2]).write_text(name)\n"
        "time.sleep(120)\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([sys.executable, str(writer), str(target.parent), str(started)])
    try:
        for _ in range(600):
            if started.exists():
                break
            time.sleep(0.05)
        leftover = Path(started.read_text(encoding="utf-8"))
        assert leftover.exists()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    result = run(*FAST, "--format", "prometheus", "--output", target)
    assert result.exit_code in (0, 1, 2)
    assert [p.name for p in target.parent.iterdir()] == [target.name]


# --- a real Prometheus ------------------------------------------------------------------------


def alerts(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as answer:
        found = json.load(answer)["data"]["alerts"]
    return {alert["labels"]["alertname"]: alert["state"] for alert in found}


def wait_for(port: int, name: str, *, seconds: float) -> float:
    """Seconds until the alert fires; fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if alerts(port).get(name) == "firing":
                return time.monotonic() - start
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"{name} did not fire within {seconds:g} s; alerts: {alerts(port)}")


FOR_S = 10  # the test copy's for:, instead of 5m


@pytest.mark.slow
def test_a_real_prometheus_fires_target_down_then_stale(run: Run, tmp_path: Path) -> None:
    prometheus = system_binary("prometheus", "prometheus")
    exporter = system_binary("prometheus-node-exporter", "prometheus-node-exporter")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for each in rules["groups"][0]["rules"]:
        each["for"] = f"{FOR_S}s"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    node_port, prometheus_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [
            {"job_name": "node", "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    db = small_db(tmp_path / "shop.db")
    textfile = textfiles / "capplan.prom"
    first = run(*FAST, "--format", "prometheus", "--db", db, "--output", textfile)
    assert first.stdout == "" and "capplan_target_up" in textfile.read_text(encoding="utf-8")
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    node = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{node_port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ],
        **quiet,
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        **quiet,
    )
    try:
        time.sleep(5)  # a few healthy scrapes and evaluations
        assert "CapplanTargetDown" not in alerts(prometheus_port)
        db.unlink()  # the database goes down
        down = run(*FAST, "--format", "prometheus", "--db", db, "--output", textfile)
        assert down.stdout == ""
        took = wait_for(prometheus_port, "CapplanTargetDown", seconds=FOR_S + 60)
        assert took >= FOR_S - 1  # it waited for its for:
        assert alerts(prometheus_port).get("CapplanRunFailed") is None
        textfile.unlink()  # the check stops writing: the series vanish
        wait_for(prometheus_port, "CapplanStale", seconds=FOR_S + 60)
    finally:
        for process in (server, node):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
