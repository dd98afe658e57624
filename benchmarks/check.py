"""`capplan check --uploads` against `du -sb` on the same tree, measured in the same run.

The tree is what `images convert` builds: 300,000 files in products/ab/cd folders (64,852 of
them hold files, 65,110 folders in all). Measured in rounds, so that each command meets the
shared machine's other load alike, best of each:
- `du -sb DIR` (the floor: one C program that stats every entry and sums the bytes);
- capplan's uploads walk in this process (the first levels here, then a process per core);
  target: at most 1.3x `du -sb`, with the same answer (du counts the folders' own sizes too,
  which are added to capplan's file bytes for the comparison);
- the whole `capplan check --interval 0 --uploads DIR` command, and without --uploads.

Run: .venv/bin/python benchmarks/check.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from capplan.tree import scan

TARGET_RATIO = 1.3


def build_tree(root: Path, files: int) -> None:
    for n in range(files):
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        folder = root / "products" / digest[:2] / digest[2:4]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{digest}_200.webp").write_bytes(b"RIFF" + bytes(60 + n % 200))


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(command, shell=True, check=False, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"Run: .venv/bin/python benchmarks/check.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_tree(root, args.files)
        stats = scan(root)
        du = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True, check=True)
        du_bytes = int(du.stdout.split()[0])
        folders = [Path(path) for path, _, _ in os.walk(root)]
        folder_bytes = sum(path.stat().st_size for path in folders)
        same = stats.files == args.files and stats.bytes + folder_bytes == du_bytes
        same = same and stats.directories == len(folders)
        check = f"{sys.executable} -m capplan check --interval 0 --format json"
        rounds = [
            (
                seconds(shell(f"du -sb {root}")),
                seconds(lambda: scan(root)),
                seconds(shell(f"{check} --uploads {root}")),
                seconds(shell(check)),
            )
            for _ in range(args.runs)
        ]
        du_s, walk, with_uploads, bare = (float(min(c)) for c in zip(*rounds, strict=True))
    ratio = walk / du_s
    print(
        f"tree: {stats.files:,} files in {stats.directories:,} folders "
        f"(a products/ab/cd tree); best of {args.runs} rounds"
    )
    print(f"du -sb DIR                                 {du_s:6.2f} s (floor)")
    print(f"capplan uploads walk (in-process)          {walk:6.2f} s ({ratio:.2f}x du -sb)")
    print(
        f"capplan check --interval 0 --uploads DIR   {with_uploads:6.2f} s "
        f"({with_uploads / du_s:.2f}x du -sb; {bare:.2f} s without --uploads)"
    )
    print(
        f"same answer: {stats.files:,} files, {stats.bytes:,} bytes + {folder_bytes:,} bytes of "
        f"folders = {du_bytes:,} (du -sb): {'yes' if same else 'NO'}"
    )
    ok = ratio <= TARGET_RATIO and same
    print(
        f"target: walk within {TARGET_RATIO}x of du -sb, same answer: "
        + ("meets" if ok else "MISSES")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
