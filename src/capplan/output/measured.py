"""`capplan project` on what the platform measured: calibration and the growth from a history.

Each adds its notes, its csv/markdown sections and its JSON keys to the projection's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.output.report import Section, data
from capplan.planning.calibration import Calibration

if TYPE_CHECKING:
    from capplan.planning.growth import MeasuredGrowth


# --- calibration ---------------------------------------------------------------------------


def calibration_notes(c: Calibration) -> list[str]:
    notes = [
        f"calibrated: {x.assumption}: "
        f"{'plan figure' if x.planned is None else f'{x.planned:.6g}'} -> {x.measured:.6g} "
        f"(from {x.source})"
        for x in c.changes
    ]
    return notes + [f"calibration kept as planned: {why}" for why in c.kept]


def calibration_sections(c: Calibration) -> list[Section]:
    """What calibration measured, and its warnings, for csv and markdown (the table shows
    the notes)."""
    sections = [
        Section(
            "Calibration",
            ("assumption", "planned", "measured", "source"),
            [(x.assumption, x.planned, x.measured, x.source) for x in c.changes],
            in_table=False,
        )
    ]
    if c.warnings:
        sections.append(
            Section("Warnings", ("warning",), [(w,) for w in c.warnings], in_table=False)
        )
    return sections


def with_calibration(result: dict[str, Any], notes: list[str], c: Calibration) -> None:
    """The calibration's JSON keys, its notes, and its warnings with the other warnings."""
    result["calibration"] = [data(x) for x in c.changes]
    if c.warnings:
        result["warnings"] = [*result.get("warnings", ()), *c.warnings]
    notes[-1:-1] = [f"warning: {w}" for w in c.warnings] + calibration_notes(c)


# --- growth from a history --------------------------------------------------------------------


def with_growth(
    result: dict[str, Any], notes: list[str], measured: Sequence[MeasuredGrowth]
) -> None:
    """The measured growth as JSON `measured_growth`, and a note for each plan."""
    from capplan.planning.growth import described

    result["measured_growth"] = [
        {
            "plan": m.plan,
            "points": m.points,
            "first": m.first,
            "last": m.last,
            "growth_pct": {
                "low": 100 * m.growth.low,
                "mid": 100 * m.growth.mid,
                "high": 100 * m.growth.high,
            },
            "churn_rate_pct": m.churn_pct,
        }
        for m in measured
    ]
    notes[-1:-1] = [described(m) for m in measured]
