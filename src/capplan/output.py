"""Everything that reaches the terminal: one renderer per format, and each result as a Report.

A result of the core becomes a Report: its JSON data (the scripting contract) and the sections a
person reads (titled tables, notes, an optional chart). The renderers for table (Rich), markdown
and CSV work on sections; json works on the data. Nothing else in capplan knows about Rich.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capplan.formulas import DAYS_PER_MONTH

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from capplan.check import CheckResult
    from capplan.check.metrics import Metric
    from capplan.config import InfraTier, TiersConfig
    from capplan.formulas import Totals
    from capplan.history import Record
    from capplan.images.batch import Outcome, Summary
    from capplan.images.stats import ImageStats
    from capplan.projection import Projection
    from capplan.trend import Forecast


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


Cell = str | int | float | None


@dataclass
class Section:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[Cell]]
    statuses: Sequence[str | None] = ()  # per row, colours the row's status cell in a table
    header: bool = True  # False: a two-column list of names and values
    in_table: bool = True  # False: only in csv and markdown (the table format shows a chart)


@dataclass
class Report:
    data: Mapping[str, Any]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    chart: Callable[[Console], RenderableType] | None = None


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

STATUS_STYLE = {"OK": "green", "WARNING": "yellow", "CRITICAL": "bold red", "UNKNOWN": "magenta"}


# --- numbers --------------------------------------------------------------------------------


def figure(value: float) -> str:
    """A measured value for a person: 260,200 and 21.79 and 0.147, never 2.602e+05."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def eur(value: float | None) -> str:
    return "-" if value is None else f"EUR {value:,.0f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def plain(value: Any) -> Any:
    """JSON-ready: integral floats as integers, others without binary noise."""
    if isinstance(value, float):
        if math.isfinite(value) and value == round(value) and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.10g}")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# --- renderers ------------------------------------------------------------------------------


def make_console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120  # piped or captured: wide enough that tables do not wrap
    return console


