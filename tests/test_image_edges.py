"""`images convert` as a new user finds it: output paths checked first, an empty SRC, files that
are plainly not images, --exclude, and a dry run that predicts the real run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.images.sources import Exclusions, largest_first, not_an_image
from capplan.images.storage import Entry

from . import images
from .conftest import Run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def summary_of(run: Run, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run("images", "convert", *args, "--format", "json")
    assert result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, data


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(images.jpeg(images.photo(120, 90, seed=1)))
    return folder


@pytest.mark.parametrize(
    ("args", "option", "problem"),
    [
        (("--manifest", "{tmp}/folder"), "--manifest", "is a directory: name a file"),
        (("--manifest", "{tmp}/src/m.jsonl"), "--manifest", "is inside SRC"),
        (("--manifest", "{tmp}/src/deeper/m.jsonl"), "--manifest", "does not exist"),
        (("--manifest", "{tmp}/missing/m.jsonl"), "--manifest", "does not exist"),
        (("--format", "json", "-o", "{tmp}/src/out.json"), "--output", "is inside SRC"),
        (("--format", "json", "-o", "{tmp}/folder"), "--output", "is a directory"),
        (("--format", "json", "-o", "{tmp}/missing/o.json"), "--output", "does not exist"),
        (("--manifest", "{tmp}/x.json", "-f", "json", "-o", "{tmp}/x.json"), "--manifest", "same"),
    ],
)
def test_every_output_path_is_checked_before_any_work(
    run: Run, src: Path, tmp_path: Path, args: tuple[str, ...], option: str, problem: str
) -> None:
    (tmp_path / "folder").mkdir()
    before = snapshot(tmp_path)
    result = run(
        "images", "convert", src, tmp_path / "dest", *[a.format(tmp=tmp_path) for a in args]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("capplan images convert: error: ") and option in result.stderr
    assert problem in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "dest").exists()
    assert snapshot(tmp_path) == before  # no temporary file anywhere, sources untouched


@pytest.mark.parametrize(
    "dest", ["{tmp}/src/a.jpg/x", "{tmp}/file/under", "{tmp}/file"], ids=["in-src", "under", "file"]
)
def test_a_dest_that_cannot_be_a_folder_is_refused(
    run: Run, src: Path, tmp_path: Path, dest: str
) -> None:
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    result = run("images", "convert", src, dest.format(tmp=tmp_path))
    assert result.exit_code == 2 and "DEST" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"notes.txt": b"hello", "data.json": b"{}", ".DS_Store": b"\0\0"},
        {".hidden/a.jpg": "photo", "README.md": b"# read me"},
        {"drafts/a.jpg": "photo", "b.psd": b"8BPS"},
    ],
    ids=["empty", "text", "hidden", "excluded"],
)
def test_no_images_under_src_says_so_and_creates_nothing(
    run: Run, tmp_path: Path, files: dict[str, object]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name, content in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        data = images.jpeg(images.photo(50, 40)) if content == "photo" else content
        assert isinstance(data, bytes)
        (src / name).write_bytes(data)
    args = ("--exclude", "drafts", "--exclude", "*.psd")
    result = run("images", "convert", src, tmp_path / "dest", *args)
    assert result.exit_code == 0, result.output
    assert f"no images found under {src}" in result.stdout
    assert not (tmp_path / "dest").exists()
    code, summary = summary_of(run, src, tmp_path / "dest", *args)
    assert code == 0 and summary["converted"] == summary["failed"] == 0


@pytest.mark.parametrize(
    "name",
    ["notes.txt", "export.JSON", "list.csv", ".DS_Store", ".photo.jpg", "Thumbs.db", "a.pdf"],
)
def test_plainly_not_images_are_ignored_unless_strict(run: Run, src: Path, name: str) -> None:
    (src / name).write_bytes(b"this is not an image at all")
    dest = src.parent / "dest"
    code, summary = summary_of(run, src, dest, "--dry-run")
    assert (code, summary["ignored"], summary["failed"], summary["converted"]) == (0, 1, 0, 1)
    code, summary = summary_of(run, src, dest, "--strict")
    assert (code, summary["ignored"], summary["failed"], summary["converted"]) == (1, 0, 1, 1)
    assert summary["failures"][0]["source"].endswith(name)


@pytest.mark.parametrize("name", ["photo", "photo.bin", "picture.jpeg.bak", "scan.TIFF"])
def test_the_content_decides_for_any_other_name(run: Run, tmp_path: Path, name: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_bytes(images.jpeg(images.photo(60, 40)))
    code, summary = summary_of(run, src, tmp_path / "dest")
    assert (code, summary["converted"], summary["ignored"]) == (0, 1, 0)


@pytest.mark.parametrize(
    ("patterns", "converted"),
    [
        ((), {"a.jpg", "raw/b.jpg", "2024/05/c.png", "2024/06/d.jpg"}),
        (("*.png",), {"a.jpg", "raw/b.jpg", "2024/06/d.jpg"}),
        (("raw",), {"a.jpg", "2024/05/c.png", "2024/06/d.jpg"}),
        (("2024/*/c.png", "a.*"), {"raw/b.jpg", "2024/06/d.jpg"}),
        (("2024/05",), {"a.jpg", "raw/b.jpg", "2024/06/d.jpg"}),
    ],
)
def test_exclude_leaves_out_names_and_paths(
    run: Run, tmp_path: Path, patterns: tuple[str, ...], converted: set[str]
) -> None:
    src = tmp_path / "src"
    for n, name in enumerate(["a.jpg", "raw/b.jpg", "2024/05/c.png", "2024/06/d.jpg"]):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        picture = images.photo(40 + n, 30, seed=n)
        (src / name).write_bytes(
            images.png(picture) if name.endswith("png") else images.jpeg(picture)
        )
    manifest = tmp_path / "m.jsonl"
    args = [arg for pattern in patterns for arg in ("--exclude", pattern)]
    code, summary = summary_of(run, src, tmp_path / "dest", "--manifest", manifest, *args)
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert {os.path.relpath(line["source"], src) for line in lines} == converted
    assert (code, summary["converted"], summary["ignored"]) == (0, len(converted), 0)


def corpus(folder: Path, names: list[str]) -> None:
    """A source folder made of the named files of the standard test corpus."""
    every = images.write_sources(folder.parent / "corpus")
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(every[name].read_bytes())


KEYS = ("converted", "skipped", "duplicates", "failed", "ignored")


@pytest.mark.parametrize(
    ("names", "options"),
    [
        (["photo0.jpg", "alpha.png"], ()),
        (["photo0.jpg", "truncated.jpg"], ()),
        (["photo1.jpg", "bomb.png", "animated.gif"], ()),
        (["photo2.jpg", "notes.jpg", "drawing.eps", "cmyk.jpg"], ()),
        (["photo0.jpg", "photo1.jpg"], ("--max-bytes", "20000")),
        (["photo0.jpg", "deep.png"], ("--max-pixels", "100000")),
        (["rotated.jpg", "palette.png", "gps.jpg"], ("--workers", "1")),
    ],
)
def test_a_dry_run_predicts_the_real_run(
    run: Run, tmp_path: Path, names: list[str], options: tuple[str, ...]
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    corpus(src, names)
    (src / "copy.jpg").write_bytes((src / names[0]).read_bytes())  # a duplicate
    for _ in range(2):  # a first run, then a rerun over a complete tree
        dry_code, dry = summary_of(run, src, dest, "--dry-run", *options)
        code, real = summary_of(run, src, dest, *options)
        assert dry_code == code
        assert {k: dry[k] for k in KEYS} == {k: real[k] for k in KEYS}
        assert {f["source"] for f in dry["failures"]} == {f["source"] for f in real["failures"]}


@given(st.lists(st.integers(0, 10**6), max_size=200), st.integers(1, 20))
def test_largest_first_is_a_bounded_reordering(sizes: list[int], window: int) -> None:
    entries = [Entry(f"p{n}", f"p{n}", size) for n, size in enumerate(sizes)]
    out = list(largest_first(iter(entries), window))
    assert sorted(e.path for e in out) == sorted(e.path for e in entries)
    for position, entry in enumerate(out):
        # each entry handed out was the largest of those seen and not yet handed out
        seen = entries[: min(len(entries), position + window)]
        waiting = [e for e in seen if e not in out[:position]]
        assert entry.size == max(e.size for e in waiting)


def test_names_and_globs() -> None:
    assert not_an_image("photo.jpg") is None and not_an_image("scan") is None
    assert not_an_image("notes.TXT") and not_an_image(".hidden.jpg")
    rules = Exclusions(["*.psd", "raw", "2024/*/tmp"])
    assert rules.excludes("a/b.psd", "b.psd") and rules.excludes("x/raw", "raw")
    assert rules.excludes("2024/05/tmp", "tmp") and not rules.excludes("2023/tmp/a.jpg", "a.jpg")


def test_the_progress_bar_starts_once_and_ignores_a_late_count() -> None:
    import threading

    from capplan.images.outcome import Outcome
    from capplan.output.images import ImageProgress

    progress = ImageProgress(enabled=True)
    with progress:
        counting = threading.Thread(target=progress.set_total, args=(3,))
        counting.start()
        for _ in range(3):
            progress.advance(Outcome("a.jpg", "converted"))
        counting.join()
        started = progress.progress
        assert started is not None and started.tasks[0].completed == 3
    progress.set_total(5)  # the count thread finishing after the run: draws nothing
    assert progress.progress is started and not started.live.is_started


# --- the summary of failed sources: where all of them are ------------------------------------


@pytest.fixture
def broken_src(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(images.jpeg(images.photo(120, 90, seed=1)))
    for n in range(3):
        (folder / f"bad{n}.jpg").write_bytes(b"not a JPEG at all\n" * (n + 1))
    return folder


def failed_title(run: Run, *args: str | Path) -> str:
    result = run("images", "convert", *args, "--workers", "1")
    assert result.exit_code == 1, result.output
    (title,) = [line for line in result.stdout.splitlines() if line.startswith("Failed sources")]
    return title.strip()


def test_failed_sources_without_a_manifest_say_how_to_get_them_all(
    run: Run, broken_src: Path, tmp_path: Path
) -> None:
    title = failed_title(run, broken_src, tmp_path / "out3")
    assert title == "Failed sources (first 3 of 3; give --manifest FILE for all)"


def test_failed_sources_of_a_dry_run_say_a_run_with_a_manifest_lists_them(
    run: Run, broken_src: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    for extra in ((), ("--manifest", manifest)):
        title = failed_title(run, broken_src, tmp_path / "out", "--dry-run", *extra)
        assert title == "Failed sources (first 3 of 3; a run with --manifest FILE lists all)"
    assert not manifest.exists() and not (tmp_path / "out").exists()


def test_failed_sources_with_a_manifest_point_at_it(
    run: Run, broken_src: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    title = failed_title(run, broken_src, tmp_path / "out", "--manifest", manifest)
    assert title == "Failed sources (first 3 of 3; all in --manifest)"
    assert manifest.read_text(encoding="utf-8").count('"status": "failed"') == 3
