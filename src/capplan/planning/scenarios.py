"""Scenarios side by side: the same projection of several mixes, and how each differs from the
first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

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


def _stem(path: str) -> str:
    return PurePath(path).name.removesuffix(".yaml").removesuffix(".yml")


def _short_names(paths: Sequence[str], taken: set[str]) -> list[str]:
    """Each file's name: its stem (mix.yaml is mix), or, where stems clash with each other or
    with a taken name, the fewest trailing folders that tell them apart (eu/mix and us/mix)."""
    parts = [PurePath(path).with_suffix("").parts for path in paths]
    names = [_stem(path) for path in paths]
    for depth in range(2, max((len(p) for p in parts), default=1) + 1):
        clash = {
            name for name in names if name in taken or sum(other == name for other in names) > 1
        }
        if not clash:
            break
        names = [
            "/".join(part[-depth:]) if name in clash else name
            for name, part in zip(names, parts, strict=True)
        ]
    return names


def named(texts: Sequence[str], paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, file) for each `--scenario name=file`, then each `--mix file`, named by its stem,
    or by as much of its path as tells it apart (`--mix eu/mix.yaml --mix us/mix.yaml`)."""
    pairs: list[tuple[str, str]] = []
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError("scenario", text, "expected NAME=FILE, e.g. plan-a=mix-a.yaml")
        if any(name.strip() == given for given, _ in pairs):
            raise InputError("scenario", text, "two scenarios have this name; name them apart")
        pairs.append((name.strip(), path.strip()))
    seen: set[str] = set()
    for path in paths:
        if str(PurePath(path)) in seen:
            raise InputError("mix", path, "given twice; give each mix once")
        seen.add(str(PurePath(path)))
    names = _short_names(paths, {name for name, _ in pairs})
    for name, path in zip(names, paths, strict=True):
        if any(name == given for given, _ in pairs):  # a --scenario took the whole path's name
            name = path
        pairs.append((name, path))
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
