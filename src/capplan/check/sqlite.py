"""A SQLite database, read without changing a byte of it or creating a file beside it.

The file is opened through a `mode=ro` URI, so a missing file is never created. A database in
WAL mode with no `-wal` file (nobody is writing it) is opened `immutable=1`, because a read-only
connection would otherwise create `-wal` and `-shm` files beside it, and fail in a directory the
checking user cannot write. User queries run under the probe gate's authorizer (check/gate/),
which lets them only read. Every statement that can take long (a user's query, a row count) is
interrupted past the statement timeout that PostgreSQL gets too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from capplan.check import database
from capplan.check.database import (
    CONNECT_TIMEOUT_S,
    Reading,
    Refused,
    Snapshot,
    Table,
    Timing,
    Unavailable,
    Unusable,
    business_figures,
    timed,
)
from capplan.check.deadline import RunDeadline
from capplan.check.targets import Database

NO_STATISTICS = "give --db-probe SQL to time a query (SQLite keeps no statistics)"
WRITES = "refused: a query may only read, and this one would change the database"
HEADER = b"SQLite format 3\x00"  # the first 16 of a database's 100 header bytes
WAL_HEADER_VERSION = 2  # bytes 18 and 19 of the header: 1 rollback journal, 2 WAL
READS_ONLY = "a query may only read tables and call deterministic functions"


class TimedOut(sqlite3.OperationalError):
    """A statement interrupted because it ran past the statement timeout; safe to show."""


class Deadline:
    """PostgreSQL's statement_timeout for a SQLite connection: a statement still running
    `seconds` after it started is interrupted.

    A watcher thread calls Connection.interrupt(), which SQLite also honours inside a count(*)
    walking a huge table: a progress handler is never called there, count(*) being one step of
    its virtual machine. The watcher is woken only when it has nothing to watch, so that timing a
    quick query many times does not time the watcher too.
    """

    def __init__(self, connection: sqlite3.Connection, seconds: float) -> None:
        self.seconds = seconds
        self._connection = connection
        self._changed = threading.Condition()
        self._until: float | None = None  # when the running statement is interrupted
        self._expired = False
        self._idle = False  # the watcher waits for a statement to start
        self._closed = False
        self._watcher = threading.Thread(target=self._watch, name="capplan-sqlite-timeout")
        self._watcher.start()

    def _watch(self) -> None:
        with self._changed:
            while not self._closed:
                if self._until is None:
                    self._idle = True
                    self._changed.wait()
                    self._idle = False
                elif (left := self._until - time.monotonic()) > 0:
                    self._changed.wait(left)
                else:
                    self._connection.interrupt()
                    self._expired, self._until = True, None

    @contextmanager
    def statement(self) -> Iterator[None]:
        """Bound the statement run inside; past the timeout it raises TimedOut."""
        with self._changed:
            self._until, self._expired = time.monotonic() + self.seconds, False
            if self._idle:  # else it wakes at the previous deadline and sees this one
                self._changed.notify()
        try:
            yield
        except sqlite3.OperationalError:
            if self._expired:
                raise TimedOut(
                    f"took longer than {self.seconds:g} s, the statement timeout, and was "
                    "interrupted"
                ) from None
            raise
        finally:
            with self._changed:
                self._until = None

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._watcher.join()


@contextmanager
def bounded(connection: sqlite3.Connection) -> Iterator[Deadline]:
    """A Deadline for the connection's statements, its watcher stopped on the way out."""
    deadline = Deadline(connection, database.STATEMENT_TIMEOUT_MS / 1000)
    try:
        yield deadline
    finally:
        deadline.close()


def uri(path: Path) -> str:
    """How to open the file so that nothing is written or created. A file that does not start
    with SQLite's header is not a database (SQLite would read an empty file as an empty one)."""
    query = "mode=ro"
    try:
        with path.open("rb") as stream:
            header = stream.read(100)
    except OSError as error:
        raise Unavailable(f"cannot read {path}: {error.strerror or error}") from None
    if not header:
        raise Unavailable("an empty file (0 bytes), not a SQLite database")
    if not header.startswith(HEADER) or len(header) < 100:
        raise Unavailable("not a SQLite database: the file does not start with SQLite's header")
    wal = header[18] == header[19] == WAL_HEADER_VERSION  # the header is whole: checked above
    if wal and not Path(f"{path}-wal").exists():
        query = "immutable=1"
    return f"file:{urllib.parse.quote(str(path.resolve()))}?{query}"


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    if path.is_dir():
        raise Unavailable("a directory, not a SQLite file")
    if not path.exists():
        raise Unavailable("no such SQLite file")
    if not path.is_file():
        raise Unavailable("not a regular file, so not a SQLite file")
    try:
        connection = sqlite3.connect(uri(path), uri=True, timeout=CONNECT_TIMEOUT_S)
    except sqlite3.Error as error:
        raise Unavailable(f"cannot open: {error}") from None
    try:
        yield connection
    finally:
        connection.close()


