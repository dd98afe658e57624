"""`capplan project`: the seed's mixes, the recommendation, costs, growth, and bad mixes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import config
from capplan.config import Mix
from capplan.formulas import COUNT_TOTALS
from capplan.projection import profiles, project
from capplan.sizing import recommend
from capplan.timeline import month_by_month

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]
TIERS = config.load_tiers()
THRESHOLDS = config.load_thresholds()


def load(name: str) -> Mix:
    return config.load_mix(EXAMPLES / name, TIERS)


def test_multi_tier_mix_gives_the_seeds_totals() -> None:
    p = project(load("mix.yaml"), TIERS, THRESHOLDS)
    assert p.totals.clients == 1000
    assert p.totals.products == 440_000
    assert p.totals.orders_per_month == 700_000
    assert [line.products for line in p.lines] == [50_000, 90_000, 150_000, 150_000]
    assert [line.orders_per_month for line in p.lines] == [50_000, 150_000, 300_000, 200_000]


def test_multi_tier_mix_needs_enterprise_because_of_disk() -> None:
    r = project(load("mix.yaml"), TIERS, THRESHOLDS).recommendation
    assert r.tier.id == "enterprise"
    assert r.fits
    assert r.binding == "disk"
    rejected = {x.tier: x.reasons for x in r.rejected}
    assert rejected["scale"] == ("disk 2,007 GB > 1,400 GB, 70 % of 2,000 GB",)
    assert list(rejected) == ["starter", "small", "medium", "large", "scale"]
    # runway: 2,800 GB / 2,007.2 GB x 1,000 clients = 1,394 clients
    assert r.runway_clients == 394


def test_scale_target_gives_the_scale_projections() -> None:
    p = project(load("scale-target.yaml"), TIERS, THRESHOLDS)
    t = p.totals
    assert (t.products, t.translations, t.image_files) == (500_000, 2_000_000, 7_500_000)
    assert t.image_storage_gb == pytest.approx(1500)
    assert t.db_size_gb == pytest.approx(21)
    assert (t.orders_per_month, t.order_items_per_month) == (300_000, 750_000)
    assert t.api_requests_per_month == 300_000_000
    assert t.egress_tb_per_month == pytest.approx(3.15)
    assert p.costs.revenue_eur == 149_000


def test_scale_target_on_scale_reproduces_the_revenue_versus_cost_table() -> None:
    """The seed's table prices 1,000 Business clients on Scale: EUR 700-900 of infrastructure."""
    p = project(load("scale-target.yaml"), TIERS, THRESHOLDS, infra_tier="scale")
    c = p.costs
    assert (c.revenue_eur, c.infra_eur, c.infra_min_eur, c.infra_max_eur) == (
        149_000,
        700,
        500,
        900,
    )
    assert (c.support_eur, c.development_eur) == (3_000, 5_000)
    assert c.gross_margin_pct == pytest.approx(94.2, abs=0.05)
    # 1,521 GB on 2,000 GB is over the 70 % warning level: capplan says so
    assert not p.recommendation.fits
    assert "disk 1,521 GB > 1,400 GB" in p.recommendation.reason
    assert p.recommendation.smallest_fitting_tier == "enterprise"


def test_scale_target_recommendation_is_enterprise_on_disk() -> None:
    r = project(load("scale-target.yaml"), TIERS, THRESHOLDS).recommendation
    assert (r.tier.id, r.binding) == ("enterprise", "disk")


@pytest.mark.parametrize(
    ("clients", "tier"),
    [
        (1, "starter"),
        (50, "starter"),
        (51, "small"),
        (100, "small"),
        (101, "medium"),
        (500, "large"),
        (501, "scale"),
        (1000, "scale"),
        (1001, "enterprise"),
    ],
)
def test_max_clients_is_inclusive(clients: int, tier: str) -> None:
    assert recommend(TIERS.infrastructure_tiers, clients, 0, THRESHOLDS).tier.id == tier


def test_capacity_thresholds_have_statuses() -> None:
    statuses = {s.metric: s.status for s in project(load("mix.yaml"), TIERS, THRESHOLDS).capacity}
    assert statuses == {
        "products_total": "WARNING",
        "storage_gb": "CRITICAL",
        "db_size_gb": "CRITICAL",
    }


