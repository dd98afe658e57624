"""The batch: every image under SRC into DEST/products/ab/cd/<sha256>_<variant>.webp.

SRC is walked lazily and a bounded number of images is in flight across worker processes, so
memory stays flat whatever SRC holds. Every output is written atomically; a run killed at any
moment and run again removes the temporary files it left and completes the tree. Sources are
only read.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from capplan import atomic
from capplan.errors import InputError
from capplan.images.convert import VARIANT_SIZES, Refused, Settings, convert, sha256

IN_FLIGHT_PER_WORKER = 4
FAILURES_KEPT = 20
VARIANTS = tuple(name for name, _ in VARIANT_SIZES)


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    status: str  # converted, skipped, duplicate, failed, ignored
    sha256: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # variant -> path relative to DEST
    bytes_in: int = 0
    bytes_out: int = 0
    width: int | None = None
    height: int | None = None
    error: str | None = None

    def manifest_line(self) -> str:
        record: dict[str, Any] = {
            "source": self.source,
            "sha256": self.sha256,
            "status": self.status,
            "outputs": self.outputs,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "width": self.width,
            "height": self.height,
            "error": self.error,
        }
        return json.dumps(record, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class Failure:
    source: str
    error: str


@dataclass
class Summary:
    """What a run did; its fields are the JSON contract's keys."""

    converted: int = 0
    skipped: int = 0
    duplicates: int = 0
    failed: int = 0
    ignored: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    savings_pct: float | None = None  # set by finish()
    leftovers_removed: int = 0
    elapsed_s: float = 0.0
    images_per_s: float | None = None  # set by finish()
    dry_run: bool = False
    failures: list[Failure] = field(default_factory=list)  # the first few

    @property
    def sources(self) -> int:
        return self.converted + self.skipped + self.duplicates + self.failed + self.ignored

    def finish(self, elapsed_s: float) -> None:
        """The run is over: its time, its rate and what the conversion saved."""
        self.elapsed_s = elapsed_s
        self.images_per_s = self.sources / elapsed_s if elapsed_s else None
        self.savings_pct = 100 * (1 - self.bytes_out / self.bytes_in) if self.bytes_in else None


def relative_outputs(digest: str) -> dict[str, str]:
    folder = f"products/{digest[:2]}/{digest[2:4]}"
    return {name: f"{folder}/{digest}_{name}.webp" for name in VARIANTS}


def process(source: str, dest: str, settings: Settings, dry_run: bool = False) -> Outcome:
    """One source, start to finish; never raises: a problem is a failed Outcome."""
    try:
        path = Path(source)
        if settings.max_bytes is not None:
            size = path.stat().st_size
            if size > settings.max_bytes:
                raise Refused(f"{size:,} bytes is over --max-bytes {settings.max_bytes:,}")
        data = path.read_bytes()
        digest = sha256(data)
        outputs = relative_outputs(digest)
        targets = {name: Path(dest, path) for name, path in outputs.items()}
        existing = _complete_size(targets.values())
        if existing is not None:
            return Outcome(source, "skipped", digest, outputs, len(data), existing)
        if dry_run:
            return Outcome(source, "converted", digest, outputs, len(data))
        result = convert(data, settings)
        folder = targets["original"].parent
        folder.mkdir(parents=True, exist_ok=True)
        # the original last: a tree whose original exists was at least written in order
        for variant in sorted(result.variants, key=lambda v: v.name == "original"):
            atomic.write_bytes(targets[variant.name], variant.data, durable=False)
        return Outcome(
            source,
            "converted",
            digest,
            outputs,
            len(data),
            sum(len(v.data) for v in result.variants),
            result.width,
            result.height,
        )
    except Refused as refusal:
        return Outcome(source, "failed", error=str(refusal))
    except MemoryError:
        return Outcome(source, "failed", error="out of memory while decoding")
    except Exception as error:  # a decoder's bug must not stop a million-file batch
        return Outcome(source, "failed", error=f"{type(error).__name__}: {error}")


def _complete_size(targets: Iterable[Path]) -> int | None:
    """The bytes of all the variants, or None when one is missing: one stat each."""
    total = 0
    for target in targets:
        try:
            info = target.stat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


def walk(src: Path) -> Iterator[tuple[str, bool]]:
    """(path, regular file?) for every file under src, lazily; links are not followed."""
    pending = [os.fspath(src)]
    while pending:
        folder = pending.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
                else:
                    yield entry.path, stat.S_ISREG(info.st_mode)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_paths(src: Path, dest: Path) -> None:
    if not src.is_dir():
        raise InputError("src", src, "not a directory")
    real_src, real_dest = src.resolve(), dest.resolve()
    if _inside(real_dest, real_src):
        raise InputError("dest", dest, f"is inside SRC {src}: the outputs would become sources")
    if _inside(real_src, real_dest):
        raise InputError("src", src, f"is inside DEST {dest}: choose separate directories")
    if dest.exists() and not dest.is_dir():
        raise InputError("dest", dest, "not a directory")


