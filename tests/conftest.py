"""Shared fixtures: the CLI run in-process, and files written where a test can see them."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner, Result

from capplan.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

Run = Callable[..., Result]

# No time limit per example: a busy machine must not fail a property that holds.
settings.register_profile("capplan", deadline=None)
settings.load_profile("capplan")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts in an empty directory with no capplan variables set."""
    for name in list(os.environ):
        if name.startswith("CAPPLAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def now() -> dt.datetime:
    """This moment, taken by each test that asks: what it writes (log lines, records) is placed
    relative to the command it runs, however long the tests before it took."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def run() -> Run:
    """Run capplan in-process: `run("size", "--products", "10")`."""
    runner = CliRunner(env={"TERM": "dumb", "COLUMNS": "200", "NO_COLOR": "1"})

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file in the test's directory and return its path."""

    def make(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return make


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-baselines",
        action="store_true",
        help="Rewrite tests/baselines/ from the current output (accept a drift on purpose).",
    )