def test_growth_timeline_and_events() -> None:
    p = project(load("growing.yaml"), TIERS, THRESHOLDS, months=36)
    assert [m.month for m in p.timeline] == list(range(37))
    assert p.timeline[0].clients == 40
    tiers = [m.infra_tier for m in p.timeline]
    transitions = [e for e in p.events if e.kind == "transition"]
    assert [(e.from_tier, e.to_tier) for e in transitions] == [
        ("starter", "small"),
        ("small", "medium"),
        ("medium", "large"),
    ]
    for event in transitions:
        assert tiers[event.month - 1] == event.from_tier
        assert tiers[event.month] == event.to_tier
    first = transitions[0]
    assert (first.trigger, first.action) == ("SQLite becomes bottleneck", "Migrate to PostgreSQL")
    assert first.cost_increase_eur is not None
    assert (first.cost_increase_eur.min, first.cost_increase_eur.max) == (40, 60)


def test_a_jump_over_tiers_lists_every_transition() -> None:
    mix = Mix.model_validate({"tiers": {"essential": {"clients": 40, "growth": "400%"}}})
    p = project(mix, TIERS, THRESHOLDS, months=2)
    steps = [(e.month, e.from_tier, e.to_tier) for e in p.events if e.kind == "transition"]
    assert steps[:3] == [(1, "starter", "small"), (1, "small", "medium"), (2, "medium", "large")]


def test_threshold_crossings_are_events() -> None:
    mix = Mix.model_validate(
        {"tiers": {"business": {"clients": 150, "products": 1000, "growth": "10%"}}}
    )
    p = project(mix, TIERS, THRESHOLDS, months=24)
    crossings = {
        (e.what.split()[0], e.level): e.month
        for e in p.events
        if e.kind == "threshold" and e.level is not None
    }
    for (metric, level), month in crossings.items():
        limit = THRESHOLDS.capacity[metric].level(level)
        value = {
            "products_total": "products",
            "storage_gb": "image_storage_gb",
            "db_size_gb": "db_size_gb",
        }[metric]
        assert getattr(p.timeline[month], value) > limit
        assert getattr(p.timeline[month - 1], value) <= limit
    assert ("products_total", "warning") in crossings


def test_growth_option_replaces_the_mix_growth_but_not_a_tiers_own() -> None:
    mix = load("growing.yaml")
    flat = project(mix, TIERS, THRESHOLDS, growth=0.0, months=12)
    business_only = [m.clients for m in flat.timeline]
    assert business_only[0] == 40
    # essential and professional stay flat at 37; business grows 8 % a month on its own
    assert business_only[12] == 37 + round(3 * 1.08**12)


def test_unknown_infra_tier_is_an_error(run: Run) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--infra-tier", "huge")
    assert result.exit_code == 2
    assert "unknown infrastructure tier; expected one of: starter, small" in result.stderr


# --- properties ---------------------------------------------------------------------------

client_counts = st.integers(min_value=0, max_value=3000)


def mix_of(counts: list[int]) -> Mix:
    names = ["essential", "professional", "business", "enterprise"]
    rows = {
        name: {
            "clients": n,
            "products": 100 * (i + 1),
            "orders_per_month": 100,
            "api_requests_per_day": 1000,
        }
        for i, (name, n) in enumerate(zip(names, counts, strict=True))
    }
    return Mix.model_validate({"tiers": rows})


def tier_rank(p_tier: str) -> int:
    return [t.id for t in TIERS.infrastructure_tiers].index(p_tier)


@settings(max_examples=60, deadline=None)
@given(st.lists(client_counts, min_size=4, max_size=4), st.integers(0, 4), st.integers(1, 500))
def test_more_clients_never_gives_a_smaller_tier(counts: list[int], which: int, extra: int) -> None:
    which = min(which, 3)
    more = list(counts)
    more[which] += extra
    small = project(mix_of(counts), TIERS, THRESHOLDS).recommendation.tier.id
    large = project(mix_of(more), TIERS, THRESHOLDS).recommendation.tier.id
    assert tier_rank(large) >= tier_rank(small)


@settings(max_examples=40, deadline=None)
@given(st.lists(client_counts, min_size=4, max_size=4), st.integers(-10, 30), st.integers(0, 36))
def test_month_zero_equals_the_static_projection(counts: list[int], rate: int, months: int) -> None:
    mix = mix_of(counts)
    static = project(mix, TIERS, THRESHOLDS)
    grown = project(mix, TIERS, THRESHOLDS, growth=rate / 100, months=months)
    first = grown.timeline[0]
    assert first.clients == static.totals.clients
    assert first.products == static.totals.products
    assert first.image_storage_gb == static.totals.image_storage_gb
    assert first.db_size_gb == static.totals.db_size_gb
    assert first.egress_tb_per_month == static.totals.egress_tb_per_month
    assert first.infra_tier == static.recommendation.tier.id
    assert first.infra_eur == static.costs.infra_eur
    assert len(grown.timeline) == months + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(client_counts, min_size=4, max_size=4), st.integers(-20, 50))
