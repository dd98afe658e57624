"""The command line as a user meets it: help, version, `size`, `tiers`, formats, usage errors."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capplan import __version__
from capplan.cli import app
from capplan.output.size import UNITS

from .conftest import EXAMPLES, Run

SCALE = (
    "--products",
    "500000",
    "--images-per-product",
    "5",
    "--orders",
    "300000",
    "--clients",
    "1000",
    "--api-requests-per-day",
    "10000",
)


def all_commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        commands = getattr(command, "commands", {})
        for name, sub in commands.items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(group, [])
    return paths


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_option_shows_a_placeholder_a_person_reads(run: Run, path: list[str]) -> None:
    """FILE, N, DURATION, TIER, not Typer's type names (<str>, <int range>, <path>)."""
    text = run(*path, "--help").stdout
    options = text.split("Options:", 1)[-1]
    assert not re.findall(r"^\s+(?:-\w, )?--[a-z-]+ <(?:str|int|float|path)[^>]*>", options, re.M)


def test_a_bug_is_one_line_exit_70_that_says_how_to_see_the_traceback(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"a bug holding an argument's value: {args}")

    monkeypatch.setattr("capplan.formulas.totals", broken)  # read as formulas.totals everywhere
    result = run("project", "--mix", EXAMPLES / "mix.yaml")
    assert (result.exit_code, result.stdout) == (70, "")
    assert result.stderr == (  # its type and where, never its message (it may hold a value)
        "capplan project: error: internal error: RuntimeError at test_cli.py:64 (run it again "
        "with CAPPLAN_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setenv("CAPPLAN_DEBUG", "1")
    shown = run("project", "--mix", EXAMPLES / "mix.yaml")
    assert shown.exit_code == 70 and "Traceback (most recent call last)" in shown.stderr


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"capplan {__version__}\n"


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help(run: Run, path: list[str]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    # the first line of the docstring is the summary shown by `capplan --help`
    import typer.main

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help) > 30


def test_the_app_lists_its_commands(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("tiers", "size", "project"):
        assert name in result.stdout


def test_size_reproduces_the_scale_projections(run: Run) -> None:
    result = run("size", *SCALE)
    assert result.exit_code == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "2,000,000" in rows["translations"]
    assert "7,500,000" in rows["image_files"]
    assert "1,500" in rows["image_storage_gb"]
    assert " 21 " in rows["db_size_gb"]
    assert "750,000" in rows["order_items_per_month"]
    assert "300,000,000" in rows["api_requests_per_month"]
    assert "3.15" in rows["egress_tb_per_month"]
    assert "500,000 products x 5 images x 3 variants" in rows["image_files"]


def test_size_json_contract(run: Run) -> None:
    result = run("size", *SCALE, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data["totals"]) == set(UNITS)
    assert data["totals"] == {
        "clients": 1000,
        "products": 500000,
        "translations": 2000000,
        "image_files": 7500000,
        "image_storage_gb": 1500,
        "db_size_gb": 21,
        "orders_per_month": 300000,
        "order_items_per_month": 750000,
        "api_requests_per_month": 300000000,
        "egress_tb_per_month": 3.15,
    }
    assert all(isinstance(v, (int, float)) for v in data["totals"].values())


def test_size_defaults_images_per_product_from_the_assumptions(run: Run) -> None:
    result = run("size", "--products", "100", "--format", "json")
    assert json.loads(result.stdout)["totals"]["image_files"] == 100 * 5 * 3


def test_size_takes_an_average_of_images_per_product(run: Run) -> None:
    """The seed's mix averages 7.5 images a product; a number that is none is refused."""
    result = run("size", "--products", "100", "--images-per-product", "7.5", "--format", "json")
    assert json.loads(result.stdout)["totals"]["image_files"] == 100 * 7.5 * 3
    refused = run("size", "--products", "100", "--images-per-product", "nan")
    assert refused.exit_code == 2
    assert "'--images-per-product': expected a number from 0 to 1,000,000,000,000" in refused.stderr


def test_size_csv_and_markdown(run: Run) -> None:
    result = run("size", *SCALE, "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["section", "total", "value", "unit", "formula"]
    assert rows[4][1:3] == ["image_files", "7500000"]  # numbers as numbers in CSV
    markdown = run("size", *SCALE, "--format", "markdown").stdout
    assert "| total | value | unit | formula |" in markdown
    assert "| image_storage_gb | 1,500 | GB |" in markdown


def csv_blocks(text: str) -> dict[str, list[dict[str, str]]]:
    """Each CSV block's rows by their section title."""
    blocks: dict[str, list[dict[str, str]]] = {}
    for block in text.strip().split("\n\n"):
        for row in csv.DictReader(io.StringIO(block)):
            blocks.setdefault(row.pop("section"), []).append(row)
    return blocks


def test_csv_gives_amounts_percentages_and_sizes_as_numbers(run: Run) -> None:
    mix = ("--mix", str(EXAMPLES / "mix.yaml"))
    plan = json.loads(run("project", *mix, "--format", "json").stdout)
    blocks = csv_blocks(run("project", *mix, "--format", "csv").stdout)
    costs = {row["item"]: (row["amount"], row["amount unit"]) for row in blocks["Monthly costs"]}
    assert float(costs["Revenue"][0]) == plan["costs"]["revenue_eur"]
    assert costs["Revenue"][1] == "EUR" and costs["Gross margin"][1] == "%"
    assert float(costs["Gross margin"][0]) == pytest.approx(plan["costs"]["gross_margin_pct"])
    bandwidth = next(rows for title, rows in blocks.items() if title.startswith("Bandwidth"))
    assert [(r["provider"], r["currency"], r["cost/month"]) for r in bandwidth] == [
        (b["provider"], b["currency"], str(b["cost"])) for b in plan["costs"]["bandwidth"]
    ]
    # the table still reads as money
    assert "EUR 96,500" in run("project", *mix).stdout

    tiers = csv_blocks(run("tiers", "--format", "csv").stdout)
    plans = tiers["Pricing tiers (per client)"]
    assert (plans[-1]["id"], plans[-1]["price"], plans[-1]["price unit"]) == (
        "enterprise",
        "399",
        "EUR",
    )
    assert plans[-1]["products"] == "unlimited"
    assert [(r["id"], r["storage GB"], r["CDN"]) for r in tiers["Infrastructure tiers"]][-2:] == [
        ("scale", "2000", "yes"),
        ("enterprise", "4000", "yes"),
    ]

    check = run("check", "--interval", "0", "--format", "csv")
    measured = json.loads(run("check", "--interval", "0", "--format", "json").stdout)
    rows = next(iter(csv_blocks(check.stdout).values()))
    memory = next(r for r in rows if r["metric"] == "memory_percent")
    assert 0 < float(memory["value"]) < 100 and memory["value unit"] == "%"
    assert [r["metric"] for r in rows] == [m["name"] for m in measured["metrics"]]
    disk_io = next(r for r in rows if r["warning"] == "")  # no threshold: an empty cell
    assert float(disk_io["value"]) >= 0


def test_tiers_shows_every_table(run: Run) -> None:
    result = run("tiers")
    assert result.exit_code == 0
    for text in (
        "Pricing tiers",
        "Infrastructure tiers",
        "Backups and transitions",
        "Bandwidth prices",
        "Migrate to PostgreSQL",
        "Streaming replicas",
        "Cloudflare",
    ):
        assert text in result.stdout
    data = json.loads(run("tiers", "--format", "json").stdout)
    assert [t["id"] for t in data["infrastructure_tiers"]][-1] == "enterprise"
    assert data["pricing_tiers"][3]["products"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("size", "--products", "-5"), "Invalid value for '--products'"),
        (("size",), "Missing option '--products'"),
        (("size", "--products", "5", "--bogus"), "No such option: --bogus"),
        (("size", "--products", "5", "--format", "xml"), "Invalid value for '--format'"),
        (("nonsense",), "No such command 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(run: Run, args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_python_dash_m_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "capplan", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"capplan {__version__}"


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from capplan.cli import app; "
        "heavy = {'PIL', 'psutil', 'pydantic', 'rich', 'yaml', 'psycopg'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [(), ("images",), ("history",)])
def test_a_group_without_a_subcommand_shows_its_help(run: Run, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.startswith(f"Usage: {' '.join(['capplan', *args])} [OPTIONS] COMMAND")
    assert "Commands:" in result.stdout


@pytest.mark.parametrize("path", [[], *all_commands()], ids=lambda p: " ".join(p) or "capplan")
def test_dash_h_is_help(run: Run, path: list[str]) -> None:
    short, long = run(*path, "-h"), run(*path, "--help")
    assert short.exit_code == 0 and short.stdout == long.stdout
    assert short.stdout.startswith("Usage: ")


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (("images", "convert", "/no/such/src", "/tmp/x"), "capplan images convert: error: SRC"),
        (("images", "stats", "/no/such/tree"), "capplan images stats: error: DIR"),
        (("history", "show", "--history", "/no/such.db"), "capplan history show: error: --history"),
        (("project", "--mix", "m.yaml", "--nope"), "capplan project: error: No such option"),
        (("images", "convert", "--quality", "x"), "capplan images convert: error: Invalid value"),
    ],
)
def test_errors_name_the_subcommand(run: Run, args: tuple[str, ...], prefix: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(prefix) and result.stderr.count("\n") == 1


def test_piped_help_keeps_every_option_name_whole() -> None:
    """Help read through a pipe (no terminal, no COLUMNS): no option name is cut."""
    import os

    import typer.main

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    for path in all_commands():
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        shown = subprocess.run(
            [sys.executable, "-m", "capplan", *path, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        for param in command.params:
            for option in param.opts:
                if option.startswith("-"):
                    assert option in shown, (path, option)


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """`capplan ... | head`: the reader leaves early; capplan exits 0 without a traceback."""
    mix = EXAMPLES / "growing.yaml"
    command = [sys.executable, "-m", "capplan", "project", "--mix", str(mix), "--months", "1200"]
    process = subprocess.Popen(
        [*command, "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(100)
    process.stdout.close()  # far less than the output, which is larger than a pipe's buffer
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


NARROW = 60


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        (("tiers",), ("professional", "enterprise", "unlimited", "EUR 399", "1,000", "20,000")),
        (("size", *SCALE), ("api_requests_per_month", "300,000,000", "7,500,000")),
        (("project", "--mix", str(EXAMPLES / "mix.yaml")), ("enterprise", "2,007", "89.8 %")),
        (("project", "--mix", str(EXAMPLES / "growing.yaml")), ("Starter -> Small", "medium")),
    ],
)
def test_narrow_tables_never_cut_a_number_a_status_or_an_id(
    args: tuple[str, ...], whole: tuple[str, ...]
) -> None:
    runner = CliRunner(env={"TERM": "dumb", "COLUMNS": str(NARROW), "NO_COLOR": "1"})
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= NARROW
    assert "…" not in result.stdout
    for text in whole:
        assert text in result.stdout, text


def test_version_answers_without_loading_the_command_line() -> None:
    code = (
        "import sys; sys.argv = ['capplan', '--version']; from capplan.cli import main; main(); "
        "print(sorted({'typer', 'pydantic', 'rich'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"capplan {__version__}\n[]\n"


@pytest.mark.parametrize(
    "words",
    [
        ("history", "export"),
        ("history", "show"),
        ("project", "--mix", str(EXAMPLES / "growing.yaml"), "--months", "1200", "-f", "csv"),
    ],
)
def test_head_of_a_pipeline_ends_it_with_0(tmp_path: Path, words: tuple[str, ...]) -> None:
    """`set -o pipefail; capplan ... | head -1` succeeds: the reader had what it wanted."""
    import shlex

    history = tmp_path / "h.db"
    rows = "\n".join(f"2026-01-{d:02d}T00:00:00,disk_percent,{d},path=/" for d in range(1, 29))
    (tmp_path / "h.csv").write_text("timestamp,metric,value,labels\n" + rows + "\n")
    capplan = [sys.executable, "-m", "capplan"]
    subprocess.run(
        [*capplan, "history", "import", tmp_path / "h.csv", "--history", history],
        check=True,
        capture_output=True,
    )
    extra = ("--history", str(history)) if words[0] == "history" else ()
    command = shlex.join([*capplan, *words, *extra])
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; for i in 1 2 3; do {command} | head -1 >/dev/null || exit $?; done",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("args", "name", "starts"),
    [
        (("project", "--mix", str(EXAMPLES / "mix.yaml")), "plan.json", "{\n"),
        (("project", "--mix", str(EXAMPLES / "mix.yaml")), "plan.md", "### Tier mix"),
        (("size", *SCALE), "totals.csv", "section,total,value,unit,formula\n"),
        (("check", "--interval", "0"), "capplan.prom", "# HELP capplan_"),
    ],
)
def test_the_output_file_name_says_the_format(
    run: Run, tmp_path: Path, args: tuple[str, ...], name: str, starts: str
) -> None:
    target = tmp_path / name
    result = run(*args, "-o", target)
    assert result.exit_code in (0, 1, 2) and result.stdout == "", result.stderr
    assert target.read_text(encoding="utf-8").startswith(starts)


@pytest.mark.parametrize("name", ["plan.txt", "plan", "plan.prom"])
def test_a_file_name_that_says_no_format_of_the_command_is_refused(
    run: Run, tmp_path: Path, name: str
) -> None:
    result = run("project", "--mix", EXAMPLES / "mix.yaml", "-o", tmp_path / name)
    assert result.exit_code == 2
    assert "--output needs --format json, csv or markdown (or name the file for it" in (
        result.stderr
    )
    assert not (tmp_path / name).exists()
