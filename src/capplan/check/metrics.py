"""The metrics that `capplan check` knows, and how a measurement becomes a status and an action.

A new metric is one entry in METRICS: its unit, where its thresholds come from, and how it is
exported to Prometheus. Nothing else has to learn about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from capplan.config import Band, Threshold, ThresholdsConfig


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str  # "%", "ms", "GB", "" (a count)
    help: str
    threshold: str | None = None  # dotted path in thresholds.yaml
    bands: str | None = None  # a list of bands in thresholds.yaml
    prometheus: str = ""  # exported name, in base units
    scale: float = 1.0  # value x scale = the base unit (percent -> ratio, ms -> s, GB -> bytes)


PERCENT = 0.01
MILLISECONDS = 0.001
GIGABYTES = 1e9

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "cpu_percent",
            "%",
            "CPU busy",
            "scaling_triggers.cpu_percent",
            prometheus="cpu_usage_ratio",
            scale=PERCENT,
        ),
        MetricSpec(
            "memory_percent",
            "%",
            "Memory used, (total - available) / total",
            "scaling_triggers.memory_percent",
            prometheus="memory_usage_ratio",
            scale=PERCENT,
        ),
        MetricSpec(
            "disk_percent",
            "%",
            "Disk used",
            "scaling_triggers.disk_percent",
            prometheus="disk_usage_ratio",
            scale=PERCENT,
        ),
        MetricSpec(
            "load_per_core",
            "",
            "1-minute load average per CPU core",
            "scaling_triggers.load_per_core",
            prometheus="load_per_core",
        ),
        MetricSpec(
            "api_p50_ms",
            "ms",
            "HTTP response time, median",
            prometheus="api_latency_p50_seconds",
            scale=MILLISECONDS,
        ),
        MetricSpec(
            "api_p95_ms",
            "ms",
            "HTTP response time, 95th percentile",
            "scaling_triggers.api_p95_ms",
            prometheus="api_latency_p95_seconds",
            scale=MILLISECONDS,
        ),
        MetricSpec(
            "api_avg_ms",
            "ms",
            "HTTP response time, mean",
            "capacity.avg_response_ms",
            prometheus="api_latency_avg_seconds",
            scale=MILLISECONDS,
        ),
        MetricSpec(
            "api_p99_ms",
            "ms",
            "HTTP response time, 99th percentile",
            prometheus="api_latency_p99_seconds",
            scale=MILLISECONDS,
        ),
        MetricSpec(
            "api_error_rate_percent",
            "%",
            "HTTP requests that failed",
            "scaling_triggers.api_error_rate_percent",
            prometheus="api_error_ratio",
            scale=PERCENT,
        ),
        MetricSpec(
            "storage_gb",
            "GB",
            "Bytes stored under the uploads directory",
            "capacity.storage_gb",
            prometheus="storage_bytes",
            scale=GIGABYTES,
        ),
        MetricSpec(
            "image_files", "", "Image files under the uploads directory", prometheus="image_files"
        ),
        MetricSpec(
            "files_per_directory_max",
            "",
            "Files in the fullest directory",
            bands="files_per_directory",
            prometheus="files_per_directory_max",
        ),
        MetricSpec(
            "db_size_gb",
            "GB",
            "Database size",
            "capacity.db_size_gb",
            prometheus="db_size_bytes",
            scale=GIGABYTES,
        ),
        MetricSpec(
            "db_query_p95_ms",
            "ms",
            "Database query time, 95th percentile",
            "scaling_triggers.db_query_p95_ms",
            prometheus="db_query_p95_seconds",
            scale=MILLISECONDS,
        ),
        MetricSpec(
            "db_connections_percent",
            "%",
            "Database connections used of the maximum",
            "scaling_triggers.db_connections_percent",
            prometheus="db_connections_ratio",
            scale=PERCENT,
        ),
        MetricSpec(
            "products_total",
            "",
            "Rows of the products table",
            "capacity.products_total",
            prometheus="products_total",
        ),
        MetricSpec("table_rows", "", "Rows per table", bands="table_rows", prometheus="table_rows"),
    )
}


def label_text(labels: Mapping[str, str]) -> str:
    """path=/,table=orders"""
    return ",".join(f"{key}={value}" for key, value in labels.items())


@dataclass(frozen=True, slots=True)
class Measurement:
    """A value as measured; None with a reason when it could not be measured."""

    name: str
    value: float | None
    labels: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""  # what a person wants beside the number ("fullest: products/ab/cd")
    reason: str = ""  # why the value is missing


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float | None
    unit: str
    warning: float | None
    critical: float | None
    status: str
    action: str
    labels: Mapping[str, str]
    detail: str = ""

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.name]

    @property
    def label_text(self) -> str:
        return label_text(self.labels)


def _lookup(thresholds: ThresholdsConfig, path: str) -> object:
    node: object = thresholds
    for part in path.split("."):
        node = getattr(node, part)
    return node


def band_of(value: float, bands: Iterable[Band]) -> Band:
    """The band a value falls in: the last whose `from` it reaches."""
    chosen = None
    for band in bands:
        if value >= band.start:
            chosen = band
    if chosen is None:
        raise ValueError(f"no band for {value}")  # bands start at 0; counts are >= 0
    return chosen


def _band_level(bands: Iterable[Band], status: str) -> float | None:
    return next((float(b.start) for b in bands if b.status == status), None)


def action_for(name: str, thresholds: ThresholdsConfig) -> str:
    """What to do when the metric passes its warning level."""
    spec = METRICS[name]
    if spec.threshold is not None:
        threshold = _lookup(thresholds, spec.threshold)
        return threshold.action if isinstance(threshold, Threshold) else ""
    if spec.bands is not None:
        bands = _lookup(thresholds, spec.bands)
        assert isinstance(bands, list)
        return next((b.action for b in bands if b.status == "WARNING"), "")
    return ""


def evaluate(measurement: Measurement, thresholds: ThresholdsConfig) -> Metric:
    spec = METRICS[measurement.name]
    warning = critical = None
    action = ""
    status = "OK"
    detail = measurement.detail
    if spec.threshold is not None:
        threshold = _lookup(thresholds, spec.threshold)
        assert isinstance(threshold, Threshold)
        warning, critical = threshold.warning, threshold.critical
        if measurement.value is not None:
            status = threshold.status(measurement.value)
            action = threshold.action if status != "OK" else ""
    elif spec.bands is not None:
        bands = _lookup(thresholds, spec.bands)
        assert isinstance(bands, list)
        warning, critical = _band_level(bands, "WARNING"), _band_level(bands, "CRITICAL")
        if measurement.value is not None:
            band = band_of(measurement.value, bands)
            status = band.status
            action = "" if band.action == "None" else band.action
            detail = f"{detail}; {band.label}" if detail else band.label
    if measurement.value is None:
        status, action = "UNKNOWN", measurement.reason
    return Metric(
        name=spec.name,
        value=measurement.value,
        unit=spec.unit,
        warning=warning,
        critical=critical,
        status=status,
        action=action,
        labels=dict(measurement.labels),
        detail=detail,
    )


# Nagios: a failed measurement (UNKNOWN) matters less than a threshold crossed.
OVERALL_RANK = {"OK": 0, "UNKNOWN": 1, "WARNING": 2, "CRITICAL": 3}
EXIT_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def overall(statuses: Iterable[str]) -> str:
    return max(statuses, key=OVERALL_RANK.__getitem__, default="OK")
