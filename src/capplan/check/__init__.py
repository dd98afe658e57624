"""`capplan check`: this host, and optionally its uploads, database and HTTP endpoints, against
thresholds.yaml."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capplan.config import InfraTier, ThresholdsConfig, TiersConfig
from capplan.metrics import Measurement, Metric, Status, evaluate, overall

if TYPE_CHECKING:
    from capplan.check.deadline import RunDeadline
    from capplan.check.gate import Origin
    from capplan.check.targets import Database, Http

# The labels capplan's own series carry: --label may not redefine them.
OWN_LABELS = ("metric", "path", "url", "db", "table", "device", "nic", "log", "endpoint", "status")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# psutil reports usable RAM, a little below the size a server is sold with.
RAM_TOLERANCE = 0.9
HOST_METRICS = ("cpu_percent", "memory_percent", "load_per_core")


@dataclass(frozen=True, slots=True)
class AccessLog:
    """--access-log FILE and how to read it."""

    path: Path
    window: int = 300  # seconds
    top: int = 10
    log_format: str = "auto"


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: Status
    metrics: tuple[Metric, ...]
    vcpu: int
    ram_gb: float
    host_tier: InfraTier | None
    next_step: str
    missing_indexes: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=())
    labels: Mapping[str, str] = field(default_factory=dict)  # --label: on every exported series
    unused_indexes: tuple[dict[str, Any], ...] = ()  # name, table, scans, size_bytes
    sequential_scans: tuple[dict[str, Any], ...] = ()  # table, seq_scan, idx_scan, rows
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    @property
    def summary(self) -> str:
        bad = [m for m in self.metrics if m.status is not Status.OK]
        parts = [_brief(m) for m in sorted(bad, key=_severity)[:3]]
        if len(bad) > 3:
            parts.append(f"{len(bad) - 3} more not OK")
        if self.missing_indexes:
            parts.append(f"{len(self.missing_indexes)} critical index(es) missing")
        ok = len(self.metrics) - len(bad)
        parts.append(f"{ok} metric{'s' if ok != 1 else ''} OK")
        return ", ".join(parts)


def run_labels(pairs: Sequence[str]) -> dict[str, str]:
    """--label KEY=VALUE, each a valid Prometheus label that capplan does not use itself."""
    from capplan.errors import InputError

    labels: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not LABEL_NAME.match(key) or key.startswith("__"):
            raise InputError(
                "labels", pair, "expected KEY=VALUE with KEY a Prometheus label name (site=eu1)"
            )
        if key in OWN_LABELS:
            raise InputError(
                "labels", pair, f"{key} is a label of capplan's own ({', '.join(OWN_LABELS)})"
            )
        if key in labels:
            raise InputError("labels", pair, f"{key} is given twice")
        labels[key] = value
    return labels


def _severity(metric: Metric) -> int:
    """Sorts the worst first."""
    return -metric.status.rank


def _brief(metric: Metric) -> str:
    where = f" {metric.label_text}" if metric.labels else ""
    if metric.value is None:
        return f"{metric.name}{where} UNKNOWN ({metric.action})"
    return f"{metric.name}{where} {metric.value:,.1f}{metric.unit} {metric.status}"


def host_tier(tiers: Sequence[InfraTier], vcpu: int, ram_gb: float) -> InfraTier | None:
    """The largest infrastructure tier whose vCPU and RAM this host has."""
    matched = None
    for tier in tiers:
        if tier.vcpu <= vcpu and tier.ram_gb * RAM_TOLERANCE <= ram_gb:
            matched = tier
    return matched


def next_step(
    metrics: Sequence[Metric], tiers: Sequence[InfraTier], current: InfraTier | None
) -> str:
    bad = sorted(
        (m for m in metrics if m.status in (Status.WARNING, Status.CRITICAL)), key=_severity
    )
    if any(m.name in HOST_METRICS for m in bad):
        index = -1 if current is None else [t.id for t in tiers].index(current.id)
        if index + 1 < len(tiers):
            target = tiers[index + 1]
            first = next(m for m in bad if m.name in HOST_METRICS)
            return (
                f"{first.action}: move to {target.name} ({target.vcpu} vCPU, "
                f"{target.ram_gb:g} GB RAM, EUR {target.monthly_cost_eur.typical:,.0f}/month)"
            )
    if bad:
        return f"{bad[0].action} ({bad[0].name})"
    unknown = [m for m in metrics if m.status is Status.UNKNOWN]
    if unknown:
        return f"find out why {unknown[0].name} could not be measured: {unknown[0].action}"
    return "nothing to do: every metric is within its thresholds"


def run(
    *,
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    interval: float = 1.0,
    paths: Sequence[Path] = (Path("/"),),
    uploads: Path | None = None,
    uploads_sample: float | None = None,
    urls: Sequence[Http] = (),
    requests: int = 20,
    timeout: float = 5.0,
    db: Database | None = None,
    db_probe: str | None = None,
    schema: str | None = None,
    allow_privileged_role: bool = False,
    business_origins: Mapping[str, Origin] | None = None,
    labels: Mapping[str, str] | None = None,
    devices: Sequence[str] = (),
    nics: Sequence[str] = (),
    access_logs: Sequence[AccessLog] = (),
    exact_counts: bool = False,
    deadline: RunDeadline | None = None,
) -> CheckResult:
    """Measure everything asked for and hold it against the thresholds. A path, URL or access
    log given twice is measured once.

    With a `deadline`, each target takes its time limits from what is left of it: what it stops
    is UNKNOWN with the reason, and what was measured keeps its figures. The local targets (the
    access logs) are measured before the remote ones, so that a slow endpoint cannot starve them;
    the figures are listed in the usual order all the same."""
    from capplan.check import host, io

    if db_probe is not None:
        from capplan.check.database import given_probe

        given_probe(db_probe, db.kind if db else None)  # refused before anything is measured
    before = io.counters() if interval > 0 else None
    cpu = host.cpu_percent(interval)  # waits the interval, over which I/O is measured too
    measurements: list[Measurement] = [
        cpu,
        host.memory_percent(),
        *host.disk_percent(dict.fromkeys(paths)),
        host.load_per_core(),
        *io.rates(before, io.counters(), devices=devices, nics=nics),
    ]
    notes: list[str] = []
    logs: list[Measurement] = []
    for access_log in {given.path: given for given in access_logs}.values():
        from capplan.check import access_log as log

        found, log_notes = log.measure(
            access_log.path,
            window=access_log.window,
            top=access_log.top,
            log_format=access_log.log_format,
            now=dt.datetime.now(dt.timezone.utc),
            deadline=deadline,
        )
        logs += found
        notes += log_notes
    if uploads is not None:
        from capplan.check import uploads as uploads_probe

        measurements += uploads_probe.measure(uploads, sample=uploads_sample, deadline=deadline)
    for url in {target.shown: target for target in urls}.values():
        from capplan.check import http

        measurements += http.probe(url, requests, timeout, deadline)
    measurements += logs
    missing: tuple[dict[str, Any], ...] = ()
    unused: tuple[dict[str, Any], ...] = ()
    sequential: tuple[dict[str, Any], ...] = ()
    if db is not None:
        from capplan.check import database

        report = database.inspect(
            db,
            thresholds,
            probe=db_probe,
            requests=requests,
            schema=schema,
            allow_privileged_role=allow_privileged_role,
            origins=business_origins,
            exact_counts=exact_counts,
            deadline=deadline,
        )
        measurements += report.measurements
        missing = tuple(report.missing_indexes)
        notes += report.notes
        if report.usage is not None:
            unused, sequential = report.usage.unused, report.usage.sequential
    metrics = tuple(evaluate(m, thresholds) for m in measurements)
    statuses = [m.status for m in metrics]
    if missing:
        statuses.append(Status.WARNING)
    size = host.size()
    matched = host_tier(tiers.infrastructure_tiers, size.vcpu, size.ram_gb)
    step = next_step(metrics, tiers.infrastructure_tiers, matched)
    if missing and step.startswith("nothing to do"):
        step = f"add the {len(missing)} missing critical index(es): see missing_indexes"
    return CheckResult(
        status=overall(statuses),
        metrics=metrics,
        vcpu=size.vcpu,
        ram_gb=size.ram_gb,
        host_tier=matched,
        next_step=step,
        missing_indexes=missing,
        notes=tuple(notes),
        labels=dict(labels or {}),
        unused_indexes=unused,
        sequential_scans=sequential,
    )
