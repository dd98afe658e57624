"""`capplan check`: the table, and the Nagios and Prometheus formats of the check report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from capplan.check import CheckResult
from capplan.metrics import Metric, Status
from capplan.output.formats import Format
from capplan.output.numbers import figure, measured, perf
from capplan.output.report import Report, Section, data, renders


def _metric_data(m: Metric) -> dict[str, Any]:
    fields: dict[str, Any] = data(m)
    if not m.detail:
        del fields["detail"]
    return fields


def check_data(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "summary": result.summary,
        "host": {
            "vcpu": result.vcpu,
            "ram_gb": result.ram_gb,
            "infra_tier": result.host_tier.id if result.host_tier else None,
        },
        "next_step": result.next_step,
        "metrics": [_metric_data(m) for m in result.metrics],
        "missing_indexes": result.missing_indexes,
        "notes": result.notes,
    }


def check_report(result: CheckResult) -> Report:
    metrics = Section(
        f"capplan check: {result.status}",
        ("metric", "where", "value", "warning", "critical", "status", "action / detail"),
        [
            (
                m.name,
                m.label_text or "-",
                measured(m.value, m.unit),
                figure(m.warning) if m.warning is not None else "-",
                figure(m.critical) if m.critical is not None else "-",
                m.status,
                "; ".join(part for part in (m.action, m.detail) if part) or "-",
            )
            for m in result.metrics
        ],
        statuses=[m.status for m in result.metrics],
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
    label = "_".join([m.name, *m.labels.values()]).replace("=", "_").replace("'", "_")
    return f"'{label}'" if any(c in label for c in " /:") or not label.isascii() else label


def _perfdata(m: Metric) -> str:
    """label=value[UOM];warn;crit;min;max, in the unit the metric's spec gives perfdata."""
    unit = m.spec.unit

    def scaled(value: float | None) -> str:
        return perf(None if value is None else value * unit.perf_scale)

    value = "U" if m.value is None else scaled(m.value) + unit.perf_uom
    return f"{_perf_label(m)}={value};{scaled(m.warning)};{scaled(m.critical)};0;{unit.perf_max}"


@renders(Format.nagios, needs=CheckResult)
def to_nagios(report: Report) -> str:
    """The monitoring-plugins output: `CAPPLAN STATUS: summary | perfdata`, then detail lines."""
    result = report.result
    assert isinstance(result, CheckResult)  # render() checked it
    perfdata = " ".join(_perfdata(m) for m in result.metrics)
    lines = [f"CAPPLAN {result.status}: {result.summary} | {perfdata}"]
    lines += [
        f"{m.name} {m.label_text}: {m.action}".replace(" :", ":")
        for m in result.metrics
        if m.status is not Status.OK
    ]
    lines += [f"missing index {i['name']}: {i['create']}" for i in result.missing_indexes]
    lines.append(f"next step: {result.next_step}")
    return "\n".join(lines) + "\n"


def _prom_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _prom_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_prom_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


@renders(Format.prometheus, needs=CheckResult)
def to_prometheus(report: Report) -> str:
    """The text exposition format, for node_exporter's textfile collector: base units, ratios,
    no timestamps."""
    result = report.result
    assert isinstance(result, CheckResult)  # render() checked it
    families: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for m in result.metrics:
        if m.value is None:
            continue
        spec = m.spec
        name = f"capplan_{spec.prometheus}"
        base = f", {spec.unit.base_name}" if spec.unit.base_name else ""
        helps[name] = spec.help + base
        families.setdefault(name, []).append(
            f"{name}{_prom_labels(m.labels)} {float(m.value) * spec.unit.base_scale!r}"
        )
    status = "capplan_metric_status"
    helps[status] = "Status of each metric: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    families[status] = [
        f"{status}{_prom_labels({'metric': m.name, **m.labels})} {m.status.exit_code}"
        for m in result.metrics
    ]
    helps["capplan_check_status"] = "Overall status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    families["capplan_check_status"] = [f"capplan_check_status {result.exit_code}"]
    helps["capplan_missing_indexes"] = "Critical indexes that the database lacks"
    families["capplan_missing_indexes"] = [f"capplan_missing_indexes {len(result.missing_indexes)}"]
    lines = []
    for name, samples in families.items():
        lines += [f"# HELP {name} {helps[name]}", f"# TYPE {name} gauge", *samples]
    return "\n".join(lines) + "\n"
