"""The models of tiers.yaml, thresholds.yaml and mix.yaml: every key typed, unknown keys refused."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from capplan.formulas import MAX_COUNT
from capplan.metrics import METRICS, Status


def _no_bool(value: object) -> object:
    """YAML's `true` is not 1: a count or an amount must be written as a number."""
    if isinstance(value, bool):
        written = "true" if value else "false"
        raise PydanticCustomError("number_type", f"expected a number, not {written}")
    return value


Count = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_COUNT)]
Amount = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)]
Number = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
Level = Literal["warning", "critical"]
TierId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Duration = Annotated[str, Field(pattern=r"^\d+[mhd]$", description="30m, 4h, 1d")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- tiers.yaml -----------------------------------------------------------------------------


# The per-client figures that a plan limits (None: unlimited) and a mix row may override.
PLAN_FIGURES = ("products", "images_per_product", "orders_per_month", "api_requests_per_day")


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
    vcpu: Annotated[int, BeforeValidator(_no_bool), Field(gt=0, le=MAX_COUNT)]
    ram_gb: Positive
    storage_gb: Positive
    cdn: bool
    database: str
    servers: str
    monthly_cost_eur: CostRange
    backup: Backup
    transition: Transition | None

    def disk_limit_gb(self, disk_pct: float) -> float:
        """The disk this tier may fill: its storage at the sizing level of disk_percent."""
        return self.storage_gb * disk_pct / 100


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


def problem_at(
    path: tuple[str | int, ...], message: str, also: tuple[str | int, ...] = ()
) -> PydanticCustomError:
    """A problem that a validator of a whole list or table finds at one of its items: the error
    names that item (and its line), not the list; `also` is the other item it was compared with
    (a --set there is named instead)."""
    return PydanticCustomError(
        "item", message.replace("{", "{{").replace("}", "}}"), {"path": path, "also": also}
    )


def _unique_ids(
    items: Sequence[PricingTier | InfraTier | BandwidthProvider], field: str, what: str
) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.id in seen:
            raise problem_at(
                (field, index, "id"),
                f"{what} id {item.id!r} appears twice; ids must be unique",
                also=(field, seen[item.id], "id"),
            )
        seen[item.id] = index


class TiersConfig(Model):
    pricing_tiers: Annotated[list[PricingTier], Field(min_length=1)]
    infrastructure_tiers: Annotated[list[InfraTier], Field(min_length=1)]
    assumptions: Assumptions
    bandwidth_providers: list[BandwidthProvider]

    @model_validator(mode="after")
    def _consistent(self) -> TiersConfig:
        _unique_ids(self.pricing_tiers, "pricing_tiers", "pricing tier")
        _unique_ids(self.infrastructure_tiers, "infrastructure_tiers", "infrastructure tier")
        _unique_ids(self.bandwidth_providers, "bandwidth_providers", "bandwidth provider")
        previous, previous_index = -1, 0
        for index, tier in enumerate(self.infrastructure_tiers):
            last = index == len(self.infrastructure_tiers) - 1
            where = ("infrastructure_tiers", index, "max_clients")
            if tier.max_clients is None and not last:
                raise problem_at(
                    where,
                    f"infrastructure tier {tier.id!r} has unlimited max_clients but is not the "
                    "last tier; tiers must be ordered by max_clients",
                )
            if tier.max_clients is not None and tier.max_clients <= previous:
                raise problem_at(
                    where,
                    f"infrastructure tier {tier.id!r}: max_clients {tier.max_clients} is not above "
                    f"the previous tier's {previous}; tiers must be ordered by max_clients",
                    also=("infrastructure_tiers", previous_index, "max_clients"),
                )
            if tier.max_clients is not None:
                previous, previous_index = tier.max_clients, index
        return self

    def pricing_tier(self, tier_id: str) -> PricingTier:
        for tier in self.pricing_tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)


# --- thresholds.yaml ------------------------------------------------------------------------


class Threshold(Model):
    warning: Number
    critical: Number
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
            return Status.CRITICAL
        if value > self.warning:
            return Status.WARNING
        return Status.OK


def _metric_thresholds(section: str) -> AfterValidator:
    """A section of thresholds keyed by metric: the keys that METRICS places in it, each one."""

    def check(table: dict[str, Threshold]) -> dict[str, Threshold]:
        known = [
            spec.threshold_key
            for spec in METRICS.values()
            if spec.threshold_section == section and spec.threshold_key
        ]
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key; {hint}expected one of: {known}",
                    {"path": (key,), "hint": hint, "known": ", ".join(known)},
                )
        for key in known:
            if key not in table and not _is_optional(section, key):
                raise PydanticCustomError(
                    "missing", "missing; this key is required", {"path": (key,)}
                )
        return table

    return AfterValidator(check)


