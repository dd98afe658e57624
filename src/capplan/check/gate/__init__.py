"""The probe gate: what a query written by the user may be, and the one way such a query runs.

`--db-probe`, the business queries of thresholds.yaml, and any query another command lets a user
declare all pass through this gate. A query is allowed by what it is, never refused by what it
looks like: what may pass is listed, and everything else is refused before it is sent.

PostgreSQL, in this order (nothing of the query reaches the server before 3 has passed):

1. PostgreSQL's own parser (pglast) reads it: it must be one plain query, that is SELECT,
   VALUES, TABLE, or WITH whose parts are all SELECT. No INTO, no locking clause (FOR UPDATE,
   FOR SHARE ...), no COPY, no utility statement, no data-modifying WITH, one statement only.
2. The role connected is neither a superuser nor a member of pg_write_server_files,
   pg_execute_server_program or pg_signal_backend (a monitoring role, such as one granted
   pg_monitor, is what a probe needs), unless `allow_privileged_role` says this is intended.
3. Every function the query can call is found in pg_proc on the server: the functions it names
   (qualified, or through the search_path: every overload of the name counts), the functions
   behind its operators (pg_operator.oprcode), its casts (pg_cast.castfunc) and attribute
   notation (`t.f` is `f(t)`), the implicit casts that are not built in, and those inside the
   views it reads and the row-level security policies of its tables (their definitions are
   parsed in turn). Each must be immutable or stable, and, when its marks are all there is to
   go by (built in, part of an extension, or written in C), not parallel unsafe (PostgreSQL's
   mark for a function that changes the transaction's state, such as txid_current): or else one
   of ALLOWED_VOLATILE, harmless functions that read a clock or draw a random number. A user's
   own function is looked into: a SQL function's body passes the same gate, an aggregate's
   support functions too; a function in another language (PL/pgSQL ...) is refused, since its
   body cannot be checked.

Then it runs prepared (the extended protocol carries one statement) in a read-only transaction
that is rolled back (check/postgres.py).

SQLite: an authorizer (`Connection.set_authorizer`) allows reading tables and calling
deterministic functions (and ALLOWED_NONDETERMINISTIC), and denies everything else: ATTACH,
PRAGMA, load_extension, any write. It is checked when the statement is prepared, before a step
of it runs; the file is opened read-only besides (check/sqlite.py).

Public API, for a command that runs a query its user declares (`capplan mix --db`):

    from capplan.check import gate, targets

    target = targets.database(url)
    with gate.reader(target, allow_privileged_role=False) as read:
        rows = read("SELECT count(*) FROM products", where="mix.yaml: queries.products")

`reader` connects (raising check.database.Unavailable when the database cannot be reached, and
InputError naming --db when the role is privileged and that was not allowed); `read` returns
every row, or raises QueryRefused (the gate turned it away) or QueryFailed (the server could
not run it). Both are CapplanError, one line naming `where`; no secret of the target is in them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from capplan.check.database import Refused, Unavailable
from capplan.check.gate.authorizer import (
    ALLOWED_NONDETERMINISTIC,
    sqlite_authorizer,
    sqlite_functions,
)
from capplan.check.gate.catalog import (
    ALLOWED_VOLATILE,
    PRIVILEGED_ROLES,
    USE_MONITORING_ROLE,
    Resolver,
    check_role,
    privileged,
)
from capplan.check.gate.query import PLAIN, Calls, plain_query
from capplan.check.targets import Database
from capplan.errors import CapplanError, ConfigError

if TYPE_CHECKING:
    from capplan.config.overrides import Override

__all__ = [
    "ALLOWED_NONDETERMINISTIC",
    "ALLOWED_VOLATILE",
    "PLAIN",
    "PRIVILEGED_ROLES",
    "USE_MONITORING_ROLE",
    "Calls",
    "Origin",
    "QueryFailed",
    "QueryRefused",
    "Read",
    "Refused",
    "Resolver",
    "business_origins",
    "check_role",
    "plain_query",
    "privileged",
    "reader",
    "sqlite_authorizer",
    "sqlite_functions",
]


class QueryRefused(CapplanError):
    """A user's query that the gate turned away; one line naming where it came from."""


class QueryFailed(CapplanError):
    """A user's query that passed the gate but that the database could not run."""


class Read(Protocol):
    """What `reader` gives: one user query, and where it was given (for its error), to rows."""

    def __call__(self, sql: str, where: str) -> list[tuple[Any, ...]]: ...


# --- the public reader ------------------------------------------------------------------------


@contextmanager
def reader(target: Database, *, allow_privileged_role: bool = False) -> Iterator[Read]:
    """A function `read(sql, where)` that runs one user query through the gate on one
    connection to `target`, and returns its rows (see the module's docstring)."""
    if target.kind == "postgres":
        with _postgres_reader(target, allow_privileged_role) as read:
            yield read
    else:
        with _sqlite_reader(target) as read:
            yield read


@contextmanager
def _postgres_reader(target: Database, allow_privileged_role: bool) -> Iterator[Read]:
    import psycopg

    from capplan.check import postgres

    with postgres.connect(target) as connection:
        try:
            check_role(connection, target, allowed=allow_privileged_role)
        except psycopg.Error as error:
            raise Unavailable(f"cannot read: {target.scrub(str(error).strip())}") from None
        resolver = Resolver(connection)

        def read(sql: str, where: str) -> list[tuple[Any, ...]]:
            try:
                resolver.admit(sql)
                return postgres.run_readonly(connection, sql)
            except Refused as refusal:
                raise QueryRefused(f"{where}: {target.scrub(str(refusal))}") from None
            except psycopg.Error as error:
                text = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise QueryFailed(f"{where}: query failed: {target.scrub(text)}") from None

        yield read


@contextmanager
def _sqlite_reader(target: Database) -> Iterator[Read]:
    import sqlite3

    from capplan.check import sqlite

    with sqlite.connect(target.path) as connection, sqlite.bounded(connection) as deadline:

        def read(sql: str, where: str) -> list[tuple[Any, ...]]:
            try:
                return sqlite.run_readonly(connection, sql, deadline)
            except Refused as refusal:
                raise QueryRefused(f"{where}: {refusal}") from None
            except sqlite3.Error as error:
                raise QueryFailed(f"{where}: query failed: {error}") from None

        yield read


# --- where a business query came from ---------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where a user's query was given: a file and the key in it (and its line), or a --set."""

    source: str
    key: str
    line: int | None = None

    def error(self, problem: str) -> CapplanError:
        if self.source == "--set":
            return CapplanError(f"--set {self.key}: {problem}")
        return ConfigError(self.source, problem, key=self.key, line=self.line)


def business_origins(
    thresholds_file: Any, overrides: Sequence[Override], keys: Sequence[str]
) -> Mapping[str, Origin]:
    """Where each business query came from: the last --set that gave it, else the file."""
    from pathlib import Path

    from capplan.config.document import read_yaml

    origins: dict[str, Origin] = {}
    document = None
    for key in keys:
        given = [o for o in overrides if o.key.split(".")[:2] in (["business"], ["business", key])]
        if given:
            origins[key] = Origin("--set", given[-1].key)
            continue
        if thresholds_file is None:
            continue
        if document is None:
            try:
                document = read_yaml(Path(thresholds_file))
            except CapplanError:
                break
        line = document.line_of(("business", key, "query")) or document.line_of(("business", key))
        origins[key] = Origin(str(thresholds_file), f"business.{key}.query", line)
    return origins
