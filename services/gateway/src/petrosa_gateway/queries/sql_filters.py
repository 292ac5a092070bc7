"""The generic CRUD filter language (Mongo-style JSON) compiled to parameterised PostgreSQL.

Every identifier that reaches SQL (table, filter field, sort field, projection field, insert or
update column) is first checked against the real columns of a table in schema ``public``;
values only ever travel as bound parameters. SQL is composed with :mod:`psycopg.sql` only.

Filter language (the same on both databases)::

    {"field": value}                       equality; null -> IS NULL
    {"field": {"$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte": v,
               "$in" | "$nin": [..], "$exists": bool}}   several operators are ANDed
    {"$and": [filter, ..], "$or": [filter, ..]}          nested freely

``$ne`` and ``$nin`` keep Mongo's meaning: rows where the field is NULL match them (unless
null is one of the excluded values). ``$exists`` means IS NOT NULL / IS NULL. ISO-8601
strings given for ``timestamp``/``date`` columns are bound as aware datetimes (dates for
``date`` columns), so they compare as dates; on text columns they stay text. Field names and
values obey the same input rules as on MongoDB (:mod:`petrosa_gateway.inputs`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from petrosa_gateway.errors import BadRequest, InvalidInput, NotFound
from petrosa_gateway.inputs import check_filter_value, check_path, parse_iso_datetime

__all__ = [
    "COLUMN_CACHE_TTL_SECONDS",
    "MAX_FILTER_DEPTH",
    "MAX_IN_VALUES",
    "SqlFragment",
    "TableInfo",
    "UnknownColumn",
    "adapt_value",
    "coerce_iso",
    "forget_table",
    "ident",
    "order_by",
    "select_list",
    "table_columns",
    "table_info",
    "valid_table_name",
    "where_clause",
]

COLUMN_CACHE_TTL_SECONDS: Final = 30.0
MAX_FILTER_DEPTH: Final = 32
MAX_IN_VALUES: Final = 10_000

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_COMPARISONS: Final[dict[str, sql.SQL]] = {
    "$gt": sql.SQL(">"),
    "$gte": sql.SQL(">="),
    "$lt": sql.SQL("<"),
    "$lte": sql.SQL("<="),
}
_FIELD_OPERATORS: Final = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", *_COMPARISONS})
_TRUE: Final = sql.SQL("TRUE")
_FALSE: Final = sql.SQL("FALSE")


class UnknownColumn(BadRequest):
    """A field names no column of the table (the caller may refresh its column cache once)."""

    def __init__(self, table: str | None, column: str, *, context: str | None = None) -> None:
        where = f" of table {table!r}" if table else ""
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}unknown column {column!r}{where}")
        self.column = column


@dataclass(frozen=True, slots=True)
class TableInfo:
    """The columns (name -> PostgreSQL type, in table order) and primary key of a table."""

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    loaded_at: float = field(default_factory=time.monotonic, compare=False)

    def require(self, column: object) -> str:
        """``column`` if it is a column of the table; :class:`UnknownColumn` otherwise."""
        if not isinstance(column, str) or column not in self.columns:
            raise UnknownColumn(self.name, str(column))
        return column


@dataclass(frozen=True, slots=True)
class SqlFragment:
    """A piece of SQL and the values bound to its ``%s`` placeholders, in order."""

    sql: sql.Composable
    params: list[Any]


# ---------------------------------------------------------------------------------------------
# Table metadata


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

_cache: dict[tuple[str, int, str, str], TableInfo] = {}


def valid_table_name(table: object) -> bool:
    """Whether ``table`` is a plain identifier (no quotes, dots, spaces, comments...)."""
    return isinstance(table, str) and _TABLE_NAME.fullmatch(table) is not None


def _cache_key(conn: AsyncConnection[DictRow], table: str) -> tuple[str, int, str, str]:
    info = conn.info
    return (info.host, info.port, info.dbname, table)


def forget_table(conn: AsyncConnection[DictRow], table: str) -> None:
    """Drop the cached columns of ``table`` (after DDL, or an error that says they changed)."""
    _cache.pop(_cache_key(conn, table), None)


async def table_info(
    conn: AsyncConnection[DictRow], table: str, *, fresh: bool = False
) -> TableInfo:
    """Columns and primary key of ``public.<table>``, cached for a short time.

    Raises :class:`NotFound` for an unknown table and for any name that is not a plain
    identifier (such names are never sent to the server).
    """
    if not valid_table_name(table):
        raise NotFound(f"unknown table {table!r}")
    key = _cache_key(conn, table)
    cached = _cache.get(key)
    if (
        not fresh
        and cached is not None
        and time.monotonic() - cached.loaded_at < COLUMN_CACHE_TTL_SECONDS
    ):
        return cached
    cursor = await conn.execute(_COLUMNS_QUERY, [table])
    rows = await cursor.fetchall()
    if not rows:
        _cache.pop(key, None)
        raise NotFound(f"unknown table {table!r}")
    columns = {str(row["name"]): str(row["type"]) for row in rows}
    keyed = sorted(
        (int(row["pk_position"]), str(row["name"]))
        for row in rows
        if row["pk_position"] is not None
    )
    info = TableInfo(name=table, columns=columns, primary_key=tuple(name for _, name in keyed))
    _cache[key] = info
    return info


async def table_columns(conn: AsyncConnection[DictRow], table: str) -> dict[str, str]:
    """Column name -> PostgreSQL data type of ``public.<table>`` (see :func:`table_info`)."""
    return dict((await table_info(conn, table)).columns)


# ---------------------------------------------------------------------------------------------
# Values


def coerce_iso(value: Any, *, as_date: bool = False) -> Any:
    """An ISO-8601 date or datetime string as an aware UTC datetime; anything else unchanged.

    ``"2025-01-01"`` becomes midnight UTC (or a :class:`date` with ``as_date``);
    ``"2025-01-01T10:00:00+02:00"`` becomes 08:00 UTC; naive times are taken as UTC. The
    parsing and its rules (a real date, years 1970-9999) are the MongoDB side's:
    :func:`petrosa_gateway.inputs.parse_iso_datetime`.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    moment = parse_iso_datetime(text)
    if moment is None:
        return value
    return moment.date() if as_date and _ISO_DATE.fullmatch(text) else moment