def remove_leftovers(dest: Path, dry_run: bool) -> int:
    """Temporary files that a killed run left in the tree."""
    products = dest / "products"
    if not products.is_dir():
        return 0
    removed = 0
    for name, regular in walk(products):
        path = Path(name)
        if regular and atomic.is_leftover(path.name):
            removed += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    return removed


def _die_with_parent() -> None:
    """Worker start-up: on Linux, end when the parent ends (a killed run leaves no writer)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class Manifest:
    """JSON lines written to a temporary file, renamed into place when the run ends."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stream: IO[str] | None = None
        self.temporary: Path | None = None
        if path is not None:
            import tempfile

            for stale in path.parent.glob(f".{path.name}.*{atomic.TEMP_SUFFIX}"):
                stale.unlink(missing_ok=True)  # what a killed run left
            try:
                handle, name = tempfile.mkstemp(
                    dir=path.parent, prefix=f".{path.name}.", suffix=atomic.TEMP_SUFFIX
                )
            except OSError as error:
                raise InputError("manifest", path, str(error.strerror or error)) from None
            self.temporary = Path(name)
            self.stream = os.fdopen(handle, "w", encoding="utf-8")

    def write(self, outcome: Outcome) -> None:
        if self.stream is not None:
            self.stream.write(outcome.manifest_line())

    def close(self, complete: bool) -> None:
        if self.stream is None or self.temporary is None or self.path is None:
            return
        self.stream.close()
        if complete:
            self.temporary.chmod(0o644)
            self.temporary.replace(self.path)
        else:
            self.temporary.unlink(missing_ok=True)


def count_sources(src: Path, report: Callable[[int], None]) -> threading.Thread:
    """Count the sources in a background thread, for a progress bar's total and ETA."""

    def count() -> None:
        report(sum(1 for _ in walk(src)))

    thread = threading.Thread(target=count, name="capplan-count", daemon=True)
    thread.start()
    return thread


def run(
    src: Path,
    dest: Path,
    *,
    settings: Settings = Settings(),
    workers: int | None = None,
    manifest: Path | None = None,
    dry_run: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Summary:
    import time

    check_paths(src, dest)
    started = time.perf_counter()
    summary = Summary(dry_run=dry_run)
    summary.leftovers_removed = remove_leftovers(dest, dry_run)
    if not dry_run:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError("dest", dest, str(error.strerror or error)) from None
    seen: dict[bytes, str] = {}  # 16 bytes of each SHA-256 seen -> its first status
    record = Manifest(None if dry_run else manifest)  # a dry run writes nothing
    complete = False

    def settle(outcome: Outcome) -> None:
        if outcome.sha256 is not None and outcome.status in ("converted", "skipped"):
            key = bytes.fromhex(outcome.sha256)[:16]
            first = seen.get(key)
            if first is None:
                seen[key] = outcome.status
            elif first == "skipped" and outcome.status == "converted":
                # Two identical sources were in flight at once and the first to report found
                # the second's fresh outputs: it was this run's duplicate, not a previous run's.
                seen[key] = "converted"
                summary.skipped -= 1
                summary.duplicates += 1
            else:
                outcome = Outcome(
                    outcome.source, "duplicate", outcome.sha256, outcome.outputs, outcome.bytes_in
                )
        _count(summary, outcome)
        record.write(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        jobs = walk(src)
        workers = workers or os.cpu_count() or 1
        if workers == 1:
            for path, regular in jobs:
                settle(process(path, str(dest), settings, dry_run) if regular else _ignored(path))
        else:
            _in_pool(jobs, dest, settings, dry_run, workers, settle)
        complete = True
    finally:
        record.close(complete)
    summary.finish(time.perf_counter() - started)
    return summary


def _ignored(path: str) -> Outcome:
    return Outcome(path, "ignored", error="not a regular file (a symbolic link is not followed)")


def _in_pool(
    jobs: Iterator[tuple[str, bool]],
    dest: Path,
    settings: Settings,
    dry_run: bool,
    workers: int,
    settle: Callable[[Outcome], None],
) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    limit = workers * IN_FLIGHT_PER_WORKER
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent) as pool:
        pending: set[Future[Outcome]] = set()
        try:
            for path, regular in jobs:
                if not regular:
                    settle(_ignored(path))
                    continue
                if len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        settle(future.result())
                pending.add(pool.submit(process, path, str(dest), settings, dry_run))
            for future in pending:
                settle(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _count(summary: Summary, outcome: Outcome) -> None:
    if outcome.status == "converted":
        summary.converted += 1
        summary.bytes_in += outcome.bytes_in
        summary.bytes_out += outcome.bytes_out
    elif outcome.status == "skipped":
        summary.skipped += 1
    elif outcome.status == "duplicate":
        summary.duplicates += 1
    elif outcome.status == "ignored":
        summary.ignored += 1
    else:
        summary.failed += 1
        if len(summary.failures) < FAILURES_KEPT:
            summary.failures.append(Failure(outcome.source, outcome.error or "failed"))