def render(report: Report, fmt: Format, out: Console | None = None) -> None:
    if fmt is Format.json:
        write(json.dumps(plain(report.data), indent=2, ensure_ascii=False) + "\n")
    elif fmt is Format.csv:
        write(to_csv(report.sections))
    elif fmt is Format.markdown:
        write(to_markdown(report))
    else:
        to_table(report, out or make_console())


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def to_csv(sections: Sequence[Section]) -> str:
    """One block per section (its header row first), blocks separated by a blank line.

    Numbers are written as numbers (1500, 27.2), not as the tables show them (1,500).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, section in enumerate(sections):
        if index:
            buffer.write("\n")
        writer.writerow(["section", *section.columns])
        for row in section.rows:
            writer.writerow([section.title, *("" if c is None else plain(c) for c in row)])
    return buffer.getvalue()


def _text(cell: Cell) -> str:
    """A cell as a person reads it: numbers with thousands separators, nothing as -."""
    if cell is None:
        return "-"
    if isinstance(cell, (int, float)):
        return figure(cell)
    return cell


def _md_cell(cell: Cell) -> str:
    return _text(cell).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    lines: list[str] = []
    for section in report.sections:
        lines += [f"### {section.title}", ""]
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + "|".join("---" for _ in section.columns) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"


def _is_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("-", "").replace(" %", "")
    return stripped.removeprefix("EUR ").strip().isdigit()


def to_table(report: Report, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    for section in report.sections:
        if not section.in_table:
            continue
        table = Table(
            title=section.title,
            title_justify="left",
            title_style="bold",
            show_header=section.header,
        )
        cells = [[_text(c) for c in row] for row in section.rows]
        for index, column in enumerate(section.columns):
            numeric = bool(cells) and all(
                isinstance(row[index], (int, float))
                or _is_numeric(text[index])
                or text[index] in ("", "-")
                for row, text in zip(section.rows, cells, strict=True)
            )
            table.add_column(column, justify="right" if numeric else "left")
        for row_index, row in enumerate(cells):
            status = section.statuses[row_index] if row_index < len(section.statuses) else None
            rendered = [
                Text(c, style=STATUS_STYLE.get(c, "")) if status and c == status else Text(c)
                for c in row
            ]
            table.add_row(*rendered)
        console.print(table)
    if report.chart is not None:
        console.print(report.chart(console))
    for note in report.notes:
        console.print(Text(note, style="yellow" if note.startswith("warning") else ""))


# --- capplan size ---------------------------------------------------------------------------


def totals_data(totals: Totals) -> dict[str, float]:
    return {name: getattr(totals, name) for name in UNITS}


def totals_section(totals: Totals, explain: Mapping[str, str], title: str) -> Section:
    rows: list[Sequence[Cell]] = [
        (name, getattr(totals, name), UNITS[name], explain.get(name, "")) for name in UNITS
    ]
    return Section(title, ("total", "value", "unit", "formula"), rows)


def size_report(totals: Totals, explain: Mapping[str, str]) -> Report:
    return Report(
        data={"totals": totals_data(totals)},
        sections=[totals_section(totals, explain, "Totals (Key Formulas)")],
    )


# --- capplan tiers --------------------------------------------------------------------------


def _limit(value: float | None) -> str:
    return "unlimited" if value is None else figure(value)


def _cost_range(tier: InfraTier) -> str:
    cost = tier.monthly_cost_eur
    top = f"{cost.max:,.0f}" if cost.max is not None else "+"
    return f"{cost.min:,.0f}-{top}" if cost.max is not None else f"{cost.min:,.0f}+"


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
                eur(t.price_eur),
                _limit(t.products),
                _limit(t.images_per_product),
                _limit(t.orders_per_month),
                f"{t.sku_variants:g}x",
                _limit(t.team_members),
                _limit(t.api_requests_per_day),
            )
            for t in tiers.pricing_tiers
        ],
    )
    infra = Section(
        "Infrastructure tiers",
        ("id", "max clients", "vCPU", "RAM GB", "storage GB", "database", "EUR/month (typical)"),
        [
            (
                t.id,
                _limit(t.max_clients),
                t.vcpu,
                figure(t.ram_gb),
                figure(t.storage_gb) + (" + CDN" if t.cdn else ""),
                t.database,
                f"{_cost_range(t)} ({t.monthly_cost_eur.typical:,.0f})",
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
                f"+EUR {t.transition.cost_increase_eur.min:,.0f}-"
                f"{t.transition.cost_increase_eur.max:,.0f}"
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
                _limit(p.included_tb),
                figure(p.included_price_per_tb),
                figure(p.extra_price_per_tb),
            )
            for p in tiers.bandwidth_providers
        ],
    )
    data = {
        "pricing_tiers": [t.model_dump() for t in tiers.pricing_tiers],
        "infrastructure_tiers": [t.model_dump() for t in tiers.infrastructure_tiers],
        "bandwidth_providers": [p.model_dump() for p in tiers.bandwidth_providers],
        "assumptions": tiers.assumptions.model_dump(),
    }
    return Report(data=data, sections=[pricing, infra, backups, bandwidth])


# --- capplan project ------------------------------------------------------------------------


def projection_data(p: Projection) -> dict[str, Any]:
    r = p.recommendation
    c = p.costs
    data: dict[str, Any] = {
        "tiers": [
            {
                "tier": line.tier_id,
                "clients": line.clients,
                "products_per_client": line.products_per_client,
                "images_per_product": line.images_per_product,
                "orders_per_client_per_month": line.orders_per_client,
                "api_requests_per_client_per_day": line.api_requests_per_client_per_day,
                "price_eur": line.price_eur,
                "products": line.products,
                "images": line.images,
                "orders_per_month": line.orders_per_month,
                "api_requests_per_month": line.api_requests_per_month,
                "revenue_eur": line.revenue_eur,
            }
            for line in p.lines
        ],
        "totals": totals_data(p.totals),
        "capacity": [
            {
                "metric": s.metric,
                "value": s.value,
                "warning": s.warning,
                "critical": s.critical,
                "status": s.status,
                "action": s.action,
            }
            for s in p.capacity
        ],
        "recommendation": {
            "infra_tier": r.tier.id,
            "fits": r.fits,
            "chosen_by": "--infra-tier" if r.forced else "smallest tier that fits",
            "binding": r.binding,
            "reason": r.reason,
            "rejected": [{"tier": x.tier, "reasons": list(x.reasons)} for x in r.rejected],
            "disk_gb": r.disk_gb,
            "disk_limit_gb": r.disk_limit_gb,
            "sizing_level": p.sizing_level,
            "disk_threshold_pct": p.disk_threshold_pct,
            "runway_clients": r.runway_clients,
            "vcpu": r.tier.vcpu,
            "ram_gb": r.tier.ram_gb,
            "storage_gb": r.tier.storage_gb,
            "database": r.tier.database,
            "servers": r.tier.servers,
            "monthly_cost_eur": r.tier.monthly_cost_eur.model_dump(),
            "backup": r.tier.backup.model_dump(),
        },
        "costs": {
            "revenue_eur": c.revenue_eur,
            "infra_eur": c.infra_eur,
            "infra_min_eur": c.infra_min_eur,
            "infra_max_eur": c.infra_max_eur,
            "support_eur": c.support_eur,
            "development_eur": c.development_eur,
            "cost_per_client_eur": c.cost_per_client_eur,
            "gross_margin_pct": c.gross_margin_pct,
            "bandwidth": [
                {"provider": b.provider, "currency": b.currency, "cost": b.cost}
                for b in c.bandwidth
            ],
        },
        "assumptions": p.assumptions.model_dump(),
        "warnings": list(p.warnings),
    }
    if p.timeline:
        data["timeline"] = [
            {
                "month": m.month,
                "clients": m.clients,
                "products": m.products,
                "image_storage_gb": m.image_storage_gb,
                "db_size_gb": m.db_size_gb,
                "egress_tb_per_month": m.egress_tb_per_month,
                "revenue_eur": m.revenue_eur,
                "infra_tier": m.infra_tier,
                "infra_eur": m.infra_eur,
                "disk_limit_gb": m.disk_limit_gb,
            }
            for m in p.timeline
        ]
        data["events"] = [
            {
                key: value
                for key, value in {
                    "month": e.month,
                    "kind": e.kind,
                    "what": e.what,
                    "from": e.from_tier,
                    "to": e.to_tier,
                    "level": e.level,
                    "trigger": e.trigger,
                    "action": e.action,
                    "cost_increase_eur": (
                        {"min": e.cost_increase_eur[0], "max": e.cost_increase_eur[1]}
                        if e.cost_increase_eur
                        else None
                    ),
                }.items()
                if value is not None
            }
            for e in p.events
        ]
    return data


def projection_report(p: Projection) -> Report:
    r = p.recommendation
    c = p.costs
    mix = Section(
        "Tier mix (totals per plan; per-client figures in --format json)",
        (
            "plan",
            "clients",
            "price EUR",
            "products",
            "images",
            "orders/mo",
            "API req/mo",
            "revenue EUR",
        ),
        [
            (
                line.name,
                line.clients,
                line.price_eur,
                line.products,
                line.images,
                line.orders_per_month,
                line.api_requests_per_month,
                line.revenue_eur,
            )
            for line in p.lines
        ],
    )
    totals = totals_section(p.totals, p.explain, "Totals")
    capacity = Section(
        "Capacity thresholds",
        ("metric", "value", "warning", "critical", "status", "action"),
        [
            (
                s.metric,
                s.value,
                s.warning,
                s.critical,
                s.status,
                "-" if s.status == "OK" else s.action,
            )
            for s in p.capacity
        ],
        statuses=[s.status for s in p.capacity],
    )
    tier = r.tier
    if not r.fits:
        runway = "none: this tier is already over its limit"
    elif r.runway_clients is None:
        runway = "no client limit on this tier"
    else:
        runway = f"{r.runway_clients:,} more clients at today's mix"
    verdict = "fits" if r.fits else "DOES NOT FIT"
    recommendation = Section(
        f"Recommended infrastructure: {tier.name} ({verdict})",
        ("", ""),
        header=False,
        rows=[
            ("tier", f"{tier.id}{' (chosen with --infra-tier)' if r.forced else ''}"),
            ("binding", r.binding),
            ("why", r.reason),
            *[(f"not {x.tier}", "; ".join(x.reasons)) for x in r.rejected],
            (
                "disk",
                f"{figure(r.disk_gb)} GB of {figure(r.disk_limit_gb)} GB "
                f"({p.disk_threshold_pct:g} % of {figure(tier.storage_gb)} GB, "
                f"{p.sizing_level} level)",
            ),
            ("runway", runway),
            ("servers", f"{tier.vcpu} vCPU, {figure(tier.ram_gb)} GB RAM; {tier.servers}"),
            ("database", tier.database),
            (
                "monthly cost",
                f"EUR {_cost_range(tier)} (typical {tier.monthly_cost_eur.typical:,.0f})",
            ),
            (
                "backup",
                f"{tier.backup.database}; files: {tier.backup.files}; "
                f"RTO {tier.backup.rto}, RPO {tier.backup.rpo}",
            ),
        ],
    )
    infra_range = (
        f"typical; range {c.infra_min_eur:,.0f}-{c.infra_max_eur:,.0f}"
        if c.infra_max_eur
        else f"typical; from {c.infra_min_eur:,.0f}"
    )
    spend = c.infra_eur + c.support_eur + c.development_eur
    cost_rows: list[Sequence[Cell]] = [
        ("Revenue", eur(c.revenue_eur), "sum of clients x price"),
        (f"Infrastructure ({tier.name})", eur(c.infra_eur), infra_range),
        ("Support", eur(c.support_eur), "assumptions.support_eur_per_month"),
        ("Development", eur(c.development_eur), "assumptions.development_eur_per_month"),
        (
            "Gross margin",
            pct(c.gross_margin_pct),
            f"({c.revenue_eur:,.0f} - {spend:,.0f}) / {c.revenue_eur:,.0f}",
        ),
        (
            "Infrastructure per client",
            "-" if c.cost_per_client_eur is None else f"EUR {c.cost_per_client_eur:,.2f}",
            "",
        ),
    ]
    cost = Section("Monthly costs", ("item", "amount", "note"), cost_rows)
    bandwidth = Section(
        f"Bandwidth: {p.totals.egress_tb_per_month:,.2f} TB egress a month",
        ("provider", "cost/month"),
        [(b.provider, f"{b.currency} {b.cost:,.2f}") for b in c.bandwidth],
    )
    sections = [mix, totals, capacity, recommendation, cost, bandwidth]
    a = p.assumptions
    notes = [f"warning: {w}" for w in p.warnings]
    notes.append(
        f"assumptions: {a.avg_image_kb:g} KB stored and {a.served_image_kb:g} KB served per image, "
        f"{a.image_views_per_product_per_month:g} views per product a month, "
        f"{a.orders_retained_months:g} month of orders in the database "
        f"(change any with --set assumptions.KEY=VALUE)"
    )
    chart = None
    if p.timeline:
        sections.append(
            Section(
                "Growth timeline",
                (
                    "month",
                    "clients",
                    "products",
                    "storage GB",
                    "DB GB",
                    "egress TB",
                    "revenue EUR",
                    "tier",
                    "infra EUR",
                ),
                [
                    (
                        m.month,
                        m.clients,
                        m.products,
                        m.image_storage_gb,
                        m.db_size_gb,
                        m.egress_tb_per_month,
                        m.revenue_eur,
                        m.infra_tier,
                        m.infra_eur,
                    )
                    for m in p.timeline
                ],
                in_table=False,
            )
        )
        sections.append(
            Section(
                "Events",
                ("month", "kind", "what", "trigger", "action", "cost increase"),
                [
                    (
                        e.month,
                        e.kind,
                        e.what + (f" ({e.level})" if e.level else ""),
                        e.trigger or "-",
                        e.action or "-",
                        f"+EUR {e.cost_increase_eur[0]:,.0f}-{e.cost_increase_eur[1]:,.0f}"
                        if e.cost_increase_eur
                        else "-",
                    )
                    for e in p.events
                ]
                or [("-", "-", "no transition and no threshold crossed", "-", "-", "-")],
            )
        )
        chart = lambda console: growth_chart(p, console.width)  # noqa: E731
    margin = "-" if c.gross_margin_pct is None else f"{c.gross_margin_pct:.1f} %"
    notes.append(
        f"=> {tier.name} ({verdict}; binding: {r.binding}, disk {figure(r.disk_gb)} of "
        f"{figure(r.disk_limit_gb)} GB); infrastructure EUR {c.infra_eur:,.0f} a month, "
        f"gross margin {margin}; runway: {runway}."
    )
    return Report(data=projection_data(p), sections=sections, notes=notes, chart=chart)


def _sample(count: int, most: int, keep: Sequence[int] = ()) -> list[int]:
    """About `most` indexes spread evenly over range(count): the first, the last, and `keep`."""
    if count <= most:
        return list(range(count))
    step = (count - 1) / (most - 1)
    return sorted({round(i * step) for i in range(most)} | set(keep))


def growth_chart(p: Projection, columns: int = 120, rows: int = 25) -> RenderableType:
    """Clients, disk and monthly infrastructure cost by month, as bars; tier changes marked.

    At most `rows` months are shown (the first, the last, every tier change, and months evenly
    spread between); the full timeline is in --format json, csv and markdown.
    """
    from rich.table import Table
    from rich.text import Text

    width = max(10, min(40, (columns - 60) * 2 // 3))
    timeline = p.timeline
    top_storage = max(m.image_storage_gb + m.db_size_gb for m in timeline) or 1.0
    top_cost = max(m.infra_eur for m in timeline) or 1.0
    table = Table(
        title="Growth by month (| marks the tier's disk limit; every month in --format csv)",
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column("month", justify="right")
    table.add_column("clients", justify="right")
    table.add_column("disk GB", justify="right")
    table.add_column("", no_wrap=True, overflow="crop")
    table.add_column("EUR/month", justify="right")
    table.add_column("", no_wrap=True, overflow="crop")
    table.add_column("tier", no_wrap=True)
    changes = [
        i for i in range(1, len(timeline)) if timeline[i].infra_tier != timeline[i - 1].infra_tier
    ]
    previous_tier = None
    for index in _sample(len(timeline), rows, changes):
        m = timeline[index]
        disk = m.image_storage_gb + m.db_size_gb
        bar = _bar(disk / top_storage, width)
        mark = int(m.disk_limit_gb / top_storage * width)
        if mark < width:
            bar = bar[:mark] + "|" + bar[mark + 1 :]
        changed = previous_tier is not None and m.infra_tier != previous_tier
        previous_tier = m.infra_tier
        table.add_row(
            str(m.month),
            figure(m.clients),
            figure(disk),
            Text(bar, style="cyan"),
            figure(m.infra_eur),
            Text(_bar(m.infra_eur / top_cost, width // 2), style="green"),
            Text(
                m.infra_tier + ("  <- new tier" if changed else ""), style="bold" if changed else ""
            ),
        )
    return table


def _bar(fraction: float, width: int) -> str:
    filled = max(0.0, min(1.0, fraction)) * width
    full = int(filled)
    return ("█" * full + ("▌" if filled - full >= 0.5 else "")).ljust(width)


# --- capplan check --------------------------------------------------------------------------


class CheckFormat(str, enum.Enum):
    table = "table"
    json = "json"
    nagios = "nagios"
    prometheus = "prometheus"


def _metric_value(m: Metric) -> str:
    if m.value is None:
        return "-"
    unit = f" {m.unit}" if m.unit else ""
    if 0 < abs(m.value) < 0.01:
        return f"{m.value:.2g}{unit}"  # a small database is 2e-05 GB, not 0.00 GB
    decimals = 0 if m.unit == "" and float(m.value).is_integer() else 2 if m.unit != "%" else 1
    return f"{m.value:,.{decimals}f}{unit}"


def check_data(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "summary": result.summary,
        "host": {
            "vcpu": result.vcpu,
            "ram_gb": result.ram_gb,
            "infra_tier": result.host_tier.id if result.host_tier else None,
        },
        "next_step": result.next_step,
        "metrics": [
            {
                "name": m.name,
                "value": m.value,
                "unit": m.unit,
                "warning": m.warning,
                "critical": m.critical,
                "status": m.status,
                "action": m.action,
                "labels": dict(m.labels),
                **({"detail": m.detail} if m.detail else {}),
            }
            for m in result.metrics
        ],
        "missing_indexes": list(result.missing_indexes),
        "notes": list(result.notes),
    }


def check_report(result: CheckResult) -> Report:
    metrics = Section(
        f"capplan check: {result.status}",
        ("metric", "where", "value", "warning", "critical", "status", "action / detail"),
        [
            (
                m.name,
                m.label_text or "-",
                _metric_value(m),
                figure(m.warning) if m.warning is not None else "-",
                figure(m.critical) if m.critical is not None else "-",
                m.status,
                "; ".join(part for part in (m.action, m.detail) if part) or "-",
            )
            for m in result.metrics
        ],
        statuses=[m.status for m in result.metrics],
    )
    sections = [metrics]
    if result.missing_indexes:
        sections.append(
            Section(
                "Missing critical indexes (WARNING)",
                ("index", "table", "to add it"),
                [(i["name"], i["table"], i["create"]) for i in result.missing_indexes],
            )
        )
    tier = result.host_tier
    matched = f"matches {tier.name}" if tier else "smaller than the smallest tier"
    notes = [
        *result.notes,
        f"host: {result.vcpu} vCPU, {result.ram_gb:,.1f} GB RAM ({matched})",
        f"status: {result.status}: {result.summary}",
        f"next step: {result.next_step}",
    ]
    return Report(data=check_data(result), sections=sections, notes=notes)


def _perf_figure(value: float | None) -> str:
    """C-locale, no exponent, no thousands separator."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


