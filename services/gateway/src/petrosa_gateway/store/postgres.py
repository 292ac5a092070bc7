"""The PostgreSQL store: generic CRUD on the tables of schema ``public`` (``mysql`` is an
alias of ``postgres``).

Beyond the shared rules (:mod:`.writes`): every field is a real column
(:class:`~.pg_catalog.UnknownColumn`, after one refresh of the cached columns) and every value
a bound parameter (:mod:`.to_sql`); ``schema_migrations`` and ``schemas`` are read-only. An
insert skips rows whose key exists (``ON CONFLICT DO NOTHING``: reported as duplicates). A
value PostgreSQL refuses (type, NOT NULL, CHECK, foreign key) is a 400 with its message; a
lost connection propagates (503). Every write, and every batch, is one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import psycopg
from petrosa_common.naming import SCHEMA_CONFIGS_COLLECTION, SCHEMAS_COLLECTION
from petrosa_common.postgres import PgPool
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import DictRow

from petrosa_gateway.errors import Conflict, GatewayError
from petrosa_gateway.store.encoding import utc_values
from petrosa_gateway.store.language import Compare, Filter, Logical, ReadQuery
from petrosa_gateway.store.models import (
    BatchOperationResult,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListResult,
    UpdateResult,
)
from petrosa_gateway.store.pg_catalog import (
    TableInfo,
    UnknownColumn,
    forget_table,
    ident,
    table_info,
    translate_pg_error,
)
from petrosa_gateway.store.to_sql import SqlFragment, adapt, order_by, select_list, where_clause
from petrosa_gateway.store.writes import (
    Delete,
    Insert,
    StoreName,
    Update,
    Write,
    ensure_writable,
    in_operation,
)

Conn = AsyncConnection[DictRow]
T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Rows:
    """Rows to insert that name the same columns: one statement, one parameter set each."""

    statement: sql.Composed
    rows: tuple[tuple[int, tuple[Any, ...]], ...]  # (record index, values in column order)


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    table: TableInfo
    groups: tuple[_Rows, ...]
    keys: tuple[Any, ...]  # the primary key each record carries (None when it carries none)


@dataclass(frozen=True, slots=True)
class _UpdatePlan:
    table: TableInfo
    where: SqlFragment
    assignments: tuple[tuple[str, Any], ...]  # (column, bound value)
    upsert: _InsertPlan | None


@dataclass(frozen=True, slots=True)
class _DeletePlan:
    table: TableInfo
    where: SqlFragment


_Plan = _InsertPlan | _UpdatePlan | _DeletePlan
READ_ONLY: Final = frozenset({"schema_migrations", SCHEMAS_COLLECTION, SCHEMA_CONFIGS_COLLECTION})


class PostgresStore:
    """CRUD on the tables reachable through ``pool``."""

    name: StoreName = "postgres"
    read_only: frozenset[str] = READ_ONLY

    def __init__(self, pool: PgPool) -> None:
        self.pool = pool

    async def list(self, *, collection: str, query: ReadQuery) -> ListResult:
        """Counted and read in one snapshot; ordered by the sort, then the primary key."""
        async with self.pool.connection() as conn:

            def build(table: TableInfo) -> tuple[sql.Composed, sql.Composed, tuple[Any, ...]]:
                where, name = where_clause(query.filter, table), ident(table.name)
                return (
                    sql.SQL("SELECT count(*) AS total FROM {} WHERE {}").format(name, where.sql),
                    sql.SQL("SELECT {} FROM {} WHERE {}{} LIMIT %s OFFSET %s").format(
                        select_list(query.fields, table),
                        name,
                        where.sql,
                        order_by(query.sort, table),
                    ),
                    where.params,
                )

            count, page, params = await _planned(conn, collection, build)
            async with _pg_errors(conn, collection), conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                counted = await (await conn.execute(count, params)).fetchone()
                total = int(counted["total"]) if counted else 0
                rows: list[DictRow] = []
                if query.offset < total:
                    cursor = await conn.execute(page, (*params, query.limit, query.offset))
                    rows = await cursor.fetchall()
        data = [utc_values(row) for row in rows]
        return ListResult.page(data, total=total, limit=query.limit, offset=query.offset)

    async def insert(self, *, collection: str, write: Insert) -> InsertResult:
        return await self._write(collection, lambda table: _plan_insert(table, write), _run_insert)

    async def update(self, *, collection: str, write: Update) -> UpdateResult:
        """``modified_count`` counts rows whose values really changed. An upsert with no match
        inserts the filter's equalities plus the changes (:class:`Conflict` if that row's key
        exists but did not match the filter)."""
        return await self._write(collection, lambda table: _plan_update(table, write), _run_update)

    async def delete(self, *, collection: str, write: Delete) -> DeleteResult:
        return await self._write(collection, lambda table: _plan_delete(table, write), _run_delete)

    async def _write(
        self,
        collection: str,
        plan: Callable[[TableInfo], P],
        run: Callable[[Conn, P], Awaitable[R]],
    ) -> R:
        """Plan against the table's columns, then run in one transaction."""
        ensure_writable(collection, self.read_only)
        async with self.pool.connection() as conn:
            planned = await _planned(conn, collection, plan)
            async with _pg_errors(conn, collection), conn.transaction():
                return await run(conn, planned)

    async def batch(self, *, collection: str, writes: Sequence[Write]) -> BatchResult:
        """All in one transaction: a failure while running rolls every operation back and is
        answered as ``success=False, failed_at, error`` with no results."""
        ensure_writable(collection, self.read_only)
        async with self.pool.connection() as conn:
            plans = await _planned(conn, collection, lambda table: _plan_batch(table, writes))
            results: list[BatchOperationResult] = []
            failed_at = 0
            try:
                async with conn.transaction():
                    for index, plan in enumerate(plans):
                        failed_at = index
                        results.append(BatchOperationResult.of(index, await _run(conn, plan)))
            except (psycopg.Error, GatewayError) as exc:
                mapped = translate_pg_error(exc) if isinstance(exc, psycopg.Error) else exc
                if mapped is None:
                    raise
                return BatchResult(
                    atomic=True,
                    success=False,
                    completed=0,
                    failed_at=failed_at,
                    error=mapped.detail,
                    results=[],
                )
        return BatchResult(atomic=True, success=True, completed=len(results), results=results)


