"""Calibration: the planning assumptions replaced by what the platform measured.

Reads the JSON of `capplan images stats DIR --format json` (files and bytes per variant) and of
`capplan check --db URL --format json` (database size, table rows, products and clients) and
measures what they allow:
- assumptions.avg_image_kb: stored bytes per variant file; assumptions.image_variants: variants;
- assumptions.db_gb_per_product and db_gb_per_order: the database size over its products and
  orders rows (one size for two coefficients: both are scaled by measured / planned, keeping
  the planned proportion between them);
- images per product (originals over products) and products per client (the database's
  products_per_client, or products over active_clients), for the plans of the mix that do not
  set their own.
Anything it cannot measure stays as planned, and says so. A measured figure is kept as measured
(0.425 images per product stays 0.425: an average, not a count); a figure that would zero a
plan's image storage or database is kept too, with a warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capplan.config import Mix, TiersConfig
from capplan.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Calibrated:
    """One assumption replaced: its planned and its measured value, and where that came from."""

    assumption: str
    planned: float | None  # None: a per-plan figure that differs by plan
    measured: float
    source: str


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the files measured; None: not measured."""

    image_files: int | None = None
    image_bytes: int | None = None
    variants: int | None = None
    image_sources: int | None = None  # originals: one per source image
    db_size_gb: float | None = None
    product_rows: float | None = None
    order_rows: float | None = None
    clients: float | None = None
    products_per_client: float | None = None
    sources: tuple[tuple[str, str], ...] = ()  # (what, file)

    def source_of(self, *what: str) -> str:
        files = [file for kind, file in self.sources if kind in what]
        return " and ".join(dict.fromkeys(files))


@dataclass(frozen=True)
class Calibration:
    tiers: TiersConfig
    changes: tuple[Calibrated, ...]
    kept: tuple[str, ...]  # what could not be measured, and why
    images_per_product: float | None  # for the plans that do not set their own (an average)
    products_per_client: float | None
    warnings: tuple[str, ...] = ()  # a measured figure that zeroes storage or database

    def apply(self, mix: Mix) -> Mix:
        """The mix with the measured per-plan figures where a plan leaves them to its default."""
        rows = {}
        for plan, row in mix.tiers.items():
            update: dict[str, Any] = {}
            if self.images_per_product is not None and row.images_per_product is None:
                update["images_per_product"] = self.images_per_product
            if self.products_per_client is not None and row.products is None:
                update["products"] = self.products_per_client
            rows[plan] = row.model_copy(update=update) if update else row
        return mix.model_copy(update={"tiers": rows})


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _images(data: dict[str, Any], source: str) -> Measurements:
    files = bytes_ = count = 0
    originals = None
    for name, variant in data["variants"].items():
        n, b = _number(variant.get("files")), _number(variant.get("bytes"))
        if n is None or b is None or n < 0 or b < 0:
            raise ConfigError(
                source, "expected files and bytes as numbers >= 0", key=f"variants.{name}"
            )
        files, bytes_, count = files + int(n), bytes_ + int(b), count + (n > 0)
        if name == "original":
            originals = int(n)
    if not files:
        return Measurements(sources=())
    return Measurements(
        image_files=files,
        image_bytes=bytes_,
        variants=count,
        image_sources=originals,
        sources=(("images", source),),
    )


def _table(labels: dict[str, Any]) -> str:
    """A table label without its schema: public.products is products."""
    return str(labels.get("table", "")).rpartition(".")[2]


USED = ("table_rows", "db_size_gb", "products_total", "active_clients", "products_per_client")


def _database(data: dict[str, Any], source: str) -> Measurements:
    found: dict[str, float] = {}
    for index, metric in enumerate(data["metrics"]):
        if not isinstance(metric, dict) or metric.get("name") not in USED:
            continue
        name, given = metric.get("name"), metric.get("value")
        value = _number(given)
        if given is None:
            continue  # a figure check could not measure: nothing to calibrate with
        if value is None or not math.isfinite(value) or value < 0:
            raise ConfigError(
                source,
                f"expected a number >= 0 as the value of {name}, got {json.dumps(given)}",
                key=f"metrics.{index}.value",
            )
        if name == "table_rows":
            table = _table(metric.get("labels") or {})
            if table in ("products", "orders"):
                found[f"rows.{table}"] = found.get(f"rows.{table}", 0.0) + value
        elif name in ("db_size_gb", "products_total", "active_clients", "products_per_client"):
            found[str(name)] = value
    products = found.get("rows.products", found.get("products_total"))
    clients = found.get("active_clients")
    per_client = found.get("products_per_client")
    measured = {
        "db": "db_size_gb" in found,
        "products": products is not None,
        "clients": clients is not None or per_client is not None,
    }
    return Measurements(
        db_size_gb=found.get("db_size_gb"),
        product_rows=products,
        order_rows=found.get("rows.orders"),
        clients=clients,
        products_per_client=per_client,
        sources=tuple((kind, source) for kind, known in measured.items() if known),
    )


