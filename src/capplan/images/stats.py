"""Statistics of an image tree: files and bytes per variant, the fullest directories against the
files-per-directory bands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capplan.config import Band, ThresholdsConfig
from capplan.errors import InputError
from capplan.images.locations import Location, Options, locate
from capplan.images.storage import open_storage
from capplan.metrics import Status, band_of
from capplan.tree import TreeStats, scan, tally


@dataclass(frozen=True, slots=True)
class Fullest:
    path: str
    files: int
    band: Band


@dataclass(frozen=True, slots=True)
class ImageStats:
    tree: TreeStats
    fullest: tuple[Fullest, ...]

    @property
    def status(self) -> Status:
        """UNKNOWN when a folder or file could not be read: the counts leave it out."""
        if self.tree.unreadable:
            return Status.UNKNOWN
        return self.fullest[0].band.status if self.fullest else Status.OK


def stats(
    root: str, thresholds: ThresholdsConfig, *, top: int = 10, options: Options = ()
) -> ImageStats:
    """A local tree, or a bucket prefix (`s3://bucket/images`)."""
    location = locate(root, options, subject="directory")
    if location.is_local:
        if not Path(root).is_dir():
            raise InputError("directory", root, "not a directory")
        tree = scan(Path(root), top=top)
    else:
        tree = _remote(location, top)
    bands = thresholds.files_per_directory
    fullest = tuple(Fullest(d.path, d.files, band_of(d.files, bands)) for d in tree.fullest)
    return ImageStats(tree, fullest)


def _remote(location: Location, top: int) -> TreeStats:
    try:
        storage = open_storage(location)
    except InputError as error:
        raise InputError("directory", location.name, error.problem) from None
    if not storage.is_dir():
        raise InputError("directory", location.name, "no such folder or bucket prefix")
    listing = (
        (
            location.display(folder) if folder else location.name,
            [(entry.relative.rpartition("/")[2], entry.size) for entry in files],
        )
        for folder, _, files in storage.walk()
    )
    return tally(location.name, listing, top)
