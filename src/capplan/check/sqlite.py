"""A SQLite database, read without changing a byte of it or creating a file beside it.

The file is opened through a `mode=ro` URI, so a missing file is never created. A database in
WAL mode with no `-wal` file (nobody is writing it) is opened `immutable=1`, because a read-only
connection would otherwise create `-wal` and `-shm` files beside it, and fail in a directory the
checking user cannot write. User queries run under an authorizer that lets them only read.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from capplan.check.database import (
    CONNECT_TIMEOUT_S,
    Refused,
    Snapshot,
    Table,
    Timing,
    Unavailable,
    business_figures,
    timed,
)
from capplan.check.targets import Database

NO_STATISTICS = "give --db-probe SQL to time a query (SQLite keeps no statistics)"
WRITES = "refused: a query may only read, and this one would change the database"
WAL_HEADER_VERSION = 2  # bytes 18 and 19 of the header: 1 rollback journal, 2 WAL
# What a user's query may do: read tables and call functions, nothing else.
READING = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


def uri(path: Path) -> str:
    """How to open the file so that nothing is written or created."""
    query = "mode=ro"
    try:
        with path.open("rb") as stream:
            header = stream.read(20)
    except OSError as error:
        raise Unavailable(f"cannot read {path}: {error.strerror or error}") from None
    wal = len(header) == 20 and header[18] == header[19] == WAL_HEADER_VERSION
    if wal and not Path(f"{path}-wal").exists():
        query = "immutable=1"
    return f"file:{urllib.parse.quote(str(path.resolve()))}?{query}"


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.is_file():
        raise Unavailable("no such SQLite file")
    try:
        connection = sqlite3.connect(uri(path), uri=True, timeout=CONNECT_TIMEOUT_S)
    except sqlite3.Error as error:
        raise Unavailable(f"cannot open: {error}") from None
    try:
        yield connection
    finally:
        connection.close()


def run_readonly(connection: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    """One statement that may only read; a write or a second statement is Refused."""
    denied: list[int] = []

    def authorize(action: int, *_: object) -> int:
        if action in READING:
            return sqlite3.SQLITE_OK
        denied.append(action)
        return sqlite3.SQLITE_DENY

    connection.set_authorizer(authorize)
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.ProgrammingError as error:
        if "one statement" in str(error):
            raise Refused("refused: more than one statement; give exactly one query") from None
        raise
    except sqlite3.DatabaseError as error:
        if denied or getattr(error, "sqlite_errorname", "") == "SQLITE_READONLY":
            raise Refused(WRITES) from None
        raise
    finally:
        connection.set_authorizer(None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(connection: sqlite3.Connection) -> list[Table]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        quoted = _q(name)
        rows = connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
        info = connection.execute(f"PRAGMA table_info({quoted})").fetchall()
        indexes = [
            tuple(str(i[2]) for i in connection.execute(f"PRAGMA index_info({_q(index[1])})"))
            for index in connection.execute(f"PRAGMA index_list({quoted})")
        ]
        # an INTEGER PRIMARY KEY is the rowid itself, with no index of its own
        key = tuple(str(c[1]) for c in sorted(info, key=lambda c: c[5]) if c[5])
        if key:
            indexes.append(key)
        columns = tuple(str(c[1]) for c in info)
        tables.append(Table("main", name, int(rows), columns, tuple(indexes)))
    return tables


def snapshot(
    target: Database, *, probe: str | None, requests: int, business: dict[str, str]
) -> Snapshot:
    with connect(target.path) as connection:
        try:
            page_count = connection.execute("PRAGMA page_count").fetchone()[0]
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            tables = _tables(connection)
        except sqlite3.Error as error:
            raise Unavailable(f"cannot read: {error}") from None
        timing = Timing(None, reason=NO_STATISTICS)
        if probe is not None:
            try:
                p95 = timed(lambda: run_readonly(connection, probe), requests)
                timing = Timing(p95, detail=f"--db-probe run {requests} times")
            except sqlite3.Error as error:
                timing = Timing(None, reason=f"--db-probe failed: {error}", failed=True)
        figures = business_figures(
            lambda sql: run_readonly(connection, sql), business, sqlite3.Error, str
        )
    size = page_count * page_size
    return Snapshot(size, "main", False, tuple(tables), None, timing, None, figures)
