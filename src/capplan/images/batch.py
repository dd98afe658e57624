"""The batch: every image under SRC into DEST/products/ab/cd/<sha256>_<variant>.webp.

SRC is walked lazily and a bounded number of images is in flight, on local worker processes
(started while the walk begins) or on a Dask cluster, so memory stays flat whatever SRC holds.
Every output path is checked before any work starts. Every write is atomic (a temporary file in
DEST's staging folder, renamed into place); a run killed at any
moment and run again removes the temporary files it left and completes the tree. Sources are
only read.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan import atomic
from capplan.errors import AccessError, InputError
from capplan.images import sources
from capplan.images.convert import Settings
from capplan.images.locations import Location
from capplan.images.manifest import Manifest
from capplan.images.outcome import Outcome, Summary
from capplan.images.shards import Shard
from capplan.images.storage import STAGING, Entry, RemoteStorage, open_storage
from capplan.images.tasks import Call, access, process

IN_FLIGHT_PER_WORKER = 4
Settle = Callable[[Outcome], None]


@dataclass(frozen=True)
class Plan:
    """What a run reads, where it writes, and how: everything checked before it starts."""

    src: Location
    dest: Location
    settings: Settings = field(default_factory=Settings)
    manifest: Location | None = None
    dry_run: bool = False
    exclude: Sequence[str] = ()
    strict: bool = False
    shard: Shard | None = None


def _writable_folder(subject: str, path: Path, given: object) -> None:
    """The nearest existing folder of `path` is a folder that this user may write into."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(subject, given, f"{existing} is not a directory")
    effective = os.access in os.supports_effective_ids  # a set-user-ID run: its user
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective):
        raise AccessError(subject, given, f"{existing} is not writable by this user")


def check_output_file(subject: str, path: Path, src: Location) -> None:
    """A file that the run writes at its end (`--output`): checked before any work starts."""
    if path.is_dir():
        raise InputError(subject, path, "is a directory: name a file")
    if not path.parent.is_dir():
        raise InputError(subject, path, f"folder {path.parent} does not exist")
    if src.is_local and src.contains(Location(str(path), None, str(path))):
        raise InputError(
            subject, path, f"is inside SRC {src.name}: the next run would take it as a source"
        )


def check_plan(plan: Plan) -> None:
    src, dest = plan.src, plan.dest
    if src.is_local and not Path(src.root).is_dir():
        raise InputError("src", src.name, "not a directory")
    if not src.is_local and not _ask("src", src, RemoteStorage.is_dir):
        raise InputError("src", src.name, "no such folder or bucket prefix")
    if src.contains(dest):
        raise InputError(
            "dest", dest.name, f"is inside SRC {src.name}: the outputs would become sources"
        )
    if dest.contains(src):
        raise InputError(
            "src", src.name, f"is inside DEST {dest.name}: choose separate directories"
        )
    if dest.is_local:
        if Path(dest.root).exists() and not Path(dest.root).is_dir():
            raise InputError("dest", dest.name, "not a directory")
        _writable_folder("dest", Path(dest.root), dest.name)
    else:
        _ask("dest", dest, RemoteStorage.reachable)
    if plan.manifest is not None and not plan.manifest.is_local and not plan.dry_run:
        _ask("manifest", plan.manifest, RemoteStorage.reachable)


def _ask(subject: str, location: Location, question: Callable[[RemoteStorage], Any]) -> Any:
    """A question to the storage of a URL, its errors naming SRC or DEST."""
    try:
        storage = open_storage(location)
        assert isinstance(storage, RemoteStorage)
        return question(storage)
    except InputError as error:
        raise type(error)(subject, location.name, error.problem) from None


def check_access(plan: Plan, *, on_cluster: bool) -> None:
    """This process reads SRC (it walks it) and, unless the cluster's workers do the writing or
    nothing is written, proves it can write DEST; before any work starts."""
    denied = access(plan.src, plan.dest, write=not plan.dry_run and not on_cluster)
    if denied is not None:
        raise AccessError(
            denied.subject, denied.name, f"cannot {denied.action} it: {denied.reason}"
        )


def remove_leftovers(dest: Location, dry_run: bool) -> int:
    """Temporary files that a killed run left in a local tree (an object store has none): they
    all live in DEST's staging folder, the only folder read; those that another run is writing
    now (a shard on a shared file system) stay."""
    if not dest.is_local:
        return 0
    return atomic.remove_abandoned(Path(dest.root, STAGING), dry_run=dry_run)


def _tidy(dest: Location) -> None:
    """The staging folder goes when the run leaves it empty (another shard's files keep it)."""
    if dest.is_local:
        with contextlib.suppress(OSError):
            Path(dest.root, STAGING).rmdir()


def _count_sources(plan: Plan, report: Callable[[int], None]) -> None:
    """Count the sources in a background thread, for a progress bar's total and ETA."""
    import threading

    def count() -> None:
        found = sources.find(
            open_storage(plan.src), exclude=plan.exclude, strict=plan.strict, shard=plan.shard
        )
        report(sum(1 for _ in found))

    threading.Thread(target=count, name="capplan-count", daemon=True).start()


