"""Statistics of an image tree: files and bytes per variant, the fullest directories against the
files-per-directory bands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capplan.config import Band, ThresholdsConfig
from capplan.errors import InputError
from capplan.metrics import Status, band_of
from capplan.tree import TreeStats, scan


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
        return self.fullest[0].band.status if self.fullest else Status.OK


def stats(root: Path, thresholds: ThresholdsConfig, *, top: int = 10) -> ImageStats:
    if not root.is_dir():
        raise InputError("directory", root, "not a directory")
    tree = scan(root, top=top)
    bands = thresholds.files_per_directory
    fullest = tuple(Fullest(d.path, d.files, band_of(d.files, bands)) for d in tree.fullest)
    return ImageStats(tree, fullest)