def read(path: Path) -> Measurements:
    """One file's measurements; a file of neither kind is an error naming it."""
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, f"cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(source, f"invalid JSON: {error.msg}", line=error.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("variants"), dict):
        return _images(data, source)
    if isinstance(data, dict) and isinstance(data.get("metrics"), list):
        return _database(data, source)
    raise ConfigError(
        source,
        "expected the JSON of 'capplan images stats --format json' (variants) or of "
        "'capplan check --db ... --format json' (metrics)",
    )


def merge(parts: Sequence[Measurements]) -> Measurements:
    """Several files' measurements: a later file's value replaces an earlier one's."""
    merged: dict[str, Any] = {}
    sources: list[tuple[str, str]] = []
    for part in parts:
        for key in Measurements.__dataclass_fields__:
            value = getattr(part, key)
            if key == "sources":
                sources += value
            elif value is not None:
                merged[key] = value
    return Measurements(**merged, sources=tuple(sources))


def calibrate(tiers: TiersConfig, paths: Sequence[Path]) -> Calibration:
    m = merge([read(path) for path in paths])
    a = tiers.assumptions
    update: dict[str, float] = {}
    changes: list[Calibrated] = []
    kept: list[str] = []
    warnings: list[str] = []

    def zeroes(what: str, figure: str, source: str) -> None:
        warnings.append(
            f"calibration: {figure} measured 0 (from {source}): every plan's {what} is "
            "then 0; check that the measurement is of the live platform"
        )

    def change(key: str, measured: float, *what: str) -> None:
        update[key] = measured
        planned = float(getattr(a, key))
        changes.append(Calibrated(f"assumptions.{key}", planned, measured, m.source_of(*what)))

    if m.image_files and m.image_bytes is not None:
        change("avg_image_kb", m.image_bytes / m.image_files / 1000, "images")
        if not m.image_bytes:
            zeroes("image storage", "assumptions.avg_image_kb", m.source_of("images"))
        if m.variants:
            change("image_variants", int(m.variants), "images")
    else:
        kept.append("avg_image_kb, image_variants: no images stats with image files")
    planned_db = (m.product_rows or 0) * a.db_gb_per_product + (
        m.order_rows or 0
    ) * a.db_gb_per_order
    if m.db_size_gb is not None and planned_db > 0:
        scale = m.db_size_gb / planned_db
        change("db_gb_per_product", a.db_gb_per_product * scale, "db", "products")
        change("db_gb_per_order", a.db_gb_per_order * scale, "db", "products")
        if not scale:
            zeroes("database", "db_size_gb", m.source_of("db"))
    else:
        kept.append(
            "db_gb_per_product, db_gb_per_order: no database size with products or orders rows"
        )
    images_per_product = None
    if m.image_sources and m.product_rows:
        images_per_product = m.image_sources / m.product_rows
        changes.append(
            Calibrated(
                "images_per_product (plans that do not set it)",
                None,
                images_per_product,
                m.source_of("images", "products"),
            )
        )
    else:
        kept.append("images_per_product: needs both images stats and the database's products")
    products_per_client = None
    per_client = m.products_per_client
    if per_client is None and m.clients and m.product_rows is not None:
        per_client = m.product_rows / m.clients
    if per_client is not None:
        products_per_client = per_client
        if not per_client:
            zeroes("image storage and database", "products per client", m.source_of("clients"))
        changes.append(
            Calibrated(
                "products (per client, plans that do not set it)",
                None,
                products_per_client,
                m.source_of("clients", "products"),
            )
        )
    else:
        kept.append(
            "products per client: the database has no active_clients or products_per_client"
        )
    calibrated = tiers.model_copy(update={"assumptions": a.model_copy(update=update)})
    return Calibration(
        calibrated,
        tuple(changes),
        tuple(kept),
        images_per_product,
        products_per_client,
        tuple(warnings),
    )
