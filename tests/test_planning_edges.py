"""`capplan project` at the edges: any terminal width, mixes with the same file name, options
answered in their own words, and no option ignored without a word."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capplan.cli import app
from capplan.planning.scenarios import named

from .conftest import EXAMPLES, Run

Write = Callable[[str, str], Path]

NARROW_CASES = [
    ("project", "--mix", str(EXAMPLES / "mix.yaml")),
    ("project", "--mix", str(EXAMPLES / "scale-target.yaml"), "--break-even"),
    ("project", "--mix", str(EXAMPLES / "growing.yaml"), "--sensitivity"),
    ("project", "--mix", str(EXAMPLES / "ranged.yaml"), "--samples", "200"),
    ("project", "--mix", str(EXAMPLES / "plan-a.yaml"), "--mix", str(EXAMPLES / "plan-b.yaml")),
]
# every width where tables give way (1 to 40), then a stride across the rest up to 300
WIDTHS = [*range(1, 41), *range(41, 301, 13), 300]


@pytest.mark.parametrize("args", NARROW_CASES, ids=lambda args: " ".join(args[2:]))
@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_project_never_crashes_at_any_terminal_width(args: tuple[str, ...], terminal: bool) -> None:
    crashed = []
    for width in WIDTHS if not terminal else WIDTHS[::3]:
        env = {"COLUMNS": str(width), "TERM": "dumb", "NO_COLOR": "1"}
        if terminal:
            env |= {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TERM": "xterm"}
        result = CliRunner(env=env).invoke(app, list(args))
        if result.exit_code != 0 or not result.stdout.strip():
            crashed.append((width, result.exit_code, result.stderr[-200:]))
    assert not crashed


@pytest.mark.parametrize("width", ["30", "50"])
def test_a_narrow_terminal_in_a_real_pipe_is_no_internal_error(width: str) -> None:
    for extra in ([str(EXAMPLES / "mix.yaml")], [str(EXAMPLES / "scale-target.yaml")]):
        result = subprocess.run(
            [sys.executable, "-m", "capplan", "project", "--mix", *extra, "--break-even"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": width},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "Break-even" in result.stdout


# --- mixes with the same file name ----------------------------------------------------------


def test_two_mixes_with_the_same_file_name_are_named_by_their_folders(
    run: Run, write: Write
) -> None:
    eu = write("eu/mix.yaml", (EXAMPLES / "mix.yaml").read_text(encoding="utf-8"))
    us = write("us/mix.yaml", (EXAMPLES / "scale-target.yaml").read_text(encoding="utf-8"))
    result = run("project", "--mix", eu, "--mix", us, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [s["name"] for s in data["scenarios"]] == ["eu/mix", "us/mix"]
    assert [s["mix"] for s in data["scenarios"]] == [str(eu), str(us)]
    assert list(data["difference"]) == ["us/mix - eu/mix"]


def test_file_names_are_told_apart_by_as_few_folders_as_needed() -> None:
    paths = ["a/x/mix.yaml", "b/x/mix.yaml", "c/plan.yaml"]
    assert [n for n, _ in named([], paths)] == ["a/x/mix", "b/x/mix", "plan"]
    assert [n for n, _ in named(["plan=p.yaml"], ["c/plan.yaml"])] == ["plan", "c/plan"]


def test_the_same_mix_twice_is_refused_naming_mix_not_scenario(run: Run) -> None:
    mix = EXAMPLES / "mix.yaml"
    result = run("project", "--mix", mix, "--mix", mix)
    assert result.exit_code == 2
    assert (
        result.stderr == f"capplan project: error: --mix {mix}: given twice; give each mix once\n"
    )


def test_two_scenarios_with_one_name_are_refused_naming_scenario(run: Run) -> None:
    a, b = EXAMPLES / "plan-a.yaml", EXAMPLES / "plan-b.yaml"
    result = run("project", "--scenario", f"x={a}", "--scenario", f"x={b}")
    assert result.exit_code == 2
    assert f"--scenario x={b}: two scenarios have this name" in result.stderr


# --- options answered in their own words ----------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--swing", "abc", "expected how far to move each input: a percentage"),
        ("--swing", "100%", "expected how far to move each input: a percentage"),
        ("--target-margin", "80", "expected a gross margin: a percentage above 0 and below 100%"),
        ("--target-margin", "-5%", "expected a gross margin"),
    ],
)
def test_swing_and_target_margin_are_answered_about_what_they_are(
    run: Run, option: str, value: str, words: str
) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", option, value)
    assert result.exit_code == 2
    assert words in result.stderr and repr(value) in result.stderr
    assert "monthly" not in result.stderr and result.stderr.count("\n") == 1


def test_samples_without_ranges_is_said_not_ignored(run: Run) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "--samples", "500", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["notes"] == [
        "--samples 500: nothing to sample, neither the mix nor --set gives a range "
        "{low, high}; the projection is exact"
    ]
    table = run("project", "--mix", EXAMPLES / "mix.yaml", "--seed", "3").stdout
    assert "note: --seed 3: nothing to sample" in " ".join(table.split())
    ranged = run("project", "--mix", EXAMPLES / "ranged.yaml", "--samples", "500", "-f", "json")
    assert "notes" not in json.loads(ranged.stdout)


def test_samples_with_two_mixes_is_refused_naming_it(run: Run) -> None:
    a, b = EXAMPLES / "plan-a.yaml", EXAMPLES / "plan-b.yaml"
    result = run("project", "--mix", a, "--mix", b, "--samples", "500")
    assert result.exit_code == 2 and "--samples" in result.stderr


@pytest.mark.parametrize("width", ["1", "30", "50"])
def test_a_narrow_real_terminal_is_no_internal_error(width: str) -> None:
    import pty

    parent, child = pty.openpty()
    try:
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "capplan",
                "project",
                "--mix",
                str(EXAMPLES / "scale-target.yaml"),
                "--break-even",
            ],
            stdin=child,
            stdout=child,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": width, "TERM": "xterm"},
            timeout=120,
        )
        os.close(child)
        child = -1
        shown = b""
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if child != -1:
            os.close(child)
        os.close(parent)
    assert process.returncode == 0, process.stderr
    import re

    plain = re.sub(rb"\s", b"", re.sub(rb"\x1b\[[0-9;]*m", b"", shown))
    assert b"grossmargin93.4%;runway" in plain  # titles are cut at width 1; notes wrap