def _is_json(column_type: str) -> bool:
    return column_type in ("json", "jsonb")


def _is_array(column_type: str) -> bool:
    return column_type.endswith("]")


def adapt_value(value: Any, column: str, column_type: str) -> Any:
    """``value`` ready to bind against ``column`` of ``column_type``.

    JSON columns get any JSON value (wrapped as jsonb); timestamp and date columns get ISO
    strings as dates; a dict or list for a column that cannot hold one is a BadRequest.

    A string for a timestamp or date column must be an ISO-8601 date in the years 1970-9999:
    PostgreSQL would also take ``infinity``, ``now`` or year 20000, values that psycopg cannot
    read back, so one such row would break every later read of the table.
    """
    if value is None:
        return None
    if _is_json(column_type):
        return Jsonb(value)
    if isinstance(value, dict):
        raise BadRequest(f"column {column!r} ({column_type}) cannot hold an object")
    if isinstance(value, list):
        if not _is_array(column_type):
            raise BadRequest(f"column {column!r} ({column_type}) cannot hold a list")
        return value
    is_date = column_type == "date"
    if not (is_date or column_type.startswith("timestamp")):
        return value
    moment = coerce_iso(value, as_date=is_date)
    if isinstance(moment, str):
        raise InvalidInput(
            f"column {column!r} ({column_type}) takes ISO-8601 dates in the years 1970-9999, "
            f"got {value!r}"
        )
    if isinstance(moment, datetime) and "without time zone" in column_type:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


# ---------------------------------------------------------------------------------------------
# Identifiers and clauses


