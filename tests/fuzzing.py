"""The fuzzing harness: every command's parsers fed generated input, their files and their
environment included, run in-process as a user runs them. A case crashes when capplan answers
with an internal error (exit 70) or a traceback; every other answer (a result, a one-line error
with its documented exit code) is what a parser is for.

tests/test_fuzz.py runs each target on a short, fixed budget in CI; benchmarks/fuzz.py runs them
for minutes and counts cases and crashes.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from capplan.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
INTERNAL_ERROR = 70
PLANS = ("essential", "professional", "business", "enterprise")
PLAN_FIGURES = (
    "clients",
    "products",
    "images_per_product",
    "orders_per_month",
    "api_requests_per_day",
    "price_eur",
    "growth",
)
FORMATS = ("table", "json", "csv", "markdown")


@dataclass(frozen=True)
class Case:
    """One command line (`{dir}` stands for the case's own folder), the files it reads (written
    there first), the terminal width it runs at, and the command lines that follow it there."""

    args: tuple[str, ...]
    then: tuple[tuple[str, ...], ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()
    columns: int = 120
    env: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Outcome:
    case: Case
    exit_code: int
    output: str

    @property
    def crashed(self) -> bool:
        return self.exit_code == INTERNAL_ERROR or "Traceback (most recent call last)" in (
            self.output
        )


def invoke(case: Case) -> Outcome:
    """Run one case in a fresh folder, in-process."""
    with tempfile.TemporaryDirectory(prefix="capplan-fuzz-") as folder:
        for name, content in case.files:
            path = Path(folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        Path(folder, "src").mkdir(exist_ok=True)
        env = {"TERM": "dumb", "NO_COLOR": "1", "COLUMNS": str(case.columns), **dict(case.env)}
        runner = CliRunner(env=env)
        previous = Path.cwd()
        os.chdir(folder)
        try:
            outcomes = [_one(runner, line, folder) for line in (case.args, *case.then)]
        finally:
            os.chdir(previous)
        crashed = [code for code, _ in outcomes if code == INTERNAL_ERROR]
        return Outcome(
            case, crashed[0] if crashed else outcomes[0][0], "\n".join(o for _, o in outcomes)
        )


def _one(runner: CliRunner, line: tuple[str, ...], folder: str) -> tuple[int, str]:
    result: Result = runner.invoke(app, [arg.replace("{dir}", folder) for arg in line])
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\nTraceback (most recent call last): {result.exception!r}"
    return (result.exit_code if result.exit_code is not None else INTERNAL_ERROR), output


# --- values -------------------------------------------------------------------------------------

# Text a person may type: digits, signs, units, separators, quotes and a few non-ASCII letters.
TYPED = st.text(
    alphabet=string.printable.strip() + " éß€\u00a0", min_size=0, max_size=12
) | st.sampled_from(
    ["", "0", "-1", "1e309", "nan", "inf", "-inf", "5%", "0.5", "1000000000000000000000",
     "1/2", "2/1", "0/0", "auto", "5m", "1h", "0d", "-5d", "99999999999999h", "1000y", "{}",
     "[]", "null", "~", "{low: 1, high: 0}", "{low: 1}", "'", '"', "\\", "\n", "\x00"]
)  # fmt: skip
NUMBERS = (
    st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 0.5, 1e-300])
)
# A value in a YAML document: numbers, typed text, ranges (well and badly formed), nulls, lists.
YAML_VALUE = st.recursive(
    NUMBERS | TYPED | st.none() | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["low", "mid", "high", "x"]), inner, max_size=4)
    ),
    max_leaves=6,
)
COLUMNS = st.integers(min_value=1, max_value=300)


def _yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True).encode()


# --- targets ------------------------------------------------------------------------------------


@st.composite
def mix_files(draw: st.DrawFn) -> Case:
    """project on a generated mix.yaml, with the options that change how it is read."""
    plans = draw(
        st.dictionaries(
            st.sampled_from([*PLANS, "gold", "Essential"]),
            st.dictionaries(st.sampled_from([*PLAN_FIGURES, "bogus"]), YAML_VALUE, max_size=4)
            | YAML_VALUE,
            max_size=4,
        )
    )
    document: Any = {"tiers": plans}
    if draw(st.booleans()):
        document["growth"] = draw(YAML_VALUE)
    if draw(st.integers(0, 9)) == 0:
        document = draw(YAML_VALUE)
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    ("--months", "{n}"),
                    ("--growth", "{t}"),
                    ("--sensitivity",),
                    ("--break-even",),
                    ("--samples", "{n}"),
                    ("--swing", "{t}"),
                    ("--target-margin", "{t}"),
                    ("--infra-tier", "{t}"),
                    ("--require-fit",),
                ]
            ),
            max_size=3,
        )
    )
    args = ["project", "--mix", "{dir}/mix.yaml", "--format", draw(st.sampled_from(FORMATS))]
    for option in extra:
        for word in option:
            if word == "{n}":
                args.append(str(draw(st.integers(-5, 400))))
            elif word == "{t}":
                args.append(draw(TYPED))
            else:
                args.append(word)
    return Case(tuple(args), files=(("mix.yaml", _yaml(document)),), columns=draw(COLUMNS))


KNOWN_KEYS = (
    "assumptions.avg_image_kb",
    "assumptions.image_variants",
    "assumptions.orders_retained_months",
    "pricing_tiers.business.price_eur",
    "pricing_tiers.business.products",
    "infrastructure_tiers.scale.storage_gb",
    "scaling_triggers.disk_percent.warning",
    "sizing_level",
)


@st.composite
def set_overrides(draw: st.DrawFn) -> Case:
    """--set KEY=VALUE on the shipped mix: known keys with odd values, and odd keys."""
    key = draw(st.sampled_from(KNOWN_KEYS) | TYPED)
    value = draw(TYPED | NUMBERS.map(str))
    example = draw(st.sampled_from(["mix.yaml", "ranged.yaml", "growing.yaml"]))
    args = ("project", "--mix", str(EXAMPLES / example), "--set", f"{key}={value}")
    return Case(args, columns=draw(COLUMNS))


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(document, dict):
        return [p for key, value in document.items() for p in _leaves(value, (*path, key))]
    if isinstance(document, list):
        return [p for i, value in enumerate(document) for p in _leaves(value, (*path, i))]
    return [path]


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = _replace(copy[head], tuple(rest), value)
    return copy


@st.composite
def config_files(draw: st.DrawFn) -> Case:
    """The shipped tiers.yaml or thresholds.yaml with one value replaced, read by a command."""
    name = draw(st.sampled_from(["tiers.yaml", "thresholds.yaml"]))
    document = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    leaves = _leaves(document)
    for _ in range(draw(st.integers(1, 3))):
        document = _replace(document, draw(st.sampled_from(leaves)), draw(YAML_VALUE))
    option = "--tiers" if name == "tiers.yaml" else "--thresholds"
    command = draw(
        st.sampled_from(
            [
                ("tiers",),
                ("project", "--mix", str(EXAMPLES / "mix.yaml")),
                ("size", "--products", "1000"),
            ]
        )
    )
    if name == "thresholds.yaml" and command == ("tiers",):
        command = ("size", "--products", "1000")
    args = (*command, option, "{dir}/" + name)
    return Case(args, files=((name, _yaml(document)),), columns=draw(COLUMNS))


CSV_CELLS = TYPED | st.sampled_from(
    ["2026-11-01T00:00:00Z", "2026-11-01", "cpu_percent", "disk_percent", "path=/", "12.5", "%"]
)


@st.composite
def history_csv(draw: st.DrawFn) -> Case:
    """history import of a generated CSV, then the history shown."""
    header = draw(
        st.sampled_from(
            [
                "timestamp,metric,value,unit,labels",
                "timestamp,metric,value",
                "metric,timestamp,value,labels",
                "",
            ]
        )
    )
    rows = draw(st.lists(st.lists(CSV_CELLS, min_size=0, max_size=6), max_size=6))
    text = "\n".join([header, *(",".join(row) for row in rows)])
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    then = draw(
        st.sampled_from(
            [
                (),
                (("history", "show", "--history", "{dir}/h.db"),),
                (("trend", "--history", "{dir}/h.db"),),
                (("history", "export", "--history", "{dir}/h.db"),),
            ]
        )
    )
    args = ("history", "import", "{dir}/h.csv", "--history", "{dir}/h.db")
    files = (("h.csv", text.encode("utf-8", "surrogatepass")),)
    return Case(args, then=then, files=files, columns=draw(COLUMNS))


LOG_PARTS = st.sampled_from(
    [
        '127.0.0.1 - - [06/Dec/2026:12:00:00 +0000] "GET /api/products HTTP/1.1" 200 512 "-" "ua"',
        '::1 - - [06/Dec/2099:12:00:00 +0000] "POST /x HTTP/1.1" 500 0 "-" "-" 0.120',
        '10.0.0.1 - - [31/Feb/2026:25:61:61 +9999] "GET / HTTP/1.0" 999 -1',
        '"GET /a"',
        "-",
        "",
    ]
)


@st.composite
def access_logs(draw: st.DrawFn) -> Case:
    """check --access-log on generated lines, with odd windows and formats."""
    lines = draw(st.lists(LOG_PARTS | TYPED, max_size=8))
    args = [
        "check",
        "--interval",
        "0",
        "--access-log",
        "{dir}/access.log",
        "--window",
        draw(st.sampled_from(["5m", "1h", "30s"]) | TYPED),
        "--format",
        draw(st.sampled_from(["table", "json", "nagios", "prometheus"])),
    ]
    if draw(st.booleans()):
        args += ["--log-format", draw(st.sampled_from(["auto", "combined"]) | TYPED)]
    log = "\n".join(lines).encode()
    return Case(tuple(args), files=(("access.log", log),), columns=draw(COLUMNS))


@st.composite
def calibrations(draw: st.DrawFn) -> Case:
    """project --calibrate on generated JSON, shaped like images stats / check output or not."""
    figures = st.dictionaries(
        st.sampled_from(["files", "bytes", "db_size_gb", "products_total", "image_files", "x"]),
        NUMBERS.map(lambda n: n if n == n and abs(n) != float("inf") else str(n)) | TYPED,
        max_size=4,
    )
    shape = draw(st.sampled_from(["stats", "check", "other"]))
    document: Any
    if shape == "check":
        document = {
            "status": "OK",
            "metrics": [{"name": k, "value": v} for k, v in draw(figures).items()],
        }
    elif shape == "stats":
        document = draw(figures)
    else:
        document = draw(YAML_VALUE)
    text = json.dumps(document, allow_nan=True).encode()
    args = ("project", "--mix", str(EXAMPLES / "mix.yaml"), "--calibrate", "{dir}/cal.json")
    return Case(args, files=(("cal.json", text),), columns=draw(COLUMNS))


# Each option that parses a value of its own, with the command line it stands in.
OPTION_LINES: tuple[tuple[str, ...], ...] = (
    ("size", "--products", "{v}"),
    ("size", "--products", "100", "--images-per-product", "{v}"),
    ("size", "--products", "100", "--clients", "{v}"),
    ("check", "--interval", "0", "--label", "{v}", "--format", "prometheus"),
    ("check", "--interval", "{v}"),
    ("check", "--interval", "0", "--timeout", "{v}"),
    ("check", "--interval", "0", "--path", "{v}"),
    ("images", "convert", "{dir}/src", "{dir}/dest", "--shard", "{v}", "--dry-run"),
    ("images", "convert", "{dir}/src", "{dir}/dest", "--exclude", "{v}", "--dry-run"),
    ("images", "stats", "{v}"),
    ("trend", "--history", "{dir}/none.db", "--since", "{v}"),
    ("history", "prune", "--history", "{dir}/none.db", "--keep", "{v}"),
    ("history", "show", "--history", "{dir}/none.db", "--since", "{v}"),
    ("report", "--history", "{dir}/none.db", "--horizon", "{v}", "-o", "{dir}/r.html"),
    ("project", "--mix", str(EXAMPLES / "mix.yaml"), "--months", "{v}"),
    ("project", "--mix", str(EXAMPLES / "mix.yaml"), "--growth", "{v}"),
    ("project", "--mix", str(EXAMPLES / "ranged.yaml"), "--samples", "{v}"),
    ("project", "--mix", str(EXAMPLES / "mix.yaml"), "--scenario", "{v}"),
)


@st.composite
def option_values(draw: st.DrawFn) -> Case:
    """One option given an odd value: numbers out of range, units, separators, nothing."""
    line = draw(st.sampled_from(OPTION_LINES))
    value = draw(TYPED | NUMBERS.map(str))
    args = tuple(value if word == "{v}" else word for word in line)
    return Case(args, columns=draw(COLUMNS))


@st.composite
def widths(draw: st.DrawFn) -> Case:
    """Every example and report at any terminal width, in every format."""
    example = draw(st.sampled_from(sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.is_file())))
    extra = draw(
        st.sampled_from(
            [
                (),
                ("--break-even",),
                ("--sensitivity",),
                ("--months", "36"),
                ("--infra-tier", "scale"),
            ]
        )
    )
    args = ("project", "--mix", str(EXAMPLES / example), *extra)
    args += ("--format", draw(st.sampled_from(FORMATS)))
    command = draw(st.sampled_from([args, ("tiers",), ("size", "--products", "500000")]))
    return Case(command, columns=draw(COLUMNS))


TARGETS: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
    "mix": mix_files,
    "set": set_overrides,
    "config": config_files,
    "history_csv": history_csv,
    "access_log": access_logs,
    "calibration": calibrations,
    "options": option_values,
    "widths": widths,
}
