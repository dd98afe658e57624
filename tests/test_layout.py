"""The shape of the code: one room per command, modules of a readable size, no import cycles,
every format rendered by one registered function."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import capplan
from capplan.output.formats import Format
from capplan.output.report import Report, render

from .conftest import ROOT

SRC = ROOT / "src" / "capplan"
MOST_LINES = 450


def modules() -> dict[str, Path]:
    found = {"capplan": SRC / "__init__.py"}
    for info in pkgutil.walk_packages(capplan.__path__, "capplan."):
        relative = info.name.removeprefix("capplan.").replace(".", "/")
        path = SRC / relative / "__init__.py" if info.ispkg else SRC / f"{relative}.py"
        found[info.name] = path
    return found


def module_imports(name: str, path: Path) -> set[str]:
    """The capplan modules imported at module level (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {item for item in found if item.startswith("capplan")}


def test_no_module_is_longer_than_it_can_be_read() -> None:
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert long == {}


def test_there_is_no_import_cycle() -> None:
    names = modules()
    graph = {
        name: {other for other in module_imports(name, path) if other in names and other != name}
        for name, path in names.items()
    }
    # a package's __init__ imported by its own module is how Python loads it, not a cycle
    for name in graph:
        graph[name] -= {p for p in graph[name] if name.startswith(p + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, " -> ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_every_module_imports() -> None:
    for name in modules():
        if name != "capplan.__main__":  # that one runs the command line
            importlib.import_module(name)


def test_every_format_has_one_renderer() -> None:
    for name in modules():
        if name.startswith("capplan.output."):
            importlib.import_module(name)
    report = Report(data={"a": 1}, sections=[])
    for fmt in (Format.table, Format.json, Format.csv, Format.markdown):
        assert isinstance(render(report, fmt), str)
    for fmt in (Format.nagios, Format.prometheus):  # formats of the check report only
        with pytest.raises(Exception, match=f"--format {fmt.value} is not available"):
            render(report, fmt)


def test_the_cli_layer_is_thin() -> None:
    """Commands parse and hand over: no Rich, no SQL, no Pillow in the command line."""
    for path in (SRC / "cli").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("rich", "sqlite3", "PIL", "psycopg"):
            assert f"import {word}" not in text and f"from {word}" not in text, (path, word)
