"""The options that say where `trend` and `report` read their history from, and how a server
history is reached (selector, credentials from files, CA file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from capplan.history_postgres import PostgresHistory
    from capplan.history_source import HistorySource

MatchOption = Annotated[
    str | None,
    typer.Option(
        "--match",
        metavar="SELECTOR",
        help="With a Prometheus history: a PromQL selector of the hosts to read, such as "
        '{job="node"} or {instance=~"web-.*"}.',
        show_default=False,
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        metavar="FILE",
        help="With a Prometheus history: a file holding the bearer token (else "
        "$CAPPLAN_PROMETHEUS_TOKEN or $CAPPLAN_PROMETHEUS_TOKEN_FILE).",
        show_default=False,
    ),
]
BasicAuthFileOption = Annotated[
    Path | None,
    typer.Option(
        "--basic-auth-file",
        metavar="FILE",
        help="With a Prometheus history: a file holding USER:PASSWORD for basic auth (else "
        "$CAPPLAN_PROMETHEUS_BASIC_AUTH or $CAPPLAN_PROMETHEUS_BASIC_AUTH_FILE).",
        show_default=False,
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        metavar="FILE",
        help="With an https:// Prometheus history: the CA certificates to trust (PEM; else "
        "$CAPPLAN_PROMETHEUS_CA_FILE, else the system's).",
        show_default=False,
    ),
]


def open_history(
    history: str | None,
    match: str | None = None,
    token_file: Path | None = None,
    basic_auth_file: Path | None = None,
    ca_file: Path | None = None,
) -> HistorySource:
    """The history to read, from the command line's options."""
    import os

    from capplan.history import HISTORY_ENV
    from capplan.history_source import locate, open_source

    history = history if history is not None else os.environ.get(HISTORY_ENV) or None
    prometheus = history is not None and locate(history).kind == "prometheus"
    if not prometheus:
        for name, given in (
            ("token_file", token_file),
            ("basic_auth_file", basic_auth_file),
            ("ca_file", ca_file),
        ):
            if given is not None:
                from capplan.errors import InputError

                raise InputError(name, given, "applies to a Prometheus history only")
    if not prometheus and match is None:
        return open_source(history)
    from capplan.history_prometheus import access_from, parse_match

    matchers = parse_match(match) if match is not None else ()
    if not prometheus:
        return open_source(history, match=matchers)
    access = access_from(token_file=token_file, basic_auth_file=basic_auth_file, ca_file=ca_file)
    return open_source(history, match=matchers, access=access)


def shared_history(history: str | None) -> PostgresHistory | None:
    """The shared PostgreSQL history that --history (or $CAPPLAN_HISTORY) names, if it does."""
    from capplan.history_source import location_of

    location = location_of(history)
    if location.kind != "postgresql":
        return None
    from capplan.history_postgres import history as postgres_history

    return postgres_history(location.text)
