"""Every metric that check, history and trend know, and how a measurement becomes a Status.

A new metric is one entry in METRICS (its unit, where its thresholds stand in thresholds.yaml,
its Prometheus name) plus its lines in thresholds.yaml; check, the history, trend, JSON, Nagios
and Prometheus all take it from here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capplan.formulas import BYTES_PER_GB

if TYPE_CHECKING:
    from capplan.config.models import Band, ThresholdsConfig


class Status(str, enum.Enum):
    """A metric's or a run's state; its rank orders severity (Nagios: CRITICAL is the worst)."""

    OK = "OK"
    UNKNOWN = "UNKNOWN"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"

    __str__ = str.__str__

    def __format__(self, spec: str) -> str:
        return str.__format__(self.value, spec)

    def __repr__(self) -> str:
        return repr(self.value)

    @property
    def rank(self) -> int:
        """0 OK < 1 UNKNOWN < 2 WARNING < 3 CRITICAL: a threshold crossed outranks a failed
        measurement."""
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """The Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
        return _EXIT_CODE[self]

    @property
    def style(self) -> str:
        """How a terminal shows it (Rich style)."""
        return _STYLE[self]


_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}
_EXIT_CODE = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}
_STYLE = {
    Status.OK: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "magenta",
}


def overall(statuses: Iterable[Status]) -> Status:
    """The worst of the statuses; OK when there are none."""
    return max(statuses, key=lambda status: status.rank, default=Status.OK)


@dataclass(frozen=True, slots=True)
class Unit:
    """How a metric's values are written: as measured, in Prometheus' base unit, in perfdata."""

    symbol: str  # as measured and shown: "%", "ms", "GB", "" (a count)
    base_scale: float  # value x base_scale = the Prometheus base unit
    base_name: str  # that base unit, said in the HELP text ("" when it is the value itself)
    perf_uom: str  # the Nagios perfdata unit of measurement
    perf_scale: float  # value x perf_scale = the perfdata value
    perf_max: str  # the perfdata maximum ("100" for a percentage)


PERCENT = Unit("%", 0.01, "ratio 0-1", "%", 1.0, "100")
MILLISECONDS = Unit("ms", 0.001, "seconds", "ms", 1.0, "")
GIGABYTES = Unit("GB", BYTES_PER_GB, "bytes", "B", BYTES_PER_GB, "")
COUNT = Unit("", 1.0, "", "", 1.0, "")
# Perfdata has no unit for a rate: the label says it (disk_read_bytes_per_second_vda=...).
BYTES_PER_SECOND = Unit("B/s", 1.0, "bytes per second", "", 1.0, "")
PER_SECOND = Unit("/s", 1.0, "per second", "", 1.0, "")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: Unit
    help: str
    threshold: str | None = None  # "section.key" in thresholds.yaml: warning, critical, action
    bands: str | None = None  # a list of bands in thresholds.yaml
    prometheus: str = ""  # the exported name, in base units, without the capplan_ prefix
    optional: bool = False  # thresholds.yaml may leave its thresholds out (a plain figure)

    @property
    def threshold_section(self) -> str | None:
        return None if self.threshold is None else self.threshold.partition(".")[0]

    @property
    def threshold_key(self) -> str | None:
        return None if self.threshold is None else self.threshold.partition(".")[2]


def _optional(name: str, unit: Unit, help_text: str, prometheus: str, section: str) -> MetricSpec:
    """A metric with no thresholds unless thresholds.yaml gives them (under `section`)."""
    return MetricSpec(
        name, unit, help_text, f"{section}.{name}", prometheus=prometheus, optional=True
    )


