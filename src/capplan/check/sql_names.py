"""SQL names as capplan writes them into the statements it suggests: quoted when they must be,
and free in their schema."""

from __future__ import annotations

import re
from collections.abc import Iterable

PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")
# PostgreSQL's reserved key words (and those that may not name a table or column), which an
# identifier must be quoted to be.
RESERVED_WORDS = """
    ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC AUTHORIZATION BINARY BOTH CASE CAST
    CHECK COLLATE COLLATION COLUMN CONCURRENTLY CONSTRAINT CREATE CROSS CURRENT_CATALOG
    CURRENT_DATE CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEFAULT
    DEFERRABLE DESC DISTINCT DO ELSE END EXCEPT FALSE FETCH FOR FOREIGN FREEZE FROM FULL GRANT
    GROUP HAVING ILIKE IN INITIALLY INNER INTERSECT INTO IS ISNULL JOIN LATERAL LEADING LEFT
    LIKE LIMIT LOCALTIME LOCALTIMESTAMP NATURAL NOT NOTNULL NULL OFFSET ON ONLY OR ORDER OUTER
    OVERLAPS PLACING PRIMARY REFERENCES RETURNING RIGHT SELECT SESSION_USER SIMILAR SOME
    SYMMETRIC SYSTEM_USER TABLE TABLESAMPLE THEN TO TRAILING TRUE UNION UNIQUE USER USING
    VARIADIC VERBOSE WHEN WHERE WINDOW WITH
"""
RESERVED = frozenset(RESERVED_WORDS.split())
NAME_BYTES = 63  # PostgreSQL's longest name (NAMEDATALEN - 1)


def ident(name: str) -> str:
    """An SQL identifier, quoted only when it must be: when it is not plain, or is a word that
    PostgreSQL reserves (quoting one more word than needed is harmless)."""
    if PLAIN_IDENTIFIER.match(name) and name.upper() not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def free_name(name: str, taken: Iterable[str]) -> str:
    """`name`, or the first of name_2, name_3, ... that no relation of the schema holds, within
    PostgreSQL's 63 bytes for a name."""
    used = set(taken)
    candidate, number = name[:NAME_BYTES], 2
    while candidate in used:
        suffix = f"_{number}"
        candidate, number = name[: NAME_BYTES - len(suffix)] + suffix, number + 1
    return candidate
