"""Which infrastructure tier fits: the one rule behind the recommendation, the timeline, the runway
and the trend's next tier.

A tier fits when its clients (`max_clients`, inclusive) and its disk (storage at the sizing level
of disk_percent) hold the load. The smallest tier that fits is recommended; the dimension that
ruled out the tier below is the binding one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from capplan.config import InfraTier, Level, ThresholdsConfig
from capplan.formulas import Totals
from capplan.metrics import Status


@dataclass(frozen=True, slots=True)
class Misfit:
    """One dimension of the load that a tier cannot hold."""

    dimension: str  # "clients" or "disk"
    value: float
    limit: float
    storage_gb: float = 0.0  # for disk: the tier's whole storage
    disk_pct: float = 0.0

    def __str__(self) -> str:
        if self.dimension == "clients":
            return f"clients {self.value:,.0f} > {self.limit:,.0f} max"
        return (
            f"disk {self.value:,.0f} GB > {self.limit:,.0f} GB, "
            f"{self.disk_pct:g} % of {self.storage_gb:,.0f} GB"
        )


def misfits(
    tier: InfraTier, clients: float | None, disk_gb: float, disk_pct: float
) -> list[Misfit]:
    """Why `tier` cannot take this load: empty when it can. `clients` None: disk only."""
    found = []
    if clients is not None and tier.max_clients is not None and clients > tier.max_clients:
        found.append(Misfit("clients", clients, tier.max_clients))
    limit = tier.disk_limit_gb(disk_pct)
    if disk_gb > limit:
        found.append(Misfit("disk", disk_gb, limit, tier.storage_gb, disk_pct))
    return found


@dataclass(frozen=True, slots=True)
class TierFit:
    """The tier chosen for a load, why each smaller one was not, and the binding dimension."""

    tiers: tuple[InfraTier, ...]
    index: int
    reasons: tuple[tuple[Misfit, ...], ...]  # per tier, in the order of tiers.yaml
    clients: float
    disk_gb: float
    disk_pct: float

    @property
    def tier(self) -> InfraTier:
        return self.tiers[self.index]

    @property
    def fits(self) -> bool:
        return not self.reasons[self.index]

    @property
    def binding(self) -> str:
        """The dimension that decides the tier: the one that rules out the tier below, or on the
        smallest tier the one nearest its limit; on a tier that does not fit, what it cannot
        hold."""
        if not self.fits:
            kinds = {misfit.dimension for misfit in self.reasons[self.index]}
            return "clients and disk" if len(kinds) == 2 else kinds.pop()
        if self.index == 0:
            tier = self.tiers[0]
            client_use = self.clients / tier.max_clients if tier.max_clients else 0.0
            disk_use = self.disk_gb / tier.disk_limit_gb(self.disk_pct)
            return "disk" if disk_use > client_use else "clients"
        kinds = {misfit.dimension for misfit in self.reasons[self.index - 1]}
        if kinds == {"clients", "disk"}:
            return "clients and disk"
        return kinds.pop() if kinds else "none"

    @property
    def runway_clients(self) -> int | None:
        """More clients, in today's proportions, before the chosen tier no longer fits (0 when it
        does not fit now); None: no limit."""
        if not self.fits:
            return 0
        most = math.inf if self.tier.max_clients is None else float(self.tier.max_clients)
        if self.clients > 0 and self.disk_gb > 0:
            limit = self.tier.disk_limit_gb(self.disk_pct)
            by_disk = self.clients * limit / self.disk_gb  # inf for a vanishing disk: no limit
            if math.isfinite(by_disk):
                most = min(most, math.floor(by_disk + 1e-9))
        if math.isinf(most):
            return None
        return max(0, int(most - self.clients))


def holds(tier: InfraTier, clients: Any, disk_gb: Any, disk_pct: float) -> Any:
    """The rule: whether `tier` holds the load (clients and disk). Elementwise on numpy arrays,
    so that a thousand sampled loads are sized by the same rule as one."""
    disk_ok = disk_gb <= tier.disk_limit_gb(disk_pct)
    if tier.max_clients is None or clients is None:
        return disk_ok
    return (clients <= tier.max_clients) & disk_ok


def fit_indexes(
    tiers: Sequence[InfraTier], clients: Any, disk_gb: Any, disk_pct: float
) -> tuple[Any, Any]:
    """`fit` for numpy arrays of loads: each load's tier index (the smallest that holds it, else
    the largest) and whether it fits."""
    import numpy as np

    shape = np.broadcast(clients, disk_gb).shape
    index = np.full(shape, len(tiers) - 1)
    fits = np.zeros(shape, dtype=bool)
    for position in reversed(range(len(tiers))):
        ok = holds(tiers[position], clients, disk_gb, disk_pct)
        index = np.where(ok, position, index)
        fits |= ok
    return index, fits


def fit(
    tiers: Sequence[InfraTier],
    clients: float | None,
    disk_gb: float,
    disk_pct: float,
    forced: str | None = None,
) -> TierFit:
    """The smallest tier on which the load fits (the largest when none does), or the `forced`
    one. `clients` None holds the disk alone (a trend of stored bytes knows no clients)."""
    reasons = tuple(tuple(misfits(tier, clients, disk_gb, disk_pct)) for tier in tiers)
    if forced is not None:
        index = [tier.id for tier in tiers].index(forced)
    else:
        index = next(
            (i for i, tier in enumerate(tiers) if holds(tier, clients, disk_gb, disk_pct)),
            len(tiers) - 1,
        )
    return TierFit(tuple(tiers), index, reasons, clients or 0.0, disk_gb, disk_pct)


@dataclass(frozen=True, slots=True)
class Rejection:
    tier: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The infrastructure tier for a projection; its fields are the JSON contract's keys."""

    tier: InfraTier
    fits: bool
    binding: str
    reason: str
    rejected: tuple[Rejection, ...]
    disk_gb: float
    disk_limit_gb: float
    sizing_level: Level
    disk_threshold_pct: float
    runway_clients: int | None  # more clients (same mix) before the next tier; None: no limit
    forced: bool = False
    smallest_fitting_tier: str | None = None  # when forced: the tier that would be recommended


