"""`capplan images convert` and `capplan images stats` end to end, on images the tests make."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from capplan import atomic

from . import images
from .conftest import ROOT, Run


def tree(dest: Path) -> dict[str, tuple[int, int]]:
    """Every file under dest: relative path -> (inode, mtime)."""
    return {
        str(path.relative_to(dest)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in dest.rglob("*")
        if path.is_file()
    }


def expected_outputs(*sources: Path) -> set[str]:
    names = set()
    for source in sources:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        for variant in ("original", "800", "200"):
            names.add(f"products/{digest[:2]}/{digest[2:4]}/{digest}_{variant}.webp")
    return names


def convert(run: Run, src: Path, dest: Path, *args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run("images", "convert", src, dest, "--format", "json", *args)
    assert result.stdout, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, summary


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    return images.write_sources(tmp_path / "src")


def test_good_sources_convert_and_bad_ones_are_refused(
    run: Run, sources: dict[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    manifest = tmp_path / "manifest.jsonl"
    before = {name: path.read_bytes() for name, path in sources.items()}
    code, summary = convert(run, tmp_path / "src", dest, "--manifest", manifest, "--workers", "2")
    good = [p for name, p in sources.items() if name not in images.BAD]
    assert code == 1
    assert summary["converted"] == len(good)
    assert summary["failed"] == len(images.BAD)
    assert summary["bytes_in"] == sum(p.stat().st_size for p in good)
    assert summary["bytes_out"] > 0
    assert set(tree(dest)) == expected_outputs(*good)
    reasons = {Path(f["source"]).name: f["error"] for f in summary["failures"]}
    assert set(reasons) == set(images.BAD)
    assert "animated GIF" in reasons["animated.gif"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "not an image" in reasons["drawing.eps"] and "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(sources)
    by_name = {Path(line["source"]).name: line for line in lines}
    rotated = by_name["rotated.jpg"]
    assert rotated["status"] == "converted" and (rotated["width"], rotated["height"]) == (100, 200)
    assert set(rotated["outputs"]) == {"original", "800", "200"}
    assert (dest / rotated["outputs"]["800"]).is_file()
    assert by_name["notes.jpg"]["status"] == "failed" and by_name["notes.jpg"]["outputs"] == {}
    assert {name: path.read_bytes() for name, path in sources.items()} == before  # untouched
    assert not list(tmp_path.glob(".manifest*"))


def test_a_second_run_rewrites_nothing(run: Run, sources: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    convert(run, tmp_path / "src", dest)
    first = tree(dest)
    time.sleep(0.01)
    code, summary = convert(run, tmp_path / "src", dest)
    assert tree(dest) == first
    assert summary["converted"] == 0
    assert summary["skipped"] == len(sources) - len(images.BAD)
    assert code == 1  # the bad sources still fail


def test_a_duplicate_is_stored_once(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    data = images.jpeg(images.photo(300, 200))
    (src / "a" / "one.jpg").write_bytes(data)
    (src / "two.jpg").write_bytes(data)
    code, summary = convert(run, src, tmp_path / "dest")
    assert (code, summary["converted"], summary["duplicates"]) == (0, 1, 1)
    assert len(tree(tmp_path / "dest")) == 3


def test_symbolic_links_are_not_followed(run: Run, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(images.jpeg(images.photo(200, 100, seed=9)))
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.jpg").write_bytes(images.jpeg(images.photo(200, 100, seed=1)))
    (src / "link.jpg").symlink_to(outside / "secret.jpg")
    (src / "folder").symlink_to(outside, target_is_directory=True)
    code, summary = convert(run, src, tmp_path / "dest")
    assert (summary["converted"], summary["ignored"], code) == (1, 2, 0)
    assert set(tree(tmp_path / "dest")) == expected_outputs(src / "real.jpg")


def test_dest_inside_src_is_refused_before_anything(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(images.jpeg(images.photo(100, 100)))
    result = run("images", "convert", src, src / "out")
    assert result.exit_code == 2
    assert "inside SRC" in result.stderr and result.stderr.count("\n") == 1
    assert not (src / "out").exists()


def test_dry_run_writes_nothing(run: Run, sources: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    manifest = tmp_path / "m.jsonl"
    result = run("images", "convert", tmp_path / "src", dest, "--dry-run", "--manifest", manifest)
    assert result.exit_code == 1  # as the real run: the bad sources would fail
    assert "would be converted" in result.stdout and "would fail" in result.stdout
    assert not dest.exists() and not manifest.exists()


def test_missing_src_is_exit_2(run: Run, tmp_path: Path) -> None:
    result = run("images", "convert", tmp_path / "nothing", tmp_path / "dest")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"capplan images convert: error: SRC {tmp_path / 'nothing'}: not a directory\n"
    )


def test_leftover_temporary_files_are_removed(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(images.jpeg(images.photo(100, 100)))
    shard = tmp_path / "dest" / ".capplan-staging"  # where every temporary file of DEST lives
    shard.mkdir(parents=True)
    # a writer of this host that has gone: a real process that made its temporary file and died
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tempfile; from pathlib import Path; from capplan import atomic; "
            "tempfile.mkstemp(dir=sys.argv[1], suffix='.tmp', "
            "prefix=atomic.temporary_prefix(Path('0011dead_800.webp')))",
            str(shard),
        ],
        check=True,
    )
    hour_ago = time.time() - 3600
    mine = atomic.temporary_prefix(shard / "x")[len(".x.") :].split("@")[1]  # this process's
    old = [
        shard / ".0011abc_800.webp.x1y2.tmp",  # a writer it does not name
        shard / ".0011old_800.webp.@0123456789ab@1.k9.tmp",  # another host's
        shard / f".0011pid_800.webp.@{mine}@{os.getpid()}.k8.tmp",  # a pid since reused
    ]
    for path in old:
        path.write_bytes(b"half written")
        os.utime(path, (hour_ago, hour_ago))
    # no such process, not even a number a pid can be
    (shard / f".0011big_800.webp.@{mine}@99999999999999999999.k7.tmp").write_bytes(b"half")
    # being written right now: by this process, by another host's, by a writer it does not name
    writing = [
        shard / (atomic.temporary_prefix(shard / "0011live_800.webp") + "ab12.tmp"),
        shard / ".0011now_800.webp.@0123456789ab@1.z7.tmp",
        shard / ".0011new_800.webp.q8.tmp",
    ]
    for path in writing:
        path.write_bytes(b"half written")
    # the tree itself is not walked at start: a temporary-looking file elsewhere is not read
    outside = (
        tmp_path / "dest" / "products" / "00" / "11" / ".0011far_800.webp.@0123456789ab@1.k9.tmp"
    )
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"half written")
    os.utime(outside, (hour_ago, hour_ago))
    stale_manifest = tmp_path / ".m.jsonl.k1ll3d.tmp"
    stale_manifest.write_text('{"source": "half', encoding="utf-8")
    os.utime(stale_manifest, (hour_ago, hour_ago))
    _, summary = convert(run, src, tmp_path / "dest", "--manifest", tmp_path / "m.jsonl")
    assert summary["leftovers_removed"] == 5
    assert sorted((tmp_path / "dest").rglob("*.tmp")) == sorted([*writing, outside])
    assert not stale_manifest.exists() and (tmp_path / "m.jsonl").is_file()


@pytest.mark.slow
def test_killed_mid_run_then_rerun_leaves_exactly_the_complete_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for n in range(24):
        (src / f"p{n:02}.jpg").write_bytes(images.jpeg(images.photo(1600, 1200, seed=n)))
    dest = tmp_path / "dest"
    command = [
        sys.executable,
        "-m",
        "capplan",
        "images",
        "convert",
        str(src),
        str(dest),
        "--workers",
        "2",
        "--format",
        "json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(dest.rglob("*.webp"))) < 7:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(list(dest.rglob("*.webp")))
    assert 0 < partial < 72, "the kill came before or after the run"
    time.sleep(0.5)  # the workers die with their parent
    rerun = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr
    assert set(tree(dest)) == expected_outputs(*src.iterdir())
    for path in dest.rglob("*"):
        if path.is_file():
            with Image.open(path) as image:
                image.load()  # every output is a whole, valid WebP
    assert not [p for p in dest.rglob("*") if p.name.startswith(".")]


def test_stats_counts_variants_and_names_the_band(
    run: Run, sources: dict[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    convert(run, tmp_path / "src", dest)
    result = run("images", "stats", dest, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    converted = len(sources) - len(images.BAD)
    assert data["files"] == data["image_files"] == 3 * converted
    assert {name: v["files"] for name, v in data["variants"].items()} == {
        "original": converted,
        "800": converted,
        "200": converted,
    }
    assert data["bytes"] == sum(p.stat().st_size for p in dest.rglob("*.webp"))
    assert data["fullest"][0]["band"] == "Excellent" and data["status"] == "OK"
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    lowered = tmp_path / "t.yaml"
    lowered.write_text(
        text.replace("{from: 500000, label: Poor", "{from: 3, label: Poor")
        .replace("{from: 100000, label: Degraded", "{from: 2, label: Degraded")
        .replace("{from: 10000, label: Good", "{from: 1, label: Good"),
        encoding="utf-8",
    )
    table = run("images", "stats", dest, "--thresholds", lowered)
    assert "Migrate to object storage" in table.stdout
    assert "CRITICAL" in table.stdout
