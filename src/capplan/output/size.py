"""`capplan size` and `capplan tiers`: the Key Formulas' totals, and the tiers of tiers.yaml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from capplan.config import InfraTier, TiersConfig
from capplan.formulas import Totals
from capplan.output.numbers import limit
from capplan.output.report import Cell, Report, Section, Shown, data

UNITS: dict[str, str] = {
    "clients": "clients",
    "products": "products",
    "translations": "rows",
    "image_files": "files",
    "image_storage_gb": "GB",
    "db_size_gb": "GB",
    "orders_per_month": "orders/month",
    "order_items_per_month": "items/month",
    "api_requests_per_month": "requests/month",
    "egress_tb_per_month": "TB/month",
}


def totals_section(totals: Totals, explain: Mapping[str, str], title: str) -> Section:
    rows: list[Sequence[Cell]] = [
        (name, getattr(totals, name), UNITS[name], explain.get(name, "")) for name in UNITS
    ]
    return Section(title, ("total", "value", "unit", "formula"), rows)


def size_report(totals: Totals, explain: Mapping[str, str]) -> Report:
    return Report(
        data={"totals": data(totals)},
        sections=[totals_section(totals, explain, "Totals (Key Formulas)")],
    )


def cost_range(tier: InfraTier) -> str:
    """EUR 500-700, or 1,500+ when the tier has no maximum."""
    cost = tier.monthly_cost_eur
    return f"{cost.min:,.0f}-{cost.max:,.0f}" if cost.max is not None else f"{cost.min:,.0f}+"


def cost_increase(low: float, high: float) -> str:
    return f"+EUR {low:,.0f}-{high:,.0f}"


def tiers_report(tiers: TiersConfig) -> Report:
    pricing = Section(
        "Pricing tiers (per client)",
        (
            "id",
            "price",
            "products",
            "images/product",
            "orders/month",
            "SKU variants",
            "team",
            "API requests/day",
        ),
        [
            (
                t.id,
                Shown.eur(t.price_eur),
                limit(t.products),
                limit(t.images_per_product),
                limit(t.orders_per_month),
                f"{t.sku_variants:g}x",
                limit(t.team_members),
                limit(t.api_requests_per_day),
            )
            for t in tiers.pricing_tiers
        ],
    )
    infra = Section(
        "Infrastructure tiers",
        (
            "id",
            "max clients",
            "vCPU",
            "RAM GB",
            "storage GB",
            "CDN",
            "database",
            "EUR/month (typical)",
        ),
        [
            (
                t.id,
                limit(t.max_clients),
                t.vcpu,
                t.ram_gb,
                t.storage_gb,
                "yes" if t.cdn else "-",
                t.database,
                f"{cost_range(t)} ({t.monthly_cost_eur.typical:,.0f})",
            )
            for t in tiers.infrastructure_tiers
        ],
    )
    backups = Section(
        "Backups and transitions",
        (
            "id",
            "database backup",
            "file backup",
            "RTO",
            "RPO",
            "into this tier when",
            "action",
            "cost increase",
        ),
        [
            (
                t.id,
                t.backup.database,
                t.backup.files,
                t.backup.rto,
                t.backup.rpo,
                t.transition.trigger if t.transition else "-",
                t.transition.action if t.transition else "-",
                cost_increase(
                    t.transition.cost_increase_eur.min, t.transition.cost_increase_eur.max
                )
                if t.transition
                else "-",
            )
            for t in tiers.infrastructure_tiers
        ],
    )
    bandwidth = Section(
        "Bandwidth prices",
        ("provider", "currency", "included TB", "price per included TB", "price per extra TB"),
        [
            (
                p.name,
                p.currency,
                limit(p.included_tb),
                p.included_price_per_tb,
                p.extra_price_per_tb,
            )
            for p in tiers.bandwidth_providers
        ],
    )
    report_data = {
        "pricing_tiers": tiers.pricing_tiers,
        "infrastructure_tiers": tiers.infrastructure_tiers,
        "bandwidth_providers": tiers.bandwidth_providers,
        "assumptions": tiers.assumptions,
    }
    return Report(data=report_data, sections=[pricing, infra, backups, bandwidth])
