"""Generic CRUD on PostgreSQL tables (database ``postgres``, alias ``mysql``).

Only tables of schema ``public`` are reachable, by plain names; every column is checked
against the table's real columns and every value is a bound parameter (see
:mod:`petrosa_gateway.queries.sql_filters`). ``schema_migrations`` and the schema registry
(``schemas``) are read-only here.

Errors: unknown table -> :class:`NotFound`; unknown column, bad filter, empty filter on a
write, or a value PostgreSQL refuses (type, NOT NULL, CHECK, foreign key) ->
:class:`BadRequest` carrying PostgreSQL's message; writing a read-only table ->
:class:`Forbidden`. Connection problems propagate as :class:`psycopg.OperationalError`.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar

import psycopg
from petrosa_common.postgres import PgPool
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import DictRow

from petrosa_gateway.errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound
from petrosa_gateway.inputs import check_record, update_fields
from petrosa_gateway.queries.common import (
    BatchOperation,
    BatchOperationResult,
    BatchRequest,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListQuery,
    ListResult,
    Pagination,
    UpdateResult,
)
from petrosa_gateway.queries.sql_filters import (
    SqlFragment,
    TableInfo,
    UnknownColumn,
    adapt_value,
    forget_table,
    ident,
    order_by,
    select_list,
    table_info,
    where_clause,
)

__all__ = [
    "READ_ONLY_TABLES",
    "delete_records",
    "insert_records",
    "jsonable",
    "list_records",
    "pg_error_message",
    "run_batch",
    "translate_pg_error",
    "update_records",
]

READ_ONLY_TABLES: Final = frozenset({"schema_migrations", "schemas"})
# PostgreSQL binds at most 65535 parameters per statement; stay well under it.
_MAX_PARAMS_PER_STATEMENT: Final = 60_000
_MAX_ROWS_PER_INSERT: Final = 1_000

Conn = AsyncConnection[DictRow]
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Values and errors shared with raw SQL


def jsonable(value: Any) -> Any:
    """A database value as a JSON-safe value: datetimes as ISO strings (UTC when aware),
    Decimal as float, UUID and addresses as str, bytes as base64; containers recursively."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    return str(value)


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in row.items()}


