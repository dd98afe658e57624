"""`capplan images convert` and `capplan images stats`: summaries, the progress bar, the tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.output.report import Cell, Report, Section, Shown, data, make_console

if TYPE_CHECKING:  # `images convert` need not import the configuration's models (pydantic)
    from capplan.images.manifest import Merged
    from capplan.images.outcome import Outcome, Summary
    from capplan.images.stats import ImageStats


def convert_report(summary: Summary) -> Report:
    would = "would be " if summary.dry_run else ""
    rows: list[Sequence[Cell]] = [
        (f"{would}converted", summary.converted),
        ("skipped (already complete)", summary.skipped),
        ("duplicates (stored once)", summary.duplicates),
        ("would fail" if summary.dry_run else "failed", summary.failed),
        ("ignored (not images by name, links)", summary.ignored),
    ]
    if not summary.dry_run:
        rows += [
            ("bytes in (converted sources)", Shown.size(summary.bytes_in)),
            ("bytes out (three variants)", Shown.size(summary.bytes_out)),
            ("savings", Shown.pct(summary.savings_pct)),
        ]
    rows.append(
        ("time", f"{summary.elapsed_s:,.1f} s ({summary.images_per_s or 0.0:,.1f} images/s)")
    )
    if summary.leftovers_removed:
        rows.append((f"temporary files {would}removed", summary.leftovers_removed))
    sections = [
        Section(
            "images convert" + (" (dry run)" if summary.dry_run else ""),
            ("", ""),
            rows,
            header=False,
        )
    ]
    if summary.failures:
        if summary.manifest:
            where = "all in --manifest"
        elif summary.dry_run:  # which writes no manifest, even when given one
            where = "a run with --manifest FILE lists all"
        else:
            where = "give --manifest FILE for all"
        sections.append(
            Section(
                f"Failed sources (first {len(summary.failures)} of {summary.failed}; {where})",
                ("source", "reason"),
                [(failure.source, failure.error) for failure in summary.failures],
            )
        )
    notes = []
    if summary.no_images:
        ignored = f" ({summary.ignored:,} files ignored)" if summary.ignored else ""
        notes.append(f"no images found under {summary.src}{ignored}: nothing to convert")
    if summary.shard:
        notes.append(f"shard {summary.shard} of {summary.src}: run the other shards too")
    if summary.manifest:
        notes.append(f"manifest: {summary.manifest}")
    return Report(data=data(summary), sections=sections, notes=notes, result=summary)


def merge_report(merged: Merged) -> Report:
    rows: list[Sequence[Cell]] = [
        ("shards", merged.shards),
        ("lines", merged.lines),
        *[(status, count) for status, count in merged.statuses.items()],
        ("duplicates across shards", merged.relabelled_duplicates),
    ]
    return Report(
        data=data(merged),
        sections=[Section("images manifest merge", ("", ""), rows, header=False)],
        notes=[f"merged manifest: {merged.manifest}"],
        result=merged,
    )


class ImageProgress:
    """A Rich progress bar on stderr (images/s, ETA) while a batch runs; silent off a terminal.

    It starts with the first count or result, so that no display thread runs before the batch
    has started its workers."""

    def __init__(self, enabled: bool) -> None:
        import threading

        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None
        self.lock = threading.Lock()  # the count comes from another thread

    def __enter__(self) -> ImageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.enabled = False  # a count that arrives late draws nothing
            if self.progress is not None:
                self.progress.stop()

    def _started(self) -> Any:
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("converting"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=make_console(stderr=True),
                transient=False,
            )
            self.task = self.progress.add_task("convert", total=None, rate="")
            self.progress.start()
        return self.progress

    def set_total(self, total: int) -> None:
        with self.lock:
            if self.enabled:
                self._started().update(self.task, total=total)

    def advance(self, outcome: Outcome) -> None:
        with self.lock:
            if self.enabled:
                progress = self._started()
                speed = progress.tasks[0].speed or 0.0
                progress.update(self.task, advance=1, rate=f"{speed:,.1f} images/s")


def stats_data(result: ImageStats) -> dict[str, Any]:
    tree = result.tree
    return {
        "root": tree.root,
        "files": tree.files,
        "bytes": tree.bytes,
        "image_files": tree.image_files,
        "directories": tree.directories,
        "variants": {
            name: {"files": tree.variants[name], "bytes": tree.variant_bytes[name]}
            for name in tree.variants
        },
        "files_per_directory_max": tree.files_per_directory_max,
        "status": result.status,
        "fullest": [
            {
                "path": f.path,
                "files": f.files,
                "band": f.band.label,
                "status": f.band.status,
                "action": f.band.action,
            }
            for f in result.fullest
        ],
        "unreadable": tree.unreadable,
    }


def stats_report(result: ImageStats) -> Report:
    tree = result.tree
    totals = Section(
        f"Image tree {tree.root}",
        ("what", "files", "bytes"),
        [
            ("all files", tree.files, Shown.size(tree.bytes)),
            ("image files", tree.image_files, ""),
            *[
                (f"_{name} variant", tree.variants[name], Shown.size(tree.variant_bytes[name]))
                for name in tree.variants
            ],
            ("directories", tree.directories, ""),
        ],
    )
    fullest = Section(
        "Fullest directories (files per directory bands)",
        ("directory", "files", "band", "status", "action"),
        [
            (f.path, f.files, f.band.label, f.band.status, f.band.action or "-")
            for f in result.fullest
        ],
        statuses=[f.band.status for f in result.fullest],
    )
    notes = []
    if result.fullest:
        top = result.fullest[0]
        action = f"; {top.band.action}" if top.band.action else ""
        notes.append(f"=> fullest directory holds {top.files:,} files: {top.band.label}{action}")
    if tree.unreadable:
        notes.append(unreadable_note(tree.unreadable))
    return Report(data=stats_data(result), sections=[totals, fullest], notes=notes, result=result)


def unreadable_note(unreadable: list[str], shown: int = 3) -> str:
    """What could not be read, named: the counts leave it out."""
    names = ", ".join(unreadable[:shown]) + (", ..." if len(unreadable) > shown else "")
    return (
        f"error: {len(unreadable):,} folders or files could not be read, so these counts leave "
        f"them out (status UNKNOWN): {names}"
    )
