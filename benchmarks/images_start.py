"""What an existing DEST adds to the start of `images convert`: no walk of DEST.

Builds DEST with `--files` empty files in the sharded layout (products/ab/cd/), then times a
run that converts one small photo into it against the same run into an empty DEST, in this
process (workers 1), best of three each. Target: under 1 s more with 2,000,000 files.

Run: .venv/bin/python benchmarks/images_start.py                  (2,000,000 files: the target)
     .venv/bin/python benchmarks/images_start.py --files 200000   (scaled, for trying)
     The big DEST is kept under the system's temporary folder for the next run; --remove
     deletes it at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.images import jpeg, photo  # noqa: E402

TARGET_S = 1.0
RUNS = 3


def fill(dest: Path, files: int) -> None:
    """`files` empty files spread over the 65,536 shard folders, as a real tree holds them."""
    per_folder = max(1, -(-files // 65_536))
    made = 0
    for number in range(65_536):
        if made >= files:
            break
        folder = dest / "products" / f"{number >> 8:02x}" / f"{number & 0xFF:02x}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(min(per_folder, files - made)):
            os.close(
                os.open(folder / f"{number:04x}{index:060x}_200.webp", os.O_CREAT | os.O_WRONLY)
            )
        made += min(per_folder, files - made)


def one_run(src: Path, dest: Path) -> float:
    from capplan.images import batch
    from capplan.images.locations import locate

    plan = batch.Plan(src=locate(str(src)), dest=locate(str(dest)))
    started = time.perf_counter()
    summary = batch.run(plan, workers=1)
    elapsed = time.perf_counter() - started
    assert summary.converted + summary.skipped == 1, summary
    for path in dest.joinpath("products").rglob("*_original.webp"):  # the photo's, for next time
        if path.stat().st_size:
            for variant in path.parent.glob(path.name.replace("_original", "_*")):
                variant.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2_000_000)
    parser.add_argument("--remove", action="store_true", help="delete the big DEST at the end")
    args = parser.parse_args()
    full = Path(tempfile.gettempdir(), f"capplan-start-{args.files}")
    with tempfile.TemporaryDirectory(prefix="capplan-start-") as scratch:
        src, empty = Path(scratch, "src"), Path(scratch, "empty")
        src.mkdir()
        (src / "one.jpg").write_bytes(jpeg(photo(64, 48)))
        started = time.perf_counter()
        if not (full / ".complete").is_file():
            fill(full, args.files)
            (full / ".complete").touch()
        print(f"DEST of {args.files:,} empty files ready in {time.perf_counter() - started:.1f} s")
        one_run(src, empty)  # imports and codecs warm
        base = min(one_run(src, empty) for _ in range(RUNS))
        big = min(one_run(src, full) for _ in range(RUNS))
    if args.remove:
        shutil.rmtree(full)
    added = big - base
    verdict = "ok" if added < TARGET_S else "over the target"
    print(f"run into an empty DEST      {base:.3f} s")
    print(f"run into {args.files:>10,} files {big:.3f} s")
    print(f"added at start: {added:.3f} s (target under {TARGET_S:.0f} s): {verdict}")
    return 0 if added < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
