"""Which Prometheus series a history reads, in PromQL: node_exporter's standard series mapped to
capplan's metrics, capplan's own series by their names, and the `--match` selector parsed.

`capplan rules` builds its alert expressions from the same table, so an alert and a forecast
read a metric the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capplan.errors import InputError
from capplan.metrics import METRICS

# Real file systems (an allow-list): tmpfs, overlay, squashfs, proc, cgroup... are left out.
FILE_SYSTEMS = "ext2|ext3|ext4|xfs|btrfs|zfs|f2fs|jfs|reiserfs|vfat|exfat|ntfs|nfs|nfs4|cifs"
WHOLE_DISKS = "(sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"  # not partitions, loop, dm
INTERFACES = "(eth|en|wl|ww|bond|ib)[a-z0-9]*"  # not lo, veth, docker, bridges

# --- --match: a PromQL selector, parsed ------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
_MATCHER = re.compile(rf"\s*({_NAME})\s*(=~|!~|!=|=)\s*({_STRING})\s*")


def parse_match(text: str) -> tuple[str, ...]:
    """`{job="node", instance=~"web.*"}` (the braces may be left out) as its matchers; anything
    else is refused. `__name__` is capplan's to choose, so it may not be matched on."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    matchers: list[str] = []
    position = 0
    while position < len(body):
        found = _MATCHER.match(body, position)
        if found is None:
            raise InputError(
                "match",
                text,
                'expected a PromQL selector of label matchers: {job="node", instance=~"web.*"}',
            )
        name, op, value = found.groups()
        if name == "__name__":
            raise InputError("match", text, "may not match __name__: capplan chooses the series")
        matchers.append(f"{name}{op}{value}")
        position = found.end()
        if position < len(body):
            if body[position] != ",":
                raise InputError("match", text, "expected a comma between label matchers")
            position += 1
    if not matchers:
        raise InputError("match", text, 'expected at least one label matcher: {job="node"}')
    return tuple(matchers)


# --- which series are read, and how ----------------------------------------------------------

Selector = Callable[..., str]  # (metric name, *fixed matchers) -> `name{matchers}`


@dataclass(frozen=True, slots=True)
class Query:
    """One capplan metric read from Prometheus: a PromQL expression, the series it needs, and
    how its labels become capplan's."""

    metric: str
    expr: Callable[[Selector, str], str]  # (selector, rate window) -> PromQL
    needs: tuple[str, ...]
    rename: tuple[tuple[str, str], ...] = ()
    drop: tuple[str, ...] = ()
    scale: float = 1.0  # the value read x scale = capplan's unit
    from_node: bool = True


def _rate_sum(names: Sequence[str], fixed: str) -> Callable[[Selector, str], str]:
    return lambda s, w: " + ".join(f"rate({s(name, fixed)}[{w}])" for name in names)


IDLE = 'mode="idle"'
FS = f'fstype=~"{FILE_SYSTEMS}"'
DISKS = f'device=~"{WHOLE_DISKS}"'
NICS = f'device=~"{INTERFACES}"'
NODE_QUERIES: tuple[Query, ...] = (
    Query(
        "cpu_percent",
        lambda s, w: (
            f"100 * (1 - avg without (cpu, mode) (rate({s('node_cpu_seconds_total', IDLE)}[{w}])))"
        ),
        ("node_cpu_seconds_total",),
    ),
    Query(
        "memory_percent",
        lambda s, w: (
            f"100 * (1 - {s('node_memory_MemAvailable_bytes')} / {s('node_memory_MemTotal_bytes')})"
        ),
        ("node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"),
    ),
    Query(
        "disk_percent",
        # as df and capplan check count it: used / (used + available to users), where used is
        # size - free (the blocks reserved for root are neither)
        lambda s, w: (
            f"100 * ({s('node_filesystem_size_bytes', FS)} - {s('node_filesystem_free_bytes', FS)})"
            f" / ({s('node_filesystem_size_bytes', FS)} - {s('node_filesystem_free_bytes', FS)}"
            f" + {s('node_filesystem_avail_bytes', FS)})"
        ),
        ("node_filesystem_avail_bytes", "node_filesystem_free_bytes", "node_filesystem_size_bytes"),
        rename=(("mountpoint", "path"),),
        drop=("device", "fstype"),
    ),
    Query(
        "load_per_core",
        lambda s, w: (
            f"{s('node_load1')} / count without (cpu, mode) ({s('node_cpu_seconds_total', IDLE)})"
        ),
        ("node_load1", "node_cpu_seconds_total"),
    ),
    Query(
        "disk_read_bytes_per_second",
        _rate_sum(["node_disk_read_bytes_total"], DISKS),
        ("node_disk_read_bytes_total",),
    ),
    Query(
        "disk_write_bytes_per_second",
        _rate_sum(["node_disk_written_bytes_total"], DISKS),
        ("node_disk_written_bytes_total",),
    ),
    Query(
        "disk_read_ops_per_second",
        _rate_sum(["node_disk_reads_completed_total"], DISKS),
        ("node_disk_reads_completed_total",),
    ),
    Query(
        "disk_write_ops_per_second",
        _rate_sum(["node_disk_writes_completed_total"], DISKS),
        ("node_disk_writes_completed_total",),
    ),
    Query(
        "disk_busy_percent",
        lambda s, w: f"100 * rate({s('node_disk_io_time_seconds_total', DISKS)}[{w}])",
        ("node_disk_io_time_seconds_total",),
    ),
    Query(
        "network_receive_bytes_per_second",
        _rate_sum(["node_network_receive_bytes_total"], NICS),
        ("node_network_receive_bytes_total",),
        rename=(("device", "nic"),),
    ),
    Query(
        "network_transmit_bytes_per_second",
        _rate_sum(["node_network_transmit_bytes_total"], NICS),
        ("node_network_transmit_bytes_total",),
        rename=(("device", "nic"),),
    ),
    Query(
        "network_errors_per_second",
        _rate_sum(["node_network_receive_errs_total", "node_network_transmit_errs_total"], NICS),
        ("node_network_receive_errs_total", "node_network_transmit_errs_total"),
        rename=(("device", "nic"),),
    ),
    Query(
        "network_drops_per_second",
        _rate_sum(["node_network_receive_drop_total", "node_network_transmit_drop_total"], NICS),
        ("node_network_receive_drop_total", "node_network_transmit_drop_total"),
        rename=(("device", "nic"),),
    ),
)


def capplan_name(metric: str) -> str:
    """The series `capplan check --format prometheus` writes for a metric."""
    return f"capplan_{METRICS[metric].prometheus}"


def _capplan_query(metric: str) -> Query:
    name = capplan_name(metric)
    return Query(
        metric,
        lambda s, w: s(name),
        (name,),
        scale=1 / METRICS[metric].unit.base_scale,
        from_node=False,
    )


CAPPLAN_QUERIES: tuple[Query, ...] = tuple(
    _capplan_query(name) for name, spec in METRICS.items() if spec.prometheus
)
DROPPED_LABELS = ("__name__", "job")
