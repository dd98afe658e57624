"""The tree walk of `check --uploads` and `images stats`: shared out to several processes, the
same answer as one, on trees of any shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.tree import TreeStats, scan, tally

NAMES = st.sampled_from(
    ["a_original.webp", "b_800.webp", "c_200.WEBP", "d.jpg", "e.txt", "f_800.png", "g_801.webp"]
)
FOLDERS = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["x", "y", "z", "products", "ab"]), min_size=0, max_size=4),
        st.lists(st.tuples(NAMES, st.integers(0, 5000)), max_size=6),
    ),
    max_size=25,
)


def build(root: Path, layout: list[tuple[list[str], list[tuple[str, int]]]]) -> None:
    root.mkdir()
    for parts, files in layout:
        folder = root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        for n, (name, size) in enumerate(files):
            (folder / f"{n}{name}").write_bytes(b"x" * size)


def answer(stats: TreeStats) -> tuple[object, ...]:
    return (
        stats.files,
        stats.bytes,
        stats.image_files,
        stats.directories,
        stats.variants,
        stats.variant_bytes,
        stats.fullest,
        stats.unreadable,
    )


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FOLDERS, st.integers(1, 4))
def test_shared_out_walk_gives_the_one_process_answer(
    tmp_path_factory: pytest.TempPathFactory, layout: list[tuple[list[str], list[tuple[str, int]]]],
    top: int,
) -> None:  # fmt: skip
    root = tmp_path_factory.mktemp("tree") / "root"
    build(root, layout)
    one = scan(root, top=top, processes=1)
    assert answer(scan(root, top=top, processes=3)) == answer(one)
    # against a plain os.walk: every regular file, its bytes, every folder
    walked = [(folder, files) for folder, _, files in os.walk(root)]
    assert one.files == sum(len(files) for _, files in walked)
    assert one.directories == len(walked)
    assert one.bytes == sum(
        (Path(folder) / name).stat().st_size for folder, files in walked for name in files
    )
    assert one.variants["800"] == sum(
        1
        for _, files in walked
        for name in files
        if name.lower().endswith(("_800.webp", "_800.png"))
    )
    listing = [
        (folder, [(n, (Path(folder) / n).stat().st_size) for n in files])
        for folder, files in walked
    ]
    assert answer(tally(str(root), listing, top))[:6] == answer(one)[:6]


def test_links_are_not_followed_and_unreadable_folders_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "products" / "ab").mkdir(parents=True)
    (root / "products" / "ab" / "x_200.webp").write_bytes(b"12345")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.jpg").write_bytes(b"x" * 1000)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.jpg").symlink_to(outside / "big.jpg")
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        stats = scan(root, processes=2)
        if os.geteuid() != 0:  # root reads any folder
            assert stats.unreadable == [str(locked)]
    finally:
        locked.chmod(0o755)
    assert (stats.files, stats.bytes, stats.variants["200"]) == (1, 5, 1)
