"""The probe gate for SQLite: an authorizer that lets a query read and call harmless functions."""

from __future__ import annotations

import functools
from collections.abc import Callable

# SQLite's harmless functions that are not deterministic: the clock and random numbers (its
# date and time functions are not flagged deterministic because of 'now').
ALLOWED_NONDETERMINISTIC = frozenset(
    {
        "random",
        "randomblob",
        "date",
        "time",
        "datetime",
        "julianday",
        "unixepoch",
        "strftime",
        "current_date",
        "current_time",
        "current_timestamp",
    }
)
SQLITE_DETERMINISTIC = 0x800


@functools.lru_cache(maxsize=1)
def sqlite_functions() -> frozenset[str]:
    """The functions a SQLite query may call: the built-in deterministic ones (PRAGMA
    function_list's flags), the aggregate and window functions, and ALLOWED_NONDETERMINISTIC."""
    import sqlite3

    connection = sqlite3.connect(":memory:")
    try:
        rows = connection.execute("PRAGMA function_list").fetchall()
    except sqlite3.Error:  # built without it: the clock and random numbers only
        rows = []
    finally:
        connection.close()
    names = {
        str(name).lower()
        for name, _builtin, kind, _encoding, _arguments, flags in rows
        if int(flags) & SQLITE_DETERMINISTIC or kind in ("a", "w")
    }
    return frozenset(names | ALLOWED_NONDETERMINISTIC)


def sqlite_authorizer(functions: frozenset[str], denied: list[str]) -> Callable[..., int]:
    """An authorizer that allows reading and calling `functions`, and denies everything else;
    what it denied is appended to `denied`, as a message."""
    import sqlite3

    reading = {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        getattr(sqlite3, "SQLITE_RECURSIVE", 33),
    }
    names = {
        sqlite3.SQLITE_ATTACH: "attaches a database",
        sqlite3.SQLITE_DETACH: "detaches a database",
        sqlite3.SQLITE_PRAGMA: "runs a PRAGMA",
        sqlite3.SQLITE_TRANSACTION: "controls a transaction",
        sqlite3.SQLITE_SAVEPOINT: "sets a savepoint",
    }

    def authorize(action: int, first: str | None, second: str | None, *_: object) -> int:
        if action in reading:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (second or "").lower() in functions:
                return sqlite3.SQLITE_OK
            denied.append(f"calls {second}(), which is not a deterministic function")
        else:
            denied.append(names.get(action, "would change the database"))
        return sqlite3.SQLITE_DENY

    return authorize
