"""`capplan rules`: the generated file passes promtool check rules, promtool test rules makes
each kind of alert fire (threshold, predictive, target down, stale and absent), and a real
Prometheus loads it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.check_servers import system_binary
from tests.conftest import Run
from tests.prometheus_fleet import prometheus_server

NODE = 'instance="web-1:9100",job="node"'


def _rules(run: Run, folder: Path, *args: str) -> tuple[Path, dict[str, Any]]:
    path = folder / "capplan-rules.yml"
    result = run("rules", "-o", path, *args)
    assert result.exit_code == 0, result.stderr
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def _alert(rules: dict[str, Any], name: str) -> dict[str, Any]:
    found = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == name]
    assert len(found) == 1, name
    rule: dict[str, Any] = found[0]
    return rule


def _annotations(rule: dict[str, Any], instance: str, value: float) -> dict[str, str]:
    """The rule's annotations as Prometheus renders them for this instance and value."""
    shown = {}
    for key, text in rule["annotations"].items():
        text = text.replace("{{ $labels.instance }}", instance)
        text = text.replace('{{ $value | printf "%.4g" }}', f"{value:.4g}")
        shown[key] = text
    return shown


def test_the_rules_pass_promtool_check_rules(run: Run, tmp_path: Path) -> None:
    promtool = system_binary("promtool", "prometheus")
    path, rules = _rules(run, tmp_path)
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    for seed in ("ProductsTotal", "StorageGb", "DbSizeGb", "ApiAvgMs"):  # Alert Configuration
        for kind in ("Warning", "Critical", "Predicted"):
            assert f"Capplan{seed}{kind}" in names
    assert {"CapplanRunFailed", "CapplanStale", "CapplanTargetDown"} <= set(names)
    assert _alert(rules, "CapplanRunFailed")["expr"] == "capplan_up == 0"
    assert _alert(rules, "CapplanTargetDown")["expr"] == "capplan_target_up == 0"
    stale = _alert(rules, "CapplanStale")["expr"]
    assert "time() - capplan_last_run_timestamp_seconds > 300" in stale
    assert "absent(capplan_last_run_timestamp_seconds)" in stale


def test_the_thresholds_and_actions_come_from_thresholds_yaml(
    run: Run, tmp_path: Path, write: Any
) -> None:
    from capplan.config import load_thresholds

    thresholds = load_thresholds(None)
    _, rules = _rules(run, tmp_path)
    for metric, name in (("disk_percent", "DiskPercent"), ("db_size_gb", "DbSizeGb")):
        threshold = thresholds.threshold_of(metric)
        assert threshold is not None
        warning = _alert(rules, f"Capplan{name}Warning")
        assert warning["expr"].endswith(f"> {threshold.warning:g}")
        assert warning["annotations"]["action"] == threshold.action
        assert _alert(rules, f"Capplan{name}Critical")["expr"].endswith(f"> {threshold.critical:g}")


def _promtool_test(folder: Path, rules: Path, tests: list[dict[str, Any]]) -> None:
    promtool = system_binary("promtool", "prometheus")
    spec = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    (folder / "rules_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    tested = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"], capture_output=True, text=True, cwd=folder
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_threshold_alert_fires_on_node_exporter_and_on_capplan_series(
    run: Run, tmp_path: Path
) -> None:
    path, rules = _rules(run, tmp_path)
    disk = _alert(rules, "CapplanDiskPercentCritical")
    db = _alert(rules, "CapplanDbSizeGbWarning")
    fs = f'{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"'
    tmpfs = f'{NODE},device="tmpfs",fstype="tmpfs",mountpoint="/run"'
    _promtool_test(
        tmp_path,
        path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"node_filesystem_size_bytes{{{fs}}}", "values": "100x30"},
                    {"series": f"node_filesystem_avail_bytes{{{fs}}}", "values": "10x30"},
                    {"series": f"node_filesystem_free_bytes{{{fs}}}", "values": "10x30"},
                    # a full tmpfs is no disk to expand
                    {"series": f"node_filesystem_size_bytes{{{tmpfs}}}", "values": "100x30"},
                    {"series": f"node_filesystem_avail_bytes{{{tmpfs}}}", "values": "0x30"},
                    {"series": f"node_filesystem_free_bytes{{{tmpfs}}}", "values": "0x30"},
                    {"series": f'capplan_db_size_bytes{{{NODE},db="shop"}}', "values": "21e9x30"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "CapplanDiskPercentCritical",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "metric": "disk_percent",
                                    "instance": "web-1:9100",
                                    "job": "node",
                                    "device": "/dev/vda1",
                                    "fstype": "ext4",
                                    "mountpoint": "/",
                                },
                                "exp_annotations": _annotations(disk, "web-1:9100", 90),
                            }
                        ],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "CapplanDiskPercentCritical",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "15m",
                        "alertname": "CapplanDbSizeGbWarning",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "metric": "db_size_gb",
                                    "instance": "web-1:9100",
                                    "job": "node",
                                    "db": "shop",
                                },
                                "exp_annotations": _annotations(db, "web-1:9100", 21),
                            }
                        ],
                    },
                ],
            }
        ],
    )


