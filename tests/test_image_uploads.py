"""`check --uploads` at platform scale: the exact walk, the sampled estimate of a hash-sharded
tree with its 95 % interval, the fall-back on a tree that is not sharded, and the run's deadline
that cuts a walk short without a partial count ever shown as the total."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from capplan.check.deadline import RunDeadline
from capplan.check.uploads import measure
from capplan.tree import estimate, scan, shard_folders

from .conftest import Run

UPLOADS = ("storage_gb", "image_files", "files_per_directory_max")


def sharded_tree(root: Path, folders: int, seed: int = 7) -> tuple[int, int]:
    """A tree as images convert writes it, `folders` shard folders holding 0 to 9 files of
    uneven sizes; returns its files and bytes."""
    rng = random.Random(seed)
    files = size = 0
    for number in rng.sample(range(65_536), folders):
        folder = root / "products" / f"{number >> 8:02x}" / f"{number & 0xFF:02x}"
        folder.mkdir(parents=True)
        for index in range(rng.randint(0, 9)):
            data = b"w" * rng.randint(1, 2000)
            (folder / f"{number:04x}{index:060x}_800.webp").write_bytes(data)
            files += 1
            size += len(data)
    return files, size


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    root = tmp_path_factory.mktemp("uploads") / "dest"
    files, size = sharded_tree(root, 2_000)
    return root, files, size


def uploads_metrics(run: Run, *args: str | Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = run("check", "--interval", "0", "--format", "json", *args)
    assert result.stdout, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    return result.exit_code, {m["name"]: m for m in metrics if m["name"] in UPLOADS}


def test_the_exact_walk_counts_every_file(run: Run, tree: tuple[Path, int, int]) -> None:
    root, files, size = tree
    _, metrics = uploads_metrics(run, "--uploads", root)
    assert metrics["storage_gb"]["value"] == pytest.approx(size / 1e9)
    assert metrics["storage_gb"]["detail"] == f"{files:,} files"
    assert metrics["image_files"]["value"] == files


def test_a_sample_of_a_sharded_tree_is_an_estimate_with_the_truth_in_its_interval(
    run: Run, tree: tuple[Path, int, int]
) -> None:
    root, files, _ = tree
    _, metrics = uploads_metrics(run, "--uploads", root, "--uploads-sample", "5%")
    detail = metrics["storage_gb"]["detail"]
    assert detail.startswith("estimate from 100 of 2,000 shard folders: ")
    low, high = (
        float(x.replace(",", "")) for x in detail.split("95 %: ")[1].split(")")[0].split(" to ")
    )
    # The run draws its own sample, so the 95 % interval misses the truth one run in twenty
    # (the seeded test below counts that); twice its half-width misses one in about 10,000.
    assert low < high and abs(files - (low + high) / 2) <= high - low
    assert metrics["image_files"]["detail"].startswith("estimate from 100 of 2,000")
    assert "(an estimate)" in metrics["files_per_directory_max"]["detail"]


def test_the_true_count_lies_in_the_95_percent_interval_in_19_of_20_seeds(
    tree: tuple[Path, int, int],
) -> None:
    root, files, size = tree
    leaves = shard_folders(root)
    assert leaves is not None and len(leaves) == 2_000
    covered = {"files": 0, "bytes": 0}
    for seed in range(20):
        found = estimate(root, leaves, 0.02, seed=seed)
        assert found.sampled == 40
        covered["files"] += found.files.low <= files <= found.files.high
        covered["bytes"] += found.bytes.low <= size <= found.bytes.high
    assert covered["files"] >= 19 and covered["bytes"] >= 19


def test_sampling_every_folder_is_exact(tree: tuple[Path, int, int]) -> None:
    root, files, size = tree
    leaves = shard_folders(root)
    assert leaves is not None
    found = estimate(root, leaves, 1.0)
    assert found.files.low == found.files.value == found.files.high == files
    assert found.bytes.value == size


@pytest.mark.parametrize(
    "extra",
    ["products/readme.txt", "products/ab/notes.txt", "products/zz/00/x.webp", "other/x.webp",
     "products/abc/00/x.webp"],
)  # fmt: skip
def test_a_tree_that_is_not_sharded_is_walked_in_full_and_says_so(
    run: Run, tmp_path: Path, extra: str
) -> None:
    root = tmp_path / "dest"
    files, _ = sharded_tree(root, 40)
    (root / extra).parent.mkdir(parents=True, exist_ok=True)
    (root / extra).write_bytes(b"x")
    assert shard_folders(root) is None
    _, metrics = uploads_metrics(run, "--uploads", root, "--uploads-sample", "1%")
    detail = metrics["storage_gb"]["detail"]
    note = "exact walk: not a hash-sharded tree (products/ab/cd), so not sampled"
    assert detail == f"{note}; {files + 1:,} files"


def test_a_walk_cut_short_by_the_deadline_says_so_and_gives_no_total(
    tree: tuple[Path, int, int],
) -> None:
    root, _, _ = tree
    passed = RunDeadline(time.monotonic() - 1)
    for sample in (None, 0.01):
        metrics = list(measure(root, sample=sample, deadline=passed))
        assert [m.name for m in metrics] == list(UPLOADS)
        assert all(
            m.value is None and "cut short by the run's deadline" in m.reason for m in metrics
        )
    for processes in (1, 2):
        stats = scan(root, processes=processes, deadline=passed)
        assert stats.cut_short
    assert not scan(root, processes=2, deadline=RunDeadline.after(600)).cut_short


@pytest.mark.parametrize("share", ["0%", "101%", "1", "abc", "-1%", "nan%", "1 %%"])
def test_a_bad_sample_share_is_refused(run: Run, tmp_path: Path, share: str) -> None:
    result = run("check", "--interval", "0", "--uploads", tmp_path, "--uploads-sample", share)
    assert result.exit_code == 3
    assert "'--uploads-sample': expected a percentage above 0 % and at most 100 %" in result.stderr


def test_a_sample_without_uploads_is_refused(run: Run) -> None:
    result = run("check", "--interval", "0", "--uploads-sample", "1%")
    assert result.exit_code == 3
    assert "'--uploads-sample': it needs --uploads" in result.stderr
