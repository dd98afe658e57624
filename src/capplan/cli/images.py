"""`capplan images convert` and `capplan images stats`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import subgroup
from capplan.cli.options import Config, Output, config_options, output_options

images_app = subgroup(
    "images", "Product images: convert to sharded WebP variants, and tree statistics."
)


@images_app.command(
    "convert",
    epilog="Exit codes: 0 every source converted or already "
    "complete, 1 some sources failed (listed in the summary and the manifest), "
    "2 bad input.",
)
@output_options()
def images_convert(
    out: Output,
    src: Annotated[
        Path, typer.Argument(metavar="SRC", help="Directory of source images (only read).")
    ],
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="Where products/ab/cd/<sha256>_*.webp go.")
    ],
    quality: Annotated[int, typer.Option("--quality", min=0, max=100, help="WebP quality.")] = 80,
    method: Annotated[
        int, typer.Option("--method", min=0, max=6, help="WebP method: 0 fast ... 6 smallest.")
    ] = 4,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Processes (default: all cores).", show_default=False
        ),
    ] = None,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            min=1,
            help="Refuse larger images (default: Pillow's limit, 89,478,485).",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option("--max-bytes", min=1, help="Refuse larger source files.", show_default=False),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="Write a JSON line per source (source, sha256, status, "
            "outputs, sizes, dimensions, error) to this file.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; write nothing.")
    ] = False,
) -> None:
    """Convert every image under SRC into WebP variants in a sharded tree under DEST.

    Three variants (original size, 800 px, 200 px) in DEST/products/ab/cd/, named by the
    SHA-256 of the source.

    Upright (EXIF), sRGB, alpha kept, metadata stripped, never upscaled. Safe to interrupt and
    run again: complete images are skipped, identical sources stored once, every write atomic.
    """
    from capplan.images import batch
    from capplan.images.convert import DEFAULT_MAX_PIXELS, Settings
    from capplan.output.images import ImageProgress, convert_report

    settings = Settings(
        quality=quality,
        method=method,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        max_bytes=max_bytes,
    )
    with ImageProgress(enabled=sys.stderr.isatty()) as progress:
        if sys.stderr.isatty():
            batch.count_sources(src, progress.set_total)
        summary = batch.run(
            src,
            dest,
            settings=settings,
            workers=workers,
            manifest=manifest,
            dry_run=dry_run,
            on_outcome=progress.advance,
        )
    out.emit(convert_report(summary))
    raise typer.Exit(1 if summary.failed else 0)


@images_app.command("stats")
@config_options
@output_options()
def images_stats(
    config: Config,
    out: Output,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="An image tree (DEST).")],
    top: Annotated[int, typer.Option("--top", min=1, help="Fullest directories to list.")] = 10,
) -> None:
    """Image storage statistics: files and bytes per variant, the fullest directories.

    The fullest directories are held against the files-per-directory bands, with the planning
    document's action.
    """
    from capplan.images.stats import stats
    from capplan.output.images import stats_report

    out.emit(stats_report(stats(directory, config.thresholds, top=top)))