def _is_optional(section: str, key: str) -> bool:
    return any(spec.optional and spec.threshold == f"{section}.{key}" for spec in METRICS.values())


def _no_action(value: object) -> object:
    """`action: None` written as a word means no action, like `action: null`."""
    return None if value in ("None", "none", "") else value


class Band(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: Annotated[int, BeforeValidator(_no_bool), Field(ge=0, alias="from")]
    label: str
    status: Literal[Status.OK, Status.WARNING, Status.CRITICAL]
    action: Annotated[str | None, BeforeValidator(_no_action)]


def _check_bands(bands: list[Band]) -> list[Band]:
    if not bands or bands[0].start != 0:
        raise ValueError("expected bands starting with one 'from: 0'")
    for lower, upper in itertools.pairwise(bands):
        if upper.start <= lower.start:
            raise ValueError(f"band from {upper.start} is not above the band before it")
        if upper.status.rank < lower.status.rank:
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


class BusinessQuery(Model):
    """A business figure: one read-only SQL statement whose first column of its first row is the
    value, and optional thresholds."""

    query: Annotated[str, Field(min_length=1)]
    warning: Number | None = None
    critical: Number | None = None
    action: str = ""

    @model_validator(mode="after")
    def _levels(self) -> BusinessQuery:
        if (self.warning is None) != (self.critical is None):
            raise ValueError("expected both warning and critical, or neither")
        if self.warning is not None and self.critical is not None:
            Threshold(warning=self.warning, critical=self.critical, action=self.action)
        return self

    @property
    def threshold(self) -> Threshold | None:
        if self.warning is None or self.critical is None:
            return None
        return Threshold(warning=self.warning, critical=self.critical, action=self.action)


class MixQueries(Model):
    """The queries `capplan mix` measures a mix with: each one read-only SQL statement whose
    rows are (pricing plan id, value): the plan's active clients, and each per-client figure
    averaged over them. A figure left out stays the plan's (tiers.yaml)."""

    clients: Annotated[str, Field(min_length=1)]
    products: Annotated[str, Field(min_length=1)] | None = None
    images_per_product: Annotated[str, Field(min_length=1)] | None = None
    orders_per_month: Annotated[str, Field(min_length=1)] | None = None
    api_requests_per_day: Annotated[str, Field(min_length=1)] | None = None


THRESHOLD_SECTIONS = ("scaling_triggers", "capacity", "business")
BAND_LISTS = ("files_per_directory", "table_rows")


class ThresholdsConfig(Model):
    sizing_level: Level
    scaling_triggers: Annotated[dict[str, Threshold], _metric_thresholds("scaling_triggers")]
    capacity: Annotated[dict[str, Threshold], _metric_thresholds("capacity")]
    files_per_directory: Bands
    table_rows: Bands
    critical_indexes: list[CriticalIndex]
    business: Annotated[dict[str, BusinessQuery], _metric_thresholds("business")] = Field(
        default_factory=dict
    )
    mix_queries: MixQueries | None = None  # capplan mix

    def threshold_of(self, metric: str) -> Threshold | None:
        """The metric's warning, critical and action; None when it has no threshold."""
        spec = METRICS[metric]
        if spec.threshold_section is None or spec.threshold_key is None:
            return None
        if spec.threshold_section == "business":
            query = self.business.get(spec.threshold_key)
            return None if query is None else query.threshold
        section: dict[str, Threshold] = getattr(self, spec.threshold_section)
        return section.get(spec.threshold_key)

    def bands_of(self, metric: str) -> list[Band]:
        """The metric's bands; empty when it is held against none."""
        spec = METRICS[metric]
        return [] if spec.bands is None else list(getattr(self, spec.bands))

    @property
    def disk_threshold_pct(self) -> float:
        """The level of disk_percent that sizing must stay under (70 % at warning)."""
        return self.scaling_triggers["disk_percent"].level(self.sizing_level)


def metric_table_errors() -> list[str]:
    """Every METRICS entry whose thresholds path names no section of thresholds.yaml."""
    errors = []
    for spec in METRICS.values():
        if spec.threshold is not None and (
            spec.threshold_section not in THRESHOLD_SECTIONS or not spec.threshold_key
        ):
            errors.append(
                f"{spec.name}: threshold {spec.threshold!r} is not in {THRESHOLD_SECTIONS}"
            )
        if spec.bands is not None and spec.bands not in BAND_LISTS:
            errors.append(f"{spec.name}: bands {spec.bands!r} is not one of {BAND_LISTS}")
    return errors


# A metric that points nowhere is a bug in METRICS: refuse to start rather than fail mid-check.
if metric_table_errors():
    raise RuntimeError("capplan.metrics.METRICS: " + "; ".join(metric_table_errors()))
