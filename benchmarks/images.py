"""`capplan images convert` against its floors, all measured in one run on the same photos.

Speed (default):
- the Pillow floor: per photo, decode once, resize to 800 and 200 px, three WebP encodes at the
  same quality and method, serially in this process; divided by the cores;
- capplan with all workers, and with one worker (target: at least 1.8x from one to two);
- where `cwebp` and `vipsthumbnail` are installed, a shell pipeline of them run two at a time.
Targets: capplan at most 1.10x the floor per image, faster than the shell pipeline.

Memory (--memory): peak RSS of the whole process tree of `images convert` over 1,000 and over
100,000 tiny unique sources; target: no more than 50 MB more for 100,000.

Run: python benchmarks/images.py [--photos N] [--memory] [--large N]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's image maker: the same photos as the tests

from tests.images import jpeg, photo  # noqa: E402

QUALITY, METHOD = 80, 4


def convert_command(src: Path, dest: Path, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "capplan",
        "images",
        "convert",
        str(src),
        str(dest),
        "--quality",
        str(QUALITY),
        "--method",
        str(METHOD),
        "--format",
        "json",
        *options,
    ]


def pillow_floor(sources: list[Path]) -> float:
    """Seconds to decode once, resize twice and encode three times, serially."""
    start = time.perf_counter()
    for source in sources:
        image = Image.open(source)
        image.load()
        current: Image.Image = image
        for box in (None, 800, 200):
            if box is not None:
                scale = box / max(current.size)
                size = (round(current.width * scale), round(current.height * scale))
                current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            current.save(io.BytesIO(), "WEBP", quality=QUALITY, method=METHOD)
    return time.perf_counter() - start


def capplan(src: Path, dest: Path, workers: int) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    command = convert_command(src, dest, "--workers", str(workers))
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def shell_pipeline(src: Path, dest: Path) -> float | None:
    if not (shutil.which("cwebp") and shutil.which("vipsthumbnail")):
        return None
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    script = (
        f'n=$(basename "$1" .jpg); '
        f'cwebp -quiet -q {QUALITY} -m {METHOD} "$1" -o "{dest}/$n"_original.webp && '
        f'vipsthumbnail "$1" -s 800x800 -o "{dest}/%s_800.webp[Q={QUALITY},effort={METHOD}]" && '
        f'vipsthumbnail "$1" -s 200x200 -o "{dest}/%s_200.webp[Q={QUALITY},effort={METHOD}]"'
    )
    start = time.perf_counter()
    subprocess.run(
        f"find {src} -name '*.jpg' -print0 | xargs -0 -P 2 -n 1 sh -c '{script}' _",
        shell=True,
        check=True,
    )
    return time.perf_counter() - start


def speed(photos: int) -> int:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        src, dest = Path(folder, "src"), Path(folder, "dest")
        src.mkdir()
        sources = []
        for n in range(photos):
            path = src / f"p{n:04}.jpg"
            path.write_bytes(jpeg(photo(1600, 1200, seed=n)))
            sources.append(path)
        floor = pillow_floor(sources) / cores
        all_workers = capplan(src, dest, cores)
        one_worker = capplan(src, dest, 1)
        pipeline = shell_pipeline(src, Path(folder, "shell"))
    per = 1000 / photos
    print(f"{photos} photos 1600x1200 JPEG, quality {QUALITY}, method {METHOD}, {cores} cores")
    print(f"Pillow floor (serial / {cores} cores)   {floor:7.2f} s  {floor * per:6.1f} ms/image")
    print(
        f"capplan, {cores} workers               {all_workers:7.2f} s  "
        f"{all_workers * per:6.1f} ms/image  ({all_workers / floor:.2f}x the floor)"
    )
    print(
        f"capplan, 1 worker                 {one_worker:7.2f} s  "
        f"({one_worker / all_workers:.2f}x speed-up with {cores} workers)"
    )
    if pipeline is None:
        print(
            "cwebp + vipsthumbnail pipeline    not installed (apt-get install webp libvips-tools)"
        )
    else:
        print(
            f"cwebp + vipsthumbnail, 2 at once  {pipeline:7.2f} s  "
            f"({pipeline / all_workers:.2f}x capplan's time)"
        )
    ok = all_workers / floor <= 1.10 and one_worker / all_workers >= 1.8
    ok = ok and (pipeline is None or all_workers < pipeline)
    print(
        "targets: <= 1.10x floor, >= 1.8x from 1 to 2 workers, faster than the pipeline: "
        + ("meets" if ok else "MISSES")
    )
    return 0 if ok else 1


def tiny_sources(folder: Path, count: int) -> None:
    for n in range(count):
        sub = folder / f"{n // 1000:04}"
        sub.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (8, 8), (n % 256, (n // 256) % 256, (n // 65536) % 256))
        image.save(sub / f"{n}.png")


def peak_rss_mb(command: list[str]) -> float:
    """The largest sum of RSS over the process and its children, polled every 20 ms."""
    process = psutil.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    if process.returncode != 0:
        raise SystemExit(f"{command} failed with {process.returncode}")
    return peak / 1e6


def memory(small: int, large: int) -> int:
    results = {}
    for count in (small, large):
        with tempfile.TemporaryDirectory() as folder:
            src, dest = Path(folder, "src"), Path(folder, "dest")
            tiny_sources(src, count)
            command = convert_command(src, dest)
            start = time.perf_counter()
            results[count] = peak_rss_mb(command)
            elapsed = time.perf_counter() - start
        print(
            f"{count:>7,} sources: peak RSS of the process tree {results[count]:7.1f} MB "
            f"({elapsed:.0f} s)"
        )
    growth = results[large] - results[small]
    verdict = "meets" if growth <= 50 else "MISSES"
    print(
        f"growth from {small:,} to {large:,} sources: {growth:+.1f} MB (target <= 50 MB): {verdict}"
    )
    return 0 if growth <= 50 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--memory", action="store_true", help="measure memory instead of speed")
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    return memory(1_000, args.large) if args.memory else speed(args.photos)


if __name__ == "__main__":
    sys.exit(main())
