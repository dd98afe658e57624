"""`capplan project` on what the platform measured: calibration keeps measurements as measured,
and says when one would zero a plan's storage or database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]

# 40 products with 17 images among them: 0.425 images per product, an average, not a count
MIX = "tiers:\n  essential: {clients: 10, products: 100, orders_per_month: 50}\n"


def images_stats(originals: int, kb: float = 100.0) -> str:
    variants = {
        name: {"files": originals, "bytes": int(originals * kb * 1000)}
        for name in ("original", "800", "200")
    }
    return json.dumps({"variants": variants})


def check_db(**values: object) -> str:
    metrics: list[dict[str, Any]] = [
        {"name": "table_rows", "value": 40, "labels": {"table": "products"}},
        {"name": "table_rows", "value": 0, "labels": {"table": "orders"}},
    ]
    metrics += [{"name": name, "value": value, "labels": {}} for name, value in values.items()]
    return json.dumps({"status": "OK", "metrics": metrics})


def project_json(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run("project", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_calibration_keeps_a_fractional_images_per_product(run: Run, write: Write) -> None:
    stats = write("stats.json", images_stats(17))
    db = write("db.json", check_db(db_size_gb=0.01))
    mix = write("mix.yaml", MIX)
    data = project_json(run, "--mix", mix, "--calibrate", stats, "--calibrate", db)
    found = {c["assumption"]: c["measured"] for c in data["calibration"]}
    assert found["images_per_product (plans that do not set it)"] == pytest.approx(0.425)
    assert data["tiers"][0]["images_per_product"] == pytest.approx(0.425)
    # 10 clients x 100 products x 0.425 images x 3 variants x 100 KB
    assert data["totals"]["image_storage_gb"] == pytest.approx(10 * 100 * 0.425 * 3 * 100 / 1e6)
    assert data["totals"]["image_files"] == pytest.approx(10 * 100 * 0.425 * 3)


def test_calibration_keeps_2_125_images_per_product_as_measured(run: Run, write: Write) -> None:
    stats = write("stats.json", images_stats(85))  # 85 / 40 = 2.125
    db = write("db.json", check_db(db_size_gb=0.01))
    data = project_json(
        run, "--mix", write("mix.yaml", MIX), "--calibrate", stats, "--calibrate", db
    )
    assert data["tiers"][0]["images_per_product"] == pytest.approx(2.125)
    assert data["totals"]["image_storage_gb"] == pytest.approx(10 * 100 * 2.125 * 3 * 100 / 1e6)


def test_a_measured_products_per_client_stays_fractional(run: Run, write: Write) -> None:
    db = write("db.json", check_db(db_size_gb=0.01, active_clients=16))  # 40 / 16 = 2.5
    mix = write("mix.yaml", "tiers:\n  essential: {clients: 10, orders_per_month: 50}\n")
    data = project_json(run, "--mix", mix, "--calibrate", db)
    assert data["tiers"][0]["products_per_client"] == pytest.approx(2.5)
    assert data["totals"]["products"] == pytest.approx(25)


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_a_database_size_of_zero_calibrates_with_a_warning_in_every_format(
    run: Run, write: Write, fmt: str
) -> None:
    db = write("db.json", check_db(db_size_gb=0))
    result = run("project", "--mix", write("mix.yaml", MIX), "--calibrate", db, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    expected = f"db_size_gb measured 0 (from {db}): every plan's database is then 0"
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["totals"]["db_size_gb"] == 0
        assert any(expected in w for w in data["warnings"])
        per_product = next(
            c for c in data["calibration"] if c["assumption"] == "assumptions.db_gb_per_product"
        )
        assert per_product["measured"] == 0
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert any(row[0] == "Warnings" and expected in row[1] for row in rows if row)
    else:
        assert expected in " ".join(result.stdout.split())


def test_zero_image_bytes_warns_that_storage_is_zero(run: Run, write: Write) -> None:
    stats = write("stats.json", images_stats(17, kb=0))
    data = project_json(run, "--mix", write("mix.yaml", MIX), "--calibrate", stats)
    assert data["totals"]["image_storage_gb"] == 0
    assert any("avg_image_kb measured 0" in w for w in data["warnings"])


def test_a_measurement_that_zeroes_nothing_warns_of_nothing(run: Run, write: Write) -> None:
    db = write("db.json", check_db(db_size_gb=0.01))
    data = project_json(run, "--mix", write("mix.yaml", MIX), "--calibrate", db)
    assert data["warnings"] == []


@pytest.mark.parametrize("value", [-3, "NaN", "3 GB", True, 1e999])
def test_a_database_size_that_is_not_a_size_is_refused_naming_it(
    run: Run, write: Write, value: object
) -> None:
    text = check_db(db_size_gb=value).replace("Infinity", "1e999")
    db = write("db.json", text)
    result = run("project", "--mix", write("mix.yaml", MIX), "--calibrate", db)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"capplan project: error: {db}")
    assert "metrics.2.value" in result.stderr and "db_size_gb" in result.stderr
    assert result.stderr.count("\n") == 1


# --- a --set range always applies, or is refused naming what overrides it -------------------

RANGE = "pricing_tiers.business.products={low: 300, high: 900}"


def test_a_set_range_the_mix_overrides_is_refused_naming_the_mix(run: Run) -> None:
    mix = EXAMPLES / "scale-target.yaml"  # its business row sets products: 500
    result = run("project", "--mix", mix, "--set", RANGE)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"capplan project: error: --set {RANGE}")
    assert f"{mix} sets business.products itself" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_set_range_on_a_plan_the_mix_leaves_to_its_plan_is_sampled(
    run: Run, write: Write
) -> None:
    mix = write("mix.yaml", "tiers:\n  business: {clients: 100, orders_per_month: 10}\n")
    data = project_json(run, "--mix", mix, "--set", RANGE, "--samples", "500")
    ranges = data["sampling"]["ranges"]
    assert ranges == [{"input": "business.products", "low": 300, "mid": 600, "high": 900}]
    products = data["distribution"]["disk_gb"]
    assert products["p10"] < products["p90"]


def test_a_set_range_on_a_plan_without_clients_is_refused(run: Run, write: Write) -> None:
    mix = write("mix.yaml", "tiers:\n  essential: {clients: 100}\n")
    result = run("project", "--mix", mix, "--set", RANGE)
    assert result.exit_code == 2
    assert f"{mix} has no business clients: the range would move nothing" in result.stderr


# --- what is printed is what is applied -------------------------------------------------------


def test_a_transition_says_the_rule_that_moved_it_and_when_the_documents_trigger_passed(
    run: Run,
) -> None:
    data = project_json(run, "--mix", EXAMPLES / "growing-8.yaml", "--months", "36")
    timeline = {m["month"]: m for m in data["timeline"]}
    event = next(e for e in data["events"] if e.get("to") == "scale")
    month = event["month"]
    disk = {n: m["image_storage_gb"] + m["db_size_gb"] for n, m in timeline.items()}
    assert disk[month - 1] <= 700 < disk[month]  # moved by the tier fit: 70 % of 1,000 GB
    passed = next(n for n, m in timeline.items() if m["image_storage_gb"] > 500)
    assert passed < month
    assert event["trigger"] == "Storage >500GB, high traffic"
    assert event["moved_by"] == (
        "capplan's tier fit (clients <= max_clients, disk <= 70 % of storage), not the "
        f"document's trigger (Storage >500GB, high traffic): image storage passes 500 GB at "
        f"month {passed}"
    )
    markdown = run("project", "--mix", EXAMPLES / "growing-8.yaml", "--format", "markdown")
    assert f"image storage passes 500 GB at month {passed}" in markdown.stdout


def test_a_prose_trigger_is_named_as_the_documents_not_as_what_moved_it(run: Run) -> None:
    data = project_json(run, "--mix", EXAMPLES / "growing-8.yaml", "--months", "36")
    event = next(e for e in data["events"] if e.get("to") == "medium")
    assert event["moved_by"].endswith(
        "the document's trigger (Single server at 70%+ CPU) is not a projected figure"
    )


def test_the_scale_target_on_scale_says_how_the_documents_96_percent_arises(run: Run) -> None:
    args = ("--mix", EXAMPLES / "scale-target.yaml", "--infra-tier", "scale")
    data = project_json(run, *args)
    assert data["costs"]["gross_margin_pct"] == pytest.approx(94.16, abs=0.01)
    (note,) = data["document_differs"]
    assert "~96 %" in note and "94.2 %" in note and "support left out (96.2 %)" in note
    table = run("project", *args).stdout
    assert "comes out only with support left out (96.2 %)" in " ".join(table.split())
    assert "document_differs" not in project_json(run, "--mix", EXAMPLES / "mix.yaml")


def test_a_set_range_of_a_figure_calibration_measured_is_refused_naming_calibrate(
    run: Run, write: Write
) -> None:
    db = write("db.json", check_db(db_size_gb=0.01, active_clients=16))  # measures products
    mix = write("mix.yaml", "tiers:\n  business: {clients: 100, orders_per_month: 10}\n")
    result = run("project", "--mix", mix, "--calibrate", db, "--set", RANGE)
    assert result.exit_code == 2
    assert "--calibrate measured business.products" in result.stderr
    assert result.stderr.count("\n") == 1
