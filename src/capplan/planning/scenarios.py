"""Scenarios side by side: the same projection of several mixes, and how each differs from the
first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capplan.config import Mix, ThresholdsConfig, TiersConfig
from capplan.errors import BeyondExact, InputError
from capplan.projection import Projection, project


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str
    projection: Projection

    @property
    def fits(self) -> bool:
        p = self.projection
        return p.recommendation.fits and all(m.fits for m in p.timeline)

    @property
    def first_transition_month(self) -> int | None:
        """The month the platform first needs another tier (or more than the largest)."""
        return next(
            (e.month for e in self.projection.events if e.kind in ("transition", "outgrown")),
            None,
        )


def named(texts: Sequence[str], paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, file) for each `--scenario name=file`, then each `--mix file` (named by its stem)."""
    pairs: list[tuple[str, str]] = []
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError("scenario", text, "expected NAME=FILE, e.g. plan-a=mix-a.yaml")
        pairs.append((name.strip(), path.strip()))
    for path in paths:
        stem = path.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
        pairs.append((stem, path))
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise InputError("scenario", name, "two scenarios have this name; name them apart")
        seen.add(name)
    return pairs


def compare(
    mixes: Sequence[tuple[str, str, Mix]],
    tiers: TiersConfig,
    thresholds: ThresholdsConfig,
    *,
    growth: float | None = None,
    months: int | None = None,
) -> tuple[Scenario, ...]:
    """Each (name, source, mix) projected with the same configuration and options."""
    scenarios = []
    for name, source, mix in mixes:
        try:
            projection = project(mix, tiers, thresholds, growth=growth, months=months)
        except BeyondExact as error:
            raise error.in_file(source) from None
        scenarios.append(Scenario(name, source, projection))
    return tuple(scenarios)