def recommend(
    tiers: Sequence[InfraTier],
    clients: float,
    disk_gb: float,
    thresholds: ThresholdsConfig,
    forced: str | None = None,
) -> Recommendation:
    """The smallest infrastructure tier on which clients and disk fit under the sizing level.

    `forced` names a tier to use instead; the result then says whether it fits.
    """
    disk_pct = thresholds.disk_threshold_pct
    chosen = fit(tiers, clients, disk_gb, disk_pct, forced)
    rejected = tuple(
        Rejection(tier.id, tuple(str(misfit) for misfit in why))
        for tier, why in zip(tiers[: chosen.index], chosen.reasons[: chosen.index], strict=True)
        if why
    )
    smallest = chosen if forced is None else fit(tiers, clients, disk_gb, disk_pct)
    if not chosen.fits:
        reason = "does not fit: " + "; ".join(str(m) for m in chosen.reasons[chosen.index])
        if forced is None:
            reason += " (no larger tier exists)"
    elif rejected:
        below = rejected[-1]
        reason = f"{below.tier}: " + "; ".join(below.reasons)
    else:
        reason = f"the smallest tier: {clients:,.0f} clients and {disk_gb:,.0f} GB of disk fit"
    return Recommendation(
        tier=chosen.tier,
        fits=chosen.fits,
        binding=chosen.binding,
        reason=reason,
        rejected=rejected,
        disk_gb=disk_gb,
        disk_limit_gb=chosen.tier.disk_limit_gb(disk_pct),
        sizing_level=thresholds.sizing_level,
        disk_threshold_pct=disk_pct,
        runway_clients=chosen.runway_clients,
        forced=forced is not None,
        smallest_fitting_tier=smallest.tier.id if smallest.fits else None,
    )


# The capacity thresholds that a projection's totals are held against, by metric name.
CAPACITY_METRICS = ("products_total", "storage_gb", "db_size_gb")


@dataclass(frozen=True, slots=True)
class CapacityStatus:
    metric: str
    value: float
    warning: float
    critical: float
    status: Status
    action: str


def capacity_values(result: Totals) -> dict[str, float]:
    return dict(
        zip(
            CAPACITY_METRICS,
            (result.products, result.image_storage_gb, result.db_size_gb),
            strict=True,
        )
    )


def capacity(result: Totals, thresholds: ThresholdsConfig) -> tuple[CapacityStatus, ...]:
    statuses = []
    for metric, value in capacity_values(result).items():
        threshold = thresholds.capacity[metric]
        statuses.append(
            CapacityStatus(
                metric=metric,
                value=value,
                warning=threshold.warning,
                critical=threshold.critical,
                status=threshold.status(value),
                action=threshold.action,
            )
        )
    return tuple(statuses)
