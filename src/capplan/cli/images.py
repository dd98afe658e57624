"""`capplan images convert` and `capplan images stats`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from capplan.cli.frame import subgroup
from capplan.cli.options import Config, Output, config_options, output_options

images_app = subgroup(
    "images", "Product images: convert to sharded WebP variants, and tree statistics."
)


@images_app.command(
    "convert",
    epilog="Exit codes: 0 every source converted or already "
    "complete (or no images found), 1 some sources failed (listed in the summary and the "
    "manifest; an unreadable folder is a failed source), 2 bad input, 3 SRC or DEST out of "
    "reach of this machine or of a Dask worker (no credentials, no permission), or the "
    "--scheduler malformed or not answering: found before any work. A dry run exits as the "
    "real run would.",
)
@output_options()
def images_convert(
    out: Output,
    src: Annotated[
        str,
        typer.Argument(
            metavar="SRC", help="Folder of source images (only read): a path or s3://bucket/prefix."
        ),
    ],
    dest: Annotated[
        str,
        typer.Argument(
            metavar="DEST",
            help="Where products/ab/cd/<sha256>_*.webp go: a path or s3://bucket/prefix.",
        ),
    ],
    quality: Annotated[
        int, typer.Option("--quality", metavar="N", min=0, max=100, help="WebP quality.")
    ] = 80,
    method: Annotated[
        int,
        typer.Option(
            "--method", metavar="N", min=0, max=6, help="WebP method: 0 fast ... 6 smallest."
        ),
    ] = 4,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            min=1,
            help="Processes (default: all cores).",
            show_default=False,
        ),
    ] = None,
    max_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-pixels",
            metavar="PIXELS",
            min=1,
            help="Refuse larger images (default: Pillow's limit, 89,478,485).",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes",
            metavar="BYTES",
            min=1,
            help="Refuse larger source files.",
            show_default=False,
        ),
    ] = None,
    manifest: Annotated[
        str | None,
        typer.Option(
            "--manifest",
            metavar="FILE",
            help="Write a JSON line per source (source, sha256, status, outputs, sizes, "
            "dimensions, error) to this file (with --shard: NAME-K-of-N.jsonl, or "
            "manifest-K-of-N.jsonl in a folder).",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out files and folders that match (repeatable): a name (*.psd, drafts) "
            "or a path under SRC (2024/*/raw).",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Try every file: hidden files and names that are plainly not images (.txt, "
            ".json, ...) fail instead of being ignored.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Only the K-th of N disjoint parts of SRC (from 0); auto: K (and N) from "
            "JOB_COMPLETION_INDEX (Kubernetes, write auto/N) or SLURM_ARRAY_TASK_ID.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Convert on this Dask cluster (tcp://HOST:PORT) instead of local processes.",
            show_default=False,
        ),
    ] = None,
    storage_options: Annotated[
        list[str] | None,
        typer.Option(
            "--storage-option",
            metavar="KEY=VALUE",
            help="An fsspec option for s3:// URLs (repeatable): endpoint_url=..., anon=true. "
            "Credentials are best left to AWS_* variables.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what would happen, failures included (headers read, nothing decoded in "
            "full); write nothing.",
        ),
    ] = False,
) -> None:
    """Convert every image under SRC into WebP variants in a sharded tree under DEST.

    Three variants (original size, 800 px, 200 px) in DEST/products/ab/cd/, named by the
    SHA-256 of the source.

    Upright (EXIF), sRGB, alpha kept, metadata stripped, never upscaled. Safe to interrupt and
    run again: complete images are skipped, identical sources stored once, every write atomic.
    """
    import os

    from capplan.images import batch, shards
    from capplan.images.convert import DEFAULT_MAX_PIXELS, Settings
    from capplan.images.locations import locate, parse_options
    from capplan.images.manifest import target
    from capplan.output.images import ImageProgress, convert_report

    options = parse_options(storage_options)
    chosen = shards.parse(shard, os.environ) if shard is not None else None
    source = locate(src, options, subject="src")
    plan = batch.Plan(
        src=source,
        dest=locate(dest, options, subject="dest", writes=True),
        settings=Settings(
            quality=quality,
            method=method,
            max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
            max_bytes=max_bytes,
        ),
        manifest=target(manifest, chosen, source) if manifest is not None else None,
        dry_run=dry_run,
        exclude=tuple(exclude or ()),
        strict=strict,
        shard=chosen,
    )
    if out.destination is not None:
        batch.check_output_file("output", out.destination, source)
    manifest_file = plan.manifest.root if plan.manifest and plan.manifest.is_local else None
    same = manifest_file is not None and out.destination is not None
    if same and Path(str(manifest_file)).resolve() == Path(str(out.destination)).resolve():
        raise typer.BadParameter("--output and --manifest name the same file")
    with ImageProgress(enabled=sys.stderr.isatty()) as progress:
        summary = batch.run(
            plan,
            workers=workers,
            scheduler=scheduler,
            on_outcome=progress.advance,
            on_total=progress.set_total if progress.enabled else None,
        )
    out.emit(convert_report(summary))
    raise typer.Exit(1 if summary.failed else 0)


manifest_app = typer.Typer(
    cls=TyperGroup, no_args_is_help=True, help="Manifests of sharded runs: merge them into one."
)
images_app.add_typer(manifest_app, name="manifest")


@manifest_app.command("merge")
@output_options()
def manifest_merge(
    out: Output,
    shards: Annotated[
        list[str],
        typer.Argument(
            metavar="SHARDS...",
            help="The shards' manifests (NAME-K-of-N.jsonl), or folders or s3:// prefixes "
            "that hold them.",
        ),
    ],
    manifest: Annotated[
        Path,
        typer.Option(
            "--manifest", metavar="FILE", help="The merged manifest to write.", show_default=False
        ),
    ],
    storage_options: Annotated[
        list[str] | None,
        typer.Option(
            "--storage-option",
            metavar="KEY=VALUE",
            help="An fsspec option for s3:// URLs (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Join the N manifests of a sharded run (--shard K/N) into one, checking none is missing.

    A source stored by an earlier shard and met again by a later one becomes a duplicate, as
    one run would have said.
    """
    from capplan.images.locations import parse_options
    from capplan.images.manifest import merge
    from capplan.output.images import merge_report

    out.emit(merge_report(merge(shards, manifest, parse_options(storage_options))))


@images_app.command(
    "stats",
    epilog="Exit codes: 0 every folder and file read, 1 some could not be read (named; the "
    "counts leave them out, status UNKNOWN), 2 bad input.",
)
@config_options
@output_options()
def images_stats(
    config: Config,
    out: Output,
    directory: Annotated[
        str,
        typer.Argument(metavar="DIR", help="An image tree (DEST): a path or s3://bucket/prefix."),
    ],
    top: Annotated[
        int, typer.Option("--top", metavar="N", min=1, help="Fullest directories to list.")
    ] = 10,
    storage_options: Annotated[
        list[str] | None,
        typer.Option(
            "--storage-option",
            metavar="KEY=VALUE",
            help="An fsspec option for s3:// URLs (repeatable): endpoint_url=..., anon=true.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Image storage statistics: files and bytes per variant, the fullest directories.

    The fullest directories are held against the files-per-directory bands, with the planning
    document's action.
    """
    from capplan.images.locations import parse_options
    from capplan.images.stats import stats
    from capplan.output.images import stats_report

    options = parse_options(storage_options)
    result = stats(directory, config.thresholds, top=top, options=options)
    out.emit(stats_report(result))
    raise typer.Exit(1 if result.tree.unreadable else 0)