def run(
    plan: Plan,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_outcome: Settle | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Summary:
    """Convert the plan's sources; `on_total` receives their count (from a second walk, for a
    progress bar), `on_outcome` each result as it comes."""
    started = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    # the workers first, before this process starts any thread (an object store's client
    # runs one): they fork at once, already holding the codecs, and convert while the walk
    # begins
    pool = _start_pool(workers) if scheduler is None and workers > 1 else None
    try:
        check_plan(plan)
        check_access(plan, on_cluster=scheduler is not None)
        if on_total is not None:
            _count_sources(plan, on_total)
        return _run(plan, pool, workers, scheduler, on_outcome, started)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run(
    plan: Plan,
    pool: ProcessPoolExecutor | None,
    workers: int,
    scheduler: str | None,
    on_outcome: Settle | None,
    started: float,
) -> Summary:
    summary = Summary(
        dry_run=plan.dry_run,
        src=plan.src.name,
        dest=plan.dest.name,
        shard=str(plan.shard) if plan.shard else None,
        manifest=plan.manifest.name if plan.manifest and not plan.dry_run else None,
    )
    record = Manifest(None if plan.dry_run else plan.manifest)  # a dry run writes nothing
    complete = False
    try:
        summary.leftovers_removed = remove_leftovers(plan.dest, plan.dry_run)
        settle = _settler(summary, record, on_outcome)
        calls = _calls(plan, settle)
        if scheduler is not None:
            from capplan.images.cluster import on_cluster

            on_cluster(scheduler, calls, settle, plan.src, plan.dest, write=not plan.dry_run)
        elif pool is None:
            for call in calls:
                settle(process(*call))
        else:
            _in_pool(pool, calls, settle, workers * IN_FLIGHT_PER_WORKER)
        if not plan.dry_run:  # once more, at no cost: what a writer still dying at start left
            summary.leftovers_removed += remove_leftovers(plan.dest, plan.dry_run)
        complete = True
    finally:
        record.close(complete)
        _tidy(plan.dest)
    summary.finish(time.perf_counter() - started)
    return summary


def _calls(plan: Plan, settle: Settle) -> Iterator[Call]:
    """The sources to convert, largest first within a window; what is not one is settled."""

    def entries() -> Iterator[Entry]:
        found = sources.find(
            open_storage(plan.src), exclude=plan.exclude, strict=plan.strict, shard=plan.shard
        )
        for item in found:
            if isinstance(item, sources.Skip):
                settle(Outcome(plan.src.display(item.entry.relative), "ignored", error=item.reason))
            elif isinstance(item, sources.Unreadable):
                shown = plan.src.display(item.entry.relative)
                settle(Outcome(shown, "failed", error=item.entry.problem))
            else:
                yield item

    for entry in sources.largest_first(entries()):
        yield entry, plan.src, plan.dest, plan.settings, plan.dry_run


def _settler(summary: Summary, record: Manifest, on_outcome: Settle | None) -> Settle:
    seen: dict[bytes, str] = {}  # 16 bytes of each SHA-256 seen -> its first status

    def settle(outcome: Outcome) -> None:
        if outcome.sha256 is not None and outcome.status in ("converted", "skipped"):
            key = bytes.fromhex(outcome.sha256)[:16]
            first = seen.get(key)
            if first is None:
                seen[key] = outcome.status
            elif first == "skipped" and outcome.status == "converted" and not summary.dry_run:
                # Two identical sources were in flight at once and the first to report found
                # the second's fresh outputs: it was this run's duplicate, not a previous run's.
                seen[key] = "converted"
                summary.skipped -= 1
                summary.duplicates += 1
            else:
                outcome = Outcome(
                    outcome.source, "duplicate", outcome.sha256, outcome.outputs, outcome.bytes_in
                )
        summary.count(outcome)
        record.write(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    return settle


def _start_worker() -> None:
    """Worker start-up: end when the parent ends (Linux), and have the codecs imported (a
    forked worker has them already; a spawned one imports them now, while the parent walks)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed run leaves no writer
        except (OSError, AttributeError):
            pass
    import capplan.images.convert  # noqa: F401


def _ready() -> None:
    """A task that does nothing: submitting one starts the workers."""


def _start_pool(workers: int) -> ProcessPoolExecutor:
    """Forked where the platform can (no start-up, no imports), spawned elsewhere."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker)
    for _ in range(workers if method == "spawn" else 1):
        pool.submit(_ready)
    return pool


def _in_pool(pool: ProcessPoolExecutor, calls: Iterator[Call], settle: Settle, limit: int) -> None:
    pending: set[Future[Outcome]] = set()
    try:
        for call in calls:
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    settle(future.result())
            pending.add(pool.submit(process, *call))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                settle(future.result())
    except BaseException:
        for future in pending:
            future.cancel()
        raise
