"""`capplan check` timings, each against its floor measured in the same run.

- the uploads scan of a 10,000-file sharded tree (capplan's own walk, in-process) against
  `find DIR -type f | wc -l` on the same tree: target within 2x;
- the whole `capplan check --interval 0` and `capplan check --interval 0 --uploads DIR` commands
  against `python -c pass`, for scale.

Run: python benchmarks/check.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from capplan.tree import scan
from timing import median_ms

TARGET_RATIO = 2.0


def build_tree(root: Path, files: int) -> None:
    for n in range(files):
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        folder = root / "products" / digest[:2] / digest[2:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{digest}_200.webp").write_bytes(b"RIFF" + bytes(60))


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_tree(root, args.files)
        counted = scan(root).files
        assert counted == args.files, counted
        find = median_ms(shell(f"find {root} -type f | wc -l"), args.runs)
        walk = median_ms(lambda: scan(root), args.runs)
        python = median_ms(shell(f"{sys.executable} -c pass"), args.runs)
        check = f"{sys.executable} -m capplan check --interval 0 --format json"
        bare = median_ms(shell(f"{check} || true"), args.runs)
        with_uploads = median_ms(shell(f"{check} --uploads {root} || true"), args.runs)
    ratio = walk / find
    print(f"tree: {args.files:,} files in a products/ab/cd tree; median of {args.runs} runs")
    print(f"find DIR -type f | wc -l              {find:8.1f} ms (floor)")
    print(f"capplan uploads scan (in-process)     {walk:8.1f} ms ({ratio:.2f}x find)")
    print(f"python -c pass                        {python:8.1f} ms")
    print(f"capplan check --interval 0            {bare:8.1f} ms")
    print(f"capplan check --interval 0 --uploads  {with_uploads:8.1f} ms")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"target: scan within {TARGET_RATIO:.0f}x of find: {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
