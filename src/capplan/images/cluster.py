"""The conversions on an existing Dask distributed cluster instead of local worker processes.

Before any source is sent, each worker proves that it runs this capplan and that it can read
SRC and write DEST (a probe object written, then removed); a worker that cannot is named with
the reason, and nothing starts. The sources are then sent in batches of about a second of work
each (a large source alone), a bounded number in flight, so the client's memory stays flat and
the scheduler's cost per task is spread over many sources. A worker lost mid-batch has its
batch run again elsewhere by Dask (what it had finished is found complete and skipped); a batch
that takes down worker after worker is split, and only the source that does it fails. The
workers must be able to import capplan (the same version) and to reach SRC and DEST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from capplan import secrets
from capplan.errors import AccessError
from capplan.images.locations import Location
from capplan.images.outcome import Outcome
from capplan.images.storage import Entry, describe
from capplan.images.tasks import Call, Denied, access, process_batch

IN_FLIGHT_PER_THREAD = 2
CONNECT_TIMEOUT = "20s"
WORKERS_TIMEOUT = 30
# A batch is closed at about BATCH_SECONDS of estimated work: a fixed cost per source (read,
# hash, three encodes and writes of a thumbnail) and a cost per source byte (a photo's decode
# and resizes); a source estimated at BATCH_SECONDS or more is a batch of its own.
BATCH_SECONDS = 1.0
SOURCE_SECONDS = 0.004
BYTES_PER_SECOND = 4_000_000
BATCH_MOST = 1000
SCHEMES = ("tcp", "tls")
EXPECTED = "expected tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT"


def batches(calls: Iterator[Call]) -> Iterator[list[Call]]:
    """The calls in order, grouped into batches of about BATCH_SECONDS of work."""
    batch: list[Call] = []
    cost = 0.0
    for call in calls:
        own = SOURCE_SECONDS + call[0].size / BYTES_PER_SECOND
        if own >= BATCH_SECONDS:
            yield [call]
            continue
        batch.append(call)
        cost += own
        if cost >= BATCH_SECONDS or len(batch) >= BATCH_MOST:
            yield batch
            batch, cost = [], 0.0
    if batch:
        yield batch


def on_cluster(
    address: str,
    calls: Iterator[Call],
    settle: Callable[[Outcome], None],
    src: Location,
    dest: Location,
    *,
    write: bool,
) -> None:
    """Convert on the cluster whose scheduler listens at `address` (shown redacted, should it
    hold a password); `write`: the workers must prove they can write DEST (not a dry run)."""
    redacted = secrets.redact(address)
    shown = redacted.shown
    _parse(address, shown)
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise AccessError(
            "scheduler", shown, "needs Dask: pip install 'capplan[cluster]'"
        ) from None
    _listening(address, shown)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        problem = secrets.scrub(describe(error), redacted.secrets)
        raise AccessError(
            "scheduler", shown, f"cannot reach the Dask scheduler: {problem}"
        ) from None
    with client:
        _check_workers(client, shown, src, dest, write)
        threads = sum(client.nthreads().values()) or 1
        limit = threads * IN_FLIGHT_PER_THREAD
        running = as_completed(loop=client.loop)
        sent: dict[Any, list[Call]] = {}  # the batches in flight -> their calls

        def submit(batch: list[Call]) -> None:
            _, batch_src, batch_dest, settings, dry_run = batch[0]
            entries = [call[0] for call in batch]
            future = client.submit(
                process_batch, entries, batch_src, batch_dest, settings, dry_run, pure=False
            )
            sent[future.key] = batch
            running.add(future)

        def collect(future: Any) -> None:
            batch = sent.pop(future.key)
            try:
                outcomes: list[Outcome] = future.result()
            except Exception as error:  # KilledWorker: the batch took down worker after worker
                future.release()
                if len(batch) > 1:  # find the source that does it: each of them on its own
                    for call in batch:
                        submit([call])
                    return
                outcomes = [
                    Outcome(_name(batch[0][0], batch[0][1]), "failed", error=describe(error))
                ]
            future.release()
            for outcome in outcomes:
                settle(outcome)

        for batch in batches(calls):
            while running.count() >= limit:
                collect(next(running))
            submit(batch)
        while running.count():
            collect(next(running))


def _name(entry: Entry, src: Location) -> str:
    return src.display(entry.relative)


def _version() -> str:
    """Run on each worker: the capplan it would convert with."""
    from capplan import __version__

    return __version__


def _check_workers(client: Any, shown: str, src: Location, dest: Location, write: bool) -> None:
    """Workers there, able to import capplan, of this very version (the same outputs), and each
    able to read SRC and write DEST."""
    from capplan import __version__

    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except (TimeoutError, OSError):
        problem = f"no Dask worker joined the scheduler within {WORKERS_TIMEOUT} s"
        raise AccessError("scheduler", shown, problem) from None
    try:
        versions = client.run(_version)
    except Exception as error:  # the worker's own error: a missing module, most often
        problem = (
            f"the workers cannot run capplan ({describe(error)}): "
            "pip install 'capplan[cluster]' on them"
        )
        raise AccessError("scheduler", shown, problem) from None
    names = {
        worker: str(info.get("name", worker))
        for worker, info in client.scheduler_info().get("workers", {}).items()
    }
    for worker, version in sorted(versions.items()):
        if version != __version__:
            problem = (
                f"worker {_worker(worker, names)} runs capplan {version}, this is {__version__}"
            )
            raise AccessError("scheduler", shown, problem)
    try:
        answers: dict[str, Denied | None] = client.run(access, src, dest, write)
    except Exception as error:  # a worker that could not even run the probe
        problem = f"the workers cannot check their access to SRC and DEST: {describe(error)}"
        raise AccessError("scheduler", shown, problem) from None
    denied = sorted((worker, answer) for worker, answer in answers.items() if answer is not None)
    if denied:
        worker, answer = denied[0]
        assert answer is not None
        others = f" (and {len(denied) - 1} more workers)" if len(denied) > 1 else ""
        problem = (
            f"worker {_worker(worker, names)}{others} {answer}; every worker needs the access "
            "this machine has, in its own environment"
        )
        raise AccessError("scheduler", shown, problem)


def _worker(address: str, names: dict[str, str]) -> str:
    name = names.get(address, address)
    return address if name == address else f"{name} ({address})"


def _parse(address: str, shown: str) -> tuple[str, int]:
    """The scheduler's host and port, from tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT; any
    other form is refused at once, before Dask is asked."""
    from urllib.parse import urlsplit

    scheme = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    if scheme not in SCHEMES:
        raise AccessError("scheduler", shown, f"unsupported scheme {scheme}://; {EXPECTED}")
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise AccessError("scheduler", shown, EXPECTED) from None
    if not host or port is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise AccessError("scheduler", shown, EXPECTED)
    if any(character.isspace() for character in address):
        raise AccessError("scheduler", shown, EXPECTED)
    return host, port


def _listening(address: str, shown: str) -> None:
    """Fail at once, not after the client's time-out, when nothing listens at the address."""
    import socket

    host, port = _parse(address, shown)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        problem = f"cannot reach the Dask scheduler: {error.strerror or error}"
        raise AccessError("scheduler", shown, problem) from None
