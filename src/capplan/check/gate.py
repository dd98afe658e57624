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
   notation (`t.f` is `f(t)`), and those inside the views it reads and the row-level security
   policies of its tables (their definitions are parsed in turn). Each must be immutable or
   stable, and, when its marks are all there is to go by (built in, part of an extension, or
   written in C), not parallel unsafe (PostgreSQL's mark for a function that changes the
   transaction's state, such as txid_current): or else one of ALLOWED_VOLATILE, harmless
   functions that read a clock or draw a random number. A user's own function is looked into:
   a SQL function's body passes the same gate, an aggregate's support functions too; a
   function in another language (PL/pgSQL ...) is refused, since its body cannot be checked.

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

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capplan.check.database import Refused, Unavailable
from capplan.check.targets import Database
from capplan.errors import CapplanError, ConfigError, InputError

if TYPE_CHECKING:
    import psycopg
    from pglast import ast

    from capplan.config.overrides import Override

# Built-in functions that a probe may call although the catalog marks them volatile or parallel
# unsafe: they read a clock, draw a random number or read the search path, and change nothing.
ALLOWED_VOLATILE = frozenset(
    {
        "pg_catalog.random",
        "pg_catalog.random_normal",
        "pg_catalog.clock_timestamp",
        "pg_catalog.timeofday",
        "pg_catalog.gen_random_uuid",
        "pg_catalog.current_schema",
        "pg_catalog.current_schemas",
        "information_schema._pg_index_position",
    }
)
# Roles whose members can write server files, run server programs or signal other sessions.
PRIVILEGED_ROLES = ("pg_write_server_files", "pg_execute_server_program", "pg_signal_backend")
HARMLESS = (
    "a probe may call only immutable or stable functions that are not parallel unsafe, and a "
    "few harmless ones such as random() and clock_timestamp() (see docs/probes.md)"
)
PLAIN = "a probe may only be one SELECT, VALUES, or WITH whose parts are all SELECT"
USE_MONITORING_ROLE = (
    "connect as a monitoring role (one granted pg_monitor, and SELECT on what the queries read), "
    "or give --allow-privileged-role if this is intended"
)
# Languages whose functions only a superuser can create: their volatility is trusted.
TRUSTED_LANGUAGES = ("internal", "c")
TRUSTED_SCHEMAS = ("pg_catalog", "information_schema")
LOCKING = {
    "LCS_FORKEYSHARE": "FOR KEY SHARE",
    "LCS_FORSHARE": "FOR SHARE",
    "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE",
    "LCS_FORUPDATE": "FOR UPDATE",
}
DATA_MODIFYING = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
}
OPERATOR_CHARACTERS = frozenset("+-*/<>=~!@#%^&|`?")

Name = tuple[str | None, str]  # (schema or None: through the search_path, name)


class QueryRefused(CapplanError):
    """A user's query that the gate turned away; one line naming where it came from."""


class QueryFailed(CapplanError):
    """A user's query that passed the gate but that the database could not run."""


# --- 1. what the query is (no server) ---------------------------------------------------------


@dataclass
class Calls:
    """What a parsed query can call or read, by name, before the server resolves the names."""

    functions: set[Name] = field(default_factory=set)
    operators: set[Name] = field(default_factory=set)
    casts: set[Name] = field(default_factory=set)  # target types
    attributes: set[str] = field(default_factory=set)  # `t.f`: maybe f(t)
    relations: set[str] = field(default_factory=set)  # as written, quoted where needed


def _name(parts: Sequence[Any] | None) -> Name:
    names = [getattr(part, "sval", "") for part in parts or ()] or [""]
    return (names[-2] if len(names) > 1 else None, names[-1])


def _first_keyword(sql: str) -> str:
    from pglast.parser import scan

    for token in scan(sql):
        if token.name not in ("C_COMMENT", "SQL_COMMENT"):
            if token.kind == "NO_KEYWORD":
                break
            return sql[token.start : token.end + 1].upper()
    return "this statement"


