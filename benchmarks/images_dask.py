"""Many small sources on a Dask cluster against the local pool: batches, not a task a source.

Makes `--sources` tiny unique PNGs (8x8), then converts them with the local pool of two workers
and through a Dask scheduler with two local workers of one thread each (`dask scheduler`,
`dask worker`, started here), each into its own DEST, in one run. Prints both times and their
ratio, and checks that the two trees are byte-identical. Target: Dask at most 1.3x the local
pool on 100,000 sources.

Run: .venv/bin/python benchmarks/images_dask.py                   (100,000 sources: the target)
     .venv/bin/python benchmarks/images_dask.py --sources 5000    (scaled, for trying)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from images import convert_command, dask_cluster, timed, tiny_sources

TARGET = 1.3


def digest(dest: Path) -> tuple[int, str]:
    """How many files, and one hash over every file's path and bytes."""
    total = hashlib.sha256()
    count = 0
    for root, folders, files in os.walk(dest):
        folders.sort()
        for name in sorted(files):
            path = Path(root, name)
            total.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
            count += 1
    return count, total.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capplan-dask-") as scratch:
        src = Path(scratch, "src")
        started = time.perf_counter()
        tiny_sources(src, args.sources)
        print(f"{args.sources:,} tiny sources made in {time.perf_counter() - started:.1f} s")
        local_dest, dask_dest = Path(scratch, "local"), Path(scratch, "dask")
        local = timed(convert_command(src, local_dest, "--workers", "2"), local_dest)
        with dask_cluster(2) as address:
            on_dask = timed(convert_command(src, dask_dest, "--scheduler", address), dask_dest)
        local_tree, dask_tree = digest(local_dest), digest(dask_dest)
    ratio = on_dask / local
    same = local_tree == dask_tree and local_tree[0] == 3 * args.sources
    each = local * 1000 / args.sources
    print(f"local pool, 2 workers      {local:8.2f} s  {each:6.2f} ms/source")
    print(
        f"Dask, 2 workers x 1 thread {on_dask:8.2f} s  {on_dask * 1000 / args.sources:6.2f} "
        f"ms/source  ({ratio:.2f}x the local pool, target at most {TARGET}x)"
    )
    print(f"outputs: {local_tree[0]:,} files, {'byte-identical' if same else 'DIFFERENT'}")
    return 0 if ratio <= TARGET and same else 1


if __name__ == "__main__":
    sys.exit(main())
