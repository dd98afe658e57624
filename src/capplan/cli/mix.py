"""`capplan mix`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import AllowPrivilegedRoleOption, Config, config_options


@app.command()
@config_options
def mix(
    config: Config,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            metavar="URL",
            help="The platform's database: a SQLite path (or sqlite:///path) or a "
            "postgresql:// URL. Read only, as check --db reads it.",
            show_default=False,
        ),
    ],
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            metavar="FILE",
            help="A YAML file with mix_queries (see examples/measured/mix-queries.yaml); else the "
            "mix_queries of thresholds.yaml.",
            show_default=False,
        ),
    ] = None,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the mix.yaml to this file atomically instead of printing it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure the mix from the live database and write it as a mix.yaml.

    Runs the queries declared as mix_queries (clients per pricing plan; products per client,
    images per product, orders per month and API requests per day per plan), read-only, and
    writes a mix.yaml whose comments say where each figure came from and when. capplan project
    --mix reads it as it is.

    Example: capplan mix --db shop.db --queries examples/measured/mix-queries.yaml -o mix.yaml
    """
    from capplan import atomic
    from capplan.check.targets import database
    from capplan.errors import CapplanError, ConfigError
    from capplan.planning.measure import load_queries, measure_mix, mix_yaml

    if queries is not None:
        found, source = load_queries(queries), str(queries)
    else:
        declared = config.thresholds.mix_queries
        source = str(config.files[1]) if config.files else "thresholds.yaml"
        if declared is None:
            raise ConfigError(
                source,
                "no mix_queries to measure the mix with; declare them here or give "
                "--queries FILE (see examples/measured/mix-queries.yaml)",
            )
        found = declared
    if output is not None and output.is_dir():
        raise typer.BadParameter(
            f"{output}: is a directory, expected a file name", param_hint="--output"
        )
    measured = measure_mix(
        database(db), found, config.tiers, allow_privileged_role=allow_privileged_role
    )
    text = mix_yaml(measured, source)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            atomic.write_text(output, text)
        except OSError as error:
            raise CapplanError(
                f"--output {output}: cannot write: {error.strerror or error}"
            ) from None
