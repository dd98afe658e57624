"""Disk I/O per device and network traffic per interface, with psutil, over --interval.

The counters are read before and after the interval (while the CPU is measured); with
--interval 0 the rates are averages since boot. Loopback and virtual devices (loop, ram, zram,
device-mapper, veth, bridges...) are left out unless named with --device or --nic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from capplan.metrics import Measurement

VIRTUAL_DISKS = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")
VIRTUAL_NICS = (
    "lo", "veth", "docker", "br-", "virbr", "vnet", "ifb", "dummy", "cni", "flannel", "cali",
    "tun", "tap", "lxc", "kube",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Counters:
    """The cumulative counters at one moment."""

    at: float  # seconds, monotonic
    disks: dict[str, Any]  # device -> psutil's sdiskio
    nics: dict[str, Any]  # interface -> psutil's snetio


def physical_disk(name: str) -> bool:
    """A whole disk (not a partition) with a device behind it; by name where /sys is absent."""
    block = Path("/sys/block")
    if block.is_dir():
        return (block / name / "device").exists()
    return not name.startswith(VIRTUAL_DISKS)


def physical_nic(name: str) -> bool:
    """Not the loopback, not a bridge, tunnel or container pair (a container's eth0 counts)."""
    if (Path("/sys/class/net") / name / "device").exists():
        return True
    return not name.startswith(VIRTUAL_NICS)


def counters() -> Counters:
    disks = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    nics = psutil.net_io_counters(pernic=True, nowrap=True) or {}
    return Counters(time.monotonic(), dict(disks), dict(nics))


def _chosen(
    seen: dict[str, Any], asked: Sequence[str], default: Any, what: str
) -> Iterator[tuple[str, Any, str]]:
    """(name, counters or None, why missing) for each device asked for, else each default one."""
    if not asked:
        for name in sorted(seen):
            if default(name):
                yield name, seen[name], ""
        return
    for name in dict.fromkeys(asked):
        if name in seen:
            yield name, seen[name], ""
        else:
            known = ", ".join(sorted(seen)) or "none"
            yield name, None, f"no such {what} (this host has {known})"


def rates(
    before: Counters | None,
    after: Counters,
    *,
    devices: Sequence[str] = (),
    nics: Sequence[str] = (),
) -> Iterator[Measurement]:
    """Per-second rates between two readings; with no first reading, since boot."""
    if before is None:
        seconds = max(time.time() - psutil.boot_time(), 1.0)
        detail = "average since boot (--interval 0)"
    else:
        seconds = max(after.at - before.at, 1e-6)
        detail = ""

    def delta(old: Any, new: Any, field: str) -> float:
        start = 0 if old is None else getattr(old, field)
        return float(getattr(new, field) - start) / seconds

    for name, now, missing in _chosen(after.disks, devices, physical_disk, "device"):
        labels = {"device": name}
        if now is None:
            yield Measurement("disk_read_bytes_per_second", None, labels, reason=missing)
            continue
        old = None if before is None else before.disks.get(name)
        yield Measurement(
            "disk_read_bytes_per_second", delta(old, now, "read_bytes"), labels, detail
        )
        yield Measurement(
            "disk_write_bytes_per_second", delta(old, now, "write_bytes"), labels, detail
        )
        yield Measurement("disk_read_ops_per_second", delta(old, now, "read_count"), labels, detail)
        yield Measurement(
            "disk_write_ops_per_second", delta(old, now, "write_count"), labels, detail
        )
        if hasattr(now, "busy_time"):  # Linux: milliseconds spent doing I/O
            busy = min(100.0, delta(old, now, "busy_time") / 10)  # ms per s -> percent
            yield Measurement("disk_busy_percent", busy, labels, detail)
    for name, now, missing in _chosen(after.nics, nics, physical_nic, "interface"):
        labels = {"nic": name}
        if now is None:
            yield Measurement("network_receive_bytes_per_second", None, labels, reason=missing)
            continue
        old = None if before is None else before.nics.get(name)
        yield Measurement(
            "network_receive_bytes_per_second", delta(old, now, "bytes_recv"), labels, detail
        )
        yield Measurement(
            "network_transmit_bytes_per_second", delta(old, now, "bytes_sent"), labels, detail
        )
        errors = delta(old, now, "errin") + delta(old, now, "errout")
        drops = delta(old, now, "dropin") + delta(old, now, "dropout")
        yield Measurement("network_errors_per_second", errors, labels, detail)
        yield Measurement("network_drops_per_second", drops, labels, detail)
