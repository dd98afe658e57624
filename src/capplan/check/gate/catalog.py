"""The probe gate's checks on the server: the role that runs the query, and every function the
query can call, resolved in pg_proc."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from capplan.check.database import Refused
from capplan.check.gate.query import (
    Calls,
    Name,
    collect,
    parse,
    plain_query,
    sql_function_body,
)
from capplan.check.targets import Database
from capplan.errors import InputError

if TYPE_CHECKING:
    import psycopg

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
USE_MONITORING_ROLE = (
    "connect as a monitoring role (one granted pg_monitor, and SELECT on what the queries read), "
    "or give --allow-privileged-role if this is intended"
)
# Languages whose functions only a superuser can create: their volatility is trusted.
TRUSTED_LANGUAGES = ("internal", "c")
TRUSTED_SCHEMAS = ("pg_catalog", "information_schema")

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
       CASE WHEN l.lanname = 'sql' THEN pg_get_functiondef(p.oid) END,
       CASE WHEN p.prokind = 'a' THEN
         (SELECT array_remove(ARRAY[a.aggtransfn::oid, a.aggfinalfn::oid, a.aggcombinefn::oid,
                 a.aggserialfn::oid, a.aggdeserialfn::oid, a.aggmtransfn::oid,
                 a.aggminvtransfn::oid, a.aggmfinalfn::oid], 0::oid)
            FROM pg_aggregate a WHERE a.aggfnoid = p.oid) END
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE p.oid = %s
"""
# Casts that PostgreSQL applies on its own (implicit, or on assignment) with a function that is
# not built in: a query can call them without writing them.
OWN_IMPLICIT_CASTS = """
SELECT c.castfunc FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE c.castcontext IN ('i', 'a') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
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
        self.function_sql = FUNCTION

    def _oids(self, sql: str, params: Any) -> list[int]:
        return [int(row[0]) for row in self.connection.execute(sql, params).fetchall()]

    def admit(self, sql: str) -> None:
        """Refused unless the query is plain and all it can call is harmless; nothing of it is
        run. Leaves no transaction open."""
        if sql in self.admitted:
            return
        calls = plain_query(sql)
        try:
            if not self.admitted:  # once per connection
                self._functions(self._oids(OWN_IMPLICIT_CASTS, ()), " (in an implicit cast)")
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
            collect(parse(definition), inner)
            self._calls(inner, f" (in the view {where}{via})")
        for policy in policies or ():
            inner = Calls()
            collect(parse(f"SELECT {policy}"), inner)
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
                    collect(sql_function_body(body or ""), inner)
                except Refused as refusal:
                    raise Refused(f"{refusal} (in the body of {shown}{via})") from None
                self._calls(inner, inside)
            else:
                raise Refused(
                    f"refused: it calls {shown}{via}, written in {language}, whose body capplan "
                    "cannot check; a probe may call built-in functions, functions of "
                    "extensions, and SQL functions"
                )