def pg_error_message(exc: psycopg.Error) -> str:
    """PostgreSQL's own words for ``exc``: the primary message, plus its detail if any."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip() or type(exc).__name__
    if diag.message_detail:
        message = f"{message} ({diag.message_detail})"
    return message


def translate_pg_error(exc: psycopg.Error) -> GatewayError | None:
    """The gateway error for a PostgreSQL error caused by the request, or None.

    None means "not the caller's fault" (connection lost, server shutting down, pool
    exhausted...): the caller re-raises the original exception.
    """
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


@contextlib.contextmanager
def _pg_errors(conn: Conn, table: str) -> Iterator[None]:
    """Map request-caused PostgreSQL errors to gateway errors (see :func:`translate_pg_error`)."""
    try:
        yield
    except psycopg.Error as exc:
        if isinstance(exc, errors.UndefinedTable | errors.UndefinedColumn):
            forget_table(conn, table)
        mapped = translate_pg_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


async def _planned(conn: Conn, table: str, build: Callable[[TableInfo], T]) -> T:
    """``build(table info)``, reloading the columns once if it names an unknown column."""
    info = await table_info(conn, table)
    try:
        return build(info)
    except UnknownColumn:
        return build(await table_info(conn, table, fresh=True))


def _writable(table: str) -> None:
    if table in READ_ONLY_TABLES:
        raise Forbidden(f"table {table!r} is read-only through the CRUD API")


def _require_filter(filter: Mapping[str, Any] | None, action: str) -> Mapping[str, Any]:
    if filter is None or not isinstance(filter, Mapping) or not filter:
        raise BadRequest(f"{action} needs a non-empty filter (refusing to {action} every row)")
    return filter


# ---------------------------------------------------------------------------------------------
# Read


async def list_records(*, pool: PgPool, table: str, query: ListQuery) -> ListResult:
    """One page of ``table`` matching ``query`` (filter, sort, projection, limit/offset).

    The total is counted with the same WHERE in the same snapshot; rows are ordered by the
    requested sort, then the primary key, so pages are stable. Values are JSON-safe.
    """
    async with pool.connection() as conn:

        def build(info: TableInfo) -> tuple[SqlFragment, sql.Composable, sql.Composable]:
            return (
                where_clause(query.filter, info),
                select_list(query.fields, info),
                order_by(query.sort, info, tiebreak=info.primary_key),
            )

        where, projection, ordering = await _planned(conn, table, build)
        name = ident(table)
        count_query = sql.SQL("SELECT count(*) AS total FROM {} WHERE {}").format(name, where.sql)
        page_query = sql.SQL("SELECT {} FROM {} WHERE {}{} LIMIT %s OFFSET %s").format(
            projection, name, where.sql, ordering
        )
        with _pg_errors(conn, table):
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                counted = await (await conn.execute(count_query, where.params)).fetchone()
                total = int(counted["total"]) if counted else 0
                rows: list[DictRow] = []
                if query.offset < total:
                    cursor = await conn.execute(
                        page_query, [*where.params, query.limit, query.offset]
                    )
                    rows = await cursor.fetchall()
    return ListResult(
        data=[_row(row) for row in rows],
        pagination=Pagination.of(total=total, limit=query.limit, offset=query.offset),
    )


# ---------------------------------------------------------------------------------------------
# Plans: validated SQL, built before anything runs (so a batch can refuse up front)


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    info: TableInfo
    statements: list[tuple[sql.Composed, list[Any]]]
    record_ids: list[Any | None]  # the primary key each record carries, if it carries one


@dataclass(frozen=True, slots=True)
class _UpdatePlan:
    info: TableInfo
    where: SqlFragment
    assignments: list[tuple[str, Any]]  # column, bound value
    upsert: _InsertPlan | None


@dataclass(frozen=True, slots=True)
class _DeletePlan:
    info: TableInfo
    where: SqlFragment


def _record_id(info: TableInfo, record: Mapping[str, Any]) -> Any | None:
    if not info.primary_key or any(record.get(key) is None for key in info.primary_key):
        return None
    if len(info.primary_key) == 1:
        return record[info.primary_key[0]]
    return {key: record[key] for key in info.primary_key}


def _plan_insert(info: TableInfo, records: Any) -> _InsertPlan:
    if not isinstance(records, list):
        raise BadRequest("records must be a JSON object or a list of objects")
    names: dict[str, None] = {}
    adapted: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise BadRequest("each record must be a JSON object")
        check_record(record, what=f"record {index}")
        row: dict[str, Any] = {}
        for key, value in record.items():
            column = info.require(key)
            names[column] = None
            row[column] = adapt_value(value, column, info.columns[column])
        adapted.append(row)
    columns = list(names)
    table = ident(info.name)
    returning = (
        sql.SQL(", ").join(ident(key) for key in info.primary_key)
        if info.primary_key
        else sql.SQL("NULL")
    )
    statements: list[tuple[sql.Composed, list[Any]]] = []
    if not columns:  # only empty records: every column takes its default
        single = sql.SQL("INSERT INTO {} DEFAULT VALUES ON CONFLICT DO NOTHING RETURNING {}")
        statements = [(single.format(table, returning), []) for _ in adapted]
    per_statement = min(_MAX_ROWS_PER_INSERT, _MAX_PARAMS_PER_STATEMENT // max(1, len(columns)))
    for start in range(0, len(adapted) if columns else 0, per_statement):
        params: list[Any] = []
        tuples: list[sql.Composable] = []
        for row in adapted[start : start + per_statement]:
            cells: list[sql.Composable] = []
            for column in columns:
                if column in row:
                    params.append(row[column])
                    cells.append(sql.Placeholder())
                else:
                    cells.append(sql.SQL("DEFAULT"))
            tuples.append(sql.SQL("({})").format(sql.SQL(", ").join(cells)))
        statement = sql.SQL(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING RETURNING {}"
        ).format(
            table,
            sql.SQL(", ").join(ident(column) for column in columns),
            sql.SQL(", ").join(tuples),
            returning,
        )
        statements.append((statement, params))
    return _InsertPlan(
        info=info, statements=statements, record_ids=[_record_id(info, row) for row in adapted]
    )


def _assignments(info: TableInfo, data: Any) -> list[tuple[str, Any]]:
    assignments: list[tuple[str, Any]] = []
    for key, value in update_fields(data).items():
        column = info.require(key)
        assignments.append((column, adapt_value(value, column, info.columns[column])))
    return assignments


def _equalities(filter: Mapping[str, Any]) -> dict[str, Any]:
    """The ``field = value`` facts a filter states (top level and inside ``$and``)."""
    found: dict[str, Any] = {}
    for key, value in filter.items():
        if key == "$and" and isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    found.update(_equalities(item))
        elif key.startswith("$"):
            continue
        elif isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
            if "$eq" in value:
                found[key] = value["$eq"]
        else:
            found[key] = value
    return found


def _plan_update(
    info: TableInfo, filter: Mapping[str, Any] | None, data: Any, *, upsert: bool
) -> _UpdatePlan:
    checked = _require_filter(filter, "update")
    where = where_clause(checked, info)
    assignments = _assignments(info, data)
    upsert_plan = None
    if upsert:
        row = {**_equalities(checked), **dict(assignments)}
        upsert_plan = _plan_insert(info, [row])
    return _UpdatePlan(info=info, where=where, assignments=assignments, upsert=upsert_plan)


def _plan_delete(info: TableInfo, filter: Mapping[str, Any] | None) -> _DeletePlan:
    return _DeletePlan(info=info, where=where_clause(_require_filter(filter, "delete"), info))


# ---------------------------------------------------------------------------------------------
# Execution (inside a transaction opened by the caller)


def _canonical(value: Any) -> Any:
    """A key under which a record's primary key and the stored one compare equal."""
    if isinstance(value, Mapping):
        return tuple((key, _canonical(item)) for key, item in sorted(value.items()))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float, Decimal)):
        return str(Decimal(str(value)).normalize())
    if isinstance(value, str):
        try:
            return str(Decimal(value).normalize())
        except ArithmeticError:
            return value
    return str(jsonable(value))