def test_costs_are_never_negative(counts: list[int], rate: int) -> None:
    p = project(mix_of(counts), TIERS, THRESHOLDS, growth=rate / 100, months=12)
    c = p.costs
    for value in (c.revenue_eur, c.infra_eur, c.support_eur, c.development_eur):
        assert value >= 0
    assert c.cost_per_client_eur is None or c.cost_per_client_eur >= 0
    assert all(b.cost >= 0 for b in c.bandwidth)
    assert all(m.infra_eur >= 0 and m.revenue_eur >= 0 for m in p.timeline)


@settings(max_examples=30, deadline=None)
@given(st.lists(client_counts, min_size=4, max_size=4))
def test_same_input_same_output(counts: list[int]) -> None:
    assert project(mix_of(counts), TIERS, THRESHOLDS, months=6) == project(
        mix_of(counts), TIERS, THRESHOLDS, months=6
    )


# --- the CLI and bad mixes ------------------------------------------------------------------


def test_project_json_contract(run: Run) -> None:
    result = run(
        "project",
        "--mix",
        EXAMPLES / "mix.yaml",
        "--growth",
        "5%",
        "--months",
        "12",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"totals", "recommendation", "costs", "assumptions", "timeline", "events"} <= set(data)
    assert {"infra_tier", "binding", "rejected"} <= set(data["recommendation"])
    assert {
        "revenue_eur",
        "infra_eur",
        "support_eur",
        "development_eur",
        "cost_per_client_eur",
        "gross_margin_pct",
    } <= set(data["costs"])
    assert {
        "month",
        "clients",
        "products",
        "image_storage_gb",
        "db_size_gb",
        "egress_tb_per_month",
        "infra_tier",
        "infra_eur",
    } <= set(data["timeline"][0])
    assert len(data["timeline"]) == 13
    for event in data["events"]:
        assert event["kind"] in ("transition", "threshold", "outgrown")
        assert "month" in event and "what" in event
        if event["kind"] == "transition":
            assert "from" in event and "to" in event
        elif event["kind"] == "threshold":
            assert "level" in event
        else:  # 1,000 clients at 5 % a month outgrow Enterprise's disk in month 7
            assert (event["month"], event["from"]) == (7, "enterprise")
    assert data["assumptions"]["orders_retained_months"] == 1


def test_project_table_tells_the_story(run: Run) -> None:
    result = run("project", "--mix", EXAMPLES / "growing.yaml")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in (
        "Tier mix",
        "Totals",
        "Capacity thresholds",
        "Recommended infrastructure: Starter",
        "Monthly costs",
        "Gross margin",
        "Bandwidth",
        "Events",
        "Migrate to PostgreSQL",
        "Growth by month",
        "runway",
    ):
        assert text in out, text
    assert out.count("\n") > 40


def test_set_applies_to_projections(run: Run) -> None:
    base = json.loads(run("project", "--mix", EXAMPLES / "mix.yaml", "-f", "json").stdout)
    what_if = json.loads(
        run(
            "project",
            "--mix",
            EXAMPLES / "mix.yaml",
            "-f",
            "json",
            "--set",
            "assumptions.avg_image_kb=300",
        ).stdout
    )
    assert what_if["totals"]["image_storage_gb"] == pytest.approx(
        base["totals"]["image_storage_gb"] * 1.5
    )


