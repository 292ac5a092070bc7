"""Raw SQL reads (``POST /api/v1/raw/postgres``, alias ``/raw/mysql``), refused unless provably
a single read, then run in a READ ONLY transaction with a statement timeout and a row cap.

Layers, each enough on its own for the common attacks:

1. :func:`validate_sql` parses the text with sqlglot (``postgres``, or ``mysql`` transpiled to
   PostgreSQL) and accepts exactly one statement whose root is a query (SELECT, set
   operation, VALUES) and whose tree holds no write, DDL, command, locking clause, ``INTO``,
   system catalog, schema other than ``public``, schema-qualified function call, or function
   from the deny-list (server files, large objects, dblink, settings, sequences, locks,
   backend signalling, SQL-in-a-string functions such as ``query_to_xml``, ...). The SQL that
   runs is regenerated from the checked tree (comments dropped), then parsed and checked again.
2. The statement runs through a server-side cursor (``DECLARE ... CURSOR FOR``), which
   PostgreSQL accepts only for SELECT/VALUES without data-modifying CTEs, inside
   ``BEGIN READ ONLY`` with ``statement_timeout`` set locally; at most ``max_rows + 1`` rows are
   fetched, so huge results never reach memory. JIT compilation is switched off locally: it
   pays off only for long complete executions, while a cursor fetches a prefix, and loading
   LLVM into a fresh backend costs seconds (1.6 s measured) of the caller's timeout.

Parameters: with ``params`` given, placeholders are bound by PostgreSQL, never interpolated.
Write ``$1, $2, ...`` (or positional ``%s`` on ``postgres``, ``?`` on ``mysql``); every
parameter must be used.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final, Literal

import psycopg
import sqlglot
from petrosa_common.postgres import PgPool
from psycopg import AsyncConnection, errors
from psycopg.rows import tuple_row
from pydantic import BaseModel
from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.store.encoding import utc_values
from petrosa_gateway.store.pg_catalog import pg_error_message, translate_pg_error

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "MAX_QUERY_LENGTH",
    "RawDialect",
    "RawSqlResult",
    "run_raw_sql",
    "validate_sql",
]

RawDialect = Literal["postgres", "mysql"]

DEFAULT_STATEMENT_TIMEOUT_MS: Final = 5_000
DEFAULT_MAX_ROWS: Final = 10_000
MAX_QUERY_LENGTH: Final = 100_000


class RawSqlResult(BaseModel):
    """Rows of a raw read (the reply encodes their values); ``truncated`` says more than
    ``max_rows`` existed."""

    data: list[dict[str, Any]]
    columns: list[str]
    row_count: int
    truncated: bool
    execution_time_ms: float
    query: str


# ---------------------------------------------------------------------------------------------
# What is refused

_ROOTS: Final = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

_FORBIDDEN_NODES: Final[tuple[tuple[type[exp.Expr], str], ...]] = (
    (exp.DML, "data-modifying statement"),  # INSERT, UPDATE, DELETE, MERGE, COPY
    (exp.Returning, "data-modifying statement"),
    (exp.OnConflict, "data-modifying statement"),
    (exp.Create, "DDL statement"),
    (exp.Drop, "DDL statement"),
    (exp.Alter, "DDL statement"),
    (exp.TruncateTable, "DDL statement"),
    (exp.Comment, "DDL statement"),
    (exp.Grant, "privilege statement"),
    (exp.Revoke, "privilege statement"),
    (exp.Into, "SELECT ... INTO (creates a table)"),
    (exp.Lock, "locking clause (FOR UPDATE / FOR SHARE)"),
    (exp.Command, "command"),
    (exp.Transaction, "transaction control"),
    (exp.Commit, "transaction control"),
    (exp.Rollback, "transaction control"),
    (exp.Set, "SET statement"),
    (exp.SetItem, "SET statement"),
    (exp.Use, "USE statement"),
    (exp.Execute, "EXECUTE statement"),
    (exp.Declare, "DECLARE statement"),
    (exp.Pragma, "PRAGMA statement"),
    (exp.Kill, "KILL statement"),
    (exp.Analyze, "ANALYZE statement"),
    (exp.LoadData, "LOAD DATA statement"),
    (exp.Export, "EXPORT statement"),
    (exp.Describe, "DESCRIBE statement"),
    (exp.Show, "SHOW statement"),
    (exp.Attach, "ATTACH statement"),
    (exp.Detach, "DETACH statement"),
    (exp.Install, "INSTALL statement"),
    (exp.Put, "PUT statement"),
    (exp.Get, "GET statement"),
    (exp.Undrop, "UNDROP statement"),
    (exp.AlterSession, "ALTER SESSION statement"),
    (exp.Summarize, "SUMMARIZE statement"),
    (exp.Cache, "CACHE statement"),
    (exp.Uncache, "UNCACHE statement"),
    (exp.Refresh, "REFRESH statement"),
)

# Harmless introspection that the pg_ prefix rule would otherwise refuse.
_ALLOWED_FUNCTIONS: Final = frozenset({"pg_typeof", "pg_size_pretty", "pg_column_size"})
_DENIED_PREFIXES: Final = (
    "pg_",  # server files, sleeping, signalling backends, advisory locks, config, WAL, stats
    "lo_",  # large objects: lo_import / lo_export read and write server files
    "dblink",  # connections to other databases, where READ ONLY does not follow
    "postgres_fdw",
    "txid_",  # assigns transaction ids
    "binary_upgrade_",
    "brin_",  # brin_summarize_range & co. write
    "gin_",  # gin_clean_pending_list writes
    "bt_",  # amcheck
    "pgstat",  # pgstattuple & co. (extensions reading any relation)
    "pgrowlocks",
    "_",  # internal helpers (information_schema._pg_*)
)
_DENIED_SUBSTRINGS: Final = ("_to_xml",)  # query_to_xml, table_to_xml, cursor_to_xml, ...
_DENIED_FUNCTIONS: Final = frozenset(
    {
        "set_config",  # would lift the statement timeout or the read-only setting
        "current_setting",  # reads server configuration (paths, secrets in settings)
        "nextval",
        "setval",
        "currval",
        "lastval",
        "setseed",
        "loread",
        "lowrite",
        "ts_stat",  # runs the SQL text it is given
        "ts_rewrite",  # idem (its text-query form)
        "xmlschema",
        "get_raw_page",
        "heap_page_items",
        "page_header",
        "inet_server_addr",
        "inet_server_port",
        "inet_client_addr",
        "inet_client_port",
        "current_query",
    }
)
_FUNCTION_HEAD = re.compile(r'\s*"?([A-Za-z_][A-Za-z0-9_$]*)"?\s*\(')
_SYSTEM_SCHEMAS: Final = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def _refuse(reason: str) -> BadRequest:
    return BadRequest(f"query refused: {reason}")


def _function_names(node: exp.Func) -> set[str]:
    """The names PostgreSQL may resolve a function node to (lower case)."""
    if isinstance(node, exp.Anonymous):
        return {node.name.lower()}
    names = {node.sql_name().lower()}
    head = _FUNCTION_HEAD.match(node.sql(dialect="postgres", normalize_functions="lower"))
    if head:
        names.add(head.group(1).lower())
    return names


def _denied_function(name: str) -> bool:
    if name in _ALLOWED_FUNCTIONS:
        return False
    return (
        name in _DENIED_FUNCTIONS
        or name.startswith(_DENIED_PREFIXES)
        or any(part in name for part in _DENIED_SUBSTRINGS)
    )


def _check_table(node: exp.Table) -> None:
    shown = ".".join(part for part in (node.catalog, node.db, node.name) if part)
    if node.catalog:
        raise _refuse(f"cross-database reference {shown!r}")
    schema = node.db.lower()
    name = node.name.lower()
    if schema in _SYSTEM_SCHEMAS or schema.startswith("pg_") or name.startswith("pg_"):
        raise _refuse(f"system catalog {shown!r} is not readable")
    if schema and schema != "public":
        raise _refuse(f"schema {node.db!r} is not readable (only public)")


def _check_tree(tree: exp.Expr, params: Sequence[Any] | None) -> None:
    if not isinstance(tree, _ROOTS):
        raise _refuse(
            f"only SELECT / UNION / VALUES queries are allowed, not {type(tree).__name__.upper()}"
        )
    numbers: set[int] = set()
    for node in tree.walk():
        for kind, reason in _FORBIDDEN_NODES:
            if isinstance(node, kind):
                raise _refuse(f"{reason} ({type(node).__name__.upper()}) inside the query")
        if isinstance(node, exp.Table):
            _check_table(node)
        elif isinstance(node, exp.Func):
            for name in _function_names(node):
                if _denied_function(name):
                    raise _refuse(f"function {name}() is not allowed")
        elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise _refuse("schema-qualified function calls are not allowed")
        elif isinstance(node, exp.Placeholder):
            raise _refuse("unsupported placeholder (use $1, $2, ... or %s / ? with params)")
        elif isinstance(node, exp.Parameter):
            value = node.this
            if not (isinstance(value, exp.Literal) and value.is_int):
                raise _refuse(f"unsupported parameter {node.sql(dialect='postgres')!r}")
            numbers.add(int(value.name))
    if params is None:
        if numbers:
            raise _refuse("the query has parameters ($n) but no params were given")
        return
    if numbers != set(range(1, len(params) + 1)):
        raise BadRequest(
            f"params: the query uses parameters {sorted(numbers)} but {len(params)} "
            "params were given (each must be used)"
        )


# ---------------------------------------------------------------------------------------------
# Parsing


def _positional_placeholders(tokens: list[Token], dialect: RawDialect) -> list[tuple[int, int]]:
    """(start, end) character spans of positional placeholders: ``%s`` (postgres), ``?`` (mysql)."""
    spans: list[tuple[int, int]] = []
    for index, token in enumerate(tokens):
        if dialect == "mysql":
            if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
                spans.append((token.start, token.end))
        elif token.token_type == TokenType.MOD and index + 1 < len(tokens):
            following = tokens[index + 1]
            if following.text == "s" and following.start == token.end + 1:
                spans.append((token.start, following.end))
    return spans


_MYSQL_PARAMETER = re.compile(r"__p(\d+)")


def _number_placeholders(query: str, dialect: RawDialect) -> str:
    """``query`` with its positional placeholders numbered.

    PostgreSQL's ``%s`` become ``$1, $2, ...``. MySQL's ``?`` become named placeholders
    ``:__p1, :__p2, ...`` (MySQL reads ``$1`` as a column name), which
    :func:`_mysql_parameters` turns into ``$n`` parameters. Numbering follows the text, as
    the tokenizer sees it (placeholders inside strings or comments are not placeholders).
    """
    tokens = Dialect.get_or_raise(dialect).tokenize(query)
    spans = _positional_placeholders(tokens, dialect)
    if not spans:
        return query
    if any(token.token_type == TokenType.PARAMETER for token in tokens):
        raise BadRequest("do not mix positional placeholders (%s / ?) with numbered ones ($n)")
    marker = "$" if dialect == "postgres" else " :__p"
    for number, (start, end) in reversed(list(enumerate(spans, start=1))):
        query = f"{query[:start]}{marker}{number} {query[end + 1 :]}"
    return query


def _mysql_parameters(tree: exp.Expr) -> exp.Expr:
    """The named placeholders made by :func:`_number_placeholders` as ``$n`` parameters."""

    def convert(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder):
            match = _MYSQL_PARAMETER.fullmatch(str(node.this or ""))
            if match:
                return exp.Parameter(this=exp.Literal.number(int(match.group(1))))
        return node

    return tree.transform(convert)


def _parse_one(text: str, dialect: RawDialect) -> exp.Expr:
    statements = [tree for tree in sqlglot.parse(text, read=dialect) if tree is not None]
    if not statements:
        raise BadRequest("query is empty")
    if len(statements) > 1:
        raise _refuse(f"exactly one statement is allowed, got {len(statements)}")
    return statements[0]


def _generate(tree: exp.Expr) -> str:
    return tree.sql(
        dialect="postgres",
        comments=False,
        normalize_functions=False,
        unsupported_level=ErrorLevel.RAISE,
    )


def validate_sql(
    query: str, dialect: RawDialect = "postgres", *, params: Sequence[Any] | None = None
) -> str:
    """The PostgreSQL text to run for ``query``, or :class:`BadRequest` saying why not.

    ``query`` is read in ``dialect`` (``mysql`` is transpiled to PostgreSQL). With ``params``,
    positional placeholders become ``$1..$n`` and must match the params one to one.
    """
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("query must be a non-empty string")
    if len(query) > MAX_QUERY_LENGTH:
        raise BadRequest(f"query longer than {MAX_QUERY_LENGTH} characters")
    if dialect not in ("postgres", "mysql"):
        raise BadRequest(f"unknown SQL dialect {dialect!r}")
    try:
        text = _number_placeholders(query, dialect) if params is not None else query
        tree = _parse_one(text, dialect)
        if dialect == "mysql" and params is not None:
            tree = _mysql_parameters(tree)
        _check_tree(tree, params)
        generated = _generate(tree)
        # What runs is what was checked: parse the generated text again and re-check it.
        _check_tree(_parse_one(generated, "postgres"), params)
    except SqlglotError as exc:
        raise BadRequest(f"could not parse the query: {exc}") from None
    except RecursionError:
        raise BadRequest("query nested too deeply") from None
    return generated


def _bindable(params: Sequence[Any] | None) -> list[Any] | None:
    if params is None:
        return None
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise BadRequest("params must be a list")
    for index, value in enumerate(params):
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise BadRequest(f"params[{index}] must be a string, number, boolean or null")
    return list(params)


def _unique_columns(names: list[str]) -> list[str]:
    """Column names made unique (``id``, ``id_2``...) so no value is lost in a row object."""
    seen: dict[str, int] = {}
    unique: list[str] = []
    taken = set(names)
    for name in names:
        if name not in seen:
            seen[name] = 1
            unique.append(name)
            continue
        count = seen[name]
        candidate = name
        while candidate in taken:
            count += 1
            candidate = f"{name}_{count}"
        seen[name] = count
        taken.add(candidate)
        unique.append(candidate)
    return unique


# ---------------------------------------------------------------------------------------------
# Running


async def limit_transaction(conn: AsyncConnection[Any], statement_timeout_ms: int) -> None:
    """Make the open transaction of ``conn`` read-only, with the timeout and no JIT, locally."""
    await conn.execute("SET TRANSACTION READ ONLY")
    await conn.execute(
        "SELECT set_config('statement_timeout', %s, true), set_config('jit', 'off', true)",
        [str(statement_timeout_ms)],
    )


async def run_raw_sql(
    pool: PgPool,
    query: str,
    *,
    dialect: RawDialect = "postgres",
    params: Sequence[Any] | None = None,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> RawSqlResult:
    """Validate ``query`` (see :func:`validate_sql`) and run it read-only.

    At most ``max_rows`` rows are returned (``truncated`` when there were more). A statement
    PostgreSQL refuses (syntax, unknown column or table, read-only violation, timeout) is a
    :class:`BadRequest` with its message; connection problems propagate.
    """
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise BadRequest("max_rows must be a positive integer")
    if (
        isinstance(statement_timeout_ms, bool)
        or not isinstance(statement_timeout_ms, int)
        or statement_timeout_ms < 1
    ):
        raise BadRequest("statement_timeout_ms must be a positive integer")
    bound = _bindable(params)
    statement = validate_sql(query, dialect, params=bound)
    cursor_name = f"raw_{uuid.uuid4().hex}"
    async with pool.connection() as conn:
        started = time.perf_counter()
        try:
            async with conn.transaction():
                await limit_transaction(conn, statement_timeout_ms)
                async with psycopg.AsyncRawServerCursor(
                    conn, cursor_name, row_factory=tuple_row
                ) as cursor:
                    await cursor.execute(statement, bound)
                    rows = await cursor.fetchmany(max_rows + 1)
                    names = [column.name for column in cursor.description or ()]
        except errors.QueryCanceled as exc:
            raise BadRequest(
                f"query exceeded the statement timeout of {statement_timeout_ms} ms "
                f"({pg_error_message(exc)})"
            ) from None
        except psycopg.Error as exc:
            mapped = translate_pg_error(exc)
            if mapped is None:
                raise
            raise BadRequest(f"PostgreSQL refused the query: {mapped.detail}") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    columns = _unique_columns(names)
    data = [utc_values(dict(zip(columns, row, strict=True))) for row in rows]
    return RawSqlResult(
        data=data,
        columns=columns,
        row_count=len(data),
        truncated=truncated,
        execution_time_ms=round(elapsed_ms, 3),
        query=statement,
    )