async def _run_insert(conn: Conn, plan: _InsertPlan) -> InsertResult:
    stored: list[Any] = []
    keys = plan.info.primary_key
    for statement, params in plan.statements:
        cursor = await conn.execute(statement, params)
        for row in await cursor.fetchall():
            if not keys:
                stored.append(None)
            elif len(keys) == 1:
                stored.append(row[keys[0]])
            else:
                stored.append({key: row[key] for key in keys})
    unclaimed = Counter(_canonical(value) for value in stored if value is not None)
    duplicate_ids: list[Any] = []
    for record_id in plan.record_ids:
        if record_id is None:
            continue
        key = _canonical(record_id)
        if unclaimed[key] > 0:
            unclaimed[key] -= 1
        else:
            duplicate_ids.append(jsonable(record_id))
    inserted = len(stored)
    return InsertResult(
        inserted_count=inserted,
        inserted_ids=[jsonable(value) for value in stored if value is not None],
        duplicates=len(plan.record_ids) - inserted,
        duplicate_ids=duplicate_ids,
    )


async def _run_update(conn: Conn, plan: _UpdatePlan) -> UpdateResult:
    table = ident(plan.info.name)
    where = plan.where
    counted = await (
        await conn.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(table, where.sql),
            where.params,
        )
    ).fetchone()
    matched = int(counted["n"]) if counted else 0
    if matched == 0 and plan.upsert is not None:
        inserted = await _run_insert(conn, plan.upsert)
        if inserted.inserted_count == 0:
            raise Conflict(
                "upsert matched no row, and inserting one conflicts with an existing row "
                "(same primary key or unique value)"
            )
        upserted_id = inserted.inserted_ids[0] if inserted.inserted_ids else None
        return UpdateResult(
            matched_count=0, modified_count=0, upserted_count=1, upserted_id=upserted_id
        )
    if matched == 0:
        return UpdateResult(matched_count=0, modified_count=0)
    # Mongo counts a row as modified only if a value really changed; so do we.
    params: list[Any] = [value for _, value in plan.assignments]
    params += where.params
    changes: list[sql.Composable] = []
    for column, value in plan.assignments:
        params.append(value)
        if plan.info.columns[column] == "json":  # json has no equality operator; jsonb has
            changes.append(sql.SQL("{}::jsonb IS DISTINCT FROM %s").format(ident(column)))
        else:
            changes.append(sql.SQL("{} IS DISTINCT FROM %s").format(ident(column)))
    statement = sql.SQL("UPDATE {} SET {} WHERE {} AND ({})").format(
        table,
        sql.SQL(", ").join(
            sql.SQL("{} = %s").format(ident(column)) for column, _ in plan.assignments
        ),
        where.sql,
        sql.SQL(" OR ").join(changes),
    )
    cursor = await conn.execute(statement, params)
    return UpdateResult(matched_count=matched, modified_count=max(cursor.rowcount, 0))


async def _run_delete(conn: Conn, plan: _DeletePlan) -> DeleteResult:
    statement = sql.SQL("DELETE FROM {} WHERE {}").format(ident(plan.info.name), plan.where.sql)
    cursor = await conn.execute(statement, plan.where.params)
    return DeleteResult(deleted_count=max(cursor.rowcount, 0))


# ---------------------------------------------------------------------------------------------
# Writes


async def insert_records(
    *, pool: PgPool, table: str, records: list[dict[str, Any]]
) -> InsertResult:
    """Insert ``records`` in one transaction; rows whose key already exists are skipped.

    Skipped rows (primary key or another unique constraint) are counted in ``duplicates``;
    ``duplicate_ids`` lists the primary keys the skipped records carried. Nothing is stored
    twice.
    """
    _writable(table)
    async with pool.connection() as conn:
        plan = await _planned(conn, table, lambda info: _plan_insert(info, records))
        if not plan.record_ids:
            return InsertResult(inserted_count=0)
        with _pg_errors(conn, table):
            async with conn.transaction():
                return await _run_insert(conn, plan)


