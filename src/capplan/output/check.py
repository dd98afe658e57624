"""`capplan check`: the table, and the Nagios and Prometheus formats of the check report."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from capplan.check import CheckResult
from capplan.metrics import Metric, Status, label_text
from capplan.output.formats import Format
from capplan.output.numbers import figure, measured, perf, size
from capplan.output.report import Report, Section, Shown, data, renders

UNUSED = "drop it or check the query plans"
SEQUENTIAL = "check the query plans for a missing index"
# What a perfdata label may hold: anything else (| ' = spaces, quotes, backslashes, control and
# non-ASCII characters) becomes _, so that no table, path or URL can split Nagios' output.
PERF_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@%+~-]")
# A label's practical length (Nagios 4 keeps 8 KB of output in all; graphers name files after
# labels): a longer one keeps its start and ends with a hash of the whole, so that two long
# labels (two --url on one host, long paths) stay distinct.
PERF_LABEL_MOST = 100
PERF_HASH = 8


def _metric_data(m: Metric) -> dict[str, Any]:
    fields: dict[str, Any] = data(m)
    if not m.detail:
        del fields["detail"]
    return fields


def check_data(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "summary": result.summary,
        "checked_at": result.checked_at,
        "labels": result.labels,
        "host": {
            "vcpu": result.vcpu,
            "ram_gb": result.ram_gb,
            "infra_tier": result.host_tier.id if result.host_tier else None,
        },
        "next_step": result.next_step,
        "metrics": [_metric_data(m) for m in result.metrics],
        "missing_indexes": result.missing_indexes,
        "unused_indexes": result.unused_indexes,
        "sequential_scans": result.sequential_scans,
        "targets": [data(target) for target in result.targets],
        "notes": result.notes,
    }


def _value(m: Metric) -> Shown:
    """A rate reads as one: 163.4 KB/s, 11 /s."""
    if m.value is not None and m.unit == "B/s":
        return Shown(m.value, f"{size(round(m.value))}/s", m.unit)
    if m.value is not None and m.unit == "/s":
        return Shown(m.value, f"{figure(m.value)} /s", m.unit)
    return Shown(m.value, measured(m.value, m.unit), m.unit)


def check_report(result: CheckResult) -> Report:
    metrics = Section(
        f"capplan check: {result.status}",
        ("metric", "where", "value", "warning", "critical", "status", "action / detail"),
        [
            (
                m.name,
                label_text(m.labels) or "-",  # the labels JSON and the history give it
                _value(m),
                m.warning,
                m.critical,
                m.status,
                "; ".join(part for part in (m.action, m.detail) if part) or "-",
            )
            for m in result.metrics
        ],
        statuses=[m.status for m in result.metrics],
        optional=("warning", "critical"),
    )
    sections = [metrics]
    if result.missing_indexes:
        sections.append(
            Section(
                "Missing critical indexes (WARNING)",
                ("index", "table", "to add it"),
                [(i["name"], i["table"], i["create"]) for i in result.missing_indexes],
            )
        )
    if result.unused_indexes:
        sections.append(
            Section(
                "Indexes never scanned since the statistics were reset",
                ("index", "table", "size", "advice"),
                [
                    (i["name"], i["table"], Shown(i["size_bytes"], size(i["size_bytes"])), UNUSED)
                    for i in result.unused_indexes
                ],
            )
        )
    if result.sequential_scans:
        sections.append(
            Section(
                "Tables read mostly by sequential scans",
                ("table", "sequential scans", "index scans", "rows", "advice"),
                [
                    (s["table"], s["seq_scan"], s["idx_scan"], s["rows"], SEQUENTIAL)
                    for s in result.sequential_scans
                ],
            )
        )
    tier = result.host_tier
    matched = f"matches {tier.name}" if tier else "smaller than the smallest tier"
    notes = [
        *result.notes,
        f"host: {result.vcpu} vCPU, {result.ram_gb:,.1f} GB RAM ({matched})",
        f"status: {result.status}: {result.summary}",
        f"next step: {result.next_step}",
    ]
    return Report(data=check_data(result), sections=sections, notes=notes, result=result)


def _perf_label(m: Metric) -> str:
    """Short and unique within a run: the metric, then its target's distinguishing labels (the
    database is one per run; a URL without its scheme). A metric measured in GB and written in
    bytes loses its `_gb`."""
    unit = m.spec.unit
    name = m.name
    if unit.perf_uom != unit.symbol and name.endswith(f"_{unit.symbol.lower()}"):
        name = name.removesuffix(f"_{unit.symbol.lower()}")
    values = [
        _host_and_path(value) if key == "url" else value
        for key, value in m.labels.items()
        if key != "db"
    ]
    return _short(PERF_UNSAFE.sub("_", _printable("_".join([name, *values]))))


def _short(label: str) -> str:
    if len(label) <= PERF_LABEL_MOST:
        return label
    digest = hashlib.sha256(label.encode()).hexdigest()[:PERF_HASH]
    return f"{label[: PERF_LABEL_MOST - PERF_HASH - 1]}~{digest}"


def _printable(text: str) -> str:
    """Text that any stream can take: a byte that was not UTF-8 (a file name's, kept by Python as
    a lone surrogate) is written as its escape, \\udcff."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _host_and_path(url: str) -> str:
    """http://user:***@host:8080/health -> host:8080/health"""
    rest = url.partition("://")[2]
    slash = rest.find("/")
    return rest[rest.rfind("@", 0, len(rest) if slash < 0 else slash) + 1 :]


def _quoted(label: str) -> str:
    return f"'{label}'" if any(c in label for c in " /:") or not label.isascii() else label