def test_above_plan_limit_is_a_warning_not_an_error(run: Run, write: Write) -> None:
    path = write("mix.yaml", "tiers:\n  essential: {clients: 10, products: 900}\n")
    result = run("project", "--mix", path, "--format", "json")
    assert result.exit_code == 0
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings == ["essential: products 900 is above the Essential plan's limit of 200"]
    assert "warning: essential: products 900" in run("project", "--mix", path).stdout


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "tiers:\n  gold: {clients: 3}\n",
            2,
            "tiers.gold: unknown pricing tier 'gold'; expected one of: essential, professional, "
            "business, enterprise",
        ),
        (
            "tiers:\n  enterprise: {clients: 3, orders_per_month: 5, api_requests_per_day: 1}\n",
            2,
            "tiers.enterprise.products: the Enterprise plan has no limit on products, "
            "so the mix must give it",
        ),
        (
            "tiers:\n  essential: {clients: -3}\n",
            2,
            "tiers.essential.clients: expected a number >= 0, got -3",
        ),
        (
            "tiers:\n  essential:\n    clients: 3\n    color: red\n",
            4,
            "tiers.essential.color: unknown key",
        ),
        (
            "tiers:\n  essential: {clients: 3}\ngrowth: 5\n",
            3,
            "growth: expected a monthly percentage such as 5%",
        ),
        ("tiers: {}\n", 1, "tiers: expected at least 1 item(s)"),
        ("tiers:\n  essential: {clients: [3\n", 3, "invalid YAML"),
    ],
)
def test_bad_mix_is_one_line_exit_2(
    run: Run, write: Write, text: str, line: int, expected: str
) -> None:
    path = write("mix.yaml", text)
    result = run("project", "--mix", path)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"capplan project: error: {path}:{line}: ")
    assert expected in result.stderr


def test_missing_mix_file(run: Run) -> None:
    result = run("project", "--mix", "absent.yaml")
    assert result.exit_code == 2
    assert result.stderr == "capplan project: error: absent.yaml: file not found\n"


def test_bad_growth_option(run: Run) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--growth", "fast")
    assert result.exit_code == 2
    assert "expected a monthly percentage such as 5%" in result.stderr


# --- a tier that does not fit, forced or the largest ------------------------------------------


@pytest.mark.parametrize(
    ("mix", "forced", "fits", "chosen_by", "over", "instead"),
    [
        (
            "scale-target.yaml",
            "scale",
            False,
            "--infra-tier",
            "disk 1,521 GB > 1,400 GB",
            "enterprise",
        ),
        (
            "scale-target.yaml",
            "large",
            False,
            "--infra-tier",
            "clients 1,000 > 500 max",
            "enterprise",
        ),
        ("mix.yaml", "starter", False, "--infra-tier", "clients 1,000 > 50 max", "enterprise"),
        ("huge", "medium", False, "--infra-tier", "disk 54,510 GB > 350 GB", None),
        ("huge", None, False, "largest tier: none fits", "disk 54,510 GB > 2,800 GB", None),
        ("scale-target.yaml", "enterprise", True, "--infra-tier", None, "enterprise"),
        ("mix.yaml", None, True, "smallest tier that fits", None, None),
    ],
)
def test_a_tier_that_does_not_fit_says_so_once(
    run: Run,
    write: Write,
    mix: str,
    forced: str | None,
    fits: bool,
    chosen_by: str,
    over: str | None,
    instead: str | None,
) -> None:
    path = (
        write(
            "huge.yaml",
            "tiers:\n  enterprise: {clients: 3000, products: 3000, "
            "orders_per_month: 4000, api_requests_per_day: 5000}\n",
        )
        if mix == "huge"
        else EXAMPLES / mix
    )
    args = ["project", "--mix", path, *(["--infra-tier", forced] if forced else [])]
    table = run(*args)
    assert table.exit_code == 0, table.stderr
    result = run(*args, "--format", "json")
    r = json.loads(result.stdout)["recommendation"]
    assert (r["fits"], r["chosen_by"]) == (fits, chosen_by)
    assert ("smallest_fitting_tier" in r) == (forced is not None)
    if forced:
        assert r["smallest_fitting_tier"] == instead
    text = table.stdout.lower()
    if fits:
        assert "does not fit" not in text and "over its limit" not in text
        return
    assert text.count("does not fit") == 1, table.stdout
    assert "warning:" not in text
    assert over is not None and over in table.stdout
    summary = table.stdout[table.stdout.index("=> ") :]
    assert "does not fit" in summary
    if forced and instead:
        assert f"the smallest tier that fits is {instead}" in summary
    else:
        assert "split the platform or add a tier" in summary
    assert over.split()[0] in r["binding"]  # what the tier cannot hold, not why the one below


