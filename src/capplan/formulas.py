"""The Key Formulas of the planning document, as pure functions.

Decimal units, as in the seed: 1 GB = 1,000,000 KB and 1 TB = 1,000 GB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from capplan.errors import BeyondExact

if TYPE_CHECKING:
    from capplan.config import Assumptions, BandwidthProvider

KB_PER_GB = 1_000_000
BYTES_PER_GB = 1_000_000_000
KB_PER_TB = 1_000_000_000
GB_PER_TB = 1_000
DAYS_PER_MONTH = 30
# The largest count capplan takes (clients, products, orders...): far above any real platform,
# and far below 2**53, where a float stops holding every whole number.
MAX_COUNT = 10**12
# Totals multiply counts (clients x products x images...): past 2**53 a float no longer holds
# every whole number, and a total's last digits would be noise.
EXACT_COUNT = 2**53
COUNT_TOTALS = (
    "clients",
    "products",
    "translations",
    "image_files",
    "orders_per_month",
    "order_items_per_month",
    "api_requests_per_month",
)


@dataclass(frozen=True, slots=True)
class Demand:
    """What a set of clients asks of the platform, summed over the clients."""

    clients: float
    products: float
    product_images: float  # products x images per product, before variants
    orders_per_month: float
    api_requests_per_day: float


def size_demand(
    a: Assumptions,
    *,
    products: float,
    images_per_product: float | None = None,
    orders_per_month: float = 0,
    clients: float = 1,
    api_requests_per_client_per_day: float = 0,
) -> Demand:
    """`capplan size`'s numbers as a Demand: products and orders in total, API requests per
    client; images per product default to the assumptions'."""
    per_product = a.images_per_product if images_per_product is None else images_per_product
    return Demand(
        clients=clients,
        products=products,
        product_images=products * per_product,
        orders_per_month=orders_per_month,
        api_requests_per_day=clients * api_requests_per_client_per_day,
    )


@dataclass(frozen=True, slots=True)
class Totals:
    """The contract's totals (DESIGN.md): JSON keys carry the unit."""

    clients: float
    products: float
    translations: float
    image_files: float
    image_storage_gb: float
    db_size_gb: float
    orders_per_month: float
    order_items_per_month: float
    api_requests_per_month: float
    egress_tb_per_month: float

    @property
    def disk_gb(self) -> float:
        """What the platform keeps on its own disk: images and database."""
        return self.image_storage_gb + self.db_size_gb


def translations(products: float, languages: float) -> float:
    return products * languages


def image_files(product_images: float, variants: float) -> float:
    return product_images * variants


def image_storage_gb(files: float, avg_image_kb: float) -> float:
    return files * avg_image_kb / KB_PER_GB


def order_items(orders: float, items_per_order: float) -> float:
    return orders * items_per_order


def db_size_gb(products: float, orders_per_month: float, a: Assumptions) -> float:
    return (
        products * a.db_gb_per_product
        + orders_per_month * a.orders_retained_months * a.db_gb_per_order
    )


def api_requests_per_month(requests_per_day: float) -> float:
    return requests_per_day * DAYS_PER_MONTH


def image_egress_tb(products: float, a: Assumptions) -> float:
    return products * a.image_views_per_product_per_month * a.served_image_kb / KB_PER_TB


def api_egress_tb(requests_per_month: float, a: Assumptions) -> float:
    return requests_per_month * a.api_response_kb / KB_PER_TB


def static_egress_tb(a: Assumptions) -> float:
    return a.static_egress_gb_per_month / GB_PER_TB


def egress_tb_per_month(products: float, requests_per_month: float, a: Assumptions) -> float:
    return image_egress_tb(products, a) + api_egress_tb(requests_per_month, a) + static_egress_tb(a)


def totals(demand: Demand, a: Assumptions) -> Totals:
    files = image_files(demand.product_images, a.image_variants)
    requests = api_requests_per_month(demand.api_requests_per_day)
    return Totals(
        clients=demand.clients,
        products=demand.products,
        translations=translations(demand.products, a.languages),
        image_files=files,
        image_storage_gb=image_storage_gb(files, a.avg_image_kb),
        db_size_gb=db_size_gb(demand.products, demand.orders_per_month, a),
        orders_per_month=demand.orders_per_month,
        order_items_per_month=order_items(demand.orders_per_month, a.items_per_order),
        api_requests_per_month=requests,
        egress_tb_per_month=egress_tb_per_month(demand.products, requests, a),
    )


def growth_factor(rate: float, month: int) -> float:
    """Compound monthly growth, (1 + rate) ** month, at most MAX_COUNT (years of steep growth
    overflow a float)."""
    try:
        return min((1 + rate) ** month, MAX_COUNT)
    except OverflowError:
        return MAX_COUNT


def bandwidth_cost(egress_tb: float, provider: BandwidthProvider) -> float:
    """A month's egress bill in the provider's currency."""
    included = egress_tb if provider.included_tb is None else min(egress_tb, provider.included_tb)
    extra = egress_tb - included
    return included * provider.included_price_per_tb + extra * provider.extra_price_per_tb


def gross_margin_pct(revenue: float, costs: float) -> float | None:
    """(revenue - costs) / revenue in percent; None without revenue."""
    if revenue <= 0:
        return None
    return (revenue - costs) / revenue * 100


def _coefficient(value: float) -> str:
    """0.00003 rather than 3e-05."""
    return f"{value:.8f}".rstrip("0").rstrip(".") if value < 0.001 else f"{value:g}"


def explain(demand: Demand, result: Totals, a: Assumptions) -> dict[str, str]:
    """Each total's formula with its inputs, for a reader to check the arithmetic."""
    images_per_product = demand.product_images / demand.products if demand.products else 0
    return {
        "clients": "given",
        "products": "given",
        "translations": f"{demand.products:,.0f} products x {a.languages} languages",
        "image_files": (
            f"{demand.products:,.0f} products x {images_per_product:g} images "
            f"x {a.image_variants} variants"
        ),
        "image_storage_gb": f"{result.image_files:,.0f} files x {a.avg_image_kb:g} KB",
        "db_size_gb": (
            f"{demand.products:,.0f} products x {_coefficient(a.db_gb_per_product)} + "
            f"{demand.orders_per_month:,.0f} orders x {a.orders_retained_months:g} month "
            f"x {_coefficient(a.db_gb_per_order)}"
        ),
        "orders_per_month": "given",
        "order_items_per_month": (
            f"{demand.orders_per_month:,.0f} orders x {a.items_per_order:g} items"
        ),
        "api_requests_per_month": f"{demand.api_requests_per_day:,.0f} a day x {DAYS_PER_MONTH}",
        "egress_tb_per_month": (
            f"images {image_egress_tb(demand.products, a):,.2f} "
            f"+ API {api_egress_tb(result.api_requests_per_month, a):,.2f} "
            f"+ static {static_egress_tb(a):,.2f}"
        ),
    }


def beyond_exact(t: Totals) -> str | None:
    """The first count of `t` past EXACT_COUNT, if any."""
    return next((name for name in COUNT_TOTALS if getattr(t, name) > EXACT_COUNT), None)


def require_exact(t: Totals, inputs: str) -> None:
    """Refuse totals whose counts pass EXACT_COUNT: no platform has them, and their digits would
    be wrong."""
    name = beyond_exact(t)
    if name is not None:
        raise BeyondExact(
            f"{name.replace('_', ' ')} in total pass {EXACT_COUNT:,} (2**53, the most capplan "
            f"counts to the unit): check {inputs}"
        )
