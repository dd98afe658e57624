"""`capplan mix`: the mix measured from the live database, written as a mix.yaml.

The queries are the user's (`mix_queries` in thresholds.yaml, or a file of their own): each
returns rows of (pricing plan id, value). They pass the probe gate as check's business queries do
(check/gate: one plain query that calls nothing that could change anything, as a role that may
not write server files or signal other sessions), and run read-only within the statement
timeout.

The written file says where each figure came from (the query's key, the database as shown, its
secrets left out) and when; `capplan project --mix` reads it unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from capplan.check.targets import Database
from capplan.config import TiersConfig
from capplan.config.models import PLAN_FIGURES, MixQueries
from capplan.errors import CapplanError

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class MeasuredPlan:
    plan: str
    clients: int
    figures: dict[str, float] = field(default_factory=dict)  # per client, as measured
    unmeasured: dict[str, str] = field(default_factory=dict)  # figure -> why not


@dataclass(frozen=True, slots=True)
class MeasuredMix:
    source: str  # the database as shown: no password
    at: dt.datetime
    plans: tuple[MeasuredPlan, ...]
    notes: tuple[str, ...] = ()


def run_queries(
    target: Database, queries: Mapping[str, str], *, allow_privileged_role: bool = False
) -> dict[str, Rows]:
    """Every query's rows, each through the probe gate (check/gate) as check's business queries
    go: a query that is refused or fails is one line naming its key."""
    from capplan.check import gate
    from capplan.check.database import Unavailable

    try:
        with gate.reader(target, allow_privileged_role=allow_privileged_role) as read:
            return {key: read(sql, where=f"mix_queries.{key}") for key, sql in queries.items()}
    except Unavailable as error:
        raise CapplanError(f"--db {target.shown}: {target.scrub(str(error))}") from None


def _number(value: object) -> float | None:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return None


def _by_plan(key: str, rows: Rows, plans: set[str]) -> dict[str, float | None]:
    """(plan, value) rows as a mapping; a row of another shape, an unknown plan or a value that
    is not a number >= 0 is an error naming the query and the row."""
    found: dict[str, float | None] = {}
    for row in rows:
        if len(row) < 2:
            raise CapplanError(
                f"mix_queries.{key}: expected rows of (plan, value), got a row of {len(row)} "
                "column(s)"
            )
        plan, value = str(row[0]), row[1]
        if plan not in plans:
            raise CapplanError(
                f"mix_queries.{key}: unknown pricing plan {plan!r}; expected one of: "
                f"{', '.join(sorted(plans))}"
            )
        number = _number(value)
        if value is not None and (number is None or not math.isfinite(number) or number < 0):
            raise CapplanError(f"mix_queries.{key}: {plan}: expected a number >= 0, got {value!r}")
        if plan in found:
            raise CapplanError(f"mix_queries.{key}: plan {plan!r} in two rows; group by plan")
        found[plan] = number
    return found


def measure_mix(
    target: Database,
    queries: MixQueries,
    tiers: TiersConfig,
    *,
    now: dt.datetime | None = None,
    allow_privileged_role: bool = False,
) -> MeasuredMix:
    """The mix the database holds: clients per plan, and the per-client figures measured."""
    plans = {tier.id for tier in tiers.pricing_tiers}
    given = {key: sql for key, sql in queries.model_dump().items() if sql is not None}
    at = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = run_queries(target, given, allow_privileged_role=allow_privileged_role)
    clients = _by_plan("clients", rows["clients"], plans)
    figures = {key: _by_plan(key, rows[key], plans) for key in PLAN_FIGURES if key in given}
    measured = []
    notes = []
    for tier in tiers.pricing_tiers:  # in the order of tiers.yaml
        count = clients.get(tier.id)
        if count is None or count == 0:
            if tier.id in clients:
                notes.append(f"{tier.id}: no active clients; left out of the mix")
            continue
        if not count.is_integer():
            raise CapplanError(f"mix_queries.clients: {tier.id}: expected a whole count, {count}")
        plan = MeasuredPlan(tier.id, int(count))
        for key in PLAN_FIGURES:
            value = figures.get(key, {}).get(tier.id)
            if key not in given:
                plan.unmeasured[key] = "no query; the plan's figure applies"
            elif value is None:
                plan.unmeasured[key] = "the query gave nothing for this plan"
            else:
                plan.figures[key] = value
            if getattr(tier, key) is None and key not in plan.figures:
                raise CapplanError(
                    f"mix_queries.{key}: the {tier.name} plan has no limit on {key}, so the "
                    f"mix must give it, and the query gave none for {tier.id}"
                )
        measured.append(plan)
    if not measured:
        raise CapplanError("mix_queries.clients: no plan has active clients: no mix to write")
    return MeasuredMix(target.shown, at, tuple(measured), tuple(notes))


def _figure(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.10g}"


def mix_yaml(m: MeasuredMix, queries_from: str) -> str:
    """The mix as a mix.yaml whose comments say where each figure came from and when."""
    at = m.at.isoformat().replace("+00:00", "Z")
    lines = [
        f"# Measured by `capplan mix` from {m.source} at {at},",
        f"# with the queries of {queries_from} (mix_queries).",
        "# Per-client figures are averages over the plan's active clients, as measured;",
        "# a figure not measured is the plan's (tiers.yaml).",
        *(f"# note: {note}" for note in m.notes),
        "tiers:",
    ]
    for plan in m.plans:
        lines.append(f"  {plan.plan}:")
        lines.append(f"    clients: {plan.clients}  # mix_queries.clients")
        for key, value in plan.figures.items():
            lines.append(f"    {key}: {_figure(value)}  # mix_queries.{key}")
        for key, why in plan.unmeasured.items():
            lines.append(f"    # {key}: {why}")
    return "\n".join(lines) + "\n"


def load_queries(path: Path) -> MixQueries:
    """A file of the user's own: `mix_queries:` as in thresholds.yaml (see
    examples/measured/mix-queries.yaml)."""
    from capplan.config.document import read_yaml
    from capplan.config.models import Model
    from capplan.config.validation import validate

    class QueriesFile(Model):
        mix_queries: MixQueries

    return validate(QueriesFile, read_yaml(path)).mix_queries