def _io_metrics() -> tuple[MetricSpec, ...]:
    """Disk I/O per device and network traffic per interface, over --interval."""
    return tuple(
        _optional(name, unit, help_text, prometheus, "scaling_triggers")
        for name, unit, help_text, prometheus in (
            ("disk_read_bytes_per_second", BYTES_PER_SECOND, "Bytes read from the device",
             "disk_read_bytes_per_second"),
            ("disk_write_bytes_per_second", BYTES_PER_SECOND, "Bytes written to the device",
             "disk_write_bytes_per_second"),
            ("disk_read_ops_per_second", PER_SECOND, "Read operations on the device",
             "disk_read_ops_per_second"),
            ("disk_write_ops_per_second", PER_SECOND, "Write operations on the device",
             "disk_write_ops_per_second"),
            ("disk_busy_percent", PERCENT, "Time the device was busy", "disk_busy_ratio"),
            ("network_receive_bytes_per_second", BYTES_PER_SECOND, "Bytes received",
             "network_receive_bytes_per_second"),
            ("network_transmit_bytes_per_second", BYTES_PER_SECOND, "Bytes sent",
             "network_transmit_bytes_per_second"),
            ("network_errors_per_second", PER_SECOND, "Receive and send errors",
             "network_errors_per_second"),
            ("network_drops_per_second", PER_SECOND, "Packets dropped, in and out",
             "network_drops_per_second"),
        )
    )  # fmt: skip


def _access_log_metrics() -> tuple[MetricSpec, ...]:
    """What the web server's access log says about the last --window."""
    return (
        _optional("access_requests_per_second", PER_SECOND, "Requests in the window",
                  "access_requests_per_second", "scaling_triggers"),
        MetricSpec("access_endpoint_requests", COUNT, "Requests in the window, per endpoint",
                   prometheus="access_endpoint_requests"),
        MetricSpec("access_status_requests", COUNT, "Requests in the window, per status",
                   prometheus="access_status_requests"),
        _optional("access_error_rate_percent", PERCENT, "Requests answered with an error status",
                  "access_error_ratio", "scaling_triggers"),
        MetricSpec("active_sessions", COUNT, "Distinct clients in the window (an estimate)",
                   prometheus="active_sessions"),
        MetricSpec("access_malformed_lines", COUNT, "Lines of the log that could not be read",
                   prometheus="access_malformed_lines"),
        MetricSpec("access_future_lines", COUNT, "Lines of the log stamped after now, left out",
                   prometheus="access_future_lines"),
    )  # fmt: skip


def _database_metrics() -> tuple[MetricSpec, ...]:
    """Index usage, and the business figures of the platform's own database."""
    business = (
        ("active_clients", COUNT, "Active clients (shops)"),
        ("new_clients_this_month", COUNT, "Clients who joined this month"),
        ("churn_rate_percent", PERCENT, "Clients lost this month, of those at its start"),
        ("products_per_client", COUNT, "Products per active client"),
        ("orders_per_day", COUNT, "Orders a day"),
        ("api_calls_per_client", COUNT, "API calls per client a day"),
    )
    return (
        MetricSpec("unused_indexes", COUNT, "Indexes never scanned since the statistics reset",
                   prometheus="unused_indexes"),
        *(
            _optional(name, unit, help_text,
                      f"business_{name.replace('_percent', '_ratio')}", "business")
            for name, unit, help_text in business
        ),
    )  # fmt: skip


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "cpu_percent",
            PERCENT,
            "CPU busy",
            "scaling_triggers.cpu_percent",
            prometheus="cpu_usage_ratio",
        ),
        MetricSpec(
            "memory_percent",
            PERCENT,
            "Memory used, (total - available) / total",
            "scaling_triggers.memory_percent",
            prometheus="memory_usage_ratio",
        ),
        MetricSpec(
            "disk_percent",
            PERCENT,
            "Disk used",
            "scaling_triggers.disk_percent",
            prometheus="disk_usage_ratio",
        ),
        MetricSpec(
            "load_per_core",
            COUNT,
            "1-minute load average per CPU core",
            "scaling_triggers.load_per_core",
            prometheus="load_per_core",
        ),
        MetricSpec(
            "api_p50_ms",
            MILLISECONDS,
            "HTTP response time, median",
            prometheus="api_latency_p50_seconds",
        ),
        MetricSpec(
            "api_p95_ms",
            MILLISECONDS,
            "HTTP response time, 95th percentile",
            "scaling_triggers.api_p95_ms",
            prometheus="api_latency_p95_seconds",
        ),
        MetricSpec(
            "api_avg_ms",
            MILLISECONDS,
            "HTTP response time, mean",
            "capacity.avg_response_ms",
            prometheus="api_latency_avg_seconds",
        ),
        MetricSpec(
            "api_p99_ms",
            MILLISECONDS,
            "HTTP response time, 99th percentile",
            prometheus="api_latency_p99_seconds",
        ),
        MetricSpec(
            "api_error_rate_percent",
            PERCENT,
            "HTTP requests that failed",
            "scaling_triggers.api_error_rate_percent",
            prometheus="api_error_ratio",
        ),
        MetricSpec(
            "storage_gb",
            GIGABYTES,
            "Bytes stored under the uploads directory",
            "capacity.storage_gb",
            prometheus="storage_bytes",
        ),
        MetricSpec(
            "image_files",
            COUNT,
            "Image files under the uploads directory",
            prometheus="image_files",
        ),
        MetricSpec(
            "files_per_directory_max",
            COUNT,
            "Files in the fullest directory",
            bands="files_per_directory",
            prometheus="files_per_directory_max",
        ),
        MetricSpec(
            "db_size_gb",
            GIGABYTES,
            "Database size",
            "capacity.db_size_gb",
            prometheus="db_size_bytes",
        ),
        MetricSpec(
            "db_query_p95_ms",
            MILLISECONDS,
            "Database query time, 95th percentile",
            "scaling_triggers.db_query_p95_ms",
            prometheus="db_query_p95_seconds",
        ),
        MetricSpec(
            "db_connections_percent",
            PERCENT,
            "Database connections used of the maximum",
            "scaling_triggers.db_connections_percent",
            prometheus="db_connections_ratio",
        ),
        MetricSpec(
            "products_total",
            COUNT,
            "Rows of the products table (PostgreSQL: the statistics' estimate, unless "
            "--exact-counts)",
            "capacity.products_total",
            prometheus="products",  # a gauge: no _total, which means a counter
        ),
        MetricSpec(
            "table_rows",
            COUNT,
            "Rows per table (PostgreSQL: the statistics' estimate, unless --exact-counts)",
            bands="table_rows",
            prometheus="table_rows",
        ),
        *_io_metrics(),
        *_access_log_metrics(),
        *_database_metrics(),
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
    """A measurement held against its thresholds."""

    name: str
    value: float | None
    unit: str
    warning: float | None
    critical: float | None
    status: Status
    action: str
    labels: Mapping[str, str]
    detail: str = ""

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.name]

    @property
    def label_text(self) -> str:
        return label_text(self.labels)


