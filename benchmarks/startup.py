"""Start-up time of capplan's answers that do no work, against `python -c pass`, median of runs.

Targets (issue 15, DESIGN.md): `capplan --version` under 100 ms, `capplan --help` under 200 ms,
`capplan project --help` under 250 ms.

Run: .venv/bin/python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys

from timing import median_ms

TARGETS_MS = {
    ("--version",): 100.0,
    ("--help",): 200.0,
    ("project", "--help"): 250.0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = median_ms([sys.executable, "-c", "pass"], args.runs)
    print(f"{'python -c pass':28} {python:7.1f} ms (baseline)")
    missed = 0
    for words, target in TARGETS_MS.items():
        took = median_ms([sys.executable, "-m", "capplan", *words], args.runs)
        verdict = "meets" if took < target else "MISSES"
        missed += took >= target
        name = "capplan " + " ".join(words)
        print(
            f"{name:28} {took:7.1f} ms ({took / python:5.2f}x the baseline; "
            f"target < {target:.0f} ms: {verdict})"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
