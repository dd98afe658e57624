"""`--set KEY=VALUE`: one value of tiers.yaml or thresholds.yaml replaced for one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import TypeAdapter
from pydantic_core import PydanticCustomError

from capplan.config.models import (
    PLAN_FIGURES,
    Amount,
    Assumptions,
    Count,
    ThresholdsConfig,
    TiersConfig,
)
from capplan.config.ranges import Spread, is_range, spread
from capplan.errors import ConfigError

TIERS_KEYS = frozenset(TiersConfig.model_fields)
THRESHOLDS_KEYS = frozenset(ThresholdsConfig.model_fields)


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    text: str

    @property
    def file_key(self) -> str:
        return self.key.split(".")[0]

    def at_mid(self) -> Override:
        """The override with a range replaced by its mid (what a single projection uses)."""
        found = range_of(self)
        return self if found is None else Override(self.key, found.mid, self.text)


# What a range may be given for with --set: the assumptions, and a plan's per-client figures.
RANGED_PLAN_FIGURES = (*PLAN_FIGURES, "price_eur")
WHOLE_ASSUMPTIONS = frozenset(
    name for name, info in Assumptions.model_fields.items() if info.annotation is int
)


def range_of(override: Override) -> Spread | None:
    """The range `--set KEY={low: X, mid: Y, high: Z}` gives; None for a single value."""
    if not is_range(override.value):
        return None
    parts = override.key.split(".")
    whole = False
    if parts[0] == "assumptions" and len(parts) == 2:
        whole = parts[1] in WHOLE_ASSUMPTIONS
    elif parts[0] == "pricing_tiers" and len(parts) == 3 and parts[2] in RANGED_PLAN_FIGURES:
        whole = parts[2] != "price_eur"
    else:
        raise ConfigError(
            f"--set {override.text}",
            "a range {low, mid, high} is only for an assumption (assumptions.KEY) or a plan's "
            f"figure (pricing_tiers.PLAN.{'|'.join(RANGED_PLAN_FIGURES)})",
        )
    try:
        return spread(override.value, TypeAdapter(Count if whole else Amount), whole)
    except PydanticCustomError as error:
        key = (error.context or {}).get("key")
        where = f"{key}: " if key else ""
        raise ConfigError(f"--set {override.text}", where + str(error)) from None


def parse_override(text: str) -> Override:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ConfigError(f"--set {text}", "expected KEY=VALUE, e.g. assumptions.avg_image_kb=300")
    root = key.split(".")[0]
    if root not in TIERS_KEYS | THRESHOLDS_KEYS:
        known = ", ".join(sorted(TIERS_KEYS | THRESHOLDS_KEYS))
        raise ConfigError(f"--set {text}", f"unknown key {root!r}; expected one of: {known}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return Override(key=key, value=value, text=text)


def apply(data: Any, override: Override) -> Any:
    """Set one dotted key in plain YAML data; list items are addressed by id or by index."""
    parts = override.key.split(".")
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            ids = [item.get("id") for item in node if isinstance(item, dict)]
            if part in ids:
                index = ids.index(part)
            elif part.isdigit() and int(part) < len(node):
                index = int(part)
            else:
                raise ConfigError(
                    f"--set {override.text}",
                    f"no item {part!r} at {where}; expected one of: {', '.join(map(str, ids))}",
                )
            if last:
                node[index] = override.value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = override.value  # an unknown key is refused by validation
            elif part in node:
                node = node[part]
            else:
                raise ConfigError(f"--set {override.text}", f"no key {where!r} to set")
        else:
            raise ConfigError(
                f"--set {override.text}", f"{'.'.join(parts[:depth])} is a value, not a mapping"
            )
    return data


def loc_of(data: Any, key: str) -> tuple[str | int, ...]:
    """The dotted key of an override as a validation location: list items by index, not id."""
    loc: list[str | int] = []
    node = data
    for part in key.split("."):
        if isinstance(node, list):
            ids = [item.get("id") if isinstance(item, dict) else None for item in node]
            if part not in ids and not part.isdigit():
                break  # apply() refuses such a key with its own message
            index = ids.index(part) if part in ids else int(part)
            loc.append(index)
            node = node[index] if index < len(node) else None
        else:
            loc.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(loc)