PERF_UNITS = {"%": "%", "ms": "ms", "GB": "B", "": ""}


def _perf_label(m: Metric) -> str:
    label = "_".join([m.name, *m.labels.values()]).replace("=", "_").replace("'", "_")
    return f"'{label}'" if any(c in label for c in " /:") or not label.isascii() else label


def to_nagios(result: CheckResult) -> str:
    """The monitoring-plugins output: `CAPPLAN STATUS: summary | perfdata`, then detail lines."""
    perf = []
    for m in result.metrics:
        unit = PERF_UNITS[m.unit]
        scale = 1e9 if m.unit == "GB" else 1.0

        def scaled(value: float | None, factor: float = scale) -> str:
            return _perf_figure(None if value is None else value * factor)

        value = "U" if m.value is None else scaled(m.value)
        top = "100" if m.unit == "%" else ""
        perf.append(
            f"{_perf_label(m)}={value}{unit if m.value is not None else ''};"
            f"{scaled(m.warning)};{scaled(m.critical)};0;{top}"
        )
    lines = [f"CAPPLAN {result.status}: {result.summary} | {' '.join(perf)}"]
    lines += [
        f"{m.name} {m.label_text}: {m.action}".replace(" :", ":")
        for m in result.metrics
        if m.status != "OK"
    ]
    lines += [f"missing index {i['name']}: {i['create']}" for i in result.missing_indexes]
    lines.append(f"next step: {result.next_step}")
    return "\n".join(lines) + "\n"


