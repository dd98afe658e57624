"""The models of tiers.yaml, thresholds.yaml and mix.yaml; where they are found; `--set` overrides.

Every file is validated by a pydantic model that forbids unknown keys. A problem is raised as a
ConfigError naming the file, the key path, the YAML line where the key stands, and what was
expected.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from capplan.errors import ConfigError

TIERS_ENV = "CAPPLAN_TIERS"
THRESHOLDS_ENV = "CAPPLAN_THRESHOLDS"

Count = Annotated[int, Field(ge=0)]
Amount = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Status = Literal["OK", "WARNING", "CRITICAL"]
Level = Literal["warning", "critical"]
TierId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Duration = Annotated[str, Field(pattern=r"^\d+[mhd]$", description="30m, 4h, 1d")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- tiers.yaml -----------------------------------------------------------------------------


class PricingTier(Model):
    id: TierId
    name: str
    price_eur: Amount
    products: Count | None
    images_per_product: Count | None
    orders_per_month: Count | None
    sku_variants: Amount
    team_members: Count | None
    api_requests_per_day: Count | None


class CostRange(Model):
    min: Amount
    typical: Amount
    max: Amount | None  # None: open-ended ("1,500+")

    @model_validator(mode="after")
    def _ordered(self) -> CostRange:
        if self.typical < self.min or (self.max is not None and self.max < self.typical):
            raise ValueError("expected min <= typical <= max")
        return self


class Range(Model):
    min: Amount
    max: Amount

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max < self.min:
            raise ValueError("expected min <= max")
        return self


class Backup(Model):
    database: str
    files: str
    rto: Duration
    rpo: Duration


class Transition(Model):
    trigger: str
    action: str
    cost_increase_eur: Range


class InfraTier(Model):
    id: TierId
    name: str
    max_clients: Count | None  # inclusive; None: unlimited (the last tier only)
    vcpu: Annotated[int, Field(gt=0)]
    ram_gb: Positive
    storage_gb: Positive
    cdn: bool
    database: str
    servers: str
    monthly_cost_eur: CostRange
    backup: Backup
    transition: Transition | None


class Assumptions(Model):
    languages: Count
    image_variants: Count
    avg_image_kb: Amount
    served_image_kb: Amount
    image_views_per_product_per_month: Amount
    api_response_kb: Amount
    static_egress_gb_per_month: Amount
    items_per_order: Amount
    db_gb_per_product: Amount
    db_gb_per_order: Amount
    orders_retained_months: Amount
    images_per_product: Count
    support_eur_per_month: Amount
    development_eur_per_month: Amount


class BandwidthProvider(Model):
    id: TierId
    name: str
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    included_tb: Amount | None  # None: unlimited
    included_price_per_tb: Amount
    extra_price_per_tb: Amount


def _unique_ids(items: Sequence[PricingTier | InfraTier | BandwidthProvider], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{what} id {item.id!r} appears twice; ids must be unique")
        seen.add(item.id)


class TiersConfig(Model):
    pricing_tiers: Annotated[list[PricingTier], Field(min_length=1)]
    infrastructure_tiers: Annotated[list[InfraTier], Field(min_length=1)]
    assumptions: Assumptions
    bandwidth_providers: list[BandwidthProvider]

    @model_validator(mode="after")
    def _consistent(self) -> TiersConfig:
        _unique_ids(self.pricing_tiers, "pricing tier")
        _unique_ids(self.infrastructure_tiers, "infrastructure tier")
        _unique_ids(self.bandwidth_providers, "bandwidth provider")
        previous = -1
        for index, tier in enumerate(self.infrastructure_tiers):
            last = index == len(self.infrastructure_tiers) - 1
            if tier.max_clients is None and not last:
                raise ValueError(
                    f"infrastructure tier {tier.id!r} has unlimited max_clients but is not the "
                    "last tier; tiers must be ordered by max_clients"
                )
            if tier.max_clients is not None and tier.max_clients <= previous:
                raise ValueError(
                    f"infrastructure tier {tier.id!r}: max_clients {tier.max_clients} is not above "
                    f"the previous tier's {previous}; tiers must be ordered by max_clients"
                )
            previous = tier.max_clients if tier.max_clients is not None else previous
        return self

    def pricing_tier(self, tier_id: str) -> PricingTier:
        for tier in self.pricing_tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)

    def infra_tier(self, tier_id: str) -> InfraTier:
        for tier in self.infrastructure_tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)


# --- thresholds.yaml ------------------------------------------------------------------------


class Threshold(Model):
    warning: float
    critical: float
    action: str

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.warning >= self.critical:
            raise ValueError(
                f"warning ({self.warning:g}) must be below critical ({self.critical:g})"
            )
        return self

    def level(self, which: Level) -> float:
        return self.warning if which == "warning" else self.critical

    def status(self, value: float) -> Status:
        """The seed's rule: above a level (> 70 %) is at that level."""
        if value > self.critical:
            return "CRITICAL"
        if value > self.warning:
            return "WARNING"
        return "OK"


