"""Wall time and peak memory of the whole `capplan project` command, as a user runs it.

Cases (targets from DESIGN.md and issues 12 and 15):
- a 50-row mix with a 120-month timeline: under 500 ms;
- a 3,000-row mix with 120 months: under 1.5 s;
- a 1,000-row mix with 1,200 months: under 1.5 s;
- four plans with ranged figures and growth, 10,000 samples, 120 months: under 2 s; and the
  same mix at its mids (no ranges) beside it: the static path's time.

A mix's rows are keyed by pricing tier, so the benchmark writes a tiers.yaml with as many pricing
tiers as rows (the packaged four plus generated plans) into a temporary directory. Every row has
its own client count and growth, so that no shortcut through identical rows flatters the result.
`python -c pass` is timed in the same run as the floor of any command; each time is also printed
as a ratio to it. Peak memory is the largest resident set of the command's process; CPU time (user +
system) is printed beside the wall time, which a busy machine inflates.

Run: .venv/bin/python benchmarks/project.py [--runs N] [--against ../main]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# rows, months, target in ms
CASES = ((50, 120, 500.0), (3000, 120, 1500.0), (1000, 1200, 1500.0))
ROWS = sorted({rows for rows, _, _ in CASES})


def write_tiers(folder: Path, plans_wanted: int) -> Path:
    tiers = yaml.safe_load((ROOT / "tiers.yaml").read_text(encoding="utf-8"))
    plans = tiers["pricing_tiers"]
    while len(plans) < plans_wanted:
        n = len(plans)
        plans.append(
            {
                "id": f"plan{n}",
                "name": f"Plan {n}",
                "price_eur": 20 + n % 300,
                "products": 100 + 10 * n,
                "images_per_product": 1 + n % 8,
                "orders_per_month": 50 + n,
                "sku_variants": 1.0,
                "team_members": 1 + n % 5,
                "api_requests_per_day": 1000 + n,
            }
        )
    path = folder / f"tiers-{plans_wanted}.yaml"
    path.write_text(yaml.safe_dump(tiers, sort_keys=False), encoding="utf-8")
    return path


def write_mix(folder: Path, rows: int) -> tuple[Path, Path]:
    """A mix of `rows` plans, each with its own clients and growth (0.01 % to 3 % a month)."""
    tiers_path = write_tiers(folder, rows)
    plans = yaml.safe_load(tiers_path.read_text(encoding="utf-8"))["pricing_tiers"]
    mix = {
        plan["id"]: {
            "clients": 1 + (i * 7919) % 97,
            "products": 50 + 10 * (i % 150),
            "orders_per_month": 20 + i % 500,
            "api_requests_per_day": 500 + i,
            "growth": f"{0.01 + (i * 37) % 300 / 100:.2f}%",
        }
        for i, plan in enumerate(plans)
    }
    path = folder / f"mix-{rows}.yaml"
    path.write_text(yaml.safe_dump({"tiers": mix}, sort_keys=False), encoding="utf-8")
    return tiers_path, path


def write_ranged_mix(folder: Path) -> tuple[Path, Path]:
    """Four plans, every figure and the growth a range; and the same mix at its mids."""

    def span(mid: float, spread: float = 0.3) -> dict[str, float]:
        return {"low": round(mid * (1 - spread)), "mid": mid, "high": round(mid * (1 + spread))}

    rows = {
        "essential": (500, 100, 100, 1000, "2%"),
        "professional": (300, 300, 500, 5000, "3%"),
        "business": (150, 1000, 2000, 20000, "4%"),
        "enterprise": (50, 3000, 4000, 50000, "5%"),
    }
    ranged = {
        plan: {
            "clients": span(clients),
            "products": span(products),
            "orders_per_month": span(orders),
            "api_requests_per_day": span(requests),
            "growth": {"low": "1%", "mid": growth, "high": "6%"},
        }
        for plan, (clients, products, orders, requests, growth) in rows.items()
    }
    static = {
        plan: {
            "clients": clients,
            "products": products,
            "orders_per_month": orders,
            "api_requests_per_day": requests,
            "growth": growth,
        }
        for plan, (clients, products, orders, requests, growth) in rows.items()
    }
    ranged_path = folder / "ranged.yaml"
    static_path = folder / "static.yaml"
    ranged_path.write_text(yaml.safe_dump({"tiers": ranged}, sort_keys=False), encoding="utf-8")
    static_path.write_text(yaml.safe_dump({"tiers": static}, sort_keys=False), encoding="utf-8")
    return ranged_path, static_path


def write_inputs(folder: Path) -> None:
    """Every input file, written in a process of its own (see `main`)."""
    for rows in ROWS:
        write_mix(folder, rows)
    write_ranged_mix(folder)


def measure(
    command: Sequence[str], runs: int, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Median wall milliseconds, the largest peak resident set (MiB) and the median CPU
    milliseconds (user + system) over `runs` runs."""
    times, peaks, cpu = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"failed ({child.returncode}): {' '.join(command)}")
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
        cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    return statistics.median(times), max(peaks), statistics.median(cpu)


