"""PostgreSQL catalog: the tables CRUD reaches, their columns, and PostgreSQL's errors in the
gateway's terms (shared with raw SQL).

Only tables of schema ``public`` with plain names are reachable; any other name is not found
and never sent to the server. Columns are read from ``pg_catalog`` and cached briefly.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Final

import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import DictRow

from petrosa_gateway.errors import BadRequest, Forbidden, GatewayError, NotFound

COLUMN_CACHE_TTL_SECONDS: Final = 30.0
_TABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_COLUMNS_QUERY: Final = sql.SQL(
    """
    SELECT a.attname AS name,
           format_type(a.atttypid, a.atttypmod) AS type,
           array_position(i.indkey::int2[], a.attnum) AS pk_position
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
    WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    ORDER BY a.attnum
    """
)


class UnknownColumn(BadRequest):
    """A field names no column of the table (the caller may refresh its columns once)."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__(f"unknown column {column!r} of table {table!r}")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """The columns of a table (name -> PostgreSQL type, in table order) and its primary key."""

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    loaded_at: float = field(default_factory=time.monotonic, compare=False)

    def require(self, column: object) -> str:
        """``column`` if it is a column of the table; :class:`UnknownColumn` otherwise."""
        if not isinstance(column, str) or column not in self.columns:
            raise UnknownColumn(self.name, str(column))
        return column


_cache: dict[tuple[str, int, str, str], TableInfo] = {}


def _cache_key(conn: AsyncConnection[DictRow], table: str) -> tuple[str, int, str, str]:
    info = conn.info
    return (info.host, info.port, info.dbname, table)


def forget_table(conn: AsyncConnection[DictRow], table: str) -> None:
    """Drop the cached columns of ``table`` (after an error saying they changed)."""
    _cache.pop(_cache_key(conn, table), None)


async def table_info(
    conn: AsyncConnection[DictRow], table: str, *, fresh: bool = False
) -> TableInfo:
    """Columns and primary key of ``public.<table>``; :class:`NotFound` for an unknown table
    and for any name that is not a plain identifier."""
    if _TABLE_NAME.fullmatch(table) is None:
        raise NotFound(f"collection {table!r} does not exist")
    key = _cache_key(conn, table)
    cached = _cache.get(key)
    if not fresh and cached and time.monotonic() - cached.loaded_at < COLUMN_CACHE_TTL_SECONDS:
        return cached
    rows = await (await conn.execute(_COLUMNS_QUERY, [table])).fetchall()
    if not rows:
        _cache.pop(key, None)
        raise NotFound(f"collection {table!r} does not exist")
    keyed = sorted(
        (row["pk_position"], row["name"]) for row in rows if row["pk_position"] is not None
    )
    info = TableInfo(
        name=table,
        columns={str(row["name"]): str(row["type"]) for row in rows},
        primary_key=tuple(str(name) for _, name in keyed),
    )
    _cache[key] = info
    return info


def ident(name: str) -> sql.Identifier:
    """A quoted identifier safe in a query with ``%s`` parameters (psycopg scans quoted
    identifiers for placeholders too, so a ``%`` in a real column name is doubled)."""
    return sql.Identifier(name.replace("%", "%%"))


def pg_error_message(exc: psycopg.Error) -> str:
    """PostgreSQL's own words for ``exc``: the primary message, plus its detail if any."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    return f"{message} ({diag.message_detail})" if diag.message_detail else message


def translate_pg_error(exc: psycopg.Error) -> GatewayError | None:
    """The gateway error for a PostgreSQL error the request caused; ``None`` when it is not
    the caller's fault (connection lost, server shutting down): re-raise the original."""
    message = pg_error_message(exc)
    if isinstance(exc, errors.UndefinedTable):
        return NotFound(message)
    if isinstance(exc, errors.InsufficientPrivilege):
        return Forbidden(message)
    if isinstance(exc, errors.QueryCanceled):
        return BadRequest(f"the statement exceeded the statement timeout: {message}")
    if isinstance(
        exc,
        psycopg.DataError
        | psycopg.IntegrityError
        | psycopg.ProgrammingError
        | psycopg.NotSupportedError
        | errors.ReadOnlySqlTransaction
        | errors.ProgramLimitExceeded,
    ):
        return BadRequest(message)
    return None