class ScalingTriggers(Model):
    cpu_percent: Threshold
    memory_percent: Threshold
    disk_percent: Threshold
    db_query_p95_ms: Threshold
    api_p95_ms: Threshold
    db_connections_percent: Threshold
    api_error_rate_percent: Threshold
    load_per_core: Threshold


class Capacity(Model):
    products_total: Threshold
    storage_gb: Threshold
    db_size_gb: Threshold
    avg_response_ms: Threshold


class Band(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: Annotated[int, Field(ge=0, alias="from")]
    label: str
    status: Status
    action: str


STATUS_RANK: dict[str, int] = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _check_bands(bands: list[Band]) -> list[Band]:
    if not bands or bands[0].start != 0:
        raise ValueError("expected bands starting with one 'from: 0'")
    for lower, upper in itertools.pairwise(bands):
        if upper.start <= lower.start:
            raise ValueError(f"band from {upper.start} is not above the band before it")
        if STATUS_RANK[upper.status] < STATUS_RANK[lower.status]:
            raise ValueError(f"band from {upper.start} is less severe than the band before it")
    return bands


class CriticalIndex(Model):
    name: str
    table: str
    columns: Annotated[list[str], Field(min_length=1)]

    @property
    def column_names(self) -> list[str]:
        """The columns without their sort order (`created_at DESC` is `created_at`)."""
        return [column.split()[0] for column in self.columns]

    @property
    def create(self) -> str:
        return f"CREATE INDEX {self.name} ON {self.table} ({', '.join(self.columns)});"


Bands = Annotated[list[Band], AfterValidator(_check_bands)]


class ThresholdsConfig(Model):
    sizing_level: Level
    scaling_triggers: ScalingTriggers
    capacity: Capacity
    files_per_directory: Bands
    table_rows: Bands
    critical_indexes: list[CriticalIndex]


# --- mix.yaml -------------------------------------------------------------------------------

GROWTH = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def parse_rate(value: object) -> float | None:
    """'5%' -> 0.05. A bare number is refused: 5 and 0.05 would both be plausible."""
    if value is None:
        return None
    match = GROWTH.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a monthly percentage such as 5% or -1.5%, got {value!r}")
    rate = float(match.group(1)) / 100
    if rate <= -1:
        raise ValueError(f"expected a rate above -100%, got {value!r}")
    return rate


# Monthly growth, written "5%" in the file, held as a fraction (0.05).
Rate = Annotated[float | None, BeforeValidator(parse_rate)]


class MixRow(Model):
    clients: Count
    products: Count | None = None
    images_per_product: Count | None = None
    orders_per_month: Count | None = None
    api_requests_per_day: Count | None = None
    price_eur: Amount | None = None
    growth: Rate = None


class Mix(Model):
    tiers: Annotated[dict[str, MixRow], Field(min_length=1)]
    growth: Rate = None


# --- YAML with line numbers -----------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A parsed YAML file and its node tree, so that a key path can be turned into a line."""

    source: str
    data: Any
    root: yaml.Node | None

    def line_of(self, path: Sequence[str | int]) -> int | None:
        node = self.root
        line = None if node is None else node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _check_duplicate_keys(source: str, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                raise ConfigError(
                    source, "duplicate key", key=str(key.value), line=key.start_mark.line + 1
                )
            seen.add(key.value)
            _check_duplicate_keys(source, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(source, item)


def read_yaml(path: Path) -> Document:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, f"cannot read: {error}") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_duplicate_keys(source, root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, f"invalid YAML: {error.problem}", line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(source, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()
    return Document(source=source, data=data, root=root)


# --- validation and its messages ------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
        return
    if origin in (list, dict, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, if one does."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int) or part not in current.model_fields:
            continue  # a list index or a dict key: the model stays the item's model
        found = list(_models_in(current.model_fields[part].annotation))
        current = found[0] if found else None
    return current


def _key_path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key; {hint}expected one of: {', '.join(known)}" if known else "unknown key"
    if kind == "missing":
        return "missing; this key is required"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("too_short", "too_long"):
        limits = error.get("ctx", {})
        bound = limits.get("min_length") if kind == "too_short" else limits.get("max_length")
        return f"expected {'at least' if kind == 'too_short' else 'at most'} {bound} item(s)"
    if message.startswith("Input should be "):
        wanted = message.removeprefix("Input should be ")
        for words, sign in (
            ("greater than or equal to", ">="),
            ("less than or equal to", "<="),
            ("greater than", ">"),
            ("less than", "<"),
        ):
            if wanted.startswith(words):
                wanted = f"a number {sign}{wanted.removeprefix(words)}"
                break
        return f"expected {wanted}, got {error.get('input')!r}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        return f"expected text matching {pattern}, got {error.get('input')!r}"
    return message


def validate(model: type[M], document: Document, overridden: Mapping[str, str] = {}) -> M:
    """Validate a document; the first problem becomes a ConfigError with file, key and line."""
    try:
        return model.model_validate(document.data)
    except ValidationError as errors:
        # An unknown key first: a misspelt key is also reported missing, and the typo is the news.
        first = sorted(errors.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = tuple(first["loc"])
        key = _key_path(loc) or None
        problem = _describe(first, model)
        more = errors.error_count() - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        for set_key, assignment in overridden.items():
            if key is not None and (key == set_key or key.startswith(set_key + ".")):
                raise ConfigError(f"--set {assignment}", problem, key=key) from None
        if document.data is None or not isinstance(document.data, dict):
            raise ConfigError(document.source, "expected a YAML mapping of keys") from None
        raise ConfigError(document.source, problem, key=key, line=document.line_of(loc)) from None


# --- where the files are found --------------------------------------------------------------


def packaged_default(name: str) -> Path:
    """The default that the wheel carries, or the repository root's file in a source checkout."""
    bundled = resources.files("capplan") / "defaults" / name
    if bundled.is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parents[2] / name


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


# --- --set KEY=VALUE ------------------------------------------------------------------------

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


def _apply(data: Any, override: Override) -> Any:
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


def _load(model: type[M], path: Path, overrides: Sequence[Override], keys: frozenset[str]) -> M:
    document = read_yaml(path)
    mine = [override for override in overrides if override.file_key in keys]
    if mine and isinstance(document.data, dict):
        data = document.data
        for override in mine:
            data = _apply(data, override)
        document = Document(document.source, data, document.root)
    return validate(model, document, {o.key: o.text for o in mine})


def load_tiers(path: Path | None = None, overrides: Sequence[Override] = ()) -> TiersConfig:
    return _load(TiersConfig, resolve(path, TIERS_ENV, "tiers.yaml"), overrides, TIERS_KEYS)


def load_thresholds(
    path: Path | None = None, overrides: Sequence[Override] = ()
) -> ThresholdsConfig:
    return _load(
        ThresholdsConfig,
        resolve(path, THRESHOLDS_ENV, "thresholds.yaml"),
        overrides,
        THRESHOLDS_KEYS,
    )


UNLIMITED_FIGURES = ("products", "images_per_product", "orders_per_month", "api_requests_per_day")


def load_mix(path: Path, tiers: TiersConfig) -> Mix:
    """Read mix.yaml: known pricing tier ids, and every figure that the tier leaves unlimited."""
    document = read_yaml(path)
    mix = validate(Mix, document)
    valid = [tier.id for tier in tiers.pricing_tiers]
    for tier_id, row in mix.tiers.items():
        line = document.line_of(("tiers", tier_id))
        if tier_id not in valid:
            raise ConfigError(
                document.source,
                f"unknown pricing tier {tier_id!r}; expected one of: {', '.join(valid)}",
                key=f"tiers.{tier_id}",
                line=line,
            )
        plan = tiers.pricing_tier(tier_id)
        for figure in UNLIMITED_FIGURES:
            if getattr(plan, figure) is None and getattr(row, figure) is None:
                raise ConfigError(
                    document.source,
                    f"the {plan.name} plan has no limit on {figure}, so the mix must give it",
                    key=f"tiers.{tier_id}.{figure}",
                    line=line,
                )
    return mix