def _perfdata(m: Metric, label: str) -> str:
    """label=value[UOM];warn;crit;min;max, in the unit the metric's spec gives perfdata."""
    unit = m.spec.unit

    def scaled(value: float | None) -> str:
        return perf(None if value is None else value * unit.perf_scale)

    value = "U" if m.value is None else scaled(m.value) + unit.perf_uom
    return f"{_quoted(label)}={value};{scaled(m.warning)};{scaled(m.critical)};0;{unit.perf_max}"


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}_{seen[label]}")
    return unique


@renders(Format.nagios, needs=CheckResult)
def to_nagios(report: Report) -> str:
    """The monitoring-plugins output: `CAPPLAN STATUS - summary | perfdata`, then detail lines."""
    result = report.result
    assert isinstance(result, CheckResult)  # render() checked it
    labels = _unique([_perf_label(m) for m in result.metrics])
    perfdata = " ".join(
        _perfdata(m, label) for m, label in zip(result.metrics, labels, strict=True)
    )
    lines = [f"CAPPLAN {result.status} - {_plain(result.summary)} | {perfdata}"]
    lines += [
        f"{m.name} {m.label_text}: {m.action}".replace(" :", ":")
        for m in result.metrics
        if m.status is not Status.OK
    ]
    lines += [f"missing index {i['name']}: {i['create']}" for i in result.missing_indexes]
    lines += [
        f"unused index {i['name']} on {i['table']}: 0 scans, {size(i['size_bytes'])}: {UNUSED}"
        for i in result.unused_indexes
    ]
    lines += [
        f"{s['table']}: {s['seq_scan']:,} sequential scans, {s['idx_scan']:,} index scans: "
        f"{SEQUENTIAL}"
        for s in result.sequential_scans
    ]
    lines += [f"note: {note}" for note in result.notes]
    lines.append(f"next step: {result.next_step}")
    return "\n".join([lines[0], *(_plain(line) for line in lines[1:])]) + "\n"


def _plain(text: str) -> str:
    """One line without the | that would start performance data, nor any control character."""
    text = "".join(c if c.isprintable() else " " for c in _printable(text))
    return " ".join(text.split()).replace("|", "/")


def nagios_failure(message: str) -> str:
    """The status line of a run that failed before it could measure anything."""
    return f"CAPPLAN UNKNOWN - {_plain(message)}\n"


def _prom_escape(value: str) -> str:
    """A label value in the text format: backslash, double quote and newline escaped, the rest
    as UTF-8 (a byte that was not UTF-8 as its escape)."""
    return _printable(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _prom_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_prom_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


RUN_FAMILIES = {
    "capplan_up": "1 when the check ran, 0 when it failed before measuring (see its error)",
    "capplan_last_run_timestamp_seconds": "When the check last ran, seconds since the epoch",
    "capplan_check_status": "Overall status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
}
TARGET_UP = (
    "1 when the target (db, url, log, uploads) was measured, 0 when it could not be: "
    "then it has no other series"
)


def _exposition(families: dict[str, tuple[str, list[str]]]) -> str:
    lines = []
    for name, (help_text, samples) in families.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples]
    return "\n".join(lines) + "\n"


def _run_families(
    up: int, at: dt.datetime, status: int, labels: Mapping[str, str]
) -> dict[str, tuple[str, list[str]]]:
    values = {
        "capplan_up": str(up),
        "capplan_last_run_timestamp_seconds": f"{at.timestamp():.3f}",
        "capplan_check_status": str(status),
    }
    return {
        name: (help_text, [f"{name}{_prom_labels(labels)} {values[name]}"])
        for name, help_text in RUN_FAMILIES.items()
    }


@renders(Format.prometheus, needs=CheckResult)
def to_prometheus(report: Report) -> str:
    """The text exposition format, for node_exporter's textfile collector: base units, ratios,
    no timestamps; every series carries the run's --label labels."""
    result = report.result
    assert isinstance(result, CheckResult)  # render() checked it
    run = result.labels
    families: dict[str, tuple[str, list[str]]] = {}
    measured = [m for m in result.metrics if result.measured(m)]  # a down target has no figures
    for m in measured:
        if m.value is None:
            continue
        spec = m.spec
        name = f"capplan_{spec.prometheus}"
        base = f", {spec.unit.base_name}" if spec.unit.base_name else ""
        families.setdefault(name, (spec.help + base, []))[1].append(
            f"{name}{_prom_labels({**m.labels, **run})} {float(m.value) * spec.unit.base_scale!r}"
        )
    families["capplan_metric_status"] = (
        "Status of each metric: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        [
            f"capplan_metric_status{_prom_labels({'metric': m.name, **m.labels, **run})} "
            f"{m.status.exit_code}"
            for m in measured
        ],
    )
    if result.targets:
        families["capplan_target_up"] = (
            TARGET_UP,
            [
                f"capplan_target_up{_prom_labels({**target.labels, **run})} {int(target.up)}"
                for target in result.targets
            ],
        )
    database = next((m.labels for m in measured if m.name == "db_size_gb"), None)
    if database is not None:
        families["capplan_missing_indexes"] = (
            "Critical indexes that the database lacks",
            [
                f"capplan_missing_indexes{_prom_labels({**database, **run})} "
                f"{len(result.missing_indexes)}"
            ],
        )
    families |= _run_families(1, result.checked_at, result.exit_code, run)
    return _exposition(families)


def prometheus_failure(labels: Mapping[str, str], at: dt.datetime) -> str:
    """What a failed run leaves in the textfile: up 0, when, and status UNKNOWN."""
    return _exposition(_run_families(0, at, Status.UNKNOWN.exit_code, labels))
