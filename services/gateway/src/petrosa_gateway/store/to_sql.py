"""The query language compiled to parameterised PostgreSQL (:mod:`psycopg.sql` only).

Every field is first checked against the table's real columns (:class:`UnknownColumn`);
values only travel as bound parameters. MongoDB's meaning is kept where SQL differs: a
missing value is NULL, so ``$ne``/``$nin`` match NULL rows (unless null is excluded) and
``$exists`` means IS NOT NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from psycopg import sql
from psycopg.types.json import Jsonb

from petrosa_gateway.errors import BadRequest, InvalidInput
from petrosa_gateway.inputs import parse_iso_datetime
from petrosa_gateway.store import language as lang
from petrosa_gateway.store.pg_catalog import TableInfo, ident

_OPERATORS: Final = {
    "$eq": sql.SQL("="),
    "$ne": sql.SQL("IS DISTINCT FROM"),
    "$gt": sql.SQL(">"),
    "$gte": sql.SQL(">="),
    "$lt": sql.SQL("<"),
    "$lte": sql.SQL("<="),
}
_TRUE: Final = sql.SQL("TRUE")
_FALSE: Final = sql.SQL("FALSE")


@dataclass(frozen=True, slots=True)
class SqlFragment:
    """A piece of SQL and the values bound to its ``%s`` placeholders, in order."""

    sql: sql.Composable
    params: tuple[Any, ...]


def where_clause(filter: lang.Filter, table: TableInfo) -> SqlFragment:
    """The WHERE condition (without the keyword); ``TRUE`` for an empty filter."""
    params: list[Any] = []
    return SqlFragment(_all(filter, table, params), tuple(params))


def _all(filter: lang.Filter, table: TableInfo, params: list[Any]) -> sql.Composable:
    parts: list[sql.Composable] = []
    for term in filter.terms:
        if isinstance(term, lang.Logical):
            clauses = [_all(clause, table, params) for clause in term.clauses]
            parts.append(_join(" AND " if term.operator == "$and" else " OR ", clauses))
        else:
            column = table.require(term.path)
            conditions = [_condition(column, c, table, params) for c in term.conditions]
            parts.append(_join(" AND ", conditions))
    return _join(" AND ", parts)


def _join(separator: str, parts: Sequence[sql.Composable]) -> sql.Composable:
    if not parts:
        return _TRUE
    return parts[0] if len(parts) == 1 else sql.SQL("({})").format(sql.SQL(separator).join(parts))


def _condition(
    column: str, condition: lang.Condition, table: TableInfo, params: list[Any]
) -> sql.Composable:
    name = ident(column)
    if isinstance(condition, lang.Exists):
        return sql.SQL("{} IS NOT NULL" if condition.present else "{} IS NULL").format(name)
    if isinstance(condition, lang.Member):
        return _membership(column, condition, table, params)
    if condition.value is None:  # the language allows null with $eq and $ne only
        return sql.SQL("{} IS NULL" if condition.operator == "$eq" else "{} IS NOT NULL").format(
            name
        )
    placeholder = _bind(column, condition.value, table, params)
    return sql.SQL("{} {} {}").format(name, _OPERATORS[condition.operator], placeholder)


def _membership(
    column: str, condition: lang.Member, table: TableInfo, params: list[Any]
) -> sql.Composable:
    name = ident(column)
    with_null = None in condition.values
    values = [_bind(column, v, table, params) for v in condition.values if v is not None]
    listed = sql.SQL(", ").join(values)
    if condition.operator == "$in":
        parts = [sql.SQL("{} IN ({})").format(name, listed)] if values else []
        parts += [sql.SQL("{} IS NULL").format(name)] if with_null else []
        return _join(" OR ", parts) if parts else _FALSE
    if not values:
        return sql.SQL("{} IS NOT NULL").format(name) if with_null else _TRUE
    if with_null:
        return sql.SQL("({} IS NOT NULL AND {} NOT IN ({}))").format(name, name, listed)
    return sql.SQL("({} IS NULL OR {} NOT IN ({}))").format(name, name, listed)


def _bind(column: str, value: Any, table: TableInfo, params: list[Any]) -> sql.Placeholder:
    params.append(adapt(value, column, table.columns[column]))
    return sql.Placeholder()


def adapt(value: Any, column: str, column_type: str) -> Any:
    """``value`` (from a filter or a record) ready to bind against a column of ``column_type``.

    JSON columns take any JSON value; timestamp and date columns take ISO-8601 dates in the
    years 1970-9999 only (PostgreSQL would also take ``infinity``, ``now`` or year 20000,
    which psycopg cannot read back: one such row would break every later read); other
    columns take dates as the text that was sent.
    """
    if value is None:
        return None
    if column_type in ("json", "jsonb"):
        return Jsonb(value.text if isinstance(value, lang.IsoDate) else value)
    if isinstance(value, dict):
        raise BadRequest(f"column {column!r} ({column_type}) cannot hold an object")
    if isinstance(value, list):
        if not column_type.endswith("]"):
            raise BadRequest(f"column {column!r} ({column_type}) cannot hold a list")
        return value
    is_date = column_type == "date"
    if not (is_date or column_type.startswith("timestamp")):
        return value.text if isinstance(value, lang.IsoDate) else value
    if isinstance(value, str):
        moment = parse_iso_datetime(value, what=f"column {column!r}: date")
        if moment is None:
            raise InvalidInput(
                f"column {column!r} ({column_type}) takes ISO-8601 dates in the years "
                f"1970-9999, got {value!r}"
            )
        value = lang.IsoDate(value, moment)
    if not isinstance(value, lang.IsoDate):
        return value  # a number or a boolean: PostgreSQL says why not
    return _moment(value, is_date=is_date, naive="without time zone" in column_type)


def _moment(value: lang.IsoDate, *, is_date: bool, naive: bool) -> date | datetime:
    if is_date and len(value.text) == len("2025-01-01"):
        return value.moment.date()
    return value.moment.replace(tzinfo=None) if naive else value.moment


def order_by(keys: tuple[lang.SortKey, ...], table: TableInfo) -> sql.Composable:
    """`` ORDER BY ...`` (leading space) for the keys, then the primary key (so pages are
    stable); empty SQL when there is nothing to order by. NULL sorts as MongoDB sorts a
    missing value: first ascending, last descending."""
    paths = [table.require(key.path) for key in keys]
    items = [
        sql.SQL("{} ASC NULLS FIRST" if key.direction == 1 else "{} DESC NULLS LAST").format(
            ident(path)
        )
        for key, path in zip(keys, paths, strict=True)
    ]
    items += [sql.SQL("{} ASC").format(ident(pk)) for pk in table.primary_key if pk not in paths]
    return sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(items)) if items else sql.SQL("")


def select_list(fields: tuple[str, ...] | None, table: TableInfo) -> sql.Composable:
    """``*``, or the named columns (each checked)."""
    if fields is None:
        return sql.SQL("*")
    return sql.SQL(", ").join(ident(table.require(name)) for name in fields)
