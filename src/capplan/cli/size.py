"""`capplan tiers` and `capplan size`."""

from __future__ import annotations

from typing import Annotated

import typer

from capplan.cli.frame import app
from capplan.cli.options import Config, Output, between, config_options, output_options
from capplan.formulas import MAX_COUNT


@app.command()
@config_options
@output_options()
def tiers(config: Config, out: Output) -> None:
    """Show the pricing and infrastructure tiers, backups, transitions and bandwidth prices.

    Everything comes from tiers.yaml (see --tiers).
    """
    from capplan.output.size import tiers_report

    out.emit(tiers_report(config.tiers))


@app.command()
@config_options
@output_options()
def size(
    config: Config,
    out: Output,
    products: Annotated[
        int,
        typer.Option(
            "--products",
            min=0,
            max=MAX_COUNT,
            metavar="TOTAL",
            help="Products in total, over all clients.",
        ),
    ],
    images_per_product: Annotated[
        float | None,
        typer.Option(
            "--images-per-product",
            callback=between(0, MAX_COUNT, f"a number from 0 to {MAX_COUNT:,}"),
            metavar="PER_PRODUCT",
            help="Images per product (default: assumptions.images_per_product, 5).",
            show_default=False,
        ),
    ] = None,
    orders: Annotated[
        int,
        typer.Option(
            "--orders",
            min=0,
            max=MAX_COUNT,
            metavar="TOTAL",
            help="Orders per month, in total over all clients.",
        ),
    ] = 0,
    clients: Annotated[
        int, typer.Option("--clients", min=0, max=MAX_COUNT, metavar="N", help="Client shops.")
    ] = 1,
    api_requests_per_day: Annotated[
        int,
        typer.Option(
            "--api-requests-per-day",
            min=0,
            max=MAX_COUNT,
            metavar="PER_CLIENT",
            help="API requests a day per client (the total is this x --clients).",
        ),
    ] = 0,
) -> None:
    """The Key Formulas for one set of numbers, each total beside its formula.

    Translations, image files and storage, database size, order items, API requests and egress.

    The seed's Scale Projections: capplan size --products 500000 --images-per-product 5
    --orders 300000 --clients 1000 --api-requests-per-day 10000
    """
    from capplan import formulas
    from capplan.output.size import size_report

    a = config.tiers.assumptions
    demand = formulas.size_demand(
        a,
        products=products,
        images_per_product=images_per_product,
        orders_per_month=orders,
        clients=clients,
        api_requests_per_client_per_day=api_requests_per_day,
    )
    result = formulas.totals(demand, a)
    formulas.require_exact(result, "the figures given")
    out.emit(size_report(result, formulas.explain(demand, result, a)))
