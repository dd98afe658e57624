"""The Key Formulas against the seed's own numbers, and the rules they obey for every input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan import formulas
from capplan.config import Assumptions, load_tiers
from capplan.formulas import Demand

A = load_tiers().assumptions


def scale_projection() -> Demand:
    """The seed's Scale Projections: 1,000 clients x 500 products, 5 images, 300 orders, 10K API."""
    return Demand(
        clients=1000,
        products=500_000,
        product_images=500_000 * 5,
        orders_per_month=300_000,
        api_requests_per_day=1000 * 10_000,
    )


def test_scale_projection_reproduces_the_seed() -> None:
    totals = formulas.totals(scale_projection(), A)
    assert totals.translations == 2_000_000
    assert totals.image_files == 7_500_000
    assert totals.image_storage_gb == pytest.approx(1500)
    assert totals.db_size_gb == pytest.approx(21)
    assert totals.order_items_per_month == 750_000
    assert totals.api_requests_per_month == 300_000_000
    assert totals.egress_tb_per_month == pytest.approx(3.15)


def test_egress_parts_match_the_bandwidth_table() -> None:
    assert formulas.image_egress_tb(500_000, A) == pytest.approx(2.5)
    assert formulas.api_egress_tb(300_000_000, A) == pytest.approx(0.6)
    assert formulas.static_egress_tb(A) == pytest.approx(0.05)


def test_gross_margin_of_the_seed_line_items() -> None:
    margin = formulas.gross_margin_pct(149_000, 700 + 3_000 + 5_000)
    assert margin == pytest.approx(94.16, abs=0.01)
    assert formulas.gross_margin_pct(0, 100) is None


def test_bandwidth_cost_per_provider() -> None:
    providers = {p.id: p for p in load_tiers().bandwidth_providers}
    assert formulas.bandwidth_cost(3.15, providers["hetzner"]) == pytest.approx(2.15)
    assert formulas.bandwidth_cost(3.15, providers["aws"]) == pytest.approx(90 + 2.15 * 85)
    assert formulas.bandwidth_cost(0.5, providers["digitalocean"]) == 0
    assert formulas.bandwidth_cost(100, providers["cloudflare"]) == 0


def test_explain_shows_inputs_beside_results() -> None:
    demand = scale_projection()
    text = formulas.explain(demand, formulas.totals(demand, A), A)
    assert text["image_files"] == "500,000 products x 5 images x 3 variants"
    assert "0.00003" in text["db_size_gb"]


counts = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


def demand(products: float, images: float, orders: float, requests: float) -> Demand:
    return Demand(
        clients=1,
        products=products,
        product_images=products * images,
        orders_per_month=orders,
        api_requests_per_day=requests,
    )


@given(counts, st.floats(0, 100), counts, counts)
def test_every_total_is_non_negative(p: float, i: float, o: float, r: float) -> None:
    totals = formulas.totals(demand(p, i, o, r), A)
    for name in formulas.Totals.__dataclass_fields__:
        assert getattr(totals, name) >= 0, name


@given(counts, counts, st.floats(0, 100), counts, counts)
def test_totals_grow_with_products(p: float, extra: float, i: float, o: float, r: float) -> None:
    small = formulas.totals(demand(p, i, o, r), A)
    large = formulas.totals(demand(p + extra, i, o, r), A)
    for name in (
        "translations",
        "image_files",
        "image_storage_gb",
        "db_size_gb",
        "egress_tb_per_month",
    ):
        assert getattr(large, name) >= getattr(small, name), name


@given(counts, counts, counts)
def test_totals_grow_with_orders_and_requests(o: float, extra: float, r: float) -> None:
    small = formulas.totals(demand(1000, 3, o, r), A)
    more_orders = formulas.totals(demand(1000, 3, o + extra, r), A)
    more_requests = formulas.totals(demand(1000, 3, o, r + extra), A)
    assert more_orders.db_size_gb >= small.db_size_gb
    assert more_orders.order_items_per_month >= small.order_items_per_month
    assert more_requests.egress_tb_per_month >= small.egress_tb_per_month


@given(st.floats(0, 100), counts, counts)
def test_no_products_means_no_product_storage(i: float, o: float, r: float) -> None:
    totals = formulas.totals(demand(0, i, o, r), A)
    assert totals.translations == totals.image_files == totals.image_storage_gb == 0
    assert totals.db_size_gb == pytest.approx(o * A.db_gb_per_order)


def test_assumptions_are_the_seeds() -> None:
    assert (
        Assumptions(
            languages=4,
            image_variants=3,
            avg_image_kb=200,
            served_image_kb=500,
            image_views_per_product_per_month=10,
            api_response_kb=2,
            static_egress_gb_per_month=50,
            items_per_order=2.5,
            db_gb_per_product=0.00003,
            db_gb_per_order=0.00002,
            orders_retained_months=1,
            images_per_product=5,
            support_eur_per_month=3000,
            development_eur_per_month=5000,
        )
        == A
    )


@pytest.mark.parametrize(
    ("rate", "month", "expected"),
    [
        (0.05, 0, 1.0),
        (0.05, 12, 1.05**12),
        (-0.5, 3, 0.125),
        (0.99, 1200, 10**12),
        (4.0, 40, 10**12),
    ],
)
def test_growth_factor_compounds_up_to_the_ceiling(
    rate: float, month: int, expected: float
) -> None:
    assert formulas.growth_factor(rate, month) == expected
