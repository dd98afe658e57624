"""The work itself, as it runs in whichever process does it (this one, a local worker process, a
Dask worker): one source, a batch of sources, and the access probe run before any of them.

Nothing here raises for a source: a problem is a failed Outcome. Both the local pool
(`batch`) and the cluster (`cluster`) import this module; neither imports the other's.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from capplan.errors import InputError
from capplan.images.convert import VARIANT_SIZES, Refused, Settings, convert, probe, sha256
from capplan.images.locations import CREDENTIALS, Location
from capplan.images.outcome import Outcome
from capplan.images.storage import Entry, Storage, describe, open_storage

VARIANTS = tuple(name for name, _ in VARIANT_SIZES)
Call = tuple[Entry, Location, Location, Settings, bool]
PROBE = ".capplan-probe"


def relative_outputs(digest: str) -> dict[str, str]:
    folder = f"products/{digest[:2]}/{digest[2:4]}"
    return {name: f"{folder}/{digest}_{name}.webp" for name in VARIANTS}


def process(
    entry: Entry, src: Location, dest: Location, settings: Settings, dry_run: bool
) -> Outcome:
    """One source, start to finish; never raises: a problem is a failed Outcome."""
    source = src.display(entry.relative)
    try:
        if settings.max_bytes is not None and entry.size > settings.max_bytes:
            raise Refused(f"{entry.size:,} bytes is over --max-bytes {settings.max_bytes:,}")
        data = open_storage(src).read(entry.path)
        digest = sha256(data)
        outputs = relative_outputs(digest)
        storage = open_storage(dest)
        existing = _complete_size(storage, dest, outputs)
        if existing is not None:
            return Outcome(source, "skipped", digest, outputs, len(data), existing)
        if dry_run:
            width, height = probe(data, settings)
            return Outcome(source, "converted", digest, outputs, len(data), 0, width, height)
        result = convert(data, settings)
        # the original last: a tree whose original exists was at least written in order
        for variant in sorted(result.variants, key=lambda v: v.name == "original"):
            storage.write(dest.join(outputs[variant.name]), variant.data)
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
        return Outcome(source, "failed", error=describe(error, src, dest))


def process_batch(
    entries: Sequence[Entry], src: Location, dest: Location, settings: Settings, dry_run: bool
) -> list[Outcome]:
    """A batch of sources, one after the other: one task on a cluster. Run again (its worker
    lost), the sources it had finished are found complete and skipped."""
    return [process(entry, src, dest, settings, dry_run) for entry in entries]


def _complete_size(storage: Storage, dest: Location, outputs: dict[str, str]) -> int | None:
    """The bytes of all the variants, or None when one is missing; the original first, as it
    is written last."""
    total = 0
    for name in ("original", *(v for v in VARIANTS if v != "original")):
        size = storage.size(dest.join(outputs[name]))
        if size is None:
            return None
        total += size
    return total


@dataclass(frozen=True, slots=True)
class Denied:
    """What a process cannot do: read SRC or write DEST, and why (one line, with a hint)."""

    subject: str  # src or dest
    name: str
    action: str  # read or write
    reason: str

    def __str__(self) -> str:
        return f"cannot {self.action} {self.subject.upper()} {self.name}: {self.reason}"


def access(src: Location, dest: Location, write: bool) -> Denied | None:
    """Whether this process can read SRC and (`write`) write DEST: a probe object written there,
    then removed; without `write`, DEST is only asked about. None when it can."""
    try:
        open_storage(src).check_readable()
    except Exception as error:
        return Denied("src", src.name, "read", _why(error, src, dest))
    try:
        if dest.is_local:
            _probe_folder(Path(dest.root), write)
        else:
            storage = open_storage(dest)
            probe_path = dest.join(f"{PROBE}-{socket.gethostname()}-{os.getpid()}")
            if write:
                storage.write(probe_path, b"capplan access probe\n")
                storage.remove(probe_path)
            else:
                storage.size(probe_path)
    except Exception as error:
        return Denied("dest", dest.name, "write" if write else "read", _why(error, src, dest))
    return None


def _probe_folder(folder: Path, write: bool) -> None:
    """A local DEST, or the folder it would be made in: a probe file made there and removed
    (nothing is left, and a DEST not there yet is not made by the probe)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if write:
        handle, name = tempfile.mkstemp(dir=folder, prefix=f"{PROBE}-")
        os.close(handle)
        Path(name).unlink()
    else:
        with os.scandir(folder) as entries:
            next(entries, None)


def _why(error: Exception, src: Location, dest: Location) -> str:
    """The error in one line without credentials, and what gives access."""
    reason = error.problem if isinstance(error, InputError) else describe(error, src, dest)
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError | PermissionError):
        return reason
    if isinstance(error, FileNotFoundError | PermissionError):
        return f"{reason}; it must exist and this user must have the permissions"
    return f"{reason}; {CREDENTIALS}"
