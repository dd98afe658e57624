"""Runs every fuzzing target of tests/fuzzing.py for a while and prints how many cases it tried
and how many of them crashed (exit 70 or a traceback); the goal is zero.

    .venv/bin/python benchmarks/fuzz.py --minutes 10

Each crash is printed with its command line, so that it can be run again by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import TARGETS, Case, Outcome, invoke


class TimeUp(Exception):
    """The target's share of the budget is spent."""


def fuzz(target: str, seconds: float) -> tuple[int, list[Outcome]]:
    tried = 0
    crashes: list[Outcome] = []
    until = time.monotonic() + seconds

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(TARGETS[target]())
    def one(case: Case) -> None:
        nonlocal tried
        if time.monotonic() > until:
            raise TimeUp
        tried += 1
        outcome = invoke(case)
        if outcome.crashed:
            crashes.append(outcome)

    with contextlib.suppress(TimeUp):
        one()
    return tried, crashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--target", choices=sorted(TARGETS), action="append")
    options = parser.parse_args()
    targets = options.target or sorted(TARGETS)
    share = options.minutes * 60 / len(targets)
    total_tried = total_crashes = 0
    print(f"{'target':<14}{'cases':>8}{'crashes':>9}")
    for target in targets:
        tried, crashes = fuzz(target, share)
        total_tried += tried
        total_crashes += len(crashes)
        print(f"{target:<14}{tried:>8}{len(crashes):>9}", flush=True)
        for outcome in crashes[:5]:
            case = outcome.case
            print(f"  crash: {list(case.args)} then {list(case.then)} COLUMNS={case.columns}")
            print("    " + outcome.output.strip().splitlines()[-1][:300])
    print(f"{'all':<14}{total_tried:>8}{total_crashes:>9}")


if __name__ == "__main__":
    main()