def _walker() -> Any:
    """A pglast Visitor that refuses what a plain query may not hold and collects its calls."""
    from pglast import ast, visitors

    class Walker(visitors.Visitor):
        def __init__(self) -> None:
            super().__init__()
            self.calls = Calls()

        def visit(self, ancestors: Any, node: ast.Node) -> None:
            kind = type(node).__name__
            if kind.endswith("Stmt") and kind not in ("SelectStmt", "RawStmt"):
                what = DATA_MODIFYING.get(kind, kind.removesuffix("Stmt").upper())
                raise Refused(f"refused: it holds {what}, which is not a query; {PLAIN}")

        def visit_SelectStmt(self, ancestors: Any, node: ast.SelectStmt) -> None:
            if node.intoClause is not None:
                raise Refused(f"refused: SELECT ... INTO creates a table; {PLAIN}")
            for clause in node.lockingClause or ():
                strength = LOCKING.get(clause.strength.name, "a locking clause")
                raise Refused(f"refused: {strength} locks rows; {PLAIN} without a locking clause")

        def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
            self.calls.functions.add(_name(node.funcname))

        def visit_A_Expr(self, ancestors: Any, node: ast.A_Expr) -> None:
            schema, operator = _name(node.name)
            if set(operator) <= OPERATOR_CHARACTERS:
                self.calls.operators.add((schema, operator))
            else:  # BETWEEN and its kin compare with >= and <=
                self.calls.operators.update({(None, ">="), (None, "<=")})

        def visit_TypeCast(self, ancestors: Any, node: ast.TypeCast) -> None:
            if node.typeName is not None:
                self.calls.casts.add(_name(node.typeName.names))

        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
            fields = node.fields or ()
            if len(fields) > 1 and isinstance(fields[-1], ast.String) and fields[-1].sval:
                self.calls.attributes.add(fields[-1].sval)

        def visit_A_Indirection(self, ancestors: Any, node: ast.A_Indirection) -> None:
            for part in node.indirection or ():
                if isinstance(part, ast.String) and part.sval:
                    self.calls.attributes.add(part.sval)

        def visit_CommonTableExpr(self, ancestors: Any, node: ast.CommonTableExpr) -> None:
            if type(node.ctequery).__name__ != "SelectStmt":
                what = DATA_MODIFYING.get(type(node.ctequery).__name__, "a statement")
                raise Refused(f"refused: its WITH part {node.ctename} is {what}; {PLAIN}")

    return Walker()


def _parse(sql: str) -> tuple[Any, ...]:
    try:
        from pglast import parse_sql
        from pglast.parser import ParseError
    except ImportError:
        raise Refused("refused: checking it needs pglast; install capplan[postgres]") from None
    try:
        return tuple(parse_sql(sql))
    except ParseError as error:
        raise Refused(f"refused: PostgreSQL's parser cannot read it: {error}") from None


def _collect(statements: Sequence[Any], calls: Calls) -> None:
    """Refuse what is not a plain query among `statements`; add what they call to `calls`."""
    from pglast import ast
    from pglast.visitors import referenced_relations

    for raw in statements:
        statement = raw.stmt if isinstance(raw, ast.RawStmt) else raw
        if not isinstance(statement, ast.SelectStmt):
            kind = type(statement).__name__
            what = DATA_MODIFYING.get(kind) or kind.removesuffix("Stmt").upper()
            raise Refused(f"refused: {what} is not a query; {PLAIN}")
        walker = _walker()
        walker(statement)
        calls.functions |= walker.calls.functions
        calls.operators |= walker.calls.operators
        calls.casts |= walker.calls.casts
        calls.attributes |= walker.calls.attributes
        calls.relations |= referenced_relations(statement)


def plain_query(sql: str) -> Calls:
    """What the query calls and reads, when it is one plain query; Refused when it is not.
    Needs no server: `check` runs it before it measures anything."""
    statements = _parse(sql)
    if len(statements) != 1:
        raise Refused(
            "refused: more than one statement; give exactly one query"
            if statements
            else "refused: no query in it, only spaces or comments"
        )
    from pglast import ast

    statement = statements[0].stmt
    if not isinstance(statement, ast.SelectStmt):
        kind = type(statement).__name__
        what = DATA_MODIFYING.get(kind) or _first_keyword(sql)
        raise Refused(f"refused: {what} is not a query; {PLAIN}")
    calls = Calls()
    _collect(statements, calls)
    return calls


# --- 2. who runs it ---------------------------------------------------------------------------