def _prom_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _prom_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_prom_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


BASE_UNIT_NOTE = {0.01: ", ratio 0-1", 0.001: ", seconds", 1e9: ", bytes"}


def to_prometheus(result: CheckResult) -> str:
    """The text exposition format, for node_exporter's textfile collector: base units, ratios,
    no timestamps."""
    from capplan.check.metrics import EXIT_CODES

    families: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for m in result.metrics:
        if m.value is None:
            continue
        spec = m.spec
        name = f"capplan_{spec.prometheus}"
        helps[name] = spec.help + BASE_UNIT_NOTE.get(spec.scale, "")
        families.setdefault(name, []).append(
            f"{name}{_prom_labels(m.labels)} {float(m.value) * spec.scale!r}"
        )
    status = "capplan_metric_status"
    helps[status] = "Status of each metric: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    families[status] = [
        f"{status}{_prom_labels({'metric': m.name, **m.labels})} {EXIT_CODES[m.status]}"
        for m in result.metrics
    ]
    helps["capplan_check_status"] = "Overall status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"
    families["capplan_check_status"] = [f"capplan_check_status {result.exit_code}"]
    helps["capplan_missing_indexes"] = "Critical indexes that the database lacks"
    families["capplan_missing_indexes"] = [f"capplan_missing_indexes {len(result.missing_indexes)}"]
    lines = []
    for name, samples in families.items():
        lines += [f"# HELP {name} {helps[name]}", f"# TYPE {name} gauge", *samples]
    return "\n".join(lines) + "\n"