def against(checkout: Path, folder: Path, runs: int) -> None:
    """The static path here and in another checkout (its src/ first on the path), interleaved,
    in CPU time: a change that must not slow the path without ranges shows here."""
    static = [sys.executable, "-m", "capplan", "project", "--format", "json", "--months", "120"]
    for label, files in (
        ("4 plans x 120 months", ["--mix", str(folder / "static.yaml")]),
        (
            "50 rows x 120 months",
            ["--mix", str(folder / "mix-50.yaml"), "--tiers", str(folder / "tiers-50.yaml")],
        ),
    ):
        here, there = [], []
        for _ in range(runs):
            here.append(measure([*static, *files], 1)[2])
            env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
            there.append(measure([*static, *files], 1, env)[2])
        mine, theirs = statistics.median(here), statistics.median(there)
        print(
            f"{'static path, ' + label + ' (CPU)':60} {mine:8.1f} ms here, {theirs:.1f} ms in "
            f"{checkout}: {mine / theirs:.2f}x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout of capplan (e.g. main) to compare the path without ranges with",
    )
    args = parser.parse_args()
    if args.write is not None:
        write_inputs(args.write)
        return 0
    project = [sys.executable, "-m", "capplan", "project"]
    results: list[tuple[str, float, float, float, float]] = []  # name, ms, MiB, CPU ms, target
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # A child's peak memory counts the pages it was forked with: keep this process small.
        subprocess.run([sys.executable, __file__, "--write", name], check=True)
        floor, floor_mib, _ = measure([sys.executable, "-c", "pass"], args.runs)
        cases: list[tuple[str, list[str], float]] = []
        for rows, months, target in CASES:
            mix_path, tiers_path = folder / f"mix-{rows}.yaml", folder / f"tiers-{rows}.yaml"
            files = ["--mix", str(mix_path), "--tiers", str(tiers_path), "--months", str(months)]
            cases.append((f"{rows:,} rows x {months:,} months", files, target))
        ranged, static = folder / "ranged.yaml", folder / "static.yaml"
        cases.append(("4 plans at their mids x 120 months", ["--mix", str(static)], 500.0))
        ranged_files = ["--mix", str(ranged), "--seed", "1"]
        cases.append(("4 ranged plans x 120 months x 10,000 samples", ranged_files, 2000.0))
        for label, files, target in cases:
            for fmt in ("table", "json"):
                command = [*project, *files, "--format", fmt]
                if "--months" not in files:
                    command += ["--months", "120"]
                ms, mib, cpu = measure(command, args.runs)
                results.append((f"{label}, {fmt}", ms, mib, cpu, target))
        print(f"{'python -c pass (baseline)':60} {floor:8.1f} ms {floor_mib:7.1f} MiB")
        missed = 0
        for label, ms, mib, cpu, target in results:
            verdict = "meets" if ms < target else "MISSES"
            missed += ms >= target
            print(
                f"{'project, ' + label:60} {ms:8.1f} ms {mib:7.1f} MiB {cpu:7.1f} ms CPU "
                f"{ms / floor:6.1f}x baseline; target < {target:,.0f} ms: {verdict}"
            )
        if args.against is not None:
            against(args.against, folder, args.runs)
    print(f"median of {args.runs} runs; run: .venv/bin/python benchmarks/project.py --runs N")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
