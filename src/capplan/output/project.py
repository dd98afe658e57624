"""`capplan project`: the mix, totals, capacity, the recommended tier, costs and the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.metrics import Status
from capplan.output.numbers import figure
from capplan.output.report import Cell, Report, Section, Shown, data
from capplan.output.size import cost_increase, cost_range, totals_section
from capplan.projection import Projection
from capplan.sizing import Recommendation
from capplan.timeline import outgrown

if TYPE_CHECKING:
    from rich.console import RenderableType

# The most plans the terminal table lists (a mix of thousands is read in csv or json).
TABLE_PLANS = 60


def recommendation_data(p: Projection) -> dict[str, Any]:
    r = p.recommendation
    if r.forced:
        chosen_by = "--infra-tier"
    elif r.fits:
        chosen_by = "smallest tier that fits"
    else:
        chosen_by = "largest tier: none fits"
    hidden = ("tier", "forced", "smallest_fitting_tier")
    result = {
        "infra_tier": r.tier.id,
        "fits": r.fits,
        "chosen_by": chosen_by,
        **{key: value for key, value in data(r).items() if key not in hidden},
        **r.tier.model_dump(
            include={"vcpu", "ram_gb", "storage_gb", "database", "servers"}
            | {"monthly_cost_eur", "backup"}
        ),
    }
    if r.forced:
        result["smallest_fitting_tier"] = r.smallest_fitting_tier
    return result


def projection_data(p: Projection) -> dict[str, Any]:
    result: dict[str, Any] = {
        "tiers": p.lines,
        "totals": p.totals,
        "capacity": p.capacity,
        "recommendation": recommendation_data(p),
        "costs": p.costs,
        "assumptions": p.assumptions,
        "warnings": p.warnings,
    }
    if p.timeline:
        # `fits` is written from the month when not even the largest tier holds the load
        result["timeline"] = [
            {key: value for key, value in data(m).items() if key != "fits" or not value}
            for m in p.timeline
        ]
        result["events"] = [
            {key: value for key, value in data(event).items() if value is not None}
            for event in p.events
        ]
    return result


def _runway(p: Projection) -> str:
    r = p.recommendation
    if r.runway_clients is None:
        text = "no client limit on this tier"
    else:
        text = f"{r.runway_clients:,} more clients at today's mix"
    ends = next(
        (
            e
            for e in p.events
            if e.kind == "outgrown" or (e.kind == "transition" and e.from_tier == r.tier.id)
        ),
        None,
    )
    if ends is not None and ends.month > 0:
        after = "needs more than " + r.tier.name if ends.kind == "outgrown" else ends.what
        text += f", {ends.month - 1} months at this growth (month {ends.month}: {after})"
    elif p.timeline and ends is None:
        text += f", more than {p.timeline[-1].month} months at this growth"
    return text


def _misfit(r: Recommendation) -> str:
    """What the chosen tier cannot hold, from its reason."""
    return r.reason.removeprefix("does not fit: ").removesuffix(" (no larger tier exists)")


def _tier_rows(r: Recommendation) -> list[Sequence[Cell]]:
    tier = r.tier
    return [
        (
            "disk",
            f"{figure(r.disk_gb)} GB of {figure(r.disk_limit_gb)} GB "
            f"({r.disk_threshold_pct:g} % of {figure(tier.storage_gb)} GB, "
            f"{r.sizing_level} level)",
        ),
        ("servers", f"{tier.vcpu} vCPU, {figure(tier.ram_gb)} GB RAM; {tier.servers}"),
        ("database", tier.database),
        ("monthly cost", f"EUR {cost_range(tier)} (typical {tier.monthly_cost_eur.typical:,.0f})"),
        (
            "backup",
            f"{tier.backup.database}; files: {tier.backup.files}; "
            f"RTO {tier.backup.rto}, RPO {tier.backup.rpo}",
        ),
    ]


def _recommendation_section(p: Projection) -> Section:
    r = p.recommendation
    tier = r.tier
    if r.fits:
        rows: list[Sequence[Cell]] = [
            ("tier", tier.id),
            ("binding", r.binding),
            ("why", r.reason),
            *[(f"not {x.tier}", "; ".join(x.reasons)) for x in r.rejected],
            *_tier_rows(r)[:1],
            ("runway", _runway(p)),
            *_tier_rows(r)[1:],
        ]
        title = "Infrastructure asked for with --infra-tier" if r.forced else "Recommended"
        if not r.forced:
            title += " infrastructure"
        return Section(f"{title}: {tier.name} (fits)", ("", ""), rows, header=False)
    # The tier cannot hold the load: say so once, in the summary, and what to do instead.
    if r.forced:
        title = f"Infrastructure asked for with --infra-tier: {tier.name}"
        instead = r.smallest_fitting_tier or "none: split the platform or add a tier"
        rows = [("tier", tier.id), ("over its limit", _misfit(r)), ("smallest that fits", instead)]
    else:
        title = f"Infrastructure: {tier.name}, the largest tier"
        rows = [
            ("tier", tier.id),
            ("over its limit", _misfit(r)),
            ("next step", outgrown(tier.name)),
        ]
    return Section(title, ("", ""), [*rows, *_tier_rows(r)], header=False)


def _summary(p: Projection) -> str:
    r = p.recommendation
    c = p.costs
    margin = "-" if c.gross_margin_pct is None else f"{c.gross_margin_pct:.1f} %"
    money = f"infrastructure EUR {c.infra_eur:,.0f} a month, gross margin {margin}"
    if r.fits:
        return (
            f"=> {r.tier.name} (fits; binding: {r.binding}, disk {figure(r.disk_gb)} of "
            f"{figure(r.disk_limit_gb)} GB); {money}; runway: {_runway(p)}."
        )
    if r.forced:
        instead = (
            f"the smallest tier that fits is {r.smallest_fitting_tier}"
            if r.smallest_fitting_tier
            else "no tier fits: split the platform or add a tier"
        )
        return f"=> {r.tier.name} does not fit: {_misfit(r)}; {instead}; {money}."
    return (
        f"=> {r.tier.name}, the largest tier, does not fit: {_misfit(r)}; "
        f"{outgrown(r.tier.name)}; {money}."
    )


def _costs_section(p: Projection) -> Section:
    c = p.costs
    infra_range = (
        f"typical; range {c.infra_min_eur:,.0f}-{c.infra_max_eur:,.0f}"
        if c.infra_max_eur
        else f"typical; from {c.infra_min_eur:,.0f}"
    )
    rows: list[Sequence[Cell]] = [
        ("Revenue", Shown.eur(c.revenue_eur), "sum of clients x price"),
        (f"Infrastructure ({p.recommendation.tier.name})", Shown.eur(c.infra_eur), infra_range),
        ("Support", Shown.eur(c.support_eur), "assumptions.support_eur_per_month"),
        ("Development", Shown.eur(c.development_eur), "assumptions.development_eur_per_month"),
        (
            "Gross margin",
            Shown.pct(c.gross_margin_pct),
            f"({c.revenue_eur:,.0f} - {c.spend_eur:,.0f}) / {c.revenue_eur:,.0f}",
        ),
        (
            "Infrastructure per client",
            Shown(
                c.cost_per_client_eur,
                "-" if c.cost_per_client_eur is None else f"EUR {c.cost_per_client_eur:,.2f}",
                "EUR",
            ),
            "",
        ),
    ]
    return Section("Monthly costs", ("item", "amount", "note"), rows)


def _timeline_sections(p: Projection) -> list[Section]:
    timeline = Section(
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
    events = Section(
        "Events",
        (
            "month",
            "kind",
            "what",
            "moved by (and the document's trigger)",
            "action",
            "cost increase",
        ),
        [
            (
                e.month,
                e.kind,
                e.what
                + (f" ({e.level})" if e.level else "")
                + (f": {e.reason}" if e.reason else ""),
                e.moved_by or e.trigger or "-",
                e.action or "-",
                cost_increase(e.cost_increase_eur.min, e.cost_increase_eur.max)
                if e.cost_increase_eur
                else "-",
            )
            for e in p.events
        ]
        or [("-", "-", "no transition and no threshold crossed", "-", "-", "-")],
    )
    return [timeline, events]


# The planning document's "Revenue vs Infrastructure Cost" case: 1,000 clients, EUR 149,000 a
# month, on Scale, "gross margin ~96 %" (README: where the document contradicts itself).
DOCUMENT_CASE = {"clients": 1000, "revenue_eur": 149_000, "infra_tier": "scale", "margin_pct": 96}


def document_margin_note(p: Projection) -> str | None:
    """On the document's own case, how its ~96 % margin differs from the line items'."""
    c, case = p.costs, DOCUMENT_CASE
    if (p.totals.clients, c.revenue_eur, p.recommendation.tier.id) != (
        case["clients"],
        case["revenue_eur"],
        case["infra_tier"],
    ) or not c.revenue_eur:
        return None
    without_support = 100 * (c.revenue_eur - c.infra_eur - c.development_eur) / c.revenue_eur
    return (
        f"the planning document gives ~{case['margin_pct']} % gross margin for this case; its "
        f"own line items give {c.gross_margin_pct:.1f} % (({c.revenue_eur:,.0f} - "
        f"{c.infra_eur:,.0f} - {c.support_eur:,.0f} - {c.development_eur:,.0f}) / "
        f"{c.revenue_eur:,.0f}); ~{case['margin_pct']} % comes out only with support left out "
        f"({without_support:.1f} %)"
    )


def projection_report(p: Projection) -> Report:
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
        in_table=len(p.lines) <= TABLE_PLANS,
    )
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
                "-" if s.status is Status.OK else s.action,
            )
            for s in p.capacity
        ],
        statuses=[s.status for s in p.capacity],
    )
    bandwidth = Section(
        f"Bandwidth: {p.totals.egress_tb_per_month:,.2f} TB egress a month",
        ("provider", "currency", "cost/month"),
        [(b.provider, b.currency, Shown(b.cost, f"{b.cost:,.2f}")) for b in c.bandwidth],
    )
    sections = [
        mix,
        totals_section(p.totals, p.explain, "Totals"),
        capacity,
        _recommendation_section(p),
        _costs_section(p),
        bandwidth,
    ]
    a = p.assumptions
    notes = [f"warning: {w}" for w in p.warnings]
    if not mix.in_table:
        notes.append(
            f"{len(p.lines):,} plans: too many to read in a terminal; every plan's line is in "
            "--format csv, json and markdown"
        )
    notes.append(
        f"assumptions: {a.avg_image_kb:g} KB stored and {a.served_image_kb:g} KB served per image, "
        f"{a.image_views_per_product_per_month:g} views per product a month, "
        f"{a.orders_retained_months:g} month of orders in the database "
        f"(change any with --set assumptions.KEY=VALUE)"
    )
    chart = None
    if p.timeline:
        sections += _timeline_sections(p)
        chart = lambda console: growth_chart(p, console.width)  # noqa: E731
    result = projection_data(p)
    document = document_margin_note(p)
    if document is not None:
        notes.append(document)
        result["document_differs"] = [document]
    notes.append(_summary(p))
    return Report(data=result, sections=sections, notes=notes, chart=chart, result=p)


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

    timeline = p.timeline
    marks = 18 if any(not m.fits for m in timeline) else 0  # room for "<- over its limit"
    # the bars give way on a narrow terminal
    width = max(4, min(40, (columns - 60 - marks) * 2 // 3))
    top_storage = max(m.disk_gb for m in timeline) or 1.0
    top_cost = max(m.infra_eur for m in timeline) or 1.0
    table = Table(
        title="Growth by month (| marks the tier's disk limit; every month in --format csv)",
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
    )
    for name in ("month", "clients", "disk GB"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("", no_wrap=True, overflow="crop")
    table.add_column("EUR/month", justify="right", no_wrap=True, min_width=len("EUR/month"))
    table.add_column("", no_wrap=True, overflow="crop")
    table.add_column("tier", overflow="fold")
    changes = [
        i for i in range(1, len(timeline)) if timeline[i].infra_tier != timeline[i - 1].infra_tier
    ]
    previous_tier = None
    for index in _sample(len(timeline), rows, changes):
        m = timeline[index]
        bar = _bar(m.disk_gb / top_storage, width)
        mark = int(m.disk_limit_gb / top_storage * width)
        if mark < width:
            bar = bar[:mark] + "|" + bar[mark + 1 :]
        changed = previous_tier is not None and m.infra_tier != previous_tier
        previous_tier = m.infra_tier
        table.add_row(
            str(m.month),
            figure(m.clients),
            figure(m.disk_gb),
            Text(bar, style="cyan"),
            figure(m.infra_eur),
            Text(_bar(m.infra_eur / top_cost, width // 2), style="green"),
            Text(
                m.infra_tier
                + ("  <- new tier" if changed else "")
                + ("" if m.fits else "  <- over its limit"),
                style="bold" if changed or not m.fits else "",
            ),
        )
    return table


def _bar(fraction: float, width: int) -> str:
    filled = max(0.0, min(1.0, fraction)) * width
    full = int(filled)
    return ("█" * full + ("▌" if filled - full >= 0.5 else "")).ljust(width)
