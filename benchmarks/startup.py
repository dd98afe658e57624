"""Start-up time of `capplan --version` against `python -c pass`, median of several runs.

Target (DESIGN.md): under 150 ms. Run: python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys

from timing import median_ms

TARGET_MS = 150.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = median_ms([sys.executable, "-c", "pass"], args.runs)
    capplan = median_ms([sys.executable, "-m", "capplan", "--version"], args.runs)
    help_ms = median_ms([sys.executable, "-m", "capplan", "--help"], args.runs)
    print(f"python -c pass        {python:7.1f} ms (baseline)")
    print(f"capplan --version     {capplan:7.1f} ms ({capplan / python:.2f}x the baseline)")
    print(f"capplan --help        {help_ms:7.1f} ms ({help_ms / python:.2f}x the baseline)")
    verdict = "meets" if capplan < TARGET_MS else "MISSES"
    print(f"target: --version under {TARGET_MS:.0f} ms: {verdict}")
    return 0 if capplan < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