def ident(name: str) -> sql.Identifier:
    """A quoted identifier safe inside a query that has ``%s`` parameters.

    psycopg scans the whole composed query for ``%`` placeholders, quoted identifiers
    included, so a literal ``%`` in a (real) column name is written ``%%``.
    """
    return sql.Identifier(name.replace("%", "%%"))


def _as_info(columns: Mapping[str, str] | TableInfo) -> TableInfo:
    if isinstance(columns, TableInfo):
        return columns
    return TableInfo(name="", columns=dict(columns), primary_key=())


def where_clause(
    filter: Mapping[str, Any] | None,
    columns: Mapping[str, str] | TableInfo,
) -> SqlFragment:
    """The WHERE condition (without the keyword) for ``filter``; ``TRUE`` when it is empty.

    Raises :class:`BadRequest` for unknown columns (:class:`UnknownColumn`), unknown
    operators, and operands of the wrong shape.
    """
    info = _as_info(columns)
    params: list[Any] = []
    if filter is None:
        return SqlFragment(_TRUE, params)
    if not isinstance(filter, Mapping):
        raise BadRequest("filter must be a JSON object")
    condition = _document(filter, info, params, depth=0)
    return SqlFragment(condition, params)


def _document(
    doc: Mapping[str, Any], info: TableInfo, params: list[Any], *, depth: int
) -> sql.Composable:
    if depth > MAX_FILTER_DEPTH:
        raise BadRequest(f"filter nested deeper than {MAX_FILTER_DEPTH} levels")
    parts: list[sql.Composable] = []
    for key, value in doc.items():
        if not isinstance(key, str):
            raise BadRequest("filter keys must be strings")
        if key in ("$and", "$or"):
            parts.append(_logical(key, value, info, params, depth=depth))
        elif key.startswith("$"):
            raise BadRequest(f"unknown filter operator {key!r}")
        else:
            check_path(key, what="filter field")
            parts.append(_field(info.require(key), value, info, params))
    return _join_and(parts)


def _join_and(parts: Sequence[sql.Composable]) -> sql.Composable:
    if not parts:
        return _TRUE
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("({})").format(sql.SQL(" AND ").join(parts))


def _logical(
    operator: str, value: Any, info: TableInfo, params: list[Any], *, depth: int
) -> sql.Composable:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"{operator} needs a non-empty list of filters")
    parts: list[sql.Composable] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise BadRequest(f"{operator} items must be JSON objects")
        parts.append(_document(item, info, params, depth=depth + 1))
    if operator == "$and":
        return _join_and(parts)
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))


def _is_operator_document(value: Any) -> bool:
    if not isinstance(value, Mapping) or not value:
        return False
    dollars = [isinstance(key, str) and key.startswith("$") for key in value]
    if any(dollars) and not all(dollars):
        raise BadRequest("a filter value cannot mix operators ($...) with plain keys")
    return all(dollars)


def _field(column: str, value: Any, info: TableInfo, params: list[Any]) -> sql.Composable:
    if not _is_operator_document(value):
        return _equals(column, value, info, params)
    parts = [
        _operator(column, operator, operand, info, params) for operator, operand in value.items()
    ]
    return _join_and(parts)


def _bind(column: str, value: Any, info: TableInfo, params: list[Any]) -> sql.Composable:
    check_filter_value(value, what=f"filter field {column!r}")
    params.append(adapt_value(value, column, info.columns[column]))
    return sql.Placeholder()


def _equals(column: str, value: Any, info: TableInfo, params: list[Any]) -> sql.Composable:
    if value is None:
        return sql.SQL("{} IS NULL").format(ident(column))
    return sql.SQL("{} = {}").format(ident(column), _bind(column, value, info, params))