def band_of(value: float, bands: Iterable[Band]) -> Band:
    """The band a value falls in: the last whose `from` it reaches (the first one for a value
    below them all)."""
    bands = list(bands)
    chosen = bands[0]
    for band in bands:
        if value >= band.start:
            chosen = band
    return chosen


def _band_level(bands: Iterable[Band], status: Status) -> float | None:
    return next((float(b.start) for b in bands if b.status is status), None)


def action_for(name: str, thresholds: ThresholdsConfig) -> str:
    """What to do when the metric passes its warning level."""
    threshold = thresholds.threshold_of(name)
    if threshold is not None:
        return threshold.action
    bands = thresholds.bands_of(name)
    return next((b.action or "" for b in bands if b.status is Status.WARNING), "")


def evaluate(measurement: Measurement, thresholds: ThresholdsConfig) -> Metric:
    spec = METRICS[measurement.name]
    warning = critical = None
    action = ""
    status = Status.OK
    detail = measurement.detail
    threshold = thresholds.threshold_of(spec.name)
    bands = thresholds.bands_of(spec.name)
    if threshold is not None:
        warning, critical = threshold.warning, threshold.critical
        if measurement.value is not None:
            status = threshold.status(measurement.value)
            action = threshold.action if status is not Status.OK else ""
    elif bands:
        warning = _band_level(bands, Status.WARNING)
        critical = _band_level(bands, Status.CRITICAL)
        if measurement.value is not None:
            band = band_of(measurement.value, bands)
            status = band.status
            action = band.action or ""
            detail = f"{detail}; {band.label}" if detail else band.label
    if measurement.value is None:
        status, action = Status.UNKNOWN, measurement.reason
    return Metric(
        name=spec.name,
        value=measurement.value,
        unit=spec.unit.symbol,
        warning=warning,
        critical=critical,
        status=status,
        action=action,
        labels=dict(measurement.labels),
        detail=detail,
    )