def run_readonly(
    connection: sqlite3.Connection, sql: str, deadline: Deadline
) -> list[tuple[object, ...]]:
    """One statement that may only read (the probe gate's authorizer, check/gate/), within the
    deadline; anything else or a second statement is Refused, a statement past the timeout
    TimedOut."""
    from capplan.check import gate

    denied: list[str] = []
    connection.set_authorizer(gate.sqlite_authorizer(gate.sqlite_functions(), denied))
    try:
        with deadline.statement():
            return connection.execute(sql).fetchall()
    except sqlite3.ProgrammingError as error:
        if "one statement" in str(error):
            raise Refused("refused: more than one statement; give exactly one query") from None
        raise
    except sqlite3.DatabaseError as error:
        if denied:
            raise Refused(f"refused: {READS_ONLY}, and this one {denied[0]}") from None
        if getattr(error, "sqlite_errorname", "") == "SQLITE_READONLY":
            raise Refused(WRITES) from None
        raise
    finally:
        connection.set_authorizer(None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_tables(
    connection: sqlite3.Connection, deadline: Deadline, run: RunDeadline | None = None
) -> list[Table]:
    """Every table with its rows, columns and indexes; a table whose count passes the statement
    timeout (cut to what is left of the run) is UNKNOWN on its own, and the others are still
    counted."""
    limit = deadline.seconds
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
        rows: int | None = None
        reason = ""
        deadline.seconds = min(limit, database.table_budget(run)) if run else limit
        try:
            with deadline.statement():
                rows = int(connection.execute(f"SELECT count(*) FROM {quoted}").fetchall()[0][0])
        except TimedOut as error:
            reason = f"counting its rows {error}"
        info = connection.execute(f"PRAGMA table_info({quoted})").fetchall()
        indexes = []
        unusable = []
        for index in connection.execute(f"PRAGMA index_list({quoted})"):
            # its columns (SQLite has no INCLUDE columns); an expression is None
            key = tuple(str(i[2] or "") for i in connection.execute(
                f"PRAGMA index_info({_q(index[1])})"
            ))  # fmt: skip
            if index[4]:  # partial: it holds only the rows of its WHERE
                unusable.append(Unusable(str(index[1]), key, "it is partial (WHERE ...)"))
            else:
                indexes.append(key)
        # an INTEGER PRIMARY KEY is the rowid itself, with no index of its own
        key = tuple(str(c[1]) for c in sorted(info, key=lambda c: c[5]) if c[5])
        if key:
            indexes.append(key)
        columns = tuple(str(c[1]) for c in info)
        tables.append(
            Table(
                "main", name, rows, columns, tuple(indexes), reason=reason,
                unusable=tuple(unusable),
            )
        )  # fmt: skip
    deadline.seconds = limit
    return tables


def snapshot(target: Database, reading: Reading, business: dict[str, str]) -> Snapshot:
    with connect(target.path) as connection, bounded(connection) as bound:
        try:
            page_count = connection.execute("PRAGMA page_count").fetchone()[0]
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            tables = read_tables(connection, bound, reading.deadline)
            relations = frozenset(
                ("main", str(row[0]))
                for row in connection.execute("SELECT name FROM sqlite_master")
            )
        except sqlite3.Error as error:
            raise Unavailable(f"cannot read: {error}") from None
        timing = Timing(None, reason=NO_STATISTICS)
        probe, requests = reading.probe, reading.requests
        if probe is not None:
            try:
                p95 = timed(lambda: run_readonly(connection, probe, bound), requests)
                timing = Timing(p95, detail=f"--db-probe run {requests} times")
            except TimedOut as error:
                timing = Timing(None, reason=f"--db-probe {error}", failed=True)
            except sqlite3.Error as error:
                timing = Timing(None, reason=f"--db-probe failed: {error}", failed=True)
        figures = business_figures(
            lambda sql: run_readonly(connection, sql, bound), business, sqlite3.Error, str
        )
    size = page_count * page_size
    return Snapshot(
        size, "main", False, tuple(tables), None, timing, None, figures, relations=relations
    )
