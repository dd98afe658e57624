"""Where tiers.yaml and thresholds.yaml are found, and the loading of every configuration file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from capplan.config.document import Document, read_yaml
from capplan.config.mix import Mix
from capplan.config.models import PLAN_FIGURES, ThresholdsConfig, TiersConfig
from capplan.config.overrides import THRESHOLDS_KEYS, TIERS_KEYS, Override, apply, loc_of
from capplan.config.validation import validate
from capplan.errors import ConfigError

TIERS_ENV = "CAPPLAN_TIERS"
THRESHOLDS_ENV = "CAPPLAN_THRESHOLDS"
M = TypeVar("M", bound=BaseModel)


def packaged_default(name: str) -> Path:
    """The default that the wheel carries, or the repository root's file in a source checkout."""
    bundled = resources.files("capplan") / "defaults" / name
    if bundled.is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parents[3] / name


def resolve(option: Path | None, env_var: str, name: str) -> Path:
    """Option, then environment variable, then the working directory, then the packaged default."""
    if option is not None:
        return option
    from_env = os.environ.get(env_var)
    if from_env:
        return Path(from_env)
    local = Path.cwd() / name
    if local.is_file():
        return local
    return packaged_default(name)


def _load(model: type[M], path: Path, overrides: Sequence[Override], keys: frozenset[str]) -> M:
    document = read_yaml(path)
    mine = [override for override in overrides if override.file_key in keys]
    overridden: dict[tuple[str | int, ...], str] = {}
    if mine and isinstance(document.data, dict):
        data = document.data
        for override in mine:
            overridden[loc_of(data, override.key)] = override.text  # before ids can change
            data = apply(data, override.at_mid())
        document = Document(document.source, data, document.root)
    return validate(model, document, overridden)


def _found(option: Path | None, env_var: str, name: str) -> Path:
    """The file to read; one named by the environment must exist, and the error says so."""
    path = resolve(option, env_var, name)
    if option is None and os.environ.get(env_var) and not path.is_file():
        problem = "is a directory" if path.is_dir() else "file not found"
        raise ConfigError(f"${env_var}={path}", f"{problem}, expected {name}")
    return path


def load_tiers(path: Path | None = None, overrides: Sequence[Override] = ()) -> TiersConfig:
    return _load(TiersConfig, _found(path, TIERS_ENV, "tiers.yaml"), overrides, TIERS_KEYS)


def load_thresholds(
    path: Path | None = None, overrides: Sequence[Override] = ()
) -> ThresholdsConfig:
    return _load(
        ThresholdsConfig,
        _found(path, THRESHOLDS_ENV, "thresholds.yaml"),
        overrides,
        THRESHOLDS_KEYS,
    )


def load_mix(path: Path, tiers: TiersConfig) -> Mix:
    """Read mix.yaml: known pricing tier ids, and every figure that the tier leaves unlimited.

    Linear in the rows: plans are found by id in a mapping, and a line is looked up only for
    the row that is wrong.
    """
    document = read_yaml(path)
    mix = validate(Mix, document)
    plans = {tier.id: tier for tier in tiers.pricing_tiers}
    for tier_id, row in mix.tiers.items():
        plan = plans.get(tier_id)
        if plan is None:
            raise ConfigError(
                document.source,
                f"unknown pricing tier {tier_id!r}; expected one of: {', '.join(plans)}",
                key=f"tiers.{tier_id}",
                line=document.line_of(("tiers", tier_id)),
            )
        for figure in PLAN_FIGURES:
            if getattr(plan, figure) is None and getattr(row, figure) is None:
                raise ConfigError(
                    document.source,
                    f"the {plan.name} plan has no limit on {figure}, so the mix must give it",
                    key=f"tiers.{tier_id}.{figure}",
                    line=document.line_of(("tiers", tier_id)),
                )
    return mix
