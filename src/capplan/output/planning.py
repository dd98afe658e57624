"""`capplan project` for decisions: ranges, sensitivity, break-even, calibration, scenarios.

Each adds its sections, its notes and its JSON keys to the projection's report
(output/project.py); with none of them the report is the projection's, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from capplan.output.measured import calibration_sections, with_calibration, with_growth
from capplan.output.project import projection_report
from capplan.output.report import Cell, Report, Section, data
from capplan.planning.analysis import Analysis
from capplan.planning.breakeven import BreakEven
from capplan.planning.calibration import Calibration
from capplan.planning.inputs import Input, described

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from capplan.planning.sampling import Transition, Uncertainty
    from capplan.planning.scenarios import Scenario
    from capplan.planning.sensitivity import Sensitivity

METRIC_NAMES = {
    "disk_gb": ("disk (images + database)", "GB"),
    "db_size_gb": ("database", "GB"),
    "egress_tb_per_month": ("egress a month", "TB"),
    "monthly_cost_eur": ("monthly cost (infra + support + dev)", "EUR"),
    "gross_margin_pct": ("gross margin", "%"),
}


def _share(probability: float) -> str:
    if 0 < probability < 0.001:
        return "< 0.1 %"
    if 0.999 < probability < 1:
        return "> 99.9 %"
    return f"{probability * 100:.1f} %"


# --- ranges -------------------------------------------------------------------------------


def uncertainty_data(u: Uncertainty) -> dict[str, Any]:
    def transition(t: Transition) -> dict[str, Any]:
        return dict(data(t))

    return {
        "sampling": {
            "samples": u.samples,
            "seed": u.seed,
            "distribution": u.distribution,
            "ranges": [
                {"input": i.name, "low": s.low, "mid": s.mid, "high": s.high}
                for i in u.ranged
                if (s := i.spread) is not None
            ],
        },
        "distribution": {name: data(value) for name, value in u.metrics.items()},
        "tier_probability": u.tier_probability,
        "least_regret": {
            "infra_tier": u.tier_p90,
            "infra_tier_p50": u.tier_p50,
            "fits_probability": u.fits_probability,
        },
        **(
            {
                "transitions": [transition(t) for t in u.transitions],
                "outgrown": None if u.outgrown is None else transition(u.outgrown),
            }
            if u.months is not None
            else {}
        ),
    }


def _ranges_section(ranged: Sequence[Input], u: Uncertainty) -> Section:
    return Section(
        f"Ranges ({u.distribution}, mode at mid; seed {u.seed})",
        ("input", "low", "mid", "high"),
        [
            (i.name, described(i, s.low), described(i, s.mid), described(i, s.high))
            for i in ranged
            if (s := i.spread) is not None
        ],
    )


def _percent(probability: float) -> float:
    """A probability as a percentage, to a tenth (0.1407 -> 14.1)."""
    return round(probability * 100, 1)


def uncertainty_sections(u: Uncertainty, mids: dict[str, float | None]) -> list[Section]:
    spread = Section(
        f"What {u.samples:,} samples give today (P10: 1 sample in 10 is below, P90: 9 in 10)",
        ("figure", "unit", "P10", "P50", "P90", "at the mids"),
        [(*METRIC_NAMES[name], p.p10, p.p50, p.p90, mids[name]) for name, p in u.metrics.items()],
    )
    tiers = Section(
        "Infrastructure tier today",
        ("tier", "probability %", ""),
        [
            (tier, _percent(share), "█" * round(share * 40))
            for tier, share in u.tier_probability.items()
            if share > 0
        ],
    )
    sections = [_ranges_section(u.ranged, u), spread, tiers]
    if u.months is not None:
        rows: list[Sequence[Cell]] = [
            (t.to, _percent(t.probability), t.month_p10, t.month_p50, t.month_p90)
            for t in u.transitions
        ]
        if u.outgrown is not None and u.outgrown.probability > 0:
            o = u.outgrown
            rows.append(
                (
                    "more than the largest tier",
                    _percent(o.probability),
                    o.month_p10,
                    o.month_p50,
                    o.month_p90,
                )
            )
        sections.append(
            Section(
                f"Tier transitions within {u.months} months (-: not within them)",
                ("to", "probability %", "month P10", "month P50", "month P90"),
                rows or [("no transition in any sample", None, None, None, None)],
            )
        )
    return sections


def uncertainty_summary(u: Uncertainty) -> str:
    line = (
        f"=> plan for {u.tier_p90}: it holds the load in 9 samples out of 10 (P90, least regret); "
        f"at P50 {u.tier_p50}"
    )
    if u.fits_probability < 1:
        line += f"; no tier fits in {_share(1 - u.fits_probability)} of the samples"
    if u.outgrown is not None and u.outgrown.probability > 0:
        line += (
            f"; {_share(u.outgrown.probability)} chance to need more than the largest tier "
            f"within {u.months} months"
        )
    return line + "."


# --- sensitivity ----------------------------------------------------------------------------


def sensitivity_data(s: Sensitivity) -> list[dict[str, Any]]:
    return [
        {
            "input": w.input,
            "low": w.low,
            "high": w.high,
            "ranged": w.ranged,
            "disk_gb": list(w.disk_gb),
            "monthly_cost_eur": list(w.monthly_cost_eur),
            "infra_tier": list(w.infra_tier),
            "changes_tier": w.changes_tier,
        }
        for w in s.swings
    ]


def _when(s: Sensitivity) -> str:
    return "today" if s.month is None else f"at month {s.month}"


def sensitivity_section(s: Sensitivity) -> Section:
    return Section(
        f"Sensitivity {_when(s)}: each input alone at its low and high (its range, or mid "
        f"-/+ {s.swing * 100:g} %), the others at mids; * changes the tier "
        f"({s.base_tier} at mids)",
        (
            "input",
            "low",
            "high",
            "cost at low EUR",
            "cost at high EUR",
            "disk at low GB",
            "disk at high GB",
            "tier at low",
            "tier at high",
        ),
        [
            (
                ("* " if w.changes_tier else "") + w.input,
                w.low,
                w.high,
                *w.monthly_cost_eur,
                *w.disk_gb,
                *w.infra_tier,
            )
            for w in s.swings
        ],
        in_table=False,
    )


def tornado(s: Sensitivity, columns: int = 120, rows: int = 15) -> RenderableType:
    """The inputs as bars around the mids' monthly cost and disk: the widest swing on top."""
    from rich.table import Table
    from rich.text import Text

    half = max(6, min(20, (columns - 70) // 4))
    shown = [w for w in s.swings if w.cost_swing or w.disk_swing][:rows]
    table = Table(
        title=f"Sensitivity {_when(s)} (tornado; * changes the tier; every input in "
        "--format csv): monthly cost, disk",
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
    )
    table.add_column("input", no_wrap=True)
    table.add_column("cost EUR", no_wrap=True, overflow="crop")
    table.add_column("disk GB", no_wrap=True, overflow="crop")
    table.add_column("tier at low / high", no_wrap=True)
    widest_cost = max((w.cost_swing for w in shown), default=0.0) or 1.0
    widest_disk = max((w.disk_swing for w in shown), default=0.0) or 1.0
    for w in shown:
        table.add_row(
            ("* " if w.changes_tier else "  ") + w.input,
            _bars(w.monthly_cost_eur, s.base_monthly_cost_eur, widest_cost, half),
            _bars(w.disk_gb, s.base_disk_gb, widest_disk, half),
            Text(f"{w.infra_tier[0]} / {w.infra_tier[1]}", style="bold" if w.changes_tier else ""),
        )
    if not shown:
        table.add_row("no input moves cost or disk", "", "", "")
    return table


def _bars(pair: tuple[float, float], base: float, widest: float, half: int) -> str:
    """A bar left of the centre for a fall, right of it for a rise."""
    down = max(base - min(pair), 0.0) / widest * half
    up = max(max(pair) - base, 0.0) / widest * half
    left = ("█" * round(down)).rjust(half)
    right = ("█" * round(up)).ljust(half)
    return f"{left}|{right}"


# --- break-even ----------------------------------------------------------------------------


def break_even_sections(b: BreakEven) -> list[Section]:
    summary = Section(
        "Break-even at today's mix",
        ("", ""),
        [
            ("clients today", b.clients_today),
            ("revenue per client, EUR a month", b.revenue_per_client_eur),
            ("disk per client, GB", b.disk_gb_per_client),
            ("support and development, EUR a month", b.fixed_eur),
            ("clients for 0 % gross margin (break-even)", b.clients_zero_margin),
            (f"clients for {b.target_margin_pct:g} % gross margin", b.clients_target_margin),
        ],
        header=False,
    )
    per_client = Section(
        "Infrastructure cost per client at today's mix (-: this mix never lands on the tier)",
        ("tier", "clients from", "clients to", "infra EUR", "EUR per client", "down to EUR"),
        [
            (
                row.infra_tier,
                row.clients_from,
                row.clients_to,
                row.infra_eur,
                row.cost_per_client_eur_from,
                row.cost_per_client_eur_to,
            )
            for row in b.cost_per_client
        ],
    )
    return [summary, per_client]


# --- the report ----------------------------------------------------------------------------


def analysis_report(a: Analysis) -> Report:
    p = a.projection
    report = projection_report(p)
    result = dict(report.data)
    sections = list(report.sections)
    notes = list(report.notes)
    charts: list[Callable[[Console], RenderableType]] = []
    if report.chart is not None:
        charts.append(report.chart)
    if a.measured_growth:
        with_growth(result, notes, a.measured_growth)
    if a.notes:
        result["notes"] = list(a.notes)
        notes[-1:-1] = [f"note: {n}" for n in a.notes]
    if a.calibration is not None:
        with_calibration(result, notes, a.calibration)
        sections += calibration_sections(a.calibration)
    if a.break_even is not None:
        result["break_even"] = data(a.break_even)
        sections += break_even_sections(a.break_even)
    if a.sensitivity is not None:
        s = a.sensitivity
        result["sensitivity"] = sensitivity_data(s)
        sections.append(sensitivity_section(s))
        charts.append(lambda console: tornado(s, console.width))
    if a.uncertainty is not None:
        u = a.uncertainty
        result.update(uncertainty_data(u))
        mids = {
            "disk_gb": p.totals.disk_gb,
            "db_size_gb": p.totals.db_size_gb,
            "egress_tb_per_month": p.totals.egress_tb_per_month,
            "monthly_cost_eur": p.costs.spend_eur,
            "gross_margin_pct": p.costs.gross_margin_pct,
        }
        sections += uncertainty_sections(u, mids)
        notes[-1] = "at the mids: " + notes[-1].removeprefix("=> ")
        notes.append(uncertainty_summary(u))
    chart = None
    if charts:

        def chart(console: Console) -> RenderableType:
            from rich.console import Group

            return Group(*(draw(console) for draw in charts))

    return Report(data=result, sections=sections, notes=notes, chart=chart, result=a)


def scenarios_report(scenarios: Sequence[Scenario], calibration: Calibration | None) -> Report:
    first = scenarios[0]
    rows: list[tuple[str, Callable[[Scenario], Any], str]] = [
        ("clients", lambda s: s.projection.totals.clients, "n"),
        ("products", lambda s: s.projection.totals.products, "n"),
        ("disk GB", lambda s: s.projection.totals.disk_gb, "n"),
        ("database GB", lambda s: s.projection.totals.db_size_gb, "n"),
        ("egress TB/month", lambda s: s.projection.totals.egress_tb_per_month, "n"),
        ("infrastructure tier", lambda s: s.projection.recommendation.tier.id, "t"),
        ("fits", lambda s: "yes" if s.fits else "no", "t"),
        ("revenue EUR", lambda s: s.projection.costs.revenue_eur, "n"),
        ("infrastructure EUR", lambda s: s.projection.costs.infra_eur, "n"),
        ("monthly cost EUR", lambda s: s.projection.costs.spend_eur, "n"),
        ("gross margin %", lambda s: s.projection.costs.gross_margin_pct, "n"),
        ("first transition month", lambda s: s.first_transition_month, "m"),
    ]
    names = [s.name for s in scenarios]
    diff_names = [f"{s.name} - {first.name}" for s in scenarios[1:]]
    table: list[Sequence[Cell]] = []
    for label, get, kind in rows:
        values = [get(s) for s in scenarios]
        diffs: list[Cell] = []
        for value in values[1:]:
            if kind == "t":
                diffs.append("same" if value == values[0] else f"{values[0]} -> {value}")
            elif value is None or values[0] is None:
                diffs.append("-")
            else:
                diffs.append(value - values[0])
        table.append((label, *values, *diffs))
    section = Section("Scenarios (ranges at their mids)", ("", *names, *diff_names), table)
    result = {
        "scenarios": [
            {
                "name": s.name,
                "mix": s.source,
                "totals": s.projection.totals,
                "infra_tier": s.projection.recommendation.tier.id,
                "fits": s.fits,
                "costs": s.projection.costs,
                "first_transition_month": s.first_transition_month,
            }
            for s in scenarios
        ],
        "difference": {
            name: {label: diff for (label, *_), diff in zip(table, column, strict=True)}
            for name, column in zip(
                diff_names,
                [[row[1 + len(names) + i] for row in table] for i in range(len(diff_names))],
                strict=True,
            )
        },
    }
    notes = [f"{s.name}: {s.source}" for s in scenarios]
    sections = [section]
    if calibration is not None:
        notes.append("")  # with_calibration puts its notes before the last one
        with_calibration(result, notes, calibration)
        notes.pop()
        sections += calibration_sections(calibration)
    return Report(data=result, sections=sections, notes=notes, result=scenarios)
