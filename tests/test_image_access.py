"""What a run cannot read or write is found and said: SRC or DEST out of this user's reach stops
the run before any work (exit 3); a folder under SRC or an image tree that cannot be read is
failed and named, never left out in silence; names that are not UTF-8 come out as valid UTF-8;
storage options are checked by name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from capplan.images.locations import printable

from . import images
from .check_servers import as_nobody
from .conftest import Run


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder that another user may enter (pytest's own tmp folder is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="capplan-access-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


@contextmanager
def as_another_user(folder: Path) -> Iterator[None]:
    """Run as a user without root's powers (root reads and writes anywhere): as nobody when the
    tests run as root, else as this user; in `folder` meanwhile."""
    import capplan.check.uploads  # imported while they can still be read
    import capplan.cli.check
    import capplan.cli.images
    import capplan.images.batch
    import capplan.images.stats
    import capplan.output.check
    import capplan.output.images  # noqa: F401
    from capplan import atomic

    atomic.temporary_prefix(Path("warm"))  # what is read at first use, read while it can be
    with as_nobody(folder):
        yield


def photos(folder: Path, names: list[str]) -> None:
    for number, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.jpeg(images.photo(120, 90, seed=number)))


def summary_of(run: Run, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run("images", "convert", *args, "--workers", "1", "--format", "json")
    data: dict[str, Any] = json.loads(result.stdout) if result.stdout else {}
    return result.exit_code, data, result.stderr


@pytest.mark.parametrize(
    ("locked", "args", "problem"),
    [
        (
            "src",
            (),
            "SRC {base}/src: cannot read it: PermissionError: [Errno 13] Permission denied",
        ),
        ("src", ("--shard", "1/2"), "SRC {base}/src: cannot read it: PermissionError"),
        ("dest", (), "DEST {base}/dest: {base}/dest is not writable by this user"),
        ("dest", ("--shard", "0/3", "--dry-run"), "DEST {base}/dest: {base}/dest is not writable"),
    ],
)
def test_src_or_dest_out_of_this_users_reach_stops_before_any_work(
    run: Run, base: Path, locked: str, args: tuple[str, ...], problem: str
) -> None:
    photos(base / "src", ["a.jpg", "b.jpg"])
    (base / "dest").mkdir()
    (base / "dest").chmod(0o777)
    (base / locked).chmod(0o311 if locked == "src" else 0o555)  # enter, not list / not write
    with as_another_user(base):
        code, _, stderr = summary_of(run, base / "src", base / "dest", *args)
    assert code == 3, stderr
    assert stderr.startswith(f"capplan images convert: error: {problem.format(base=base)}")
    assert stderr.count("\n") == 1
    assert list((base / "dest").iterdir()) == []  # nothing written, not even a probe


@pytest.mark.parametrize(
    "locked",
    [["locked"], ["2024/raw"], ["a", "2024/raw/deeper"]],
    ids=["top", "nested", "two"],
)
def test_an_unreadable_folder_under_src_is_a_named_failure(
    run: Run, base: Path, locked: list[str]
) -> None:
    src, dest = base / "src", base / "dest"
    photos(src, ["one.jpg", "2024/two.jpg", "three.jpg"])
    for folder in locked:
        photos(src / folder, ["hidden-from-view.jpg", "also.jpg"])
    dest.mkdir()
    dest.chmod(0o777)
    (base / "out").mkdir()
    (base / "out").chmod(0o777)
    for folder in locked:
        (src / folder).chmod(0o300)  # can be entered but not listed: its images unseen
    with as_another_user(base):
        dry_code, dry, why = summary_of(run, src, dest, "--dry-run")
        code, summary, why2 = summary_of(run, src, dest, "--manifest", base / "out" / "m.jsonl")
    for folder in locked:
        (src / folder).chmod(0o755)
    if os.geteuid() != 0 and os.access(src / locked[0], os.R_OK):
        pytest.skip("this user reads any folder")
    assert code == dry_code == 1, why + why2
    assert summary["converted"] == dry["converted"] == 3
    assert summary["failed"] == dry["failed"] == len(locked)
    failures = {f["source"]: f["error"] for f in summary["failures"]}
    assert set(failures) == {f"{src}/{folder}" for folder in locked}
    assert all("cannot read this folder (Permission denied)" in e for e in failures.values())
    text = (base / "out" / "m.jsonl").read_text("utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert sorted(line["source"] for line in lines if line["status"] == "failed") == sorted(
        failures
    )


def test_an_unreadable_folder_in_an_image_tree_is_named_and_unknown(run: Run, base: Path) -> None:
    tree = base / "tree" / "products"
    for folder in ("ab/cd", "ab/ce", "ef/01"):
        (tree / folder).mkdir(parents=True)
        (tree / folder / f"{folder.replace('/', '')}_200.webp").write_bytes(b"x" * 10)
    (tree / "ab" / "ce").chmod(0o300)
    (tree / "ef").chmod(0o300)
    commands = [
        ("images", "stats", base / "tree", "--format", "json"),
        ("images", "stats", base / "tree"),
        ("check", "--uploads", base / "tree", "--interval", "0", "--format", "json"),
    ]
    for command in commands:  # as this user first: what they import is imported meanwhile
        run(*command)
    with as_another_user(base):
        stats, table, check = (run(*command) for command in commands)
    (tree / "ab" / "ce").chmod(0o755)
    (tree / "ef").chmod(0o755)
    if os.geteuid() != 0 and os.access(tree / "ef", os.R_OK):
        pytest.skip("this user reads any folder")
    assert stats.stdout, stats.stderr
    data = json.loads(stats.stdout)
    assert stats.exit_code == table.exit_code == 1
    assert data["status"] == "UNKNOWN"
    assert data["unreadable"] == [str(tree / "ab" / "ce"), str(tree / "ef")]
    assert "2 folders or files could not be read" in table.stdout
    assert str(tree / "ef") in table.stdout
    assert check.exit_code != 0
    assert check.stdout, check.stderr
    names = ("storage_gb", "image_files", "files_per_directory_max")
    uploads = [m for m in json.loads(check.stdout)["metrics"] if m["name"] in names]
    assert len(uploads) == 3 and {m["status"] for m in uploads} == {"UNKNOWN"}
    assert "2 folders or files could not be read" in uploads[0]["action"]
    assert all(m["value"] is None for m in uploads)  # never the partial count as the total


NOT_UTF8 = [b"caf\xe9.jpg", b"\xff.jpg", b"sub\xff/x.jpg", b"ok-\xc3\xa9-\xfe.jpg"]


@pytest.mark.parametrize("raw", NOT_UTF8, ids=lambda raw: raw.decode("latin-1"))
@pytest.mark.parametrize("good", [True, False], ids=["image", "corrupt"])
def test_a_name_that_is_not_utf8_comes_out_escaped_and_the_dry_run_agrees(
    run: Run, tmp_path: Path, raw: bytes, good: bool
) -> None:
    src = tmp_path / "src"
    path = Path(os.fsdecode(os.fsencode(src) + b"/" + raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.jpeg(images.photo(80, 60)) if good else b"\xff\xd8 not really")
    manifest = tmp_path / "m.jsonl"
    dry = run("images", "convert", src, tmp_path / "dest", "--dry-run", "--format", "json")
    result = run("images", "convert", src, tmp_path / "dest", "--manifest", manifest,
                 "--format", "json")  # fmt: skip
    assert result.exit_code == dry.exit_code == (0 if good else 1), result.output
    shown = printable(str(path))
    assert "\\x" in shown and shown.isprintable()
    data = json.loads(result.stdout.encode("utf-8"))  # valid UTF-8, valid JSON
    line = json.loads(manifest.read_bytes().decode("utf-8"))
    assert line["source"] == shown
    if not good:
        assert data["failures"][0]["source"] == shown


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("bogus_option=1", "--storage-option bogus_option: unknown option for s3://"),
        ("endpoint_urll=http://x", "--storage-option endpoint_urll: unknown option for s3://"),
        ("Anon=true", "--storage-option Anon: unknown option for s3://"),
    ],
)
def test_an_unknown_storage_option_is_named(
    run: Run, tmp_path: Path, option: str, problem: str
) -> None:
    pytest.importorskip("s3fs")
    photos(tmp_path / "src", ["a.jpg"])
    result = run("images", "convert", tmp_path / "src", "s3://bucket/x", "--storage-option", option)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"capplan images convert: error: {problem}")
    assert "TypeError" not in result.stderr and "AioSession" not in result.stderr
    assert "anon" in result.stderr and "endpoint_url" in result.stderr  # what it takes
    assert result.stderr.count("\n") == 1
