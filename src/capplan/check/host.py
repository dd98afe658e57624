"""This host's CPU, memory, disk and load, measured with psutil."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from capplan.formulas import BYTES_PER_GB
from capplan.metrics import Measurement


@dataclass(frozen=True, slots=True)
class HostSize:
    vcpu: int
    ram_gb: float


def size() -> HostSize:
    return HostSize(
        vcpu=psutil.cpu_count() or 1, ram_gb=psutil.virtual_memory().total / BYTES_PER_GB
    )


def cpu_percent(interval: float) -> Measurement:
    """CPU busy over `interval` seconds; with 0, the average since boot.

    psutil's first non-blocking call has nothing to compare with and returns 0.0, so an interval
    of 0 uses the CPU times accumulated since boot instead.
    """
    if interval > 0:
        return Measurement("cpu_percent", psutil.cpu_percent(interval=interval))
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(times)
    busy = 100 * (total - idle) / total if total else 0.0
    return Measurement("cpu_percent", busy, detail="average since boot (--interval 0)")


def memory_percent() -> Measurement:
    memory = psutil.virtual_memory()
    used = 100 * (memory.total - memory.available) / memory.total
    return Measurement("memory_percent", used)


def disk_percent(paths: Iterable[Path]) -> Iterator[Measurement]:
    for path in paths:
        labels = {"path": str(path)}
        try:
            usage = psutil.disk_usage(str(path))
        except OSError as error:
            reason = f"cannot measure {path}: {error.strerror or error}"
            yield Measurement("disk_percent", None, labels, reason=reason)
            continue
        # used / (used + free): what a non-root user can fill, as df reports it
        usable = usage.used + usage.free
        value = 100 * usage.used / usable if usable else 0.0
        yield Measurement(
            "disk_percent", value, labels, detail=f"{usage.free / BYTES_PER_GB:,.1f} GB free"
        )


def load_per_core() -> Measurement:
    try:
        one_minute = os.getloadavg()[0]
    except (AttributeError, OSError):
        return Measurement("load_per_core", None, reason="no load average on this system")
    return Measurement("load_per_core", one_minute / (psutil.cpu_count() or 1))
