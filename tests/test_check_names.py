"""Names cannot break a format: a table, path, URL or endpoint holding any character (| ' = a
newline, quotes, a backslash, bytes that are not UTF-8) leaves Nagios' output parseable by the
monitoring-plugins grammar and Prometheus' exposition clean for promtool."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from capplan.check import CheckResult
from capplan.config import load_thresholds
from capplan.metrics import Measurement, evaluate, overall
from capplan.output.check import check_report, to_nagios, to_prometheus

from .check_servers import system_binary
from .conftest import Run

THRESHOLDS = load_thresholds()

# The monitoring-plugins perfdata grammar: 'label'=value[UOM];[warn];[crit];[min];[max], items
# separated by spaces; a label is quoted when it holds a space, '' is a quote inside quotes, and
# = may not appear in a label at all; nor, for the parsers that split on them, | or a control
# character.
NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
PERF_ITEM = re.compile(
    rf"(?:'(?P<quoted>(?:[^'=|\x00-\x1f]|'')+)'|(?P<plain>[^'= |\x00-\x1f]+))"
    rf"=(?P<value>{NUMBER}|U)(?P<uom>%|s|ms|us|B|KB|MB|GB|TB|c)?"
    rf"(?:;(?:{NUMBER})?){{0,4}}(?= |$)"
)
STATUS_LINE = re.compile(r"^CAPPLAN (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+) \| (.+)$")


def perfdata_labels(output: str) -> list[str]:
    """The labels of a plugin's output, parsed strictly; fails on anything the grammar refuses."""
    first, *rest = output.rstrip("\n").split("\n")
    match = STATUS_LINE.match(first)
    assert match, first
    assert not [line for line in rest if "|" in line], "a long-text line would start perfdata"
    labels, data, position = [], match[3], 0
    while position < len(data):
        item = PERF_ITEM.match(data, position)
        assert item, f"not perfdata at {position}: {data[position : position + 60]!r}"
        labels.append(item["plain"] or item["quoted"].replace("''", "'"))
        position = item.end() + 1  # the space
    return labels


def names() -> st.SearchStrategy[str]:
    """Any text, and file names that are not UTF-8 (as Python holds them)."""
    undecodable = st.binary(min_size=1, max_size=12).map(
        lambda raw: raw.decode("utf-8", "surrogateescape")
    )
    tricky = st.sampled_from(["weird|name", "a'b", "x=y", "new\nline", 'q"t', "back\\slash"])
    return st.one_of(tricky, st.text(min_size=1, max_size=30), undecodable)


def result_naming(given: Sequence[str]) -> CheckResult:
    measurements = []
    for n, name in enumerate(given):
        measurements += [
            Measurement("table_rows", n, {"db": f"/srv/{name}.db", "table": name}),
            Measurement("disk_percent", 10.0, {"path": f"/srv/{name}"}),
            Measurement("api_p95_ms", 12.5, {"url": f"http://shop.example/{name}"}),
            Measurement(
                "access_endpoint_requests", 3, {"log": f"/var/log/{name}", "endpoint": name}
            ),
        ]
    metrics = tuple(evaluate(m, THRESHOLDS) for m in measurements)
    return CheckResult(
        status=overall(m.status for m in metrics),
        metrics=metrics,
        vcpu=2,
        ram_gb=4.0,
        host_tier=None,
        next_step=f"look at {given[0]}",
        notes=tuple(f"note about {name}" for name in given),
    )


@settings(max_examples=60)
@given(st.lists(names(), min_size=1, max_size=8, unique=True))
def test_any_name_leaves_nagios_output_parseable(given: list[str]) -> None:
    result = result_naming(given)
    labels = perfdata_labels(to_nagios(check_report(result)))
    assert len(labels) == len(result.metrics)
    assert len(set(labels)) == len(labels)
    assert all(len(label) <= 100 for label in labels)


@settings(max_examples=40)
@given(st.lists(names(), min_size=1, max_size=25, unique=True))
def test_any_name_leaves_the_exposition_clean_for_promtool(given: list[str]) -> None:
    promtool = system_binary("promtool", "prometheus")
    text = to_prometheus(check_report(result_naming(given)))
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True
    )
    assert checked.returncode == 0, checked.stderr.decode(errors="replace")
    tables = {
        sample.labels["table"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name == "capplan_table_rows"
    }
    shown = {name.encode("utf-8", "backslashreplace").decode() for name in given}
    assert tables == shown  # escaped, not cleaned: every name comes back as it was


def test_a_real_table_named_to_break_the_formats_breaks_neither(run: Run, tmp_path: Path) -> None:
    promtool = system_binary("promtool", "prometheus")
    name = "weird|name 'with' \"quotes\" = back\\slash\nand a newline"
    db = tmp_path / "odd.db"
    with sqlite3.connect(db) as connection:
        connection.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" (id INTEGER)')
    connection.close()
    nagios = run("check", "--interval", "0", "--format", "nagios", "--db", db)
    labels = perfdata_labels(nagios.stdout)
    assert any(label.startswith("table_rows_weird_name") for label in labels)
    prometheus = run("check", "--interval", "0", "--format", "prometheus", "--db", db)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=prometheus.stdout, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert {
        sample.labels.get("table")
        for family in text_string_to_metric_families(prometheus.stdout)
        for sample in family.samples
        if family.name == "capplan_table_rows"
    } == {name}
