"""`check --uploads` at platform scale: the exact walk against `du -sb`, and the sampled estimate.

Builds (or reuses, under the system's temporary folder) a hash-sharded tree of `--files` files
as `images convert` writes it: products/ab/cd/<sha256>_<variant>.webp, names random, so the
files fall into the 65,536 shard folders as real hashes do, each file 1 to 400,000 bytes long
(sparse: the size is set, nothing is written). Then, in one run, with the cache warm:
- CPU (user + system, the process and its children) of `du -sb TREE` against that of
  `capplan check --uploads TREE --interval 0 --format json`, paired runs, the median ratio.
  Target: at most 1.5x;
- in this process, the time of the exact walk (capplan.check.uploads.measure) against the
  sampled estimate (`--uploads-sample 1%`). Target: under 5 %;
- the estimate with 20 seeds: how often the true count (and bytes) lies in its 95 % interval.
  Target: at least 19 of 20.

Run: .venv/bin/python benchmarks/uploads.py                    (1,000,000 files: the targets)
     .venv/bin/python benchmarks/uploads.py --files 200000     (scaled, for trying)
     add --remove to delete the tree afterwards (it is kept for the next run otherwise)
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CPU_TARGET, SAMPLE_TARGET, COVERAGE_TARGET = 1.5, 0.05, 19
PAIRS = 5


def build(root: Path, files: int, seed: int = 1) -> tuple[int, int]:
    """The tree, unless it is there already (a marker file says it is complete)."""
    done = root / ".complete"
    if done.is_file():
        count, size = (int(x) for x in done.read_text().split())
        return count, size
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    size = 0
    made: set[str] = set()
    for number in range(files):
        name = f"{rng.getrandbits(256):064x}"
        folder = root / "products" / name[:2] / name[2:4]
        if str(folder) not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(str(folder))
        length = rng.randint(1, 400_000)
        handle = os.open(folder / f"{name}_{('original', '800', '200')[number % 3]}.webp",
                         os.O_CREAT | os.O_WRONLY)  # fmt: skip
        os.ftruncate(handle, length)
        os.close(handle)
        size += length
    done.write_text(f"{files} {size}")
    return files, size


def children_cpu(command: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)  # check exits by status
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--remove", action="store_true", help="delete the tree at the end")
    args = parser.parse_args()
    root = Path(tempfile.gettempdir(), f"capplan-uploads-{args.files}")
    started = time.perf_counter()
    files, size = build(root, args.files)
    print(f"tree of {files:,} files ({size / 1e9:.1f} GB apparent) ready in "
          f"{time.perf_counter() - started:.1f} s: {root}")  # fmt: skip

    du = ["du", "-sb", str(root)]
    check = [sys.executable, "-m", "capplan", "check", "--uploads", str(root), "--interval", "0",
             "--format", "json"]  # fmt: skip
    children_cpu(du)  # the cache warm for both
    ratios, du_cpu, capplan_cpu = [], [], []
    for _ in range(PAIRS):
        du_cpu.append(children_cpu(du))
        capplan_cpu.append(children_cpu(check))
        ratios.append(capplan_cpu[-1] / du_cpu[-1])
    ratio = statistics.median(ratios)
    print(f"du -sb CPU                 {statistics.median(du_cpu):7.2f} s (median of {PAIRS})")
    print(f"check --uploads CPU        {statistics.median(capplan_cpu):7.2f} s  "
          f"median ratio {ratio:.2f}x du (target at most {CPU_TARGET}x)")  # fmt: skip

    from capplan.check.uploads import measure
    from capplan.tree import estimate, shard_folders

    exact = min(_timed(lambda: list(measure(root))) for _ in range(3))
    sampled = min(_timed(lambda: list(measure(root, sample=0.01))) for _ in range(3))
    share = sampled / exact
    print(f"exact walk                 {exact:7.3f} s")
    print(f"sampled 1%                 {sampled:7.3f} s  {share:.1%} of the walk "
          f"(target under {SAMPLE_TARGET:.0%})")  # fmt: skip

    leaves = shard_folders(root)
    assert leaves is not None
    covered_files = covered_bytes = 0
    for seed in range(20):
        found = estimate(root, leaves, 0.01, seed=seed)
        covered_files += found.files.low <= files <= found.files.high
        covered_bytes += found.bytes.low <= size <= found.bytes.high
    print(f"true count in the 95 % interval: files {covered_files} of 20, bytes "
          f"{covered_bytes} of 20 (target at least {COVERAGE_TARGET})")  # fmt: skip
    held_files = held_bytes = 0
    for seed in range(20, 220):
        found = estimate(root, leaves, 0.01, seed=seed)
        held_files += found.files.low <= files <= found.files.high
        held_bytes += found.bytes.low <= size <= found.bytes.high
    print(f"calibration over 200 more seeds: the interval holds the truth in "
          f"{held_files / 2:.1f} % (files) and {held_bytes / 2:.1f} % (bytes) of them")  # fmt: skip
    if args.remove:
        shutil.rmtree(root)
    good = (
        ratio <= CPU_TARGET
        and share < SAMPLE_TARGET
        and min(covered_files, covered_bytes) >= COVERAGE_TARGET
    )
    return 0 if good else 1


def _timed(action: object) -> float:
    assert callable(action)
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