def test_a_growth_beyond_the_largest_tier_is_an_event_and_fits_false(
    run: Run, write: Write
) -> None:
    path = write(
        "mix.yaml",
        "tiers:\n  business: {clients: 400, products: 1000, orders_per_month: 2000}\ngrowth: 10%\n",
    )
    data = json.loads(run("project", "--mix", path, "--months", "24", "-f", "json").stdout)
    outgrown = [e for e in data["events"] if e["kind"] == "outgrown"]
    assert len(outgrown) == 1
    month = outgrown[0]["month"]
    assert outgrown[0]["what"] == "needs more than Enterprise: split the platform or add a tier"
    assert outgrown[0]["from"] == "enterprise"
    timeline = data["timeline"]
    assert all("fits" not in m for m in timeline[:month])
    assert all(m["fits"] is False for m in timeline[month:])
    # the month before still fits on Enterprise's disk, the month itself does not
    assert timeline[month - 1]["image_storage_gb"] + timeline[month - 1]["db_size_gb"] <= 2800
    assert timeline[month]["image_storage_gb"] + timeline[month]["db_size_gb"] > 2800
    for fmt in ("table", "csv", "markdown"):
        assert "needs more than Enterprise" in run("project", "--mix", path, "-f", fmt).stdout


@pytest.mark.parametrize("growth", ["99%", "500%", "35%"])
def test_years_of_steep_growth_end_the_road_instead_of_overflowing(
    run: Run, write: Write, growth: str
) -> None:
    path = write("mix.yaml", f"tiers:\n  essential: {{clients: 5, growth: {growth}}}\n")
    result = run("project", "--mix", path, "--months", "1200", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [e["kind"] for e in data["events"]].count("outgrown") == 1
    last = data["timeline"][-1]
    assert last["fits"] is False and last["clients"] == 10**12  # the ceiling of any count


@pytest.mark.parametrize(("growth", "month"), [("500%", 15), ("100%", 37)])
def test_growth_that_reaches_the_ceiling_says_so(growth: str, month: int) -> None:
    mix = Mix.model_validate({"growth": growth, "tiers": {"essential": {"clients": 10}}})
    p = project(mix, TIERS, THRESHOLDS, months=60)
    assert any(f"from month {month} a plan's clients reach" in w for w in p.warnings), p.warnings
    assert max(m.clients for m in p.timeline) == 10**12
    calm = project(
        Mix.model_validate({"growth": "5%", "tiers": {"essential": {"clients": 10}}}),
        TIERS,
        THRESHOLDS,
        months=60,
    )
    assert not any("ceiling" in w for w in calm.warnings)


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        # each figure within the ceiling of any count, their product past 2**53
        (("project", "--mix", "{mix}"), "{mix}: products in total pass {exact}: check its figures"),
        (
            ("project", "--mix", str(EXAMPLES / "mix.yaml"), "--mix", "{mix}"),
            "{mix}: products in total pass {exact}: check its figures",
        ),
        (
            ("size", "--products", "1", "--clients", "999999", "--api-requests-per-day", "9" * 10),
            "api requests per month in total pass {exact}: check the figures given",
        ),
    ],
)
def test_totals_past_2_to_the_53_are_refused_not_printed_with_noise(
    run: Run, write: Write, command: tuple[str, ...], problem: str
) -> None:
    mix = write(
        "odd.yaml",
        "tiers:\n  enterprise: {clients: 999999, products: 9999999999, orders_per_month: 1, "
        "api_requests_per_day: 1}\n",
    )
    result = run(*(part.format(mix=mix) for part in command))
    assert (result.exit_code, result.stdout) == (2, "")
    exact = "9,007,199,254,740,992 (2**53, the most capplan counts to the unit)"
    assert result.stderr == f"capplan {command[0]}: error: {problem.format(exact=exact, mix=mix)}\n"


def test_a_timeline_whose_totals_pass_2_to_the_53_says_from_which_month() -> None:
    mix = Mix.model_validate(
        {
            "growth": "60%",
            "tiers": {
                "enterprise": {
                    "clients": 100,
                    "products": 999_999_999,
                    "orders_per_month": 10,
                    "api_requests_per_day": 10,
                }
            },
        }
    )
    p = project(mix, TIERS, THRESHOLDS, months=60)
    states = month_by_month(profiles(mix, TIERS, None), TIERS, THRESHOLDS.disk_threshold_pct, 60)
    passed = [max(getattr(s.totals, name) for name in COUNT_TOTALS) > 2**53 for s in states]
    first = passed.index(True)
    assert 0 < first < 60 and all(passed[first:])
    assert any(w.startswith(f"from month {first} a total passes") for w in p.warnings)
    assert [w for w in p.warnings if w.startswith("from month")] == sorted(
        (w for w in p.warnings if w.startswith("from month")),
        key=lambda w: int(w.split()[2]),
    )