def test_a_predictive_alert_fires_before_the_level_is_reached(run: Run, tmp_path: Path) -> None:
    path, rules = _rules(run, tmp_path, "--window", "1h", "--days", "30")
    predicted = _alert(rules, "CapplanProductsTotalPredicted")
    _promtool_test(
        tmp_path,
        path,
        [
            {
                "interval": "1m",
                # 100 products a minute: 144,000 a day, past 400,000 within 30 days; now far below
                "input_series": [{"series": f"capplan_products{{{NODE}}}", "values": "0+100x200"}],
                "alert_rule_test": [
                    {
                        "eval_time": "150m",
                        "alertname": "CapplanProductsTotalPredicted",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "metric": "products_total",
                                    "instance": "web-1:9100",
                                    "job": "node",
                                },
                                "exp_annotations": _annotations(predicted, "web-1:9100", 0),
                            }
                        ],
                    },
                    {
                        "eval_time": "150m",
                        "alertname": "CapplanProductsTotalWarning",
                        "exp_alerts": [],
                    },
                ],
            }
        ],
    )


def test_target_down_and_stale_and_absent_alerts_fire(run: Run, tmp_path: Path) -> None:
    path, rules = _rules(run, tmp_path)
    down = _alert(rules, "CapplanTargetDown")
    stale = _alert(rules, "CapplanStale")
    target = f'{NODE},target="db",db="postgresql://monitor@db:5432/shop"'
    _promtool_test(
        tmp_path,
        path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"capplan_target_up{{{target}}}", "values": "1 1 0x20"},
                    {"series": f"capplan_last_run_timestamp_seconds{{{NODE}}}", "values": "60x20"},
                    {"series": f"capplan_up{{{NODE}}}", "values": "1x20"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "CapplanTargetDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "instance": "web-1:9100",
                                    "job": "node",
                                    "target": "db",
                                    "db": "postgresql://monitor@db:5432/shop",
                                },
                                "exp_annotations": {
                                    k: v.replace("{{ $labels.target }}", "db")
                                    for k, v in _annotations(down, "web-1:9100", 0).items()
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "12m",  # written at 60 s, older than 300 s from 6m on
                        "alertname": "CapplanStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "web-1:9100",
                                    "job": "node",
                                },
                                "exp_annotations": _annotations(stale, "web-1:9100", 0),
                            }
                        ],
                    },
                    {"eval_time": "10m", "alertname": "CapplanRunFailed", "exp_alerts": []},
                ],
            },
            {
                "interval": "1m",
                "input_series": [{"series": f"node_load1{{{NODE}}}", "values": "0.1x20"}],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "CapplanStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning"},
                                "exp_annotations": _annotations(stale, "", 0),
                            }
                        ],
                    }
                ],
            },
        ],
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--for", "ten minutes"), "--for"),
        (("--window", "7days"), "--window"),
        (("--days", "0"), "--days"),
    ],
)
def test_a_bad_duration_is_one_line_naming_the_option(
    run: Run, args: tuple[str, str], option: str, tmp_path: Path
) -> None:
    result = run("rules", *args, "-o", tmp_path / "r.yml")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan rules: error: {option} ")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "r.yml").exists()


def test_a_real_prometheus_loads_the_rules_and_the_absent_alert_goes_pending(
    run: Run, tmp_path: Path
) -> None:
    path, rules = _rules(run, tmp_path)
    with prometheus_server(rules=path) as url:
        with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=10) as answer:
            groups = json.loads(answer.read())["data"]["groups"]
        assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in rules["groups"])
        loaded = [r for g in groups for r in g["rules"]]
        assert len(loaded) == sum(len(g["rules"]) for g in rules["groups"])
        assert all(r["health"] in ("ok", "unknown") for r in loaded)
        deadline = time.monotonic() + 60
        states: list[str] = []
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=10) as answer:
                alerts = json.loads(answer.read())["data"]["alerts"]
            states = [a["state"] for a in alerts if a["labels"]["alertname"] == "CapplanStale"]
            if states:
                break
            time.sleep(0.5)
        assert states == ["pending"]  # no capplan textfile at all: absent(), for 5m
        errors = [r for r in loaded if r["health"] == "err"]
        assert errors == []
