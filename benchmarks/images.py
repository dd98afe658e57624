"""`capplan images convert` against its floors, all measured in one run on the same photos.

Speed (default), on three corpora: `mixed` (120 photos whose pixel counts span 30x, a few much
larger than the rest, the largest walked last), `small` (25 such photos) and `uniform` (60
photos of 1600x1200):
- the Pillow floor: per photo, decode once, resize to 800 and 200 px (Lanczos, reducing_gap
  2.0), three WebP encodes at the same quality and method, serially in this process; divided
  by the cores. Target: capplan with all workers at most 1.05x, best of three each;
- capplan with one worker (uniform corpus): two workers at least 1.9x faster;
- with --dask, a Dask scheduler and two local workers (`dask scheduler`, `dask worker`, started
  here): capplan --scheduler within 1.15x of the local pool;
- with --s3, moto's S3 server on 127.0.0.1 (started here): images/s into S3 beside the disk's;
- where `cwebp` and `vipsthumbnail` are installed, a shell pipeline of them two at a time.

Memory (--memory): peak RSS of the process tree of `images convert` over 1,000 and over 100,000
tiny unique sources (with --dask also through a scheduler); target: no more than 50 MB more.

Run: .venv/bin/python benchmarks/images.py [--corpus mixed,small,uniform] [--dask] [--s3]
     .venv/bin/python benchmarks/images.py --memory [--dask] [--large N]
     .venv/bin/python benchmarks/images.py --reducing-gap   (what 2.0 and 3.0 cost and give)
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's image maker: the same photos as the tests

from tests.images import jpeg, photo  # noqa: E402

QUALITY, METHOD = 80, 4
RUNS = 3
FLOOR_TARGET, SPEEDUP_TARGET, DASK_TARGET = 1.05, 1.9, 1.15


def mixed_sizes(count: int, seed: int) -> list[tuple[int, int]]:
    """4:3 photos from 0.4 to 12 megapixels (30x): most small or medium, a few much larger;
    the largest is last."""
    rng = random.Random(seed)
    pixels = [rng.uniform(0.4e6, 3e6) for _ in range(count - max(2, count // 20))]
    pixels += [rng.uniform(6e6, 10e6) for _ in range(max(2, count // 20) - 1)] + [12e6]
    return [(round((p * 4 / 3) ** 0.5), round((p * 3 / 4) ** 0.5)) for p in pixels]


def build(folder: Path, sizes: list[tuple[int, int]]) -> list[Path]:
    """The photos; the last one in a subfolder, which capplan walks after the top folder's files."""
    folder.mkdir(parents=True)
    (folder / "zz-last").mkdir()
    paths = []
    for n, (width, height) in enumerate(sizes):
        last = n == len(sizes) - 1
        path = folder / ("zz-last" if last else "") / f"p{n:04}.jpg"
        path.write_bytes(jpeg(photo(width, height, seed=n)))
        paths.append(path)
    return paths


def convert_command(src: Path | str, dest: Path | str, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "capplan", "images", "convert", str(src), str(dest),
        "--quality", str(QUALITY), "--method", str(METHOD), "--format", "json", *options,
    ]  # fmt: skip


def pillow_floor(sources: list[Path]) -> float:
    """Seconds to decode once, resize twice and encode three times, serially."""
    start = time.perf_counter()
    for source in sources:
        _floor_one(source)
    return time.perf_counter() - start


def parallel_floor(sources: list[Path], cores: int) -> float:
    """The same work in `cores` forked processes, largest first: what the cores that this busy
    machine lends us at this moment can do, with no CLI, no walk, no writes."""
    import multiprocessing

    ordered = sorted(sources, key=lambda path: -path.stat().st_size)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        list(pool.imap_unordered(_floor_one, ordered, chunksize=1))
    return time.perf_counter() - start


def _floor_one(source: Path) -> None:
    image = Image.open(source)
    image.load()
    current: Image.Image = image
    for box in (None, 800, 200):
        if box is not None and max(current.size) > box:
            scale = box / max(current.size)
            size = (round(current.width * scale), round(current.height * scale))
            current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        current.save(io.BytesIO(), "WEBP", quality=QUALITY, method=METHOD)


