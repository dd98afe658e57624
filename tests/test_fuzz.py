"""Every parser, fed generated input on a short fixed budget: no internal error (exit 70), no
traceback. benchmarks/fuzz.py runs the same targets for minutes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzzing import ROOT, TARGETS, Case, Outcome, invoke

# A fixed budget and fixed examples: CI tries the same cases every run.
BUDGET = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def describe(outcome: Outcome) -> str:
    case = outcome.case
    return (
        f"exit {outcome.exit_code} for {list(case.args)} then {[list(t) for t in case.then]} "
        f"at COLUMNS={case.columns}, files {[name for name, _ in case.files]}:\n"
        f"{outcome.output[-2000:]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_no_parser_crashes_on_generated_input(target: str) -> None:
    @BUDGET
    @given(TARGETS[target]())
    def never_crashes(case: Case) -> None:
        outcome = invoke(case)
        assert not outcome.crashed, describe(outcome)

    never_crashes()


def test_the_harness_tells_a_crash_from_an_error() -> None:
    """The harness sees an internal error for what it is, and a clear refusal as no crash."""
    refused = invoke(Case(("size", "--products", "-1")))
    assert refused.exit_code == 2
    assert not refused.crashed
    crashed = Outcome(refused.case, 70, "capplan size: error: internal error: KeyError: 0")
    assert crashed.crashed


@pytest.mark.parametrize("columns", [1, 2, 10, 30, 50, 79])
@pytest.mark.parametrize(
    "args",
    [
        ("project", "--mix", "examples/mix.yaml"),
        ("project", "--mix", "examples/scale-target.yaml", "--break-even"),
        ("images", "convert", "{dir}/src", "{dir}/dest", "--dry-run"),
    ],
)
def test_a_narrow_terminal_gets_its_tables_not_an_internal_error(
    args: tuple[str, ...], columns: int
) -> None:
    """A headerless table of names and values on a terminal narrower than its words: the
    values fold, the run succeeds."""
    line = tuple(str(ROOT / a) if a.startswith("examples/") else a for a in args)
    outcome = invoke(Case(line, columns=columns))
    assert outcome.exit_code == 0, describe(outcome)
