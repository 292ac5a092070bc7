"""The query language compiled to parameterised SQL, run on a real PostgreSQL; the catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_gateway.errors import BadRequest, NotFound
from petrosa_gateway.store.language import parse_fields, parse_filter, parse_sort
from petrosa_gateway.store.pg_catalog import TableInfo, UnknownColumn, table_info
from petrosa_gateway.store.to_sql import adapt, order_by, select_list, where_clause
from psycopg import sql

pytestmark = pytest.mark.integration

ORDERS_DDL = """
CREATE TABLE orders (
    order_id   TEXT PRIMARY KEY,
    symbol     TEXT NOT NULL,
    side       TEXT NOT NULL,
    status     TEXT,
    quantity   NUMERIC NOT NULL,
    price      NUMERIC NOT NULL,
    details    JSONB,
    trade_day  DATE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ
)
"""
ORDERS = [
    ("o1", "BTCUSDT", "BUY", "NEW", 1, 50000, "2025-01-01", "2025-01-01T00:00:00Z"),
    ("o2", "BTCUSDT", "SELL", "FILLED", 2, 50100, "2025-01-02", "2025-01-02T00:00:00Z"),
    ("o3", "ETHUSDT", "BUY", "FILLED", 10, 3000, "2025-01-03", "2025-01-03T00:00:00Z"),
    ("o4", "ETHUSDT", "SELL", "CANCELED", 5, 3100, "2025-01-04", "2025-01-04T12:00:00Z"),
    ("o5", "SOLUSDT", "BUY", None, 100, 150, None, "2025-01-05T00:00:00Z"),
]
COLUMNS = TableInfo(name="orders", primary_key=("order_id",), columns={
    "order_id": "text",
    "symbol": "text",
    "side": "text",
    "status": "text",
    "quantity": "numeric",
    "price": "numeric",
    "details": "jsonb",
    "trade_day": "date",
    "created_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
})  # fmt: skip


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[PgPool]:
    pool = await create_pg_pool(postgres_url, min_size=1, max_size=4)
    await apply_migrations(pool)
    async with pool.connection() as conn:
        await conn.execute(ORDERS_DDL)
        for order_id, symbol, side, status, qty, price, day, created in ORDERS:
            await conn.execute(
                "INSERT INTO orders (order_id, symbol, side, status, quantity, price, details,"
                " trade_day, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                (order_id, symbol, side, status, qty, price, '{"k": 1}', day, created),
            )
    yield pool
    await pool.close()


async def matching(pool: PgPool, filter: dict[str, Any]) -> list[str]:
    async with pool.connection() as conn:
        info = await table_info(conn, "orders")
        where = where_clause(parse_filter(filter), info)
        query = sql.SQL("SELECT order_id FROM orders WHERE {} ORDER BY order_id").format(where.sql)
        cursor = await conn.execute(query, where.params)
        return [row["order_id"] for row in await cursor.fetchall()]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, ["o1", "o2", "o3", "o4", "o5"]),
        ({"symbol": "BTCUSDT"}, ["o1", "o2"]),
        ({"status": None}, ["o5"]),
        ({"symbol": "ETHUSDT", "side": "BUY"}, ["o3"]),
        ({"price": 3000}, ["o3"]),
        ({"price": 3000.0}, ["o3"]),
        ({"status": {"$eq": "FILLED"}}, ["o2", "o3"]),
        ({"status": {"$eq": None}}, ["o5"]),
        # $ne keeps Mongo's meaning: rows without a value match too
        ({"status": {"$ne": "FILLED"}}, ["o1", "o4", "o5"]),
        ({"status": {"$ne": None}}, ["o1", "o2", "o3", "o4"]),
        ({"quantity": {"$gt": 5}}, ["o3", "o5"]),
        ({"quantity": {"$gte": 5}}, ["o3", "o4", "o5"]),
        ({"quantity": {"$lt": 5}}, ["o1", "o2"]),
        ({"quantity": {"$lte": 5}}, ["o1", "o2", "o4"]),
        ({"quantity": {"$gt": 1, "$lt": 10}}, ["o2", "o4"]),
        ({"price": {"$gte": 150.0, "$lte": 3000}}, ["o3", "o5"]),
        ({"status": {"$in": ["NEW", "CANCELED"]}}, ["o1", "o4"]),
        ({"status": {"$in": ["NEW", None]}}, ["o1", "o5"]),
        ({"status": {"$in": []}}, []),
        ({"status": {"$nin": ["NEW", "CANCELED"]}}, ["o2", "o3", "o5"]),
        ({"status": {"$nin": ["NEW", None]}}, ["o2", "o3", "o4"]),
        ({"status": {"$nin": []}}, ["o1", "o2", "o3", "o4", "o5"]),
        ({"quantity": {"$in": [1, 2.0, 100]}}, ["o1", "o2", "o5"]),
        ({"status": {"$exists": True}}, ["o1", "o2", "o3", "o4"]),
        ({"status": {"$exists": False}}, ["o5"]),
        ({"$and": [{"symbol": "BTCUSDT"}, {"side": "SELL"}]}, ["o2"]),
        ({"$or": [{"symbol": "SOLUSDT"}, {"status": "CANCELED"}]}, ["o4", "o5"]),
        (
            {
                "$or": [
                    {"$and": [{"symbol": "BTCUSDT"}, {"quantity": {"$gte": 2}}]},
                    {"$and": [{"symbol": "ETHUSDT"}, {"$or": [{"side": "SELL"}, {"price": 1}]}]},
                ]
            },
            ["o2", "o4"],
        ),
        ({"symbol": "ETHUSDT", "$or": [{"side": "BUY"}, {"status": "CANCELED"}]}, ["o3", "o4"]),
        ({"$or": [{"symbol": "SOLUSDT"}, {}]}, ["o1", "o2", "o3", "o4", "o5"]),
        ({"details": {"$exists": True}}, ["o1", "o2", "o3", "o4", "o5"]),
        ({"updated_at": None}, ["o1", "o2", "o3", "o4", "o5"]),
    ],
)
async def test_every_operator_selects_the_right_rows(
    pool: PgPool, filter: dict[str, Any], expected: list[str]
) -> None:
    assert await matching(pool, filter) == expected


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"created_at": {"$gte": "2025-01-03"}}, ["o3", "o4", "o5"]),
        ({"created_at": {"$lt": "2025-01-02T00:00:00Z"}}, ["o1"]),
        # 12:00 UTC written with an offset: still the same instant
        ({"created_at": "2025-01-04T14:00:00+02:00"}, ["o4"]),
        ({"created_at": {"$gt": "2025-01-04T11:59:59.999Z", "$lt": "2025-01-05"}}, ["o4"]),
        ({"created_at": {"$in": ["2025-01-01", "2025-01-02T00:00:00Z"]}}, ["o1", "o2"]),
        ({"trade_day": {"$gte": "2025-01-03"}}, ["o3", "o4"]),
        ({"trade_day": "2025-01-02"}, ["o2"]),
        # on a text column an ISO-looking string is just text
        ({"order_id": "2025-01-01"}, []),
    ],
)
async def test_iso_strings_compare_as_dates(
    pool: PgPool, filter: dict[str, Any], expected: list[str]
) -> None:
    assert await matching(pool, filter) == expected


def test_dates_bind_by_column_type() -> None:
    moment = datetime(2025, 1, 1, 8, tzinfo=UTC)
    date_ = parse_filter({"t": "2025-01-01T10:00:00+02:00"}).terms[0].conditions[0].value  # type: ignore[union-attr]
    assert adapt(date_, "created_at", "timestamp with time zone") == moment
    assert adapt(date_, "naive", "timestamp without time zone") == moment.replace(tzinfo=None)
    assert adapt(date_, "order_id", "text") == "2025-01-01T10:00:00+02:00"
    assert adapt("2025-01-01", "trade_day", "date") == date(2025, 1, 1)
    assert adapt(42, "created_at", "timestamp with time zone") == 42  # PostgreSQL says why not
    with pytest.raises(BadRequest, match="takes ISO-8601 dates in the years 1970-9999"):
        adapt("infinity", "created_at", "timestamp with time zone")


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"nope": 1}, "unknown column 'nope' of table 'orders'"),
        ({"symbol; DROP TABLE orders": 1}, "unknown column"),
        ({"$or": [{"symbol": "x"}, {"colour": "red"}]}, "unknown column 'colour'"),
        ({"meta.source": 1}, "unknown column 'meta.source'"),
    ],
)
def test_fields_that_are_not_columns_are_refused_before_any_sql(
    filter: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnknownColumn) as refused:
        where_clause(parse_filter(filter), COLUMNS)
    assert refused.value.status == 400
    assert message in refused.value.detail


def test_values_only_travel_as_parameters() -> None:
    where = where_clause(
        parse_filter({"symbol": "x' OR '1'='1", "price": {"$in": [1, 2]}}), COLUMNS
    )
    text = where.sql.as_string(None)
    assert "OR '1'" not in text
    assert text.count("%s") == 3
    assert where.params == ("x' OR '1'='1", 1, 2)


def test_order_by_and_select_list_check_every_field() -> None:
    def ordered(spec: object) -> str:
        return order_by(parse_sort(spec), COLUMNS).as_string(None)

    assert ordered(None) == ' ORDER BY "order_id" ASC'
    assert ordered("-price,symbol") == (
        ' ORDER BY "price" DESC NULLS LAST, "symbol" ASC NULLS FIRST, "order_id" ASC'
    )
    assert ordered({"order_id": -1}) == ' ORDER BY "order_id" DESC NULLS LAST'
    assert order_by((), TableInfo("t", {"a": "text"}, ())).as_string(None) == ""
    assert select_list(None, COLUMNS).as_string(None) == "*"
    assert select_list(parse_fields("price,symbol,price"), COLUMNS).as_string(None) == (
        '"price", "symbol"'
    )
    with pytest.raises(UnknownColumn, match="price desc"):
        ordered({"price desc": 1})
    with pytest.raises(UnknownColumn):
        select_list(parse_fields(["*"]), COLUMNS)


async def test_table_info_reads_the_real_columns(pool: PgPool) -> None:
    async with pool.connection() as conn:
        info = await table_info(conn, "orders")
        assert info.columns == COLUMNS.columns
        assert info.primary_key == ("order_id",)
        audit = await table_info(conn, "audit_logs")
        assert audit.primary_key == ("id",)
        assert audit.columns["details"] == "jsonb"


@pytest.mark.parametrize(
    "table",
    [
        "nope",
        "orders; DROP TABLE orders --",
        'orders"',
        "public.orders",
        "pg_catalog.pg_authid",
        "pg_authid",
        "pg_class",
        "information_schema.tables",
        "tables",
        "orders--",
        "",
        "Orders",
    ],
)
async def test_unknown_or_odd_table_names_are_not_found(pool: PgPool, table: str) -> None:
    async with pool.connection() as conn:
        with pytest.raises(NotFound):
            await table_info(conn, table)


async def test_new_columns_are_seen_after_a_refresh(pool: PgPool) -> None:
    async with pool.connection() as conn:
        await table_info(conn, "orders")  # cached
        await conn.execute("ALTER TABLE orders ADD COLUMN venue TEXT")
        stale = await table_info(conn, "orders")
        assert "venue" not in stale.columns
        fresh = await table_info(conn, "orders", fresh=True)
        assert fresh.columns["venue"] == "text"
