"""The probe gate's first check, which needs no server: the query is one plain query, by
PostgreSQL's own parser (pglast); and what it can call and read, by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capplan.check.database import Refused

if TYPE_CHECKING:
    from pglast import ast

PLAIN = "a probe may only be one SELECT, VALUES, or WITH whose parts are all SELECT"
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

        def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
            if node.catalogname:
                raise Refused(
                    f"refused: it names the database {node.catalogname}; a probe reads the "
                    "database it connects to"
                )

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


def parse(sql: str) -> tuple[Any, ...]:
    try:
        from pglast import parse_sql
        from pglast.parser import ParseError
    except ImportError:
        raise Refused("refused: checking it needs pglast; install capplan[postgres]") from None
    try:
        return tuple(parse_sql(sql))
    except ParseError as error:
        raise Refused(f"refused: PostgreSQL's parser cannot read it: {error}") from None


def collect(statements: Sequence[Any], calls: Calls) -> None:
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
    statements = parse(sql)
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
    collect(statements, calls)
    return calls


def sql_function_body(definition: str) -> list[Any]:
    """The statements of a SQL function, from its CREATE FUNCTION (pg_get_functiondef): the
    text of `AS '...'`, or the parsed body of `BEGIN ATOMIC ... END` or `RETURN expression` (as
    the SELECT of that expression)."""
    from pglast import ast

    statements = parse(definition)
    create = statements[0].stmt if len(statements) == 1 else None
    if not isinstance(create, ast.CreateFunctionStmt):
        raise Refused("refused: its definition does not read as one CREATE FUNCTION")
    body = create.sql_body
    if body is None:
        for option in create.options or ():
            if option.defname == "as" and isinstance(option.arg, tuple) and option.arg:
                return list(parse(option.arg[0].sval))
        raise Refused("refused: its body is not in its definition")
    if isinstance(body, ast.ReturnStmt):
        return [ast.SelectStmt(targetList=(ast.ResTarget(val=body.returnval),))]
    found: list[Any] = []
    pending: list[Any] = [body]
    while pending:
        item = pending.pop(0)
        if isinstance(item, tuple):
            pending[:0] = list(item)
        elif item is not None:
            found.append(item)
    return found
