"""`capplan project`: sensitivity, break-even, calibration from measurements, scenarios."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capplan import config
from capplan.planning.breakeven import break_even
from capplan.projection import project
from capplan.sizing import fit

from .conftest import EXAMPLES, Run
from .images import jpeg, photo

Write = Callable[[str, str], Path]
TIERS = config.load_tiers()
THRESHOLDS = config.load_thresholds()


def project_json(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run("project", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --- sensitivity ----------------------------------------------------------------------------


def test_sensitivity_ranks_inputs_and_marks_those_that_change_the_tier(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "scale-target.yaml", "--sensitivity")
    swings = data["sensitivity"]
    assert isinstance(swings, list)
    by_input = {s["input"]: s for s in swings}
    clients = by_input["business.clients"]
    # 1,000 clients -/+ 20 %: 800 fit on Scale (1,217 GB of 1,400), 1,200 need Enterprise
    assert (clients["low"], clients["high"]) == (800, 1200)
    assert clients["infra_tier"] == ["scale", "enterprise"]
    assert clients["changes_tier"] is True
    assert clients["disk_gb"] == pytest.approx([1216.8, 1825.2])
    assert clients["monthly_cost_eur"] == [8700, 9800]
    kb = by_input["assumptions.avg_image_kb"]
    assert (kb["low"], kb["high"], kb["infra_tier"]) == (160, 240, ["scale", "enterprise"])
    price = by_input["business.price_eur"]  # revenue moves neither disk nor cost
    assert price["disk_gb"][0] == price["disk_gb"][1]
    assert price["changes_tier"] is False
    keys = [
        (
            abs(s["monthly_cost_eur"][1] - s["monthly_cost_eur"][0]),
            abs(s["disk_gb"][1] - s["disk_gb"][0]),
        )
        for s in swings
    ]
    assert keys == sorted(keys, reverse=True)
    assert {"input", "low", "high", "disk_gb", "monthly_cost_eur", "infra_tier"} <= set(clients)


def test_sensitivity_uses_a_range_and_the_swing_option(run: Run, write: Write) -> None:
    path = write(
        "mix.yaml",
        "tiers:\n  business: {clients: {low: 900, high: 1000}, products: 500,"
        " images_per_product: 5, orders_per_month: 300}\n",
    )
    data = project_json(run, "--mix", path, "--sensitivity", "--swing", "50%", "--seed", "1")
    by_input = {s["input"]: s for s in data["sensitivity"]}
    assert (by_input["business.clients"]["low"], by_input["business.clients"]["high"]) == (
        900,
        1000,
    )
    assert (by_input["business.products"]["low"], by_input["business.products"]["high"]) == (
        250,
        750,
    )


def test_swing_alone_asks_for_sensitivity(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "mix.yaml", "--swing", "10%")
    by_input = {s["input"]: s for s in data["sensitivity"]}
    assert (by_input["essential.clients"]["low"], by_input["essential.clients"]["high"]) == (
        450,
        550,
    )


def test_sensitivity_with_growth_is_measured_at_the_horizon(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "growing.yaml", "--sensitivity")
    by_input = {s["input"]: s for s in data["sensitivity"]}
    growth = by_input["business.growth"]
    assert growth["low"] == pytest.approx(0.064) and growth["high"] == pytest.approx(0.096)
    assert growth["disk_gb"][0] < growth["disk_gb"][1]  # growth matters at month 24
    table = run("project", "--mix", EXAMPLES / "growing.yaml", "--sensitivity").stdout
    assert "Sensitivity at month 24 (tornado" in table
    csv = run("project", "--mix", EXAMPLES / "growing.yaml", "--sensitivity", "-f", "csv").stdout
    assert "business.growth" in csv


@pytest.mark.parametrize("swing", ["0%", "100%", "fast", "-5%"])
def test_a_bad_swing_is_refused(run: Run, swing: str) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--sensitivity", "--swing", swing)
    assert result.exit_code == 2
    assert "--swing" in result.stderr and result.stderr.count("\n") == 1


# --- break-even -----------------------------------------------------------------------------


def test_break_even_of_the_scale_target_by_hand(run: Run) -> None:
    """EUR 149 a client, 1.521 GB of disk a client, EUR 8,000 of support and development.
    Zero margin: on Starter 8,030 / 149 = 53.9 -> 54 clients, but 54 x 1.521 = 82 GB is over
    Starter's 70 GB; on Small 8,080 / 149 = 54.2 -> 55 clients, which Small holds. 80 %: on
    Large (350) 8,350 / (149 x 0.2) = 280.2 -> 281 clients (427 GB, Large holds 700)."""
    data = project_json(run, "--mix", EXAMPLES / "scale-target.yaml", "--break-even")
    b = data["break_even"]
    assert isinstance(b, dict)
    assert (b["clients_zero_margin"], b["clients_target_margin"], b["target_margin_pct"]) == (
        55,
        281,
        80,
    )
    assert 281 * 149 - 8350 >= 0.8 * 281 * 149 and 280 * 149 - 8350 < 0.8 * 280 * 149


def test_break_even_target_margin_option(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "scale-target.yaml", "--target-margin", "90%")
    b = data["break_even"]
    assert isinstance(b, dict)
    # 90 %: on Scale (700): 8,700 / 14.9 = 583.9 -> 584 clients (888 GB; Scale holds 920)
    assert (b["clients_target_margin"], b["target_margin_pct"]) == (584, 90)


@pytest.mark.parametrize("mix", ["mix.yaml", "scale-target.yaml", "growing.yaml"])
def test_cost_per_client_rows_are_the_tiers_fit_chooses(mix: str) -> None:
    p = project(config.load_mix(EXAMPLES / mix, TIERS), TIERS, THRESHOLDS)
    b = break_even(p, TIERS)
    pct = THRESHOLDS.disk_threshold_pct
    infra = TIERS.infrastructure_tiers
    per_client = p.totals.disk_gb / p.totals.clients
    for row in b.cost_per_client:
        if row.clients_from is None:
            continue
        index = [t.id for t in infra].index(row.infra_tier)
        assert fit(infra, row.clients_from, row.clients_from * per_client, pct).index == index
        assert row.cost_per_client_eur_from == pytest.approx(row.infra_eur / row.clients_from)
        if row.clients_to is not None:
            end = row.clients_to
            assert fit(infra, end, end * per_client, pct).index == index
            after = fit(infra, end + 1, (end + 1) * per_client, pct)
            assert after.index > index or not after.fits
    for clients in (b.clients_zero_margin, b.clients_target_margin):
        assert clients is not None
        chosen = fit(infra, clients, clients * per_client, pct)
        margin = 1 - (chosen.tier.monthly_cost_eur.typical + b.fixed_eur) / (
            clients * b.revenue_per_client_eur
        )
        assert margin >= (0 if clients == b.clients_zero_margin else 0.8) - 1e-12


def test_break_even_table_reads(run: Run) -> None:
    out = run("project", "--mix", EXAMPLES / "mix.yaml", "--break-even").stdout
    assert "Break-even at today's mix" in out
    assert "Infrastructure cost per client at today's mix" in out
    assert "0 % gross margin (break-even)" in out


# --- calibration ----------------------------------------------------------------------------


@pytest.fixture
def measured(run: Run, tmp_path: Path) -> tuple[Path, Path]:
    """The JSON of a real `images stats` of a converted tree and a real `check --db`."""
    sources = tmp_path / "incoming"
    sources.mkdir()
    for seed in range(6):
        (sources / f"p{seed}.jpg").write_bytes(jpeg(photo(900 + 20 * seed, 700, seed)))
    converted = run("images", "convert", sources, tmp_path / "tree", "--workers", "1")
    assert converted.exit_code == 0, converted.stderr
    stats = tmp_path / "stats.json"
    result = run("images", "stats", tmp_path / "tree", "--format", "json", "-o", stats)
    assert result.exit_code == 0, result.stderr
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, vendor_id INT, body TEXT)")
        con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, vendor_id INT, total REAL)")
        con.executemany(
            "INSERT INTO products (vendor_id, body) VALUES (?, ?)",
            [(i % 5, "x" * 300) for i in range(2)],
        )
        con.executemany(
            "INSERT INTO orders (vendor_id, total) VALUES (?, ?)", [(i, 9.5) for i in range(40)]
        )
    check = tmp_path / "check.json"
    result = run("check", "--db", db, "--interval", "0", "--format", "json", "-o", check)
    assert check.is_file(), result.stderr
    return stats, check


def test_calibration_replaces_what_the_platform_measured(
    run: Run, measured: tuple[Path, Path]
) -> None:
    stats_path, check_path = measured
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    check = json.loads(check_path.read_text(encoding="utf-8"))
    data = project_json(
        run,
        "--mix",
        EXAMPLES / "growing.yaml",
        "--calibrate",
        stats_path,
        "--calibrate",
        check_path,
    )
    found = {c["assumption"]: c for c in data["calibration"]}
    files = sum(v["files"] for v in stats["variants"].values())
    stored = sum(v["bytes"] for v in stats["variants"].values())
    kb = found["assumptions.avg_image_kb"]
    assert (kb["planned"], kb["source"]) == (200, str(stats_path))
    assert kb["measured"] == pytest.approx(stored / files / 1000)
    assert data["assumptions"]["avg_image_kb"] == pytest.approx(stored / files / 1000)
    size = next(m["value"] for m in check["metrics"] if m["name"] == "db_size_gb")
    per_product = found["assumptions.db_gb_per_product"]["measured"]
    per_order = found["assumptions.db_gb_per_order"]["measured"]
    assert 2 * per_product + 40 * per_order == pytest.approx(size)  # 2 products, 40 orders
    assert per_order / per_product == pytest.approx(0.00002 / 0.00003)  # the planned proportion
    ipp = found["images_per_product (plans that do not set it)"]
    assert ipp["measured"] == 3  # 6 originals over 2 products
    lines = [t["images_per_product"] for t in data["tiers"]]
    assert lines == [3, 3, 3]  # growing.yaml leaves images per product to the plans
    table = run(
        "project",
        "--mix",
        EXAMPLES / "growing.yaml",
        "--calibrate",
        stats_path,
        "--calibrate",
        check_path,
    ).stdout
    assert f"assumptions.avg_image_kb: 200 -> {kb['measured']:.6g} (from {stats_path})" in table
    assert "calibration kept as planned: products per client" in table


def test_calibration_accepts_schema_qualified_tables_and_business_metrics(
    run: Run, write: Write
) -> None:
    metrics = [
        {"name": "db_size_gb", "value": 3.0, "labels": {"db": "shop"}},
        {"name": "table_rows", "value": 50_000, "labels": {"table": "public.products"}},
        {"name": "table_rows", "value": 0, "labels": {"table": "public.orders"}},
        {"name": "active_clients", "value": 200, "labels": {}},
    ]
    path = write("pg.json", json.dumps({"status": "OK", "metrics": metrics}))
    mix = write("mix.yaml", "tiers:\n  essential: {clients: 10, orders_per_month: 5}\n")
    data = project_json(run, "--mix", mix, "--calibrate", path)
    found = {c["assumption"]: c["measured"] for c in data["calibration"]}
    assert found["assumptions.db_gb_per_product"] == pytest.approx(3.0 / 50_000)
    assert found["products (per client, plans that do not set it)"] == 250
    assert data["tiers"][0]["products_per_client"] == 250


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "invalid JSON"),
        ('{"converted": 3}', "expected the JSON of 'capplan images stats"),
        ('{"variants": {"original": {"files": -1, "bytes": 3}}}', "variants.original"),
    ],
)
def test_a_bad_calibration_file_is_one_line(
    run: Run, write: Write, text: str, expected: str
) -> None:
    path = write("bad.json", text)
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--calibrate", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan project: error: {path}")
    assert expected in result.stderr and result.stderr.count("\n") == 1


# --- scenarios ------------------------------------------------------------------------------


def test_two_mixes_side_by_side_with_the_difference(run: Run) -> None:
    data = project_json(
        run, "--mix", EXAMPLES / "mix.yaml", "--scenario", f"target={EXAMPLES}/scale-target.yaml"
    )
    scenarios = data["scenarios"]
    assert isinstance(scenarios, list)
    assert [s["name"] for s in scenarios] == ["target", "mix"]
    assert scenarios[0]["infra_tier"] == scenarios[1]["infra_tier"] == "enterprise"
    difference = data["difference"]["mix - target"]
    assert difference["clients"] == 0
    assert difference["revenue EUR"] == 96_500 - 149_000
    assert difference["infrastructure tier"] == "same"
    table = run("project", "--mix", EXAMPLES / "mix.yaml", "--mix", EXAMPLES / "growing.yaml")
    assert table.exit_code == 0
    assert "enterprise -> starter" in table.stdout
    assert "first transition month" in table.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--scenario", "a"], "--scenario a: expected NAME=FILE"),
        (["--mix", "examples/mix.yaml", "--mix", "examples/mix.yaml"], "given twice"),
        ([], "give a mix: --mix FILE"),
        (["--scenario", "a=examples/mix.yaml", "--scenario", "b=absent.yaml"], "absent.yaml"),
        *[
            (
                ["--mix", "examples/mix.yaml", "--mix", "examples/growing.yaml", *extra],
                f"{extra[0]}: works on one mix",
            )
            for extra in (
                ["--sensitivity"],
                ["--break-even"],
                ["--infra-tier", "scale"],
            )
        ],
    ],
)
def test_bad_scenarios_are_one_line(run: Run, args: list[str], expected: str) -> None:
    result = run("project", *[a.replace("examples/", f"{EXAMPLES}/") for a in args])
    assert result.exit_code == 2
    assert expected in result.stderr and result.stderr.count("\n") == 1


def test_no_option_no_new_key(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "mix.yaml")
    new = {"distribution", "tier_probability", "transitions", "sensitivity", "break_even"}
    assert not new & set(data) and "calibration" not in data and "scenarios" not in data
    assert not math.isnan(data["costs"]["gross_margin_pct"])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--mix", EXAMPLES / "growing.yaml", "--months", "120"), "from month 60 no"),
        (("--mix", EXAMPLES / "scale-target.yaml", "--infra-tier", "scale"), "today, on Scale"),
        (("--mix", EXAMPLES / "ranged.yaml", "-f", "json"), "% of the samples"),
        (
            (
                "--mix",
                EXAMPLES / "plan-a.yaml",
                "--mix",
                EXAMPLES / "plan-b.yaml",
                "--months",
                "120",
            ),
            "plan-a: from month",
        ),
    ],
)
def test_require_fit_says_why_on_stderr(run: Run, args: tuple[str, ...], said: str) -> None:
    result = run("project", *args, "--require-fit")
    assert result.exit_code == 1
    assert result.stderr.startswith("capplan project: does not fit (--require-fit): ")
    assert said in result.stderr and result.stderr.count("\n") == 1
    assert run("project", *args).exit_code == 0  # without the gate, the same plan exits 0
