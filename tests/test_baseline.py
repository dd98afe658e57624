"""A frozen baseline of every example's projection: any drift fails until accepted on purpose.

Accept a deliberate change with `pytest tests/test_baseline.py --update-baselines` and commit the
rewritten files in tests/baselines/ with the change that caused it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Run

BASELINES = Path(__file__).parent / "baselines"
EXAMPLE_MIXES = sorted(path.name for path in EXAMPLES.glob("*.yaml"))


def test_every_example_has_a_baseline() -> None:
    assert EXAMPLE_MIXES, "no examples found"
    names = sorted(p.name for p in BASELINES.glob("*.json"))
    assert names == [Path(name).with_suffix(".json").name for name in EXAMPLE_MIXES]


@pytest.mark.parametrize("name", EXAMPLE_MIXES)
def test_projection_matches_its_baseline(
    run: Run, name: str, request: pytest.FixtureRequest
) -> None:
    result = run("project", "--mix", EXAMPLES / name, "--format", "json")
    assert result.exit_code == 0, result.stderr
    current = json.loads(result.stdout)
    baseline = BASELINES / Path(name).with_suffix(".json").name
    if request.config.getoption("--update-baselines"):
        BASELINES.mkdir(exist_ok=True)
        baseline.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(baseline.read_text(encoding="utf-8"))
    assert current == expected, f"{name} drifted from {baseline}; see the module docstring"
