"""The rules of `capplan project` that the README lists: whole numbers stay whole, counts are
rounded as written, and the two definitions (outgrown, first transition month) hold."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from capplan.planning.inputs import Input
from capplan.planning.sensitivity import bounds

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]


def project_json(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run("project", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@given(
    value=st.integers(min_value=0, max_value=10**9),
    swing=st.floats(min_value=0.001, max_value=0.99),
)
def test_a_whole_input_moves_to_whole_numbers_at_least_one_away(value: int, swing: float) -> None:
    low, high = bounds(Input("business.products", float(value), None, whole=True), swing)
    assert low.is_integer() and high.is_integer()
    assert 0 <= low <= value * (1 - swing) + 1e-6 and high >= value * (1 + swing) - 1e-6
    if value:
        assert low < value < high


def test_sensitivity_never_shows_a_fractional_count(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "scale-target.yaml", "--sensitivity")
    swings = {s["input"]: (s["low"], s["high"]) for s in data["sensitivity"]}
    assert swings["assumptions.image_variants"] == (2, 4)  # 3 -/+ 20 %, outward
    assert swings["assumptions.orders_retained_months"] == (0, 2)  # whole months
    assert swings["business.clients"] == (800, 1200)
    counts: tuple[str, ...] = ("clients", "products", "images_per_product", "orders_per_month")
    counts += ("api_requests_per_day", "image_variants", "orders_retained_months")
    whole = [name for name in swings if name.endswith(counts)]
    assert len(whole) == 7
    assert all(float(value).is_integer() for name in whole for value in swings[name])


def test_a_fractional_retention_moves_by_the_swing(run: Run) -> None:
    data = project_json(
        run,
        "--mix",
        EXAMPLES / "scale-target.yaml",
        "--sensitivity",
        "--set",
        "assumptions.orders_retained_months=1.5",
    )
    swings = {s["input"]: (s["low"], s["high"]) for s in data["sensitivity"]}
    assert swings["assumptions.orders_retained_months"] == (1.2, 1.8)


def test_timeline_counts_are_rounded_half_to_even_each_month(run: Run, write: Write) -> None:
    # 10 x 1.05 = 10.5 -> 10 and 30 x 1.05 = 31.5 -> 32: to the even neighbour, month by month
    for start, month_1 in ((10, 10), (30, 32)):
        mix = write("mix.yaml", f"growth: 5%\ntiers:\n  essential: {{clients: {start}}}\n")
        data = project_json(run, "--mix", mix, "--months", "2")
        assert data["timeline"][1]["clients"] == month_1


def test_sampled_client_counts_are_whole(write: Write) -> None:
    from capplan import config
    from capplan.planning.inputs import gather
    from capplan.planning.sampling import draw

    mix = config.load_mix(
        write("mix.yaml", "tiers:\n  essential: {clients: {low: 10, high: 13}}\n"),
        config.load_tiers(),
    )
    drawn = draw(gather(mix, config.load_tiers()).ranged, 2000, 0)
    clients = drawn["essential.clients"]
    assert set(clients.tolist()) <= {10.0, 11.0, 12.0, 13.0}
    assert len(set(clients.tolist())) == 4


def test_outgrown_probability_counts_the_samples_that_do_not_fit_today(
    run: Run, write: Write
) -> None:
    # no growth: a sample that outgrows the largest tier does so today, or never
    mix = write(
        "mix.yaml",
        "tiers:\n  business: {clients: {low: 1000, high: 4000}, products: 500, "
        "images_per_product: 5, orders_per_month: 300, api_requests_per_day: 10000}\n",
    )
    data = project_json(run, "--mix", mix, "--months", "6", "--samples", "2000")
    fits_today = data["least_regret"]["fits_probability"]
    assert 0 < fits_today < 1
    assert data["outgrown"]["probability"] == 1 - fits_today
    assert data["outgrown"]["month_p10"] == 0


def test_first_transition_month_counts_the_month_the_largest_tier_is_outgrown(
    run: Run, write: Write
) -> None:
    # on Enterprise today, outgrowing it within the horizon: no transition but the outgrown event
    text = (
        "growth: 10%\ntiers:\n  business: {clients: 1300, products: 500, images_per_product: 5,"
        " orders_per_month: 300, api_requests_per_day: 10000}\n"
    )
    a, b = write("a.yaml", text), write("b.yaml", text.replace("1300", "1400"))
    data = project_json(run, "--mix", a, "--mix", b)
    single = project_json(run, "--mix", a)
    outgrown = next(e["month"] for e in single["events"] if e["kind"] == "outgrown")
    assert not [e for e in single["events"] if e["kind"] == "transition"]
    assert data["scenarios"][0]["first_transition_month"] == outgrown


@given(
    products=st.floats(min_value=0, max_value=5000, allow_nan=False),
    images=st.floats(min_value=0, max_value=12, allow_nan=False),
    orders=st.floats(min_value=0, max_value=4000, allow_nan=False),
    clients=st.integers(min_value=0, max_value=3000),
    months=st.integers(min_value=0, max_value=24),
)
def test_measured_averages_give_the_same_figures_on_both_paths(
    products: float, images: float, orders: float, clients: int, months: int
) -> None:
    """A mix with fractional per-client averages: the numpy engine at its mids is the scalar
    projection (one model)."""
    import math

    from capplan import config
    from capplan.config import Mix
    from capplan.planning.engine import evaluate
    from capplan.planning.inputs import gather
    from capplan.projection import project

    tiers, thresholds = config.load_tiers(), config.load_thresholds()
    row = {"clients": clients, "products": products, "images_per_product": images}
    mix = Mix.model_validate({"tiers": {"business": row | {"orders_per_month": orders}}})
    p = project(mix, tiers, thresholds, growth=0.04, months=months)
    inputs = gather(mix, tiers, 0.04)
    values = {item.name: item.value for item in inputs.items}
    outcome = evaluate(inputs, values, tiers, thresholds, months)
    assert math.isclose(float(outcome.disk_gb), p.totals.disk_gb, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(float(outcome.db_size_gb), p.totals.db_size_gb, rel_tol=1e-12)
    assert outcome.horizon is not None
    last = p.timeline[-1]
    assert math.isclose(float(outcome.horizon.disk_gb), last.disk_gb, rel_tol=1e-12, abs_tol=1e-12)


def test_a_set_range_of_a_whole_assumption_is_sampled_in_whole_numbers(run: Run) -> None:
    from capplan import config
    from capplan.config.overrides import range_of
    from capplan.planning.analysis import set_ranges
    from capplan.planning.inputs import gather
    from capplan.planning.sampling import draw

    override = config.parse_override("assumptions.image_variants={low: 2, high: 4}")
    assert range_of(override) is not None
    assumptions, _ = set_ranges([override])
    mix = config.load_mix(EXAMPLES / "scale-target.yaml", config.load_tiers())
    drawn = draw(gather(mix, config.load_tiers(), None, assumptions).ranged, 1000, 0)
    assert set(drawn["assumptions.image_variants"].tolist()) == {2.0, 3.0, 4.0}