ROLE = """
SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       array(SELECT r.rolname::text FROM pg_roles r
              WHERE r.rolname = ANY(%s) AND pg_has_role(current_user, r.oid, 'MEMBER')
              ORDER BY r.rolname)
"""


def privileged(connection: psycopg.Connection[Any]) -> str:
    """Why the connected role may not run user queries ("" when it may). The role is not named:
    it came with the connection string, which is not shown."""
    found = connection.execute(ROLE, (list(PRIVILEGED_ROLES),)).fetchone()
    connection.rollback()
    if found is None:
        return ""
    superuser, memberships = found
    if superuser:
        return "the role it connects as is a superuser"
    if memberships:
        return f"the role it connects as is a member of {', '.join(memberships)}"
    return ""


def check_role(connection: psycopg.Connection[Any], target: Database, *, allowed: bool) -> None:
    """Refuse (InputError naming --db) to run user queries as a privileged role."""
    if allowed:
        return
    why = privileged(connection)
    if why:
        raise InputError(
            "db", target.shown, f"refused to run user queries: {why}; {USE_MONITORING_ROLE}"
        )


# --- 3. what it calls, resolved on the server -------------------------------------------------

ON_PATH = "CASE WHEN %(schema)s::text IS NULL THEN n.nspname = ANY(current_schemas(true)) " \
    "ELSE n.nspname = %(schema)s END"  # fmt: skip
FUNCTIONS_NAMED = f"""
SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname = %(name)s AND {ON_PATH}
"""
OPERATORS_NAMED = f"""
SELECT o.oprcode::oid FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
 WHERE o.oprname = %(name)s AND o.oprcode <> 0 AND {ON_PATH}
"""
CASTS_TO = f"""
SELECT c.castfunc FROM pg_cast c JOIN pg_type t ON t.oid = c.casttarget
  JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typname = %(name)s AND c.castfunc <> 0 AND {ON_PATH}
"""
ATTRIBUTE_FUNCTIONS = """
SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_type t ON t.oid = p.proargtypes[0]
 WHERE p.proname = ANY(%s) AND p.pronargs = 1 AND t.typtype = 'c'
   AND n.nspname = ANY(current_schemas(true))
"""
FUNCTION = """
SELECT n.nspname, p.proname, p.provolatile, p.proparallel, l.lanname, p.prokind,
       EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                AND d.objid = p.oid AND d.deptype = 'e'),
       CASE WHEN l.lanname = 'sql' THEN {body} END,
       CASE WHEN p.prokind = 'a' THEN
         (SELECT array_remove(ARRAY[a.aggtransfn::oid, a.aggfinalfn::oid, a.aggcombinefn::oid,
                 a.aggserialfn::oid, a.aggdeserialfn::oid, a.aggmtransfn::oid,
                 a.aggminvtransfn::oid, a.aggmfinalfn::oid], 0::oid)
            FROM pg_aggregate a WHERE a.aggfnoid = p.oid) END
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid = %s
"""
RELATION = """
SELECT c.oid, c.relkind, n.nspname, c.relname,
       CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END,
       CASE WHEN c.relrowsecurity THEN
         array(SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p
                WHERE p.polrelid = c.oid AND p.polqual IS NOT NULL AND p.polcmd IN ('r', '*'))
       END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = to_regclass(%s)
"""


def _shown(name: Name) -> str:
    schema, plain = name
    return f"{schema}.{plain}" if schema else plain