async def _planned(conn: Conn, table: str, build: Callable[[TableInfo], T]) -> T:
    """``build(columns)``, reloading the columns once if it names an unknown one (a column
    added since they were cached)."""
    try:
        return build(await table_info(conn, table))
    except UnknownColumn:
        return build(await table_info(conn, table, fresh=True))


@contextlib.asynccontextmanager
async def _pg_errors(conn: Conn, table: str) -> AsyncIterator[None]:
    """Errors the request caused as gateway errors (:func:`~.pg_catalog.translate_pg_error`)."""
    try:
        yield
    except psycopg.Error as exc:
        if isinstance(exc, errors.UndefinedTable | errors.UndefinedColumn):
            forget_table(conn, table)
        mapped = translate_pg_error(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _plan_batch(table: TableInfo, writes: Sequence[Write]) -> list[_Plan]:
    plans: list[_Plan] = []
    for index, write in enumerate(writes):
        with in_operation(index, write.kind):
            if isinstance(write, Insert):
                plans.append(_plan_insert(table, write))
            else:
                plans.append(_plan_update(table, write) if isinstance(write, Update)
                             else _plan_delete(table, write))  # fmt: skip
    return plans


def _plan_insert(table: TableInfo, write: Insert) -> _InsertPlan:
    records = write.records
    groups: dict[tuple[str, ...], list[tuple[int, tuple[Any, ...]]]] = {}
    for index, record in enumerate(records):
        columns = tuple(table.require(key) for key in record)
        values = tuple(adapt(record[c], c, table.columns[c]) for c in columns)
        groups.setdefault(columns, []).append((index, values))
    returning = (
        sql.SQL(", ").join(map(ident, table.primary_key)) if table.primary_key else sql.SQL("NULL")
    )
    statements = []
    for columns, rows in groups.items():
        target = sql.SQL("({}) VALUES ({})").format(
            sql.SQL(", ").join(map(ident, columns)),
            sql.SQL(", ").join([sql.Placeholder()] * len(columns)),
        )
        statement = sql.SQL("INSERT INTO {} {} ON CONFLICT DO NOTHING RETURNING {}").format(
            ident(table.name), target if columns else sql.SQL("DEFAULT VALUES"), returning
        )
        statements.append(_Rows(statement, tuple(rows)))
    keys = tuple(_primary_key(table.primary_key, record) for record in records)
    return _InsertPlan(table, tuple(statements), keys)


def _primary_key(keys: tuple[str, ...], values: Mapping[str, Any]) -> Any:
    """The primary key in ``values`` (a dict for a composite key); ``None`` if it has none."""
    if not keys or any(values.get(key) is None for key in keys):
        return None
    return values[keys[0]] if len(keys) == 1 else {key: values[key] for key in keys}


def _plan_update(table: TableInfo, write: Update) -> _UpdatePlan:
    assignments = tuple(
        (table.require(path), adapt(value, path, table.columns[path]))
        for path, value in write.changes.items()
    )
    upsert = None
    if write.upsert:
        upsert = _plan_insert(table, Insert(({**_equalities(write.filter), **write.changes},)))
    return _UpdatePlan(table, where_clause(write.filter, table), assignments, upsert)


def _equalities(filter: Filter) -> dict[str, Any]:
    """The ``field = value`` facts a filter states (top level and inside ``$and``)."""
    found: dict[str, Any] = {}
    for term in filter.terms:
        if isinstance(term, Logical):
            if term.operator == "$and":
                for clause in term.clauses:
                    found.update(_equalities(clause))
            continue
        for condition in term.conditions:
            if isinstance(condition, Compare) and condition.operator == "$eq":
                found[term.path] = condition.value
    return found


def _plan_delete(table: TableInfo, write: Delete) -> _DeletePlan:
    return _DeletePlan(table, where_clause(write.filter, table))


async def _run(conn: Conn, plan: _Plan) -> InsertResult | UpdateResult | DeleteResult:
    if isinstance(plan, _InsertPlan):
        return await _run_insert(conn, plan)
    if isinstance(plan, _UpdatePlan):
        return await _run_update(conn, plan)
    return await _run_delete(conn, plan)


async def _run_insert(conn: Conn, plan: _InsertPlan) -> InsertResult:
    stored: dict[int, Any] = {}  # record index -> the key PostgreSQL returned
    primary_key = plan.table.primary_key
    for group in plan.groups:
        async with conn.cursor() as cursor:
            await cursor.executemany(group.statement, [v for _, v in group.rows], returning=True)
            indices = iter(index for index, _ in group.rows)
            async for result in cursor.results():
                index, row = next(indices), await result.fetchone()
                if row is not None:
                    stored[index] = _primary_key(primary_key, row)
    inserted = sorted(stored)
    duplicates = [i for i in range(len(plan.keys)) if i not in stored]
    return InsertResult(
        inserted_count=len(inserted),
        inserted_ids=[stored[i] for i in inserted if stored[i] is not None],
        duplicates=len(duplicates),
        duplicate_ids=[plan.keys[i] for i in duplicates if plan.keys[i] is not None],
    )


async def _run_update(conn: Conn, plan: _UpdatePlan) -> UpdateResult:
    table, where = ident(plan.table.name), plan.where
    count = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(table, where.sql)
    matched = int((await (await conn.execute(count, where.params)).fetchone() or {"n": 0})["n"])
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
    # MongoDB counts a row as modified only when a value really changed; so do we.
    changed = [
        # json has no equality operator (jsonb has one)
        sql.SQL(
            "{}::jsonb IS DISTINCT FROM %s" if kind == "json" else "{} IS DISTINCT FROM %s"
        ).format(ident(column))
        for column, kind in ((c, plan.table.columns[c]) for c, _ in plan.assignments)
    ]
    statement = sql.SQL("UPDATE {} SET {} WHERE {} AND ({})").format(
        table,
        sql.SQL(", ").join(sql.SQL("{} = %s").format(ident(c)) for c, _ in plan.assignments),
        where.sql,
        sql.SQL(" OR ").join(changed),
    )
    values = [value for _, value in plan.assignments]
    cursor = await conn.execute(statement, [*values, *where.params, *values])
    return UpdateResult(matched_count=matched, modified_count=max(cursor.rowcount, 0))


async def _run_delete(conn: Conn, plan: _DeletePlan) -> DeleteResult:
    statement = sql.SQL("DELETE FROM {} WHERE {}").format(ident(plan.table.name), plan.where.sql)
    cursor = await conn.execute(statement, plan.where.params)
    return DeleteResult(deleted_count=max(cursor.rowcount, 0))