def render_check(result: CheckResult, fmt: CheckFormat, destination: Path | None = None) -> None:
    """Print the result, or with `destination` write it there atomically (not the table)."""
    if fmt is CheckFormat.nagios:
        text = to_nagios(result)
    elif fmt is CheckFormat.prometheus:
        text = to_prometheus(result)
    elif fmt is CheckFormat.json:
        text = json.dumps(plain(check_data(result)), indent=2, ensure_ascii=False) + "\n"
    else:
        text = ""
    if destination is not None and text:
        from capplan import atomic
        from capplan.errors import CapplanError

        try:
            atomic.write_text(destination, text)
        except OSError as error:
            raise CapplanError(f"--output {destination}: {error.strerror or error}") from None
    elif text:
        write(text)
    else:
        to_table(check_report(result), make_console())


# --- capplan images -------------------------------------------------------------------------


def _size(count: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= factor:
            return f"{count / factor:,.1f} {unit}"
    return f"{count:,} B"


def convert_data(summary: Summary) -> dict[str, Any]:
    return {
        "converted": summary.converted,
        "skipped": summary.skipped,
        "duplicates": summary.duplicates,
        "failed": summary.failed,
        "ignored": summary.ignored,
        "bytes_in": summary.bytes_in,
        "bytes_out": summary.bytes_out,
        "savings_pct": summary.savings_pct,
        "leftovers_removed": summary.leftovers_removed,
        "elapsed_s": summary.elapsed_s,
        "images_per_s": summary.sources / summary.elapsed_s if summary.elapsed_s else None,
        "dry_run": summary.dry_run,
        "failures": [{"source": source, "error": error} for source, error in summary.failures],
    }


def convert_report(summary: Summary) -> Report:
    would = "would be " if summary.dry_run else ""
    rows: list[Sequence[Cell]] = [
        (f"{would}converted", figure(summary.converted)),
        ("skipped (already complete)", figure(summary.skipped)),
        ("duplicates (stored once)", figure(summary.duplicates)),
        ("failed", figure(summary.failed)),
        ("ignored (links, special files)", figure(summary.ignored)),
    ]
    if not summary.dry_run:
        rows += [
            ("bytes in (converted sources)", _size(summary.bytes_in)),
            ("bytes out (three variants)", _size(summary.bytes_out)),
            ("savings", pct(summary.savings_pct)),
        ]
    rate = summary.sources / summary.elapsed_s if summary.elapsed_s else 0.0
    rows.append(("time", f"{summary.elapsed_s:,.1f} s ({rate:,.1f} images/s)"))
    if summary.leftovers_removed:
        rows.append((f"temporary files {would}removed", figure(summary.leftovers_removed)))
    sections = [
        Section(
            "images convert" + (" (dry run)" if summary.dry_run else ""),
            ("", ""),
            rows,
            header=False,
        )
    ]
    if summary.failures:
        sections.append(
            Section(
                f"Failed sources (first {len(summary.failures)} of {summary.failed}; "
                "all in --manifest)",
                ("source", "reason"),
                [(source, error) for source, error in summary.failures],
            )
        )
    return Report(data=convert_data(summary), sections=sections)


class ImageProgress:
    """A Rich progress bar on stderr (images/s, ETA) while a batch runs; silent off a terminal."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("converting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=make_console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task("convert", total=None, rate="")

    def __enter__(self) -> ImageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def advance(self, outcome: Outcome) -> None:
        speed = self.progress.tasks[0].speed or 0.0
        self.progress.update(self.task, advance=1, rate=f"{speed:,.1f} images/s")


def stats_data(result: ImageStats) -> dict[str, Any]:
    tree = result.tree
    return {
        "root": tree.root,
        "files": tree.files,
        "bytes": tree.bytes,
        "image_files": tree.image_files,
        "directories": tree.directories,
        "variants": {
            name: {"files": tree.variants[name], "bytes": tree.variant_bytes[name]}
            for name in tree.variants
        },
        "files_per_directory_max": tree.files_per_directory_max,
        "status": result.status,
        "fullest": [
            {
                "path": f.path,
                "files": f.files,
                "band": f.band.label,
                "status": f.band.status,
                "action": f.band.action,
            }
            for f in result.fullest
        ],
        "unreadable": tree.unreadable,
    }


def stats_report(result: ImageStats) -> Report:
    tree = result.tree
    totals = Section(
        f"Image tree {tree.root}",
        ("what", "files", "bytes"),
        [
            ("all files", figure(tree.files), _size(tree.bytes)),
            ("image files", figure(tree.image_files), ""),
            *[
                (f"_{name} variant", figure(tree.variants[name]), _size(tree.variant_bytes[name]))
                for name in tree.variants
            ],
            ("directories", figure(tree.directories), ""),
        ],
    )
    fullest = Section(
        "Fullest directories (files per directory bands)",
        ("directory", "files", "band", "status", "action"),
        [
            (
                f.path,
                figure(f.files),
                f.band.label,
                f.band.status,
                "-" if f.band.action == "None" else f.band.action,
            )
            for f in result.fullest
        ],
        statuses=[f.band.status for f in result.fullest],
    )
    notes = []
    if result.fullest:
        top = result.fullest[0]
        notes.append(
            f"=> fullest directory holds {top.files:,} files: {top.band.label}"
            + ("" if top.band.action == "None" else f"; {top.band.action}")
        )
    if tree.unreadable:
        notes.append(f"warning: {len(tree.unreadable):,} entries could not be read")
    return Report(data=stats_data(result), sections=[totals, fullest], notes=notes)


# --- capplan history and trend --------------------------------------------------------------


def history_report(records: Sequence[Record]) -> Report:
    from capplan.check.metrics import label_text

    rows: list[Sequence[Cell]] = [
        (
            r.timestamp.isoformat(timespec="seconds"),
            r.metric,
            label_text(r.labels) or "-",
            r.value,
            r.status or "-",
        )
        for r in records
    ]
    data = {
        "records": [
            {
                "timestamp": r.timestamp.isoformat(timespec="seconds"),
                "metric": r.metric,
                "labels": dict(r.labels),
                "value": r.value,
                "status": r.status,
            }
            for r in records
        ]
    }
    notes = [f"{len(records):,} records"]
    return Report(
        data=data,
        sections=[Section("History", ("timestamp", "metric", "labels", "value", "status"), rows)],
        notes=notes,
    )


def _day(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def _when(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "not at this rate"
    return "already" if moment <= now else f"on {moment.date().isoformat()}"


def trend_summary(forecast: Forecast, now: dt.datetime) -> str:
    """One sentence: the rate, the dates, what to do, and when the next tier is needed."""
    from capplan.check.metrics import METRICS
    from capplan.trend import MIN_POINTS

    where = " on " + ",".join(forecast.labels.values()) if forecast.labels else ""
    name = f"{forecast.metric}{where}"
    if forecast.fit is None:
        return f"{name}: not enough history ({len(forecast.points)} of {MIN_POINTS} points)"
    unit = METRICS[forecast.metric].unit
    unit = " points" if unit == "%" else f" {unit}" if unit else ""
    per_month = forecast.fit.slope_per_day * DAYS_PER_MONTH
    text = f"{name}: {'+' if per_month >= 0 else '-'}{figure(abs(per_month))}{unit} a month"
    if forecast.latest.warning is not None:
        text += f", warning {_when(forecast.warning_at, now)}"
        text += f", critical {_when(forecast.critical_at, now)}"
        if forecast.action and (forecast.warning_at or forecast.critical_at):
            text += f": {forecast.action[0].lower()}{forecast.action[1:]}"
    tier = forecast.tier
    if tier is not None and tier.next_tier is not None:
        until = _when(tier.needed_at, now).removeprefix("on ")
        text += f"; {tier.current}'s disk lasts until {until}, then {tier.next_tier}"
    return text


def trend_data(forecasts: Sequence[Forecast], now: dt.datetime) -> dict[str, Any]:
    return {
        "now": now.isoformat(timespec="seconds"),
        "forecasts": [
            {
                "metric": f.metric,
                "labels": f.labels,
                "points": len(f.points),
                "latest": f.points[-1][1],
                "status": f.latest.status,
                "slope_per_day": f.slope_per_day,
                "slope_per_month": None if f.fit is None else f.fit.slope_per_day * DAYS_PER_MONTH,
                "warning": f.latest.warning,
                "critical": f.latest.critical,
                "warning_at": _day(f.warning_at),
                "critical_at": _day(f.critical_at),
                "action": f.action,
                "next_tier": None if f.tier is None else f.tier.next_tier,
                "next_tier_at": None if f.tier is None else _day(f.tier.needed_at),
                "summary": trend_summary(f, now),
            }
            for f in forecasts
        ],
    }


def trend_report(forecasts: Sequence[Forecast], now: dt.datetime) -> Report:
    from capplan.check.metrics import label_text

    def when(moment: dt.datetime | None, has_level: bool) -> str:
        if not has_level:
            return "-"
        if moment is None:
            return "never at this rate"
        return "already" if moment <= now else moment.date().isoformat()

    rows: list[Sequence[Cell]] = []
    for f in forecasts:
        per_month = None if f.fit is None else f.fit.slope_per_day * DAYS_PER_MONTH
        has_level = f.latest.warning is not None and f.fit is not None
        rows.append(
            (
                f.metric,
                label_text(f.labels) or "-",
                len(f.points),
                f.points[-1][1],
                per_month,
                when(f.warning_at, has_level),
                when(f.critical_at, has_level),
            )
        )
    section = Section(
        "Trends (Theil-Sen fit; a month is 30 days)",
        ("metric", "labels", "points", "latest", "per month", "warning on", "critical on"),
        rows,
    )
    notes = [trend_summary(f, now) for f in forecasts]
    charted = [f for f in forecasts if f.fit is not None]
    chart = None
    if charted:
        chart = lambda console: _trend_charts(charted, now, console.width)  # noqa: E731
    return Report(data=trend_data(forecasts, now), sections=[section], notes=notes, chart=chart)


def _trend_charts(forecasts: Sequence[Forecast], now: dt.datetime, columns: int) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    width = max(30, min(100, columns - 14))
    return Group(*(Text(trend_chart(f, now, width)) for f in forecasts))


def trend_chart(forecast: Forecast, now: dt.datetime, width: int = 72, height: int = 12) -> str:
    """History (•), projection (·) and the warning (W) and critical (C) lines, as text."""
    from capplan.check.metrics import label_text

    fit = forecast.fit
    assert fit is not None
    first, last = forecast.points[0][0], max(forecast.points[-1][0], now)
    span = (last - first).total_seconds() or 86_400.0
    horizon = span / 2
    for moment in (forecast.warning_at, forecast.critical_at):
        if moment is not None and moment > now:
            horizon = max(horizon, min((moment - now).total_seconds() * 1.1, span * 3))
    end = last + dt.timedelta(seconds=horizon)
    total = (end - first).total_seconds()
    projected = [fit.value_at(now), fit.value_at(end)]
    levels = [v for v in (forecast.latest.warning, forecast.latest.critical) if v is not None]
    values = [v for _, v in forecast.points] + projected + levels
    low, high = min(values), max(values)
    if high == low:
        high = low + 1
    grid = [[" "] * width for _ in range(height)]

    def row(value: float) -> int:
        return height - 1 - round((value - low) / (high - low) * (height - 1))

    def column(moment: dt.datetime) -> int:
        return min(width - 1, max(0, round((moment - first).total_seconds() / total * (width - 1))))

    for level, mark in zip(levels, "WC", strict=False):
        grid[row(level)] = [mark if i % 3 == 0 else "-" for i in range(width)]
    for x in range(column(now), width):
        moment = first + dt.timedelta(seconds=total * x / (width - 1))
        y = row(min(high, max(low, fit.value_at(moment))))
        grid[y][x] = "·"
    for moment, value in forecast.points:
        grid[row(value)][column(moment)] = "•"
    labels = {0: high, height // 2: (high + low) / 2, height - 1: low}
    where = label_text(forecast.labels)
    lines = [
        f"{forecast.metric}{' ' + where if where else ''}"
        f" (• history, · projection, W warning, C critical)"
    ]
    for index, cells in enumerate(grid):
        label = f"{figure(labels[index]):>10} " if index in labels else " " * 11
        lines.append(label + "|" + "".join(cells))
    axis = f"{first.date().isoformat()}".ljust(width // 2) + f"{end.date().isoformat()}".rjust(
        width - width // 2
    )
    lines.append(" " * 11 + "+" + "-" * width)
    lines.append(" " * 12 + axis)
    return "\n".join(lines) + "\n"
