"""The conversions on an existing Dask distributed cluster instead of local worker processes.

Each task converts one source on whichever worker Dask picks; the sources are streamed with a
bounded number of tasks in flight, so the client's memory stays flat; the results come back to
the same summary and manifest. A worker that dies mid-run has its tasks run again elsewhere by
Dask; a task whose source kills one worker after another is reported as failed. The workers
must be able to import capplan (the same version) and to reach SRC and DEST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from capplan import secrets
from capplan.errors import InputError
from capplan.images.outcome import Outcome
from capplan.images.storage import describe

IN_FLIGHT_PER_THREAD = 4
CONNECT_TIMEOUT = "20s"
WORKERS_TIMEOUT = 30


def on_cluster(
    address: str, calls: Iterator[tuple[Any, ...]], settle: Callable[[Outcome], None]
) -> None:
    """Convert on the cluster whose scheduler listens at `address` (shown redacted, should it
    hold a password)."""
    redacted = secrets.redact(address)
    shown = redacted.shown
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("scheduler", shown, "needs Dask: pip install 'capplan[cluster]'") from None
    from capplan.images.batch import process

    _listening(address, shown)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        problem = secrets.scrub(describe(error), redacted.secrets)
        raise InputError(
            "scheduler", shown, f"cannot reach the Dask scheduler: {problem}"
        ) from None
    with client:
        _check_workers(client, shown)
        threads = sum(client.nthreads().values()) or 1
        limit = threads * IN_FLIGHT_PER_THREAD
        running = as_completed(loop=client.loop)
        names: dict[Any, str] = {}  # the tasks in flight -> their sources
        for call in calls:
            if running.count() >= limit:
                _settle(next(running), names, settle)
            future = client.submit(process, *call, pure=False, retries=1)
            names[future.key] = call[1].display(call[0].relative)
            running.add(future)
        for future in running:
            _settle(future, names, settle)


def _settle(future: Any, names: dict[Any, str], settle: Callable[[Outcome], None]) -> None:
    source = names.pop(future.key, str(future.key))
    try:
        outcome: Outcome = future.result()
    except Exception as error:  # KilledWorker: this source took down worker after worker
        outcome = Outcome(source, "failed", error=describe(error))
    future.release()
    settle(outcome)


def _version() -> str:
    """Run on each worker: the capplan it would convert with."""
    from capplan import __version__

    return __version__


def _check_workers(client: Any, shown: str) -> None:
    """Workers there, able to import capplan, of this very version (the same outputs)."""
    from capplan import __version__

    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except (TimeoutError, OSError):
        problem = f"no Dask worker joined the scheduler within {WORKERS_TIMEOUT} s"
        raise InputError("scheduler", shown, problem) from None
    try:
        versions = client.run(_version)
    except Exception as error:  # the worker's own error: a missing module, most often
        problem = (
            f"the workers cannot run capplan ({describe(error)}): "
            "pip install 'capplan[cluster]' on them"
        )
        raise InputError("scheduler", shown, problem) from None
    for worker, version in sorted(versions.items()):
        if version != __version__:
            problem = f"worker {worker} runs capplan {version}, this is {__version__}"
            raise InputError("scheduler", shown, problem)


def _listening(address: str, shown: str) -> None:
    """Fail at once, not after the client's time-out, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InputError("scheduler", shown, "expected tcp://HOST:PORT") from None
    if parts.scheme not in ("tcp", "tls") or not host or not port:
        return  # another transport: the client says what is wrong
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        problem = f"cannot reach the Dask scheduler: {error.strerror or error}"
        raise InputError("scheduler", shown, problem) from None
