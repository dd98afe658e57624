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
OWN_LABELS = (
    "metric",
    "path",
    "url",
    "db",
    "table",
    "device",
    "nic",
    "log",
    "endpoint",
    "status",
    "target",
)
# Labels Prometheus gives a meaning of its own: histogram buckets, summary quantiles.
RESERVED_LABELS = ("le", "quantile")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A target's kind, and the label that names it on its series (capplan_target_up's too).
TARGET_LABELS = {"db": "db", "url": "url", "log": "log", "uploads": "path"}
# The figure whose absence means the target could not be measured at all: the database could not
# be opened, no request got an answer, the log could not be read, the directory is not one.
TARGET_PROOF = {
    "db": "db_size_gb",
    "url": "api_avg_ms",
    "log": "access_requests_per_second",
    "uploads": "storage_gb",
}
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
class Target:
    """Something measured beside the host (a database, URL, access log or uploads directory):
    up when it could be measured, else down with the reason. A down target has no figures."""

    kind: str  # a key of TARGET_LABELS
    label: str  # as every output shows it (no secret)
    up: bool
    reason: str = ""  # why it is down
    families: frozenset[str] = field(default=frozenset(), metadata={"json": None})

    @property
    def labels(self) -> dict[str, str]:
        """capplan_target_up's labels: {"target": "db", "db": "sqlite:///x.db"}."""
        return {"target": self.kind, TARGET_LABELS[self.kind]: self.label}

    @property
    def brief(self) -> str:
        return f"{self.kind} {self.label} UNKNOWN: {self.reason}"

    def owns(self, metric: Metric) -> bool:
        """Whether the metric is one of this target's figures."""
        return (
            metric.name in self.families
            and metric.labels.get(TARGET_LABELS[self.kind]) == self.label
        )


def target_of(kind: str, label: str, measurements: Sequence[Measurement]) -> Target:
    """The target's health, read from its measurements."""
    proof = next((m for m in measurements if m.name == TARGET_PROOF[kind]), None)
    if proof is None:
        return Target(kind, label, False, "not measured", frozenset(m.name for m in measurements))
    up = proof.value is not None
    return Target(
        kind, label, up, "" if up else proof.reason, frozenset(m.name for m in measurements)
    )


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
    targets: tuple[Target, ...] = ()  # the database, URLs, access logs and uploads, up or down

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    @property
    def down(self) -> tuple[Target, ...]:
        return tuple(target for target in self.targets if not target.up)

    def measured(self, metric: Metric) -> bool:
        """Whether the metric's target (if it has one) could be measured."""
        return not any(target.owns(metric) for target in self.down)

    @property
    def summary(self) -> str:
        """The worst metrics, then every target that could not be measured: a WARNING that
        outranks a down target never hides it."""
        bad = [m for m in self.metrics if m.status is not Status.OK and self.measured(m)]
        parts = [_brief(m) for m in sorted(bad, key=_severity)[:3]]
        if len(bad) > 3:
            parts.append(f"{len(bad) - 3} more not OK")
        if self.missing_indexes:
            parts.append(f"{len(self.missing_indexes)} critical index(es) missing")
        ok = sum(1 for m in self.metrics if m.status is Status.OK)
        parts.append(f"{ok} metric{'s' if ok != 1 else ''} OK")
        return "; ".join([", ".join(parts), *(target.brief for target in self.down)])


def run_labels(pairs: Sequence[str]) -> dict[str, str]:
    """--label KEY=VALUE, each a valid Prometheus label that capplan does not use itself."""
    from capplan.errors import InputError

    labels: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not LABEL_NAME.match(key):
            raise InputError(
                "labels", pair, "expected KEY=VALUE with KEY a Prometheus label name (site=eu1)"
            )
        if key.startswith("__") or key in RESERVED_LABELS:
            raise InputError(
                "labels",
                pair,
                f"{key} is reserved by Prometheus (le, quantile and names starting with __)",
            )
        if not value:
            raise InputError(
                "labels", pair, "the value is empty, which Prometheus reads as no label at all"
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
    targets: list[Target] = []

    def add(kind: str, label: str, found: Sequence[Measurement]) -> None:
        measurements.extend(found)
        targets.append(target_of(kind, label, found))

    # The local targets first, so that a slow endpoint cannot starve them of the deadline; the
    # figures are listed in the usual order all the same.
    logs: list[tuple[str, list[Measurement]]] = []
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
        logs.append((str(access_log.path), list(found)))
        notes += log_notes
    if uploads is not None:
        from capplan.check import uploads as uploads_probe

        walked = uploads_probe.measure(uploads, sample=uploads_sample, deadline=deadline)
        add("uploads", str(uploads), list(walked))
    for url in {target.shown: target for target in urls}.values():
        from capplan.check import http

        add("url", url.shown, list(http.probe(url, requests, timeout, deadline)))
    for label, found in logs:
        add("log", label, found)
    missing: tuple[dict[str, Any], ...] = ()
    unused: tuple[dict[str, Any], ...] = ()
    sequential: tuple[dict[str, Any], ...] = ()
    if db is not None:
        from capplan.check import database

        reading = database.Reading(
            db_probe, requests, schema, allow_privileged_role, exact_counts, deadline
        )
        report = database.inspect(db, thresholds, reading, origins=business_origins)
        add("db", db.shown, report.measurements)
        missing = tuple(report.missing_indexes)
        notes += report.notes
        if report.usage is not None:
            unused, sequential = report.usage.unused, report.usage.sequential
    metrics = tuple(evaluate(m, thresholds) for m in measurements)
    statuses = [m.status for m in metrics]
    if missing:
        statuses.append(Status.WARNING)
    statuses += [Status.UNKNOWN for target in targets if not target.up]  # never reads OK
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
        targets=tuple(targets),
    )
