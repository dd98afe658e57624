"""The edge where every error leaves capplan: a usage error names the option and never echoes a
value, check keeps its output promise whatever the mistake on its command line, and a closed or
full stdout (or a closed stderr) is a clear line and the documented exit code, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, Run

SECRET = "Sw0rd-f1sh-v4lue"
FAST = ("check", "--interval", "0")


# --- usage errors name the option, never the value --------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            (*FAST, f"postgresql://mon:{SECRET}@db/shop"),
            "unexpected extra argument: a value that no option takes",
        ),
        (("check", "--interval", SECRET), "Invalid value for '--interval': expected a number"),
        ((*FAST, "--requests", SECRET), "Invalid value for '--requests': expected a whole number"),
        ((*FAST, "--format", SECRET), "Invalid value for '--format': expected one of table,"),
        ((*FAST, f"--labell={SECRET}"), "No such option: --labell"),
        ((*FAST, "--url", f"http://u:{SECRET}@host:80/x@y"), "--url http://***: an @ stands"),
        ((*FAST, "--db", f"u:{SECRET}@db/shop"), "--db ***: no such file, and not a URL"),
        (("project", "--mix", EXAMPLES / "mix.yaml", "--months", SECRET), "'--months': expected"),
        (("project", "--mix", EXAMPLES / "mix.yaml", SECRET), "unexpected extra argument"),
        (("size", "--products", SECRET), "Invalid value for '--products': expected a whole"),
        (("history", "show", "--format", SECRET), "Invalid value for '--format': expected one"),
        (("images", "stats", "x", "y", SECRET), "unexpected extra argument"),
    ],
)
def test_a_usage_error_names_the_option_and_never_echoes_the_value(
    run: Run, args: tuple[str, ...], said: str
) -> None:
    result = run(*args)
    assert result.exit_code == (3 if args[0] == "check" else 2), result.output
    assert said in result.stderr
    assert result.stderr.count("\n") == 1
    for fragment in (SECRET, SECRET[:8], SECRET[-8:]):
        assert fragment not in result.stdout + result.stderr


def test_a_header_value_with_a_line_break_is_a_usage_error_not_a_crash(run: Run) -> None:
    result = run(
        *FAST, "--url", "http://127.0.0.1:1/", "--header", f"Authorization: {SECRET}\nX: 1"
    )
    assert result.exit_code == 3
    assert "--header Authorization: ***: a header's value holds printable ASCII" in result.stderr
    assert SECRET not in result.output


def test_an_internal_error_never_prints_the_values_it_holds(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError(f"cannot use {kwargs.get('urls')}")

    monkeypatch.setattr("capplan.check.run", broken)
    result = run(*FAST, "--url", f"http://u:{SECRET}@127.0.0.1:1/?token={SECRET}")
    assert result.exit_code == 70
    assert result.stderr.startswith("capplan check: error: internal error: ValueError at ")
    assert SECRET not in result.output


# --- check keeps its output promise whatever the mistake --------------------------------------


def promise(tmp_path: Path, fmt: str, name: str) -> list[str]:
    return ["--label", "shop=eu", "--format", fmt, "--output", str(tmp_path / name)]


@pytest.mark.parametrize(
    "bad",
    [
        ["--labell", "shop=eu"],
        ["--interval", "abc"],
        ["--bogus"],
        ["stray-argument"],
        ["--db", f"postgresql://u:{SECRET}@a@b/shop"],
        ["--label", "9bad=1"],
    ],
    ids=["typo", "bad value", "unknown flag", "extra argument", "ambiguous URL", "bad label"],
)
@pytest.mark.parametrize("where", [0, 2, 4, 6], ids=["before", "between", "between2", "after"])
def test_a_usage_error_anywhere_writes_the_failure_file_with_its_labels(
    run: Run, tmp_path: Path, bad: list[str], where: int
) -> None:
    options = promise(tmp_path, "prometheus", "f.prom")
    args = [*options[:where], *bad, *options[where:]]
    result = run(*FAST, *args)
    assert result.exit_code == 3
    assert result.stdout == ""  # what belongs in the file is not on stdout
    text = (tmp_path / "f.prom").read_text(encoding="utf-8")
    assert 'capplan_up{shop="eu"} 0' in text
    assert SECRET not in text + result.stderr


@pytest.mark.parametrize("where", [0, 2, 4, 6])
def test_a_usage_error_anywhere_writes_the_nagios_line_where_it_was_asked(
    run: Run, tmp_path: Path, where: int
) -> None:
    options = promise(tmp_path, "nagios", "status.txt")
    result = run(*FAST, *options[:where], "--labell", "shop=eu", *options[where:])
    assert result.exit_code == 3 and result.stdout == ""
    status = (tmp_path / "status.txt").read_text(encoding="utf-8")
    assert status.startswith("CAPPLAN UNKNOWN - No such option: --labell")


def test_the_format_named_by_the_file_suffix_is_kept_on_a_usage_error(
    run: Run, tmp_path: Path
) -> None:
    result = run(*FAST, "-o", tmp_path / "f.prom", "--label", "a=b", "--bogus")
    assert result.exit_code == 3 and result.stdout == ""
    assert 'capplan_up{a="b"} 0' in (tmp_path / "f.prom").read_text(encoding="utf-8")


def test_nagios_still_gets_its_line_when_the_output_file_cannot_be_written(
    run: Run, tmp_path: Path
) -> None:
    result = run(*FAST, "--format", "nagios", "--output", tmp_path, "--bogus")
    assert result.exit_code == 3
    assert result.stdout.startswith("CAPPLAN UNKNOWN - ")


# --- closed or full streams: real file descriptors in a subprocess ----------------------------


def capplan(args: list[str], tmp_path: Path, **streams: object) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "capplan", *args],
        cwd=tmp_path,
        text=True,
        env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
        timeout=120,
        check=False,
        **streams,  # type: ignore[call-overload]
    )
    return result


def history_csv(tmp_path: Path) -> Path:
    csv = tmp_path / "series.csv"
    csv.write_text(
        "timestamp,metric,value\n2026-10-01T00:00:00,cpu_percent,10\n"
        "2026-10-02T00:00:00,cpu_percent,11\n2026-10-03T00:00:00,cpu_percent,12\n",
        encoding="utf-8",
    )
    return csv


def commands(tmp_path: Path) -> dict[str, tuple[list[str], int]]:
    """Each command that writes its result on stdout, and its exit code when stdout is lost."""
    history = tmp_path / "h.db"
    if not history.exists():
        capplan(["history", "import", str(history_csv(tmp_path)), "--history", str(history)],
                tmp_path, capture_output=True)  # fmt: skip
    return {
        "project": (["project", "--mix", str(EXAMPLES / "mix.yaml")], 74),
        "check": (["check", "--interval", "0", "--format", "nagios"], 3),
        "check table": (["check", "--interval", "0"], 3),
        "report": (["report", "--history", str(history)], 74),
        "history show": (["history", "show", "--history", str(history)], 74),
        "version": (["--version"], 74),
        "help": ([], 74),
    }


@pytest.mark.parametrize(
    "name", ["project", "check", "check table", "report", "history show", "version", "help"]
)
@pytest.mark.parametrize("stream", ["closed", "full"])
def test_a_closed_or_full_stdout_is_one_line_and_the_documented_code(
    tmp_path: Path, name: str, stream: str
) -> None:
    args, code = commands(tmp_path)[name]
    if stream == "closed":
        result = capplan(args, tmp_path, stdout=None, stderr=subprocess.PIPE, close_fds=True,
                         pass_fds=(), preexec_fn=lambda: os.close(1))  # fmt: skip
        reason = "it is closed"
    else:
        with Path("/dev/full").open("w", encoding="utf-8") as full:
            result = capplan(args, tmp_path, stdout=full, stderr=subprocess.PIPE)
        reason = "No space left on device"
    assert result.returncode == code, result.stderr
    assert result.stderr.endswith(f": error: cannot write to stdout: {reason}\n"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("stream", ["closed", "full"])
def test_a_history_import_says_it_is_committed_when_stdout_is_lost(
    tmp_path: Path, stream: str
) -> None:
    history = tmp_path / "imported.db"
    args = ["history", "import", str(history_csv(tmp_path)), "--history", str(history)]
    if stream == "closed":
        result = capplan(args, tmp_path, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    else:
        with Path("/dev/full").open("w", encoding="utf-8") as full:
            result = capplan(args, tmp_path, stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == 74
    assert f"the import into {history} is committed" in result.stderr
    shown = capplan(["history", "show", "--history", str(history), "--format", "csv"], tmp_path,
                    capture_output=True)  # fmt: skip
    assert shown.stdout.count("cpu_percent") == 3


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check", "--bogus"], 3),
        (["check", "--interval", "0", "--db", "mysql://db/x"], 3),
        (["project", "--mixx", "x"], 2),
        (["project", "--mix", "no-such-file.yaml"], 2),
    ],
)
def test_with_stderr_closed_an_error_keeps_its_own_exit_code(
    tmp_path: Path, args: list[str], code: int
) -> None:
    result = capplan(args, tmp_path, capture_output=False, stdout=subprocess.DEVNULL,
                     preexec_fn=lambda: os.close(2))  # fmt: skip
    assert result.returncode == code


def test_two_urls_told_apart_only_by_what_is_never_shown_are_refused(run: Run) -> None:
    first, second = "http://127.0.0.1:1/h?sid=one-Secret", "http://127.0.0.1:1/h?sid=two-Secret"
    result = run(*FAST, "--url", first, "--url", second)
    assert result.exit_code == 3
    assert "--url http://127.0.0.1:1/h: given twice with different credentials or queries" in (
        result.stderr
    )
    assert "Secret" not in result.output
    same = run(*FAST, "--url", first, "--url", first, "--requests", "1", "--format", "json")
    assert "given twice" not in same.stderr and json.loads(same.stdout)["metrics"]