def timed(command: list[str], dest: Path | None, env: dict[str, str] | None = None) -> float:
    if dest is not None:
        shutil.rmtree(dest, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def best(action: Callable[[], float], runs: int = RUNS) -> float:
    return min(action() for _ in range(runs))


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


@contextmanager
def servers(commands: list[list[str]], port: int, env: dict[str, str]) -> Iterator[None]:
    processes = [subprocess.Popen(commands[0], stderr=subprocess.DEVNULL, env=env)]
    try:
        wait_for(port)
        processes += [subprocess.Popen(c, stderr=subprocess.DEVNULL, env=env) for c in commands[1:]]
        yield
    finally:
        for process in reversed(processes):  # the workers before their scheduler
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def dask_cluster(workers: int = 2) -> Iterator[str]:
    """`dask scheduler` and `dask worker` processes (one thread each), on 127.0.0.1."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    worker = [dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    with servers([scheduler] + [worker] * workers, port, dict(os.environ)):
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
        yield address


@contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """moto's standalone S3 server and the variables that point capplan at it."""
    port = free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "benchmark",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with servers([command], port, env):
        yield env


def ratio_line(name: str, seconds: float, base: float, base_name: str, count: int) -> str:
    return (
        f"  {name:<34} {seconds:7.2f} s {seconds * 1000 / count:7.1f} ms/image "
        f"({seconds / base:.2f}x {base_name})"
    )


def speed(corpus: str, photos: int, dask: bool, s3: bool) -> bool:
    cores = os.cpu_count() or 1
    sizes = {
        "mixed": mixed_sizes(photos, 1),
        "small": mixed_sizes(25, 2),
        "uniform": [(1600, 1200)] * photos,
    }[corpus]
    with tempfile.TemporaryDirectory() as folder:
        src, dest = Path(folder, "src"), Path(folder, "dest")
        sources = build(src, sizes)
        megapixels = [w * h / 1e6 for w, h in sizes]
        print(
            f"{corpus}: {len(sources)} JPEG photos, {min(megapixels):.1f} to "
            f"{max(megapixels):.1f} megapixels ({max(megapixels) / min(megapixels):.0f}x), "
            f"{sum(megapixels):.0f} in all; quality {QUALITY}, method {METHOD}, {cores} cores"
        )
        # in rounds, so that each measure meets the machine's other load alike; best of each
        rounds = [
            (
                pillow_floor(sources) / cores,
                parallel_floor(sources, cores),
                timed(convert_command(src, dest), dest),
            )
            for _ in range(RUNS)
        ]
        floor, parallel, local = (float(min(column)) for column in zip(*rounds, strict=True))
        ok = local / floor <= FLOOR_TARGET
        print(f"  {'Pillow floor / ' + str(cores) + ' cores':<34} {floor:7.2f} s")
        print(
            f"  {'Pillow in ' + str(cores) + ' processes (this machine)':<34} {parallel:7.2f} s "
            f"({parallel / floor:.2f}x the floor: what the shared cores give now)"
        )
        print(
            ratio_line(
                f"capplan, {cores} workers (best of {RUNS})", local, floor, "floor", len(sources)
            )
        )
        if corpus == "uniform":
            one = best(lambda: timed(convert_command(src, dest, "--workers", "1"), dest), 1)
            print(
                f"  {'capplan, 1 worker':<34} {one:7.2f} s "
                f"({one / local:.2f}x speed-up with {cores})"
            )
            ok = ok and one / local >= SPEEDUP_TARGET
            pipeline = shell_pipeline(src, Path(folder, "shell"))
            if pipeline is not None:
                print(
                    ratio_line(
                        "cwebp + vipsthumbnail, 2 at once", pipeline, local, "capplan", len(sources)
                    )
                )
        if dask:
            with dask_cluster() as address:
                command = convert_command(src, dest, "--scheduler", address)
                pairs = [
                    (timed(convert_command(src, dest), dest), timed(command, dest))
                    for _ in range(RUNS)
                ]  # in rounds again: the local pool beside Dask, under the same load
            pool, on_dask = (min(column) for column in zip(*pairs, strict=True))
            print(
                ratio_line(
                    "capplan on Dask, 2 local workers", on_dask, pool, "local pool", len(sources)
                )
                + f"; local pool {pool:.2f} s in these rounds"
            )
            ok = ok and on_dask / pool <= DASK_TARGET
        if s3:
            with moto_s3() as env:
                subprocess.run(
                    [sys.executable, "-c", "import s3fs; s3fs.S3FileSystem().mkdir('bench')"],
                    check=True,
                    env=env,
                )
                runs = [f"s3://bench/run{n}" for n in range(RUNS)]
                into_s3 = min(timed(convert_command(src, url), None, env) for url in runs)
            print(
                f"  {'into moto S3 on 127.0.0.1':<34} {into_s3:7.2f} s: "
                f"{len(sources) / into_s3:.1f} images/s, beside {len(sources) / local:.1f} "
                f"images/s onto the local disk ({into_s3 / local:.2f}x the time)"
            )
    return ok


def psnr(image: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over the RGB bands."""
    import math

    from PIL import ImageChops, ImageStat

    difference = ImageChops.difference(image.convert("RGB"), reference.convert("RGB"))
    stat = ImageStat.Stat(difference)
    mse = sum(stat.sum2) / (3 * image.width * image.height)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def reducing_gap(photos: int) -> None:
    """What reducing_gap costs and buys: each variant against an exact Lanczos resize of the full
    image (no reduction by whole factors), before and after the WebP encode."""
    from capplan.images.convert import REDUCING_GAP

    sizes = mixed_sizes(photos, 3)
    results: dict[float, list[float]] = {2.0: [], 3.0: []}
    encoded: dict[float, list[float]] = {2.0: [], 3.0: []}
    times: dict[float, float] = {2.0: 0.0, 3.0: 0.0}
    for n, (width, height) in enumerate(sizes):
        with Image.open(io.BytesIO(jpeg(photo(width, height, seed=n)))) as source:
            source.load()
            for box in (800, 200):
                scale = box / max(source.size)
                size = (round(source.width * scale), round(source.height * scale))
                exact = source.resize(size, Image.Resampling.LANCZOS)
                for gap in (2.0, 3.0):
                    start = time.perf_counter()
                    reduced = source.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
                    times[gap] += time.perf_counter() - start
                    results[gap].append(psnr(reduced, exact))
                    buffer = io.BytesIO()
                    reduced.save(buffer, "WEBP", quality=QUALITY, method=METHOD)
                    encoded[gap].append(psnr(Image.open(buffer), exact))
    print(f"reducing_gap on {photos} photos (800 and 200 px variants, against exact Lanczos):")
    for gap in (2.0, 3.0):
        print(
            f"  reducing_gap {gap}: resize {times[gap]:.2f} s; PSNR {min(results[gap]):.1f} dB "
            f"at worst before WebP, {sum(encoded[gap]) / len(encoded[gap]):.2f} dB on average "
            "after WebP"
        )
    print(f"  capplan uses reducing_gap {REDUCING_GAP}")


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


def memory(small: int, large: int, dask: bool) -> bool:
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        sources = {}
        for count in (small, large):
            sources[count] = Path(folder, f"src{count}")
            tiny_sources(sources[count], count)
        ways: list[tuple[str, list[str]]] = [("local pool", [])]
        with dask_cluster() if dask else _nothing() as address:
            if address:
                ways.append(("Dask client", ["--scheduler", address]))
            for name, options in ways:
                peaks = {}
                for count in (small, large):
                    dest = Path(folder, "dest")
                    shutil.rmtree(dest, ignore_errors=True)
                    start = time.perf_counter()
                    peaks[count] = peak_rss_mb(convert_command(sources[count], dest, *options))
                    print(
                        f"{name}: {count:>7,} sources: peak RSS of the process tree "
                        f"{peaks[count]:7.1f} MB ({time.perf_counter() - start:.0f} s)"
                    )
                growth = peaks[large] - peaks[small]
                verdict = "meets" if growth <= 50 else "MISSES"
                print(
                    f"{name}: growth {small:,} -> {large:,}: {growth:+.1f} MB (<= 50 MB): {verdict}"
                )
                ok = ok and growth <= 50
    return ok


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default="mixed,small,uniform")
    parser.add_argument("--photos", type=int, default=120, help="photos of mixed and uniform")
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    parser.add_argument("--s3", action="store_true", help="also into moto's S3 server")
    parser.add_argument("--memory", action="store_true", help="measure memory instead of speed")
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--reducing-gap", action="store_true", help="its cost and its quality")
    args = parser.parse_args()
    print(f"Run: .venv/bin/python benchmarks/images.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.reducing_gap:
        reducing_gap(12)
        return 0
    if args.memory:
        ok = memory(1_000, args.large, args.dask)
    else:
        corpora = args.corpus.split(",")
        ok = all([speed(name, args.photos, args.dask, args.s3) for name in corpora])  # noqa: C419
    print(
        f"targets: <= {FLOOR_TARGET}x the floor, >= {SPEEDUP_TARGET}x from 1 to 2 workers, "
        f"Dask <= {DASK_TARGET}x the local pool, memory +50 MB at most: "
        + ("meets" if ok else "MISSES")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