def _operator(
    column: str, operator: str, operand: Any, info: TableInfo, params: list[Any]
) -> sql.Composable:
    if operator not in _FIELD_OPERATORS:
        raise BadRequest(f"unknown filter operator {operator!r} on field {column!r}")
    name = ident(column)
    if operator == "$eq":
        return _equals(column, operand, info, params)
    if operator == "$ne":
        if operand is None:
            return sql.SQL("{} IS NOT NULL").format(name)
        return sql.SQL("{} IS DISTINCT FROM {}").format(name, _bind(column, operand, info, params))
    if operator in _COMPARISONS:
        if operand is None or isinstance(operand, (dict, list)):
            raise BadRequest(f"{operator} on field {column!r} needs a scalar value")
        return sql.SQL("{} {} {}").format(
            name, _COMPARISONS[operator], _bind(column, operand, info, params)
        )
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise BadRequest(f"$exists on field {column!r} needs true or false")
        return sql.SQL("{} IS NOT NULL" if operand else "{} IS NULL").format(name)
    return _membership(column, operator, operand, info, params)


def _membership(
    column: str, operator: str, operand: Any, info: TableInfo, params: list[Any]
) -> sql.Composable:
    if not isinstance(operand, list):
        raise BadRequest(f"{operator} on field {column!r} needs a list")
    if len(operand) > MAX_IN_VALUES:
        raise BadRequest(f"{operator} on field {column!r} has more than {MAX_IN_VALUES} values")
    name = ident(column)
    with_null = any(item is None for item in operand)
    values = [item for item in operand if item is not None]
    for item in values:
        if isinstance(item, dict):
            raise BadRequest(f"{operator} on field {column!r} cannot hold objects")
    placeholders = sql.SQL(", ").join(_bind(column, item, info, params) for item in values)
    if operator == "$in":
        parts: list[sql.Composable] = []
        if values:
            parts.append(sql.SQL("{} IN ({})").format(name, placeholders))
        if with_null:
            parts.append(sql.SQL("{} IS NULL").format(name))
        if not parts:
            return _FALSE
        return parts[0] if len(parts) == 1 else sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
    # $nin: Mongo also matches rows without the field, unless null itself is excluded.
    if not values:
        return sql.SQL("{} IS NOT NULL").format(name) if with_null else _TRUE
    if with_null:
        return sql.SQL("({} IS NOT NULL AND {} NOT IN ({}))").format(name, name, placeholders)
    return sql.SQL("({} IS NULL OR {} NOT IN ({}))").format(name, name, placeholders)


def order_by(
    sort: Iterable[tuple[str, int]] | None,
    columns: Mapping[str, str] | TableInfo,
    *,
    tiebreak: Sequence[str] = (),
) -> sql.Composable:
    """`` ORDER BY ...`` (with its leading space) for ``sort``; empty SQL when nothing to sort.

    ``sort`` is ``[(field, 1 | -1), ...]``. ``tiebreak`` columns (the primary key) are
    appended when missing, so LIMIT/OFFSET pages are stable.
    """
    info = _as_info(columns)
    items: list[sql.Composable] = []
    seen: set[str] = set()
    for entry in sort or ():
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise BadRequest("sort items must be [field, 1 | -1]")
        column, direction = entry
        info.require(column)
        if isinstance(direction, bool) or direction not in (1, -1):
            raise BadRequest(f"sort direction of {column!r} must be 1 or -1")
        if column in seen:
            continue
        seen.add(column)
        items.append(sql.SQL("{} ASC" if direction == 1 else "{} DESC").format(ident(column)))
    for column in tiebreak:
        if column not in seen and column in info.columns:
            seen.add(column)
            items.append(sql.SQL("{} ASC").format(ident(column)))
    if not items:
        return sql.SQL("")
    return sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(items))


def select_list(
    fields: Sequence[str] | None, columns: Mapping[str, str] | TableInfo
) -> sql.Composable:
    """The projection: ``*`` when ``fields`` is None, else the named columns (checked)."""
    info = _as_info(columns)
    if fields is None:
        return sql.SQL("*")
    if isinstance(fields, str) or not fields:
        raise BadRequest("fields must be a non-empty list of column names")
    unique = list(dict.fromkeys(info.require(name) for name in fields))
    return sql.SQL(", ").join(ident(name) for name in unique)