async def update_records(
    *,
    pool: PgPool,
    table: str,
    filter: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    upsert: bool = False,
) -> UpdateResult:
    """Set ``data`` (plain fields, or ``{"$set": {...}}``) on the rows matching ``filter``.

    An empty filter is refused. ``modified_count`` counts rows whose values really changed.
    With ``upsert`` and no match, one row made of the filter's equalities plus ``data`` is
    inserted (:class:`Conflict` if that row's key exists but did not match the filter).
    """
    _writable(table)
    async with pool.connection() as conn:
        plan = await _planned(
            conn, table, lambda info: _plan_update(info, filter, data, upsert=upsert)
        )
        with _pg_errors(conn, table):
            async with conn.transaction():
                return await _run_update(conn, plan)


async def delete_records(
    *, pool: PgPool, table: str, filter: Mapping[str, Any] | None
) -> DeleteResult:
    """Delete the rows matching ``filter`` (an empty filter is refused)."""
    _writable(table)
    async with pool.connection() as conn:
        plan = await _planned(conn, table, lambda info: _plan_delete(info, filter))
        with _pg_errors(conn, table):
            return await _run_delete(conn, plan)


# ---------------------------------------------------------------------------------------------
# Batch

_Plan = _InsertPlan | _UpdatePlan | _DeletePlan


def _plan_operation(info: TableInfo, operation: BatchOperation) -> _Plan:
    if operation.type == "insert":
        if operation.data is None:
            raise BadRequest("insert needs data (an object or a list of objects)")
        data = operation.data
        return _plan_insert(info, [data] if isinstance(data, dict) else data)
    if operation.type == "update":
        return _plan_update(info, operation.filter, operation.data, upsert=operation.upsert)
    return _plan_delete(info, operation.filter)


class _BatchFailed(Exception):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def _plan_batch(info: TableInfo, request: BatchRequest) -> list[_Plan]:
    plans: list[_Plan] = []
    for index, operation in enumerate(request.operations):
        try:
            plans.append(_plan_operation(info, operation))
        except UnknownColumn as exc:
            raise UnknownColumn(info.name, exc.column, context=f"operation {index}") from None
        except BadRequest as exc:
            raise BadRequest(f"operation {index} ({operation.type}): {exc.detail}") from None
    return plans


async def _run_plan(conn: Conn, index: int, plan: _Plan) -> BatchOperationResult:
    kind: Literal["insert", "update", "delete"]
    if isinstance(plan, _InsertPlan):
        inserted = await _run_insert(conn, plan)
        kind = "insert"
        return BatchOperationResult(
            index=index,
            type=kind,
            inserted_count=inserted.inserted_count,
            duplicates=inserted.duplicates,
        )
    if isinstance(plan, _UpdatePlan):
        updated = await _run_update(conn, plan)
        kind = "update"
        return BatchOperationResult(
            index=index,
            type=kind,
            matched_count=updated.matched_count,
            modified_count=updated.modified_count,
            upserted_count=updated.upserted_count,
        )
    deleted = await _run_delete(conn, plan)
    kind = "delete"
    return BatchOperationResult(index=index, type=kind, deleted_count=deleted.deleted_count)


async def run_batch(*, pool: PgPool, table: str, request: BatchRequest) -> BatchResult:
    """Apply the operations in order, in ONE transaction: all take effect or none does.

    Validation problems found before anything runs (unknown column, bad filter, empty
    filter on update/delete, missing data) raise :class:`BadRequest` naming the operation.
    A failure while running (PostgreSQL refuses a value, an upsert conflicts) rolls every
    operation back and returns ``success=False, completed=0, failed_at=<index>,
    error=<message>`` with no results. Connection problems propagate.
    """
    _writable(table)
    async with pool.connection() as conn:
        plans = await _planned(conn, table, lambda info: _plan_batch(info, request))
        results: list[BatchOperationResult] = []
        try:
            async with conn.transaction():
                for index, plan in enumerate(plans):
                    try:
                        results.append(await _run_plan(conn, index, plan))
                    except psycopg.Error as exc:
                        mapped = translate_pg_error(exc)
                        if mapped is None:
                            raise
                        raise _BatchFailed(index, mapped.detail) from exc
                    except GatewayError as exc:
                        raise _BatchFailed(index, exc.detail) from exc
        except _BatchFailed as failed:
            return BatchResult(
                atomic=True,
                success=False,
                completed=0,
                failed_at=failed.index,
                error=failed.message,
                results=[],
            )
    return BatchResult(atomic=True, success=True, completed=len(results), results=results)