class Resolver:
    """Resolves what a query calls on one connection, and refuses what may change anything.
    What was checked once is not checked again (a probe run 20 times is checked once)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.functions_done: set[int] = set()
        self.relations_done: set[int] = set()
        self.admitted: set[str] = set()
        version = connection.info.server_version
        self.function_sql = FUNCTION.format(
            body="coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)"
            if version >= 140000
            else "p.prosrc"
        )

    def _oids(self, sql: str, params: Any) -> list[int]:
        return [int(row[0]) for row in self.connection.execute(sql, params).fetchall()]

    def admit(self, sql: str) -> None:
        """Refused unless the query is plain and all it can call is harmless; nothing of it is
        run. Leaves no transaction open."""
        if sql in self.admitted:
            return
        calls = plain_query(sql)
        try:
            self._calls(calls, via="")
        finally:
            self.connection.rollback()
        self.admitted.add(sql)

    def _calls(self, calls: Calls, via: str) -> None:
        for name in sorted(calls.functions, key=_shown):
            oids = self._oids(FUNCTIONS_NAMED, {"schema": name[0], "name": name[1]})
            if not oids:
                raise Refused(
                    f"refused: it calls {_shown(name)}{via}, which is no function on the "
                    "server's search_path, so what it does cannot be checked"
                )
            self._functions(oids, via)
        for name in sorted(calls.operators, key=_shown):
            self._functions(
                self._oids(OPERATORS_NAMED, {"schema": name[0], "name": name[1]}),
                f" (behind the operator {_shown(name)}{via})",
            )
        for name in sorted(calls.casts, key=_shown):
            self._functions(
                self._oids(CASTS_TO, {"schema": name[0], "name": name[1]}),
                f" (in a cast to {_shown(name)}{via})",
            )
        if calls.attributes:
            self._functions(
                self._oids(ATTRIBUTE_FUNCTIONS, (sorted(calls.attributes),)),
                f" (in attribute notation{via})",
            )
        for relation in sorted(calls.relations):
            self._relation(relation, via)

    def _relation(self, relation: str, via: str) -> None:
        found = self.connection.execute(RELATION, (relation,)).fetchone()
        if found is None or int(found[0]) in self.relations_done:
            return  # no such relation (the query fails), or a CTE's name
        oid, kind, schema, name, definition, policies = found
        self.relations_done.add(int(oid))
        where = f"{schema}.{name}"
        if kind == "v" and definition:
            inner = Calls()
            _collect(_parse(definition), inner)
            self._calls(inner, f" (in the view {where}{via})")
        for policy in policies or ():
            inner = Calls()
            _collect(_parse(f"SELECT {policy}"), inner)
            self._calls(inner, f" (in a row security policy of {where}{via})")

    def _functions(self, oids: Sequence[int], via: str) -> None:
        for oid in oids:
            if oid in self.functions_done:
                continue
            self.functions_done.add(oid)
            found = self.connection.execute(self.function_sql, (oid,)).fetchone()
            if found is None:
                continue
            schema, name, volatility, parallel, language, kind, in_extension, body, support = found
            shown = f"{schema}.{name}"
            allowed = shown in ALLOWED_VOLATILE
            if volatility == "v" and not allowed:
                raise Refused(
                    f"refused: it calls {shown}{via}, which is volatile: it may change "
                    f"something; {HARMLESS}"
                )
            trusted = schema in TRUSTED_SCHEMAS or in_extension or language in TRUSTED_LANGUAGES
            if trusted and parallel == "u" and not allowed:
                raise Refused(
                    f"refused: it calls {shown}{via}, which is parallel unsafe: it may change "
                    f"the transaction's state; {HARMLESS}"
                )
            if trusted:
                continue
            inside = f" (inside {shown}{via})"
            if kind == "a":
                self._functions([int(o) for o in support or ()], inside)
            elif language == "sql":
                inner = Calls()
                try:
                    _collect(_parse(body or ""), inner)
                except Refused as refusal:
                    raise Refused(f"{refusal} (in the body of {shown}{via})") from None
                self._calls(inner, inside)
            else:
                raise Refused(
                    f"refused: it calls {shown}{via}, written in {language}, whose body capplan "
                    "cannot check; a probe may call built-in functions, functions of "
                    "extensions, and SQL functions"
                )


# --- SQLite -----------------------------------------------------------------------------------


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


# --- the public reader ------------------------------------------------------------------------


@contextmanager
def reader(
    target: Database, *, allow_privileged_role: bool = False
) -> Iterator[Callable[[str, str], list[tuple[Any, ...]]]]:
    """A function `read(sql, where)` that runs one user query through the gate on one
    connection to `target`, and returns its rows (see the module's docstring)."""
    if target.kind == "postgres":
        with _postgres_reader(target, allow_privileged_role) as read:
            yield read
    else:
        with _sqlite_reader(target) as read:
            yield read


@contextmanager
def _postgres_reader(
    target: Database, allow_privileged_role: bool
) -> Iterator[Callable[[str, str], list[tuple[Any, ...]]]]:
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
def _sqlite_reader(target: Database) -> Iterator[Callable[[str, str], list[tuple[Any, ...]]]]:
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
