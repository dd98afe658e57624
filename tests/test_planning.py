"""`capplan project` for decisions: ranges and their sampling, the one model behind them."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import config
from capplan.config import Mix
from capplan.planning.engine import evaluate
from capplan.planning.inputs import gather
from capplan.planning.sampling import sample, triangular
from capplan.projection import project
from capplan.sizing import fit, fit_indexes

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]
TIERS = config.load_tiers()
THRESHOLDS = config.load_thresholds()
PLANS = ["essential", "professional", "business", "enterprise"]

BUSINESS_800_1200 = """\
# the seed's Scale Projections with 800 to 1,200 Business clients
tiers:
  business:
    clients: {low: 800, high: 1200}
    products: 500
    images_per_product: 5
    orders_per_month: 300
    api_requests_per_day: 10000
    price_eur: 149
"""


def mix_of(rows: dict[str, dict[str, Any]], growth: Any = None) -> Mix:
    return Mix.model_validate({"tiers": rows, **({"growth": growth} if growth else {})})


def static_rows(counts: list[int]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "clients": n,
            "products": 100 * (i + 1),
            "orders_per_month": 100 + 50 * i,
            "api_requests_per_day": 1000,
        }
        for i, (name, n) in enumerate(zip(PLANS, counts, strict=True))
    }


def at(rows: dict[str, dict[str, Any]], which: str) -> dict[str, dict[str, Any]]:
    """Every range of the rows replaced by its low or its high."""
    return {
        plan: {k: v[which] if isinstance(v, dict) else v for k, v in row.items()}
        for plan, row in rows.items()
    }


# --- one model: the sampled path is the static one ------------------------------------------


@settings(max_examples=40)
@given(
    st.lists(st.integers(0, 3000), min_size=4, max_size=4),
    st.integers(-10, 30),
    st.integers(0, 36),
)
def test_the_engine_at_mids_is_the_static_projection(
    counts: list[int], rate: int, months: int
) -> None:
    mix = mix_of(static_rows(counts), f"{rate}%")
    p = project(mix, TIERS, THRESHOLDS, months=months)
    inputs = gather(mix, TIERS)
    values = {item.name: item.value for item in inputs.items}
    outcome = evaluate(inputs, values, TIERS, THRESHOLDS, months)
    assert float(outcome.disk_gb) == p.totals.disk_gb
    assert float(outcome.db_size_gb) == p.totals.db_size_gb
    assert float(outcome.egress_tb_per_month) == p.totals.egress_tb_per_month
    assert float(outcome.monthly_cost_eur) == p.costs.spend_eur
    ids = [tier.id for tier in TIERS.infrastructure_tiers]
    assert ids[int(outcome.tier_index)] == p.recommendation.tier.id
    assert outcome.horizon is not None
    last = p.timeline[-1]
    assert float(outcome.horizon.disk_gb) == last.disk_gb
    assert ids[int(outcome.horizon.tier_index)] == last.infra_tier
    for index, tier in enumerate(ids):  # the month each tier is first needed
        month = next((m.month for m in p.timeline if ids.index(m.infra_tier) >= index), None)
        first = float(outcome.first_month[index])
        assert (None if first == float("inf") else int(first)) == month, tier


@settings(max_examples=200)
@given(
    st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=30),
    st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=30),
)
def test_the_vectorised_fit_is_the_fit(clients: list[float], disks: list[float]) -> None:
    size = min(len(clients), len(disks))
    c, d = np.array(clients[:size]), np.array(disks[:size])
    pct = THRESHOLDS.disk_threshold_pct
    index, fits = fit_indexes(TIERS.infrastructure_tiers, c, d, pct)
    for i in range(size):
        one = fit(TIERS.infrastructure_tiers, c[i], d[i], pct)
        assert (int(index[i]), bool(fits[i])) == (one.index, one.fits)


def test_triangular_quantiles_are_the_textbook_ones() -> None:
    u = np.array([0.0, 0.25, 0.5, 1.0])
    values = triangular(u, 800, 1000, 1200)
    # F(x) = (x - 800)^2 / (400 x 200) below the mode: F(x) = 0.25 at x = 800 + sqrt(20,000)
    assert values.tolist() == pytest.approx([800, 800 + 20_000**0.5, 1000, 1200])


# --- ranges -----------------------------------------------------------------------------------

RANGED = {
    "essential": {
        "clients": {"low": 300, "mid": 500, "high": 700},
        "products": {"low": 80, "high": 150},
        "orders_per_month": 100,
    },
    "business": {
        "clients": {"low": 100, "high": 220},
        "products": 1000,
        "orders_per_month": {"low": 1500, "mid": 2000, "high": 2600},
        "price_eur": {"low": 129, "high": 199},
    },
}


def test_a_range_collapsed_to_one_value_gives_exactly_the_static_projection() -> None:
    collapsed = {
        plan: {k: {"low": v, "high": v} for k, v in row.items()}
        for plan, row in static_rows([500, 300, 150, 50]).items()
    }
    ranged = mix_of(collapsed, {"low": "6%", "high": "6%"})
    p = project(mix_of(static_rows([500, 300, 150, 50]), "6%"), TIERS, THRESHOLDS, months=24)
    u = sample(gather(ranged, TIERS), TIERS, THRESHOLDS, samples=500, months=24)
    for name, value in (
        ("disk_gb", p.totals.disk_gb),
        ("db_size_gb", p.totals.db_size_gb),
        ("egress_tb_per_month", p.totals.egress_tb_per_month),
        ("monthly_cost_eur", p.costs.spend_eur),
        ("gross_margin_pct", p.costs.gross_margin_pct),
    ):
        m = u.metrics[name]
        assert m.p10 == m.p50 == m.p90 == pytest.approx(value, rel=1e-12), name
    assert u.tier_probability[p.recommendation.tier.id] == 1
    upward = [e for e in p.events if e.kind == "transition"]
    assert [(t.to, t.probability, t.month_p10, t.month_p90) for t in u.transitions] == [
        (e.to_tier, 1.0, e.month, e.month) for e in upward
    ]


def test_percentiles_are_ordered_and_between_all_low_and_all_high() -> None:
    mix = mix_of(RANGED)
    low = project(mix_of(at(RANGED, "low")), TIERS, THRESHOLDS)
    high = project(mix_of(at(RANGED, "high")), TIERS, THRESHOLDS)
    u = sample(gather(mix, TIERS), TIERS, THRESHOLDS, samples=4000, seed=3)
    for name, lowest, highest in (
        ("disk_gb", low.totals.disk_gb, high.totals.disk_gb),
        ("db_size_gb", low.totals.db_size_gb, high.totals.db_size_gb),
        ("egress_tb_per_month", low.totals.egress_tb_per_month, high.totals.egress_tb_per_month),
        ("monthly_cost_eur", low.costs.spend_eur, high.costs.spend_eur),
    ):
        m = u.metrics[name]
        assert m.p10 is not None and m.p50 is not None and m.p90 is not None
        assert lowest <= m.p10 <= m.p50 <= m.p90 <= highest, name
    assert sum(u.tier_probability.values()) == pytest.approx(1)


ranges = st.tuples(st.integers(0, 2000), st.integers(0, 2000), st.integers(0, 2000)).map(sorted)


@settings(max_examples=25)
@given(ranges, ranges, st.integers(1, 1500), st.integers(0, 2**16))
def test_more_clients_never_lower_a_percentile(
    clients: list[int], products: list[int], more: int, seed: int
) -> None:
    def mix(shift: int) -> Mix:
        low, mid, high = (n + shift for n in clients)
        return mix_of(
            {
                "business": {
                    "clients": {"low": low, "mid": mid, "high": high},
                    "products": dict(zip(("low", "mid", "high"), products, strict=True)),
                    "orders_per_month": 100,
                }
            }
        )

    before = sample(gather(mix(0), TIERS), TIERS, THRESHOLDS, samples=300, seed=seed)
    after = sample(gather(mix(more), TIERS), TIERS, THRESHOLDS, samples=300, seed=seed)
    assert sum(before.tier_probability.values()) == pytest.approx(1)
    for name in ("disk_gb", "db_size_gb", "egress_tb_per_month", "monthly_cost_eur"):
        b, a = before.metrics[name], after.metrics[name]
        for q in ("p10", "p50", "p90"):
            assert getattr(a, q) >= getattr(b, q), (name, q)
    ids = [t.id for t in TIERS.infrastructure_tiers]
    assert ids.index(after.tier_p90) >= ids.index(before.tier_p90)


def test_the_seeds_business_case_gives_a_tier_table_to_check_by_hand(
    run: Run, write: Write
) -> None:
    """1,000 Business clients need 1.521 GB of disk each: Scale holds 1,400 GB (70 % of 2 TB),
    so n clients fit on Scale while n <= 920. With clients triangular(800, 1,000, 1,200),
    P(n <= 920) = P(x < 920.5) = (920.5 - 800)^2 / (400 x 200) = 0.1815; else Enterprise."""
    path = write("business.yaml", BUSINESS_800_1200)
    result = run("project", "--mix", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    probability = data["tier_probability"]
    assert set(probability) == {t.id for t in TIERS.infrastructure_tiers}
    assert probability["scale"] == pytest.approx(0.1815, abs=0.012)  # 3 standard errors
    assert probability["enterprise"] == pytest.approx(1 - probability["scale"])
    assert sum(probability.values()) == pytest.approx(1)
    assert data["least_regret"] == {
        "infra_tier": "enterprise",
        "infra_tier_p50": "enterprise",
        "fits_probability": 1,
    }
    assert data["sampling"]["distribution"] == "triangular"
    assert data["sampling"]["ranges"] == [
        {"input": "business.clients", "low": 800, "mid": 1000, "high": 1200}
    ]
    disk = data["distribution"]["disk_gb"]
    assert disk["p10"] < disk["p50"] < disk["p90"]
    assert disk["p50"] == pytest.approx(1521, rel=0.01)
    assert set(data["distribution"]) == {
        "disk_gb",
        "db_size_gb",
        "egress_tb_per_month",
        "monthly_cost_eur",
        "gross_margin_pct",
    }
    table = run("project", "--mix", path).stdout
    assert "triangular" in table and "seed 0" in table
    assert "=> plan for enterprise" in table and "at the mids: Enterprise" in table


def test_the_same_seed_gives_the_same_output(run: Run, write: Write) -> None:
    path = write("business.yaml", BUSINESS_800_1200)
    args = ("project", "--mix", path, "--growth", "3%", "--format", "json", "--samples", "2000")
    first = run(*args, "--seed", "7").stdout
    assert first == run(*args, "--seed", "7").stdout
    assert first != run(*args, "--seed", "8").stdout
    assert json.loads(first)["sampling"]["seed"] == 7


def test_ranged_growth_gives_transition_probabilities_and_months(run: Run, write: Write) -> None:
    path = write(
        "growing.yaml",
        "growth: {low: 2%, mid: 6%, high: 10%}\n"
        "tiers:\n  essential: {clients: 25, products: 150, orders_per_month: 60}\n"
        "  business: {clients: 3, products: 1500, orders_per_month: 1200}\n",
    )
    data = json.loads(run("project", "--mix", path, "--months", "36", "-f", "json").stdout)
    transitions = {t["to"]: t for t in data["transitions"]}
    assert next(iter(transitions)) == "small"
    for t in transitions.values():
        assert 0 < t["probability"] <= 1
        months = [t["month_p10"], t["month_p50"], t["month_p90"]]
        known = [m for m in months if m is not None]
        assert known == sorted(known) and all(1 <= m <= 36 for m in known)
    assert transitions["small"]["probability"] == 1  # even at 2 % a month, 28 clients double
    # a later tier is never more likely, nor sooner, than an earlier one
    ordered = list(transitions.values())
    for earlier, later in itertools.pairwise(ordered):
        assert later["probability"] <= earlier["probability"]


def test_steep_ranged_growth_does_not_overflow(run: Run, write: Write) -> None:
    path = write(
        "mix.yaml",
        "tiers:\n  essential: {clients: {low: 0, high: 9}, growth: {low: -50%, high: 300%}}\n",
    )
    result = run("project", "--mix", path, "--months", "1200", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no numpy warning either
    outgrown = json.loads(result.stdout)["outgrown"]
    assert 0 < outgrown["probability"] < 1


def test_a_static_mix_does_not_import_numpy(tmp_path: Path) -> None:
    code = (
        "import sys; from capplan.cli import main; sys.argv = ['capplan', 'project', '--mix', "
        f"{str(EXAMPLES / 'growing.yaml')!r}, '-o', 'out.json', '-f', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('numpy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert (tmp_path / "out.json").is_file(), result.stderr
    assert result.stdout.strip() == "False"


# --- --require-fit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "extra", "code"),
    [
        ("tiers:\n  business: {clients: 400, products: 1000}\ngrowth: 10%\n", [], 1),
        ("tiers:\n  business: {clients: 400, products: 1000}\ngrowth: 10%\n", ["--months", "2"], 0),
        ("tiers:\n  business: {clients: 3000, products: 3000}\n", [], 1),
        ("tiers:\n  business: {clients: 30, products: 300}\n", ["--infra-tier", "scale"], 0),
        ("tiers:\n  business: {clients: 300, products: 300}\n", ["--infra-tier", "starter"], 1),
        ("tiers:\n  business: {clients: {low: 10, high: 3000}, products: 300}\n", [], 1),
        ("tiers:\n  business: {clients: {low: 10, high: 30}, products: 300}\n", [], 0),
    ],
)
def test_require_fit_exits_1_when_the_plan_does_not_fit(
    run: Run, write: Write, text: str, extra: list[str], code: int
) -> None:
    path = write("mix.yaml", text)
    assert run("project", "--mix", path, *extra).exit_code == 0
    gated = run("project", "--mix", path, *extra, "--require-fit")
    assert gated.exit_code == code, gated.stdout[-400:]
    assert "=> " in gated.stdout  # the report is printed either way


# --- bad ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "tiers:\n  essential: {clients: {low: -4, high: 650}}\n",
            2,
            "tiers.essential.clients.low: expected a number >= 0, got -4",
        ),
        (
            "tiers:\n  essential: {clients: {low: 700, high: 650}}\n",
            2,
            "tiers.essential.clients: expected low <= high, got 700 and 650",
        ),
        (
            "tiers:\n  essential:\n    clients: {low: 7, mid: 1, high: 650}\n",
            3,
            "tiers.essential.clients: expected low <= mid <= high, got 7, 1, 650",
        ),
        (
            "growth: {low: 8%, mid: 5%, high: 10%}\ntiers:\n  essential: {clients: 5}\n",
            1,
            "growth: expected low <= mid <= high, got 8%, 5%, 10%",  # as written, not 0.08
        ),
        (
            "tiers:\n  essential:\n    clients:\n      low: 4\n      top: 650\n",
            5,
            "tiers.essential.clients.top: unknown key in a range; expected low, mid (optional)",
        ),
        (
            "tiers:\n  essential: {clients: {low: 4}}\n",
            2,
            "tiers.essential.clients.high: a range needs low and high",
        ),
        (
            "tiers:\n  essential: {clients: 3, price_eur: {low: 1, high: true}}\n",
            2,
            "tiers.essential.price_eur.high: expected a number, not true",
        ),
        (
            "tiers:\n  essential: {clients: 3}\ngrowth: {low: 1%, high: 5}\n",
            3,
            "growth.high: expected a monthly percentage such as 5%",
        ),
    ],
)
def test_a_bad_range_is_one_line_naming_file_line_and_key(
    run: Run, write: Write, text: str, line: int, expected: str
) -> None:
    path = write("mix.yaml", text)
    result = run("project", "--mix", path)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"capplan project: error: {path}:{line}: ")
    assert expected in result.stderr


# --- ranges given with --set ----------------------------------------------------------------


def test_set_takes_a_range_of_an_assumption_or_a_plans_figure(run: Run) -> None:
    result = run(
        "project",
        "--mix",
        EXAMPLES / "mix.yaml",
        "--set",
        "assumptions.avg_image_kb={low: 140, high: 260}",
        "--set",
        "pricing_tiers.professional.images_per_product={low: 3, mid: 5, high: 9}",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["input"] for r in data["sampling"]["ranges"]] == [
        "professional.images_per_product",
        "assumptions.avg_image_kb",
    ]
    assert data["assumptions"]["avg_image_kb"] == 200  # the mid, for the projection at mids
    disk = data["distribution"]["disk_gb"]
    assert disk["p10"] < data["totals"]["image_storage_gb"] + data["totals"]["db_size_gb"]
    assert disk["p90"] > disk["p50"]


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("assumptions.avg_image_kb={low: 300, high: 100}", "expected low <= high"),
        ("assumptions.avg_image_kb={low: -1, high: 100}", "low: expected a number >= 0"),
        ("scaling_triggers.cpu_percent.warning={low: 60, high: 70}", "a range {low, mid, high}"),
        ("assumptions.languages={low: 2, high: 6}", "a range of languages moves no figure"),
    ],
)
def test_a_bad_range_in_set_names_the_set(run: Run, assignment: str, expected: str) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--set", assignment)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan project: error: --set {assignment}: ")
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
