"""Index advice that works when applied: which existing indexes count as a critical index, the
statements suggested (run on a copy of a real PostgreSQL database, then EXPLAIN), and the unused
indexes of partitioned tables."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.check.database import Snapshot, Table, Timing, Unusable, missing_indexes
from capplan.check.sql_names import NAME_BYTES, free_name
from capplan.config import CriticalIndex

from .check_servers import admin_url, postgres_server
from .conftest import ROOT, Run

FAST = ("check", "--interval", "0", "--format", "json")

# Partial, INCLUDE-only and INVALID indexes that look like critical ones; an index and a table
# holding the names that two suggestions would take; a partitioned table.
ADVICE = [
    "CREATE TABLE products (id serial PRIMARY KEY, vendor_id int, is_active boolean, gtin text,"
    " vendor_sku text)",
    "INSERT INTO products (vendor_id, is_active, gtin, vendor_sku)"
    " SELECT n % 500, n % 3 = 0, 'g' || (n % 19000), 's' || n FROM generate_series(1, 20000) n",
    "CREATE INDEX products_active_vendor ON products (vendor_id, is_active) WHERE is_active",
    "CREATE INDEX products_vendor_cover ON products (vendor_id) INCLUDE (vendor_sku)",
    "CREATE TABLE orders (id serial PRIMARY KEY, vendor_id int, status text,"
    " created_at timestamptz, customer_id int)",
    "INSERT INTO orders (vendor_id, status, created_at, customer_id)"
    " SELECT n % 300, 's' || (n % 7), now() - n * interval '1 minute', n % 4000"
    " FROM generate_series(1, 20000) n",
    "CREATE INDEX orders_by_vendor ON orders (vendor_id, status, created_at)",
    "CREATE TABLE inventory (id serial PRIMARY KEY, product_id int, warehouse text,"
    " bin_location text, vendor_id int)",
    "INSERT INTO inventory (product_id, warehouse, bin_location, vendor_id)"
    " SELECT n, 'w' || (n % 5), 'b' || (n % 50), n % 400 FROM generate_series(1, 20000) n",
    "CREATE INDEX idx_inventory_vendor ON inventory (warehouse)",  # the name, on another column
    "CREATE TABLE idx_inventory_product_location (note text)",  # the name, taken by a table
    "CREATE TABLE events (id int, vendor_id int, kind text) PARTITION BY RANGE (id)",
    "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10000)",
    "CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10000) TO (20000)",
    "INSERT INTO events SELECT n, n % 100, 'k' || (n % 9) FROM generate_series(0, 19999) n",
    "CREATE INDEX events_kind ON events (kind)",  # on the parent: one per partition
    "CREATE INDEX events_2_by_id ON events_2 (id)",  # on one partition only
    "ANALYZE",
]
# A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index behind.
INVALID = "CREATE UNIQUE INDEX CONCURRENTLY products_gtin_unique ON products (gtin)"
EVENTS_INDEX = "  - {name: idx_events_vendor, table: events, columns: [vendor_id]}\n"
# Each suggestion's lookup, which only the suggested index can serve.
LOOKUPS = {
    "idx_product_vendor_active": "SELECT id FROM products WHERE vendor_id = 7 AND NOT is_active",
    "idx_product_gtin": "SELECT id FROM products WHERE gtin = 'g77'",
    "idx_product_vendor_sku": "SELECT id FROM products WHERE vendor_id = 7 AND vendor_sku = 's7'",
    "idx_order_created": "SELECT id FROM orders ORDER BY created_at DESC LIMIT 10",
    "idx_order_customer": "SELECT id FROM orders WHERE customer_id = 42",
    "idx_inventory_product_location_2": "SELECT id FROM inventory WHERE product_id = 9 AND"
    " warehouse = 'w4' AND bin_location = 'b9'",
    "idx_inventory_vendor_2": "SELECT id FROM inventory WHERE vendor_id = 9",
    "idx_events_vendor": "SELECT id FROM events WHERE vendor_id = 9",
}


@pytest.fixture(scope="module")
def advice_db() -> Iterator[tuple[int, str]]:
    import psycopg

    with postgres_server() as port:
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            connection.execute("CREATE DATABASE advice")
        url = admin_url(port, "advice")
        with psycopg.connect(url, autocommit=True) as connection:
            for statement in ADVICE:
                connection.execute(statement)
            with pytest.raises(psycopg.errors.UniqueViolation):
                connection.execute(INVALID)
        yield port, url


@pytest.fixture
def thresholds(tmp_path: Path) -> Path:
    """The shipped thresholds, with a critical index on the partitioned table too."""
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    path = tmp_path / "thresholds.yaml"
    path.write_text(text.replace("critical_indexes:\n", "critical_indexes:\n" + EVENTS_INDEX))
    return path


def report_of(run: Run, *args: str | Path) -> dict[str, Any]:
    result = run(*FAST, *args)
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.postgres
def test_partial_include_only_and_invalid_indexes_do_not_count(
    run: Run, advice_db: tuple[int, str], thresholds: Path
) -> None:
    _, url = advice_db
    report = report_of(run, "--db", url, "--thresholds", thresholds)
    names = [(i["name"], i["table"]) for i in report["missing_indexes"]]
    assert names == [
        ("idx_events_vendor", "public.events"),
        ("idx_product_vendor_active", "public.products"),
        ("idx_product_gtin", "public.products"),
        ("idx_product_vendor_sku", "public.products"),
        ("idx_order_created", "public.orders"),
        ("idx_order_customer", "public.orders"),
        ("idx_inventory_product_location_2", "public.inventory"),
        ("idx_inventory_vendor_2", "public.inventory"),
    ]  # orders_by_vendor serves idx_order_vendor_status: the only one present
    notes = report["notes"]
    assert (
        "products_active_vendor on public.products does not count as idx_product_vendor_active: "
        "it is partial (WHERE is_active)"
    ) in notes
    assert (
        "products_vendor_cover on public.products does not count as idx_product_vendor_sku: it "
        "holds vendor_sku only as INCLUDE columns, which are not searched"
    ) in notes
    assert any(
        n.startswith("products_gtin_unique on public.products does not count as idx_product_gtin:"
                     " it is INVALID")
        for n in notes
    )  # fmt: skip


@pytest.mark.postgres
def test_suggestions_are_concurrent_idempotent_and_named_apart(
    run: Run, advice_db: tuple[int, str], thresholds: Path
) -> None:
    _, url = advice_db
    report = report_of(run, "--db", url, "--thresholds", thresholds)
    create = {i["name"]: i["create"] for i in report["missing_indexes"]}
    assert create["idx_inventory_vendor_2"] == (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_inventory_vendor_2 ON public.inventory "
        "(vendor_id);"
    )
    assert create["idx_order_created"] == (
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_order_created ON public.orders "
        "(created_at DESC);"
    )
    # PostgreSQL cannot build an index on a partitioned table CONCURRENTLY: said, not hidden
    assert create["idx_events_vendor"] == (
        "CREATE INDEX IF NOT EXISTS idx_events_vendor ON public.events (vendor_id);"
    )
    assert any(
        n.startswith("idx_events_vendor: PostgreSQL cannot build an index CONCURRENTLY on the "
                     "partitioned table public.events")
        for n in report["notes"]
    )  # fmt: skip
    assert all(
        re.match(r"CREATE INDEX CONCURRENTLY IF NOT EXISTS \w+ ON public\.\w+ \(", statement)
        for name, statement in create.items()
        if name != "idx_events_vendor"
    )


@pytest.mark.postgres
def test_every_suggestion_applies_to_a_copy_and_serves_its_lookup(
    run: Run, advice_db: tuple[int, str], thresholds: Path
) -> None:
    """Each statement, run as given on a copy of the database (CREATE DATABASE ... TEMPLATE),
    succeeds and leaves a valid index; EXPLAIN then uses it for its lookup. The lookups run with
    enable_seqscan=off on 20,000 rows a table, so that the planner picks an index when one can
    serve, and the right one because no other can."""
    import psycopg

    port, url = advice_db
    report = report_of(run, "--db", url, "--thresholds", thresholds)
    suggested = {i["name"]: i["create"] for i in report["missing_indexes"]}
    assert sorted(suggested) == sorted(LOOKUPS)
    with psycopg.connect(admin_url(port), autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS advice_copy")
        connection.execute("CREATE DATABASE advice_copy TEMPLATE advice")
    with psycopg.connect(admin_url(port, "advice_copy"), autocommit=True) as copy:
        for statement in suggested.values():
            copy.execute(statement)  # raises if it fails; autocommit, as CONCURRENTLY needs
            copy.execute(statement)  # IF NOT EXISTS: a second run changes nothing
        valid: dict[str, bool] = dict(
            copy.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY(%s)",
                (list(suggested),),
            ).fetchall()
        )
        assert valid == dict.fromkeys(suggested, True)
        copy.execute("ANALYZE")
        copy.execute("SET enable_seqscan = off")
        for name, lookup in LOOKUPS.items():
            plan = "\n".join(row[0] for row in copy.execute(f"EXPLAIN {lookup}").fetchall())
            assert re.search(rf"\b{name}\b", plan) or (
                name == "idx_events_vendor" and "events_1_vendor_id_idx" in plan
            ), (name, plan)
        # and the check of the copy finds nothing more to add
        again = report_of(run, "--db", admin_url(port, "advice_copy"), "--thresholds", thresholds)
        assert again["missing_indexes"] == []


@pytest.mark.postgres
def test_a_partitions_index_is_advised_on_its_parent(run: Run, advice_db: tuple[int, str]) -> None:
    _, url = advice_db
    report = report_of(run, "--db", url)
    unused = {i["name"]: i for i in report["unused_indexes"]}
    assert "events_1_kind_idx" not in unused and "events_2_kind_idx" not in unused
    assert unused["events_kind"]["table"] == "public.events"
    assert unused["events_kind"]["partitions"] == 2
    assert unused["events_kind"]["size_bytes"] > 0
    assert "partitions" not in unused["events_2_by_id"]  # its own: it can be dropped alone
    assert unused["events_2_by_id"]["table"] == "public.events_2"


# --- the rule, without a server ---------------------------------------------------------------


def test_an_existing_index_counts_by_its_key_columns_only() -> None:
    columns = ("id", "vendor_id", "sku")
    spec = CriticalIndex(name="idx_vendor_sku", table="items", columns=["vendor_id", "sku"])
    covering = Unusable("items_cover", ("vendor_id", "sku"), "it holds sku only as INCLUDE")

    def advice(*indexes: tuple[str, ...]) -> list[str]:
        table = Table("public", "items", 1, columns, indexes, unusable=(covering,))
        snapshot = Snapshot(0, "public", True, (table,), None, Timing(None))
        return [m["name"] for m in missing_indexes([spec], snapshot)[0]]

    assert advice(("vendor_id",)) == ["idx_vendor_sku"]
    assert advice(("sku", "vendor_id")) == ["idx_vendor_sku"]
    assert advice(("vendor_id", "sku")) == []
    assert advice(("vendor_id", "sku", "id")) == []


def test_an_ordering_that_is_not_one_is_not_suggested() -> None:
    table = Table("main", "orders", 1, ("created_at",), ())
    snapshot = Snapshot(0, "main", False, (table,), None, Timing(None))
    bad = CriticalIndex(name="idx_x", table="orders", columns=["created_at DESC); DROP TABLE x;"])
    good = CriticalIndex(name="idx_y", table="orders", columns=["created_at desc nulls last"])
    missing, notes = missing_indexes([bad, good], snapshot)
    assert [m["create"] for m in missing] == [
        "CREATE INDEX IF NOT EXISTS idx_y ON orders (created_at DESC NULLS LAST);"
    ]
    assert any(note.startswith("idx_x not suggested: its columns") for note in notes)


@given(
    name=st.text(alphabet="abcdefghij_", min_size=1, max_size=80),
    taken=st.sets(st.text(alphabet="abcdefghij_0123456789", min_size=1, max_size=70)),
)
def test_a_suggested_name_is_free_and_fits(name: str, taken: set[str]) -> None:
    chosen = free_name(name, taken)
    assert chosen not in taken and len(chosen.encode()) <= NAME_BYTES
    assert chosen == name[:NAME_BYTES] or re.fullmatch(r".*_\d+", chosen)


def test_sqlite_suggestions_apply_and_take_a_free_name(run: Run, tmp_path: Path) -> None:
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT, status TEXT,"
                   " vendor_id INT, created_at TEXT)")  # fmt: skip
        db.execute("CREATE INDEX idx_order_customer ON orders (status)")
        db.execute("CREATE INDEX orders_open ON orders (customer_id) WHERE status = 'open'")
    db.close()
    report = report_of(run, "--db", shop)
    create = {i["name"]: i["create"] for i in report["missing_indexes"]}
    assert create["idx_order_customer_2"] == (
        "CREATE INDEX IF NOT EXISTS idx_order_customer_2 ON orders (customer_id);"
    )
    assert (
        "orders_open on orders does not count as idx_order_customer: it is partial (WHERE ...)"
    ) in report["notes"]
    with sqlite3.connect(shop) as db:
        for statement in create.values():
            db.execute(statement)
        plan = db.execute("EXPLAIN QUERY PLAN SELECT id FROM orders WHERE customer_id = 4")
        assert "idx_order_customer_2" in " ".join(str(row) for row in plan)
    db.close()
    assert report_of(run, "--db", shop)["missing_indexes"] == []


def test_a_suggestion_quotes_reserved_and_unusual_names(run: Run, tmp_path: Path) -> None:
    """A table `order` with a column `user` and one `VendorId`: the statement still runs."""
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as db:
        db.execute('CREATE TABLE "order" ("user" INT, "VendorId" INT)')
    db.close()
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text(
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "critical_indexes:\n",
            "critical_indexes:\n  - {name: idx_order_user, table: order, columns: [user, "
            "VendorId]}\n",
        ),
        encoding="utf-8",
    )
    report = report_of(run, "--db", shop, "--thresholds", thresholds)
    (suggestion,) = [i for i in report["missing_indexes"] if i["name"] == "idx_order_user"]
    assert suggestion["create"] == (
        'CREATE INDEX IF NOT EXISTS idx_order_user ON "order" ("user", "VendorId");'
    )
    with sqlite3.connect(shop) as db:
        db.execute(suggestion["create"])
    db.close()
    assert report_of(run, "--db", shop, "--thresholds", thresholds)["missing_indexes"] == [
        i for i in report["missing_indexes"] if i["name"] != "idx_order_user"
    ]
