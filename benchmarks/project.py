"""Wall time of the whole `capplan project` command: a 50-row mix with a 120-month timeline.

The mix's rows are keyed by pricing tier, so the benchmark writes a tiers.yaml with 50 pricing
tiers (the packaged one plus generated plans) into a temporary directory. Also times
`python -c pass` in the same run as the floor of any command.

Target (DESIGN.md): under 500 ms. Run: python benchmarks/project.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from timing import median_ms

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 500.0
ROWS = 50
MONTHS = 120


def write_inputs(folder: Path) -> tuple[Path, Path]:
    tiers = yaml.safe_load((ROOT / "tiers.yaml").read_text(encoding="utf-8"))
    plans = tiers["pricing_tiers"]
    while len(plans) < ROWS:
        n = len(plans)
        plans.append(
            {
                "id": f"plan{n}",
                "name": f"Plan {n}",
                "price_eur": 20 + n,
                "products": 100 * n,
                "images_per_product": 1 + n % 8,
                "orders_per_month": 50 * n,
                "sku_variants": 1.0,
                "team_members": 1 + n % 5,
                "api_requests_per_day": 1000 * n,
            }
        )
    rows = {
        plan["id"]: {
            "clients": 2 + i % 7,
            "products": 50 + 10 * i,
            "orders_per_month": 20 + i,
            "api_requests_per_day": 500 + i,
            "growth": f"{1 + i % 4}%",
        }
        for i, plan in enumerate(plans)
    }
    tiers_path = folder / "tiers.yaml"
    mix_path = folder / "mix.yaml"
    tiers_path.write_text(yaml.safe_dump(tiers, sort_keys=False), encoding="utf-8")
    mix_path.write_text(yaml.safe_dump({"tiers": rows}, sort_keys=False), encoding="utf-8")
    return tiers_path, mix_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tiers_path, mix_path = write_inputs(Path(folder))
        base = [
            sys.executable,
            "-m",
            "capplan",
            "project",
            "--mix",
            str(mix_path),
            "--tiers",
            str(tiers_path),
            "--months",
            str(MONTHS),
        ]
        floor = median_ms([sys.executable, "-c", "pass"], args.runs)
        as_json = median_ms([*base, "--format", "json"], args.runs)
        as_table = median_ms([*base, "--format", "table"], args.runs)
    print(f"python -c pass                                 {floor:7.1f} ms (floor)")
    print(f"project, {ROWS} rows, {MONTHS} months, --format json  {as_json:7.1f} ms")
    print(f"project, {ROWS} rows, {MONTHS} months, --format table {as_table:7.1f} ms")
    worst = max(as_json, as_table)
    print(f"target: under {TARGET_MS:.0f} ms: {'meets' if worst < TARGET_MS else 'MISSES'}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
