"""A small shop with known counts, for `capplan mix`: the same rows in SQLite and PostgreSQL.

Counted by hand (examples/measured/hand-count.yaml):
- essential: 4 active vendors (and 1 inactive one, left out) with 10, 10, 20 and 0 products
  (10 a client), 17 images over those 40 products (0.425 a product), 6 + 2 orders in the last
  30 days (2 a client; 5 older ones left out), 600 API requests over the 2 days recorded (75 a
  client a day);
- business: 2 vendors with 3 and 2 products (2.5), 10 images (2 a product), 7 orders (3.5),
  1,000 API requests over the 2 days (250 a client a day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

SCHEMA = (
    "CREATE TABLE vendors (id INTEGER PRIMARY KEY, plan TEXT NOT NULL, is_active BOOLEAN)",
    "CREATE TABLE products (id INTEGER PRIMARY KEY, vendor_id INTEGER NOT NULL)",
    "CREATE TABLE product_images (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, vendor_id INTEGER NOT NULL, created_at {ts})",
    "CREATE TABLE api_usage (vendor_id INTEGER NOT NULL, day DATE NOT NULL, requests INTEGER)",
)

# vendor id: (plan, active, products, images over its products, recent orders, old orders)
VENDORS = {
    1: ("essential", True, 10, 9, 6, 2),
    2: ("essential", True, 10, 8, 2, 3),
    3: ("essential", True, 20, 0, 0, 0),
    4: ("essential", True, 0, 0, 0, 0),
    5: ("business", True, 3, 10, 7, 0),
    6: ("business", True, 2, 0, 0, 0),
    7: ("essential", False, 50, 50, 10, 0),
}
# (vendor id, day, requests)
API_USAGE: tuple[tuple[int, str, int], ...] = (
    (1, "2026-01-01", 100),
    (1, "2026-01-02", 300),
    (2, "2026-01-01", 200),
    (5, "2026-01-01", 1000),
)


def statements(
    timestamp: str, true: str, false: str, recent: str | None = None, old: str | None = None
) -> list[str]:
    """The SQL that creates and fills the shop; `timestamp` is the type of created_at, `recent`
    and `old` SQL for 3 and 60 days ago (else those moments written out)."""
    now = dt.datetime.now(dt.timezone.utc)
    recent = recent or f"'{(now - dt.timedelta(days=3)):%Y-%m-%d %H:%M:%S}'"
    old = old or f"'{(now - dt.timedelta(days=60)):%Y-%m-%d %H:%M:%S}'"
    sql = [statement.format(ts=timestamp) for statement in SCHEMA]
    product = image = order = 0
    for vendor, (plan, active, products, images, orders, older) in VENDORS.items():
        sql.append(f"INSERT INTO vendors VALUES ({vendor}, '{plan}', {true if active else false})")
        first = product + 1
        for _ in range(products):
            product += 1
            sql.append(f"INSERT INTO products VALUES ({product}, {vendor})")
        for n in range(images):
            image += 1
            sql.append(f"INSERT INTO product_images VALUES ({image}, {first + n % products})")
        for when, count in ((recent, orders), (old, older)):
            for _ in range(count):
                order += 1
                sql.append(f"INSERT INTO orders VALUES ({order}, {vendor}, {when})")
    for vendor, day, requests in API_USAGE:
        sql.append(f"INSERT INTO api_usage VALUES ({vendor}, '{day}', {requests})")
    return sql


def sqlite_script() -> str:
    """The shop as a SQLite script (examples/measured/shop.sql), dated relative to its run."""
    sql = statements("TEXT", "1", "0", "datetime('now', '-3 days')", "datetime('now', '-60 days')")
    return "".join(f"{statement};\n" for statement in sql)


def seed(execute: Callable[[str], object], *, postgres: bool = False) -> None:
    kind = "TIMESTAMPTZ" if postgres else "TEXT"
    for statement in statements(kind, "true" if postgres else "1", "false" if postgres else "0"):
        execute(statement)
