"""The Mongo-style filter language compiled to parameterised SQL, run on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_gateway.errors import BadRequest, NotFound
from petrosa_gateway.queries.sql_filters import (
    UnknownColumn,
    coerce_iso,
    order_by,
    select_list,
    table_columns,
    table_info,
    where_clause,
)
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
COLUMNS = {
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
}


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
        where = where_clause(filter, info)
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
        ({"details": {"k": 1}}, ["o1", "o2", "o3", "o4", "o5"]),
        ({"details": {"k": 2}}, []),
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


def test_coerce_iso_gives_aware_utc_datetimes() -> None:
    assert coerce_iso("2025-01-01") == datetime(2025, 1, 1, tzinfo=UTC)
    assert coerce_iso("2025-01-01", as_date=True) == date(2025, 1, 1)
    assert coerce_iso("2025-01-01T10:00:00+02:00") == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert coerce_iso("2025-01-01T10:00:00Z") == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert coerce_iso("2025-01-01 10:00") == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert coerce_iso("BTCUSDT") == "BTCUSDT"
    assert coerce_iso(42) == 42
    with pytest.raises(BadRequest, match="looks like an ISO-8601 date but is not valid"):
        coerce_iso("2025-13-45")
    with pytest.raises(BadRequest, match="1970-9999"):
        coerce_iso("0001-01-01T00:01:00+04:00")


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"nope": 1}, "unknown column 'nope'"),
        ({"symbol; DROP TABLE orders": 1}, "unknown column"),
        ({"$where": "1"}, "unknown filter operator '\\$where'"),
        ({"$nor": [{"a": 1}]}, "unknown filter operator"),
        ({"price": {"$regex": "x"}}, "unknown filter operator '\\$regex'"),
        ({"price": {"$gt": 1, "plain": 2}}, "cannot mix operators"),
        ({"status": {"$in": "NEW"}}, "needs a list"),
        ({"status": {"$nin": {"a": 1}}}, "needs a list"),
        ({"status": {"$exists": 1}}, "needs true or false"),
        ({"status": {"$exists": "yes"}}, "needs true or false"),
        ({"price": {"$gt": None}}, "needs a scalar"),
        ({"price": {"$lt": [1]}}, "needs a scalar"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$and": ["symbol"]}, "must be JSON objects"),
        ({"symbol": {"nested": 1}}, "cannot hold an object"),
        ({"symbol": ["a", "b"]}, "cannot hold a list"),
        ({"created_at": {"$gte": "2025-02-30"}}, "looks like an ISO-8601 date but is not valid"),
        ({"created_at": {"$gte": "1969-12-31"}}, "1970-9999"),
        ({"symbol": "BTC\x00USDT"}, "NUL"),
        ({"symbol": {"$in": ["a\x1fb"]}}, "control characters"),
        ({"sym\x0fbol": 1}, "control characters"),
        ({"quantity": 2**63}, "64 bits"),
    ],
)
def test_bad_filters_are_refused_before_any_sql(filter: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        where_clause(filter, COLUMNS)


def test_unknown_column_is_a_bad_request_naming_it() -> None:
    with pytest.raises(UnknownColumn) as caught:
        where_clause({"$or": [{"symbol": "x"}, {"colour": "red"}]}, COLUMNS)
    assert caught.value.status == 400
    assert "colour" in caught.value.detail


def test_deep_nesting_is_refused() -> None:
    filter: dict[str, Any] = {"symbol": "x"}
    for _ in range(40):
        filter = {"$and": [filter]}
    with pytest.raises(BadRequest, match="nested deeper"):
        where_clause(filter, COLUMNS)


def test_values_only_travel_as_parameters() -> None:
    where = where_clause({"symbol": "x' OR '1'='1", "price": {"$in": [1, 2]}}, COLUMNS)
    text = where.sql.as_string(None)
    assert "OR '1'" not in text
    assert text.count("%s") == 3
    assert where.params == ["x' OR '1'='1", 1, 2]


def test_order_by_and_select_list_check_every_field() -> None:
    assert order_by([], COLUMNS).as_string(None) == ""
    assert (
        order_by([("price", -1), ("symbol", 1)], COLUMNS, tiebreak=("order_id",)).as_string(None)
        == ' ORDER BY "price" DESC, "symbol" ASC, "order_id" ASC'
    )
    assert order_by([("order_id", -1)], COLUMNS, tiebreak=("order_id",)).as_string(None) == (
        ' ORDER BY "order_id" DESC'
    )
    assert select_list(None, COLUMNS).as_string(None) == "*"
    assert select_list(["price", "symbol", "price"], COLUMNS).as_string(None) == (
        '"price", "symbol"'
    )
    with pytest.raises(UnknownColumn, match="price desc"):
        order_by([("price desc", 1)], COLUMNS)
    with pytest.raises(BadRequest, match="must be 1 or -1"):
        order_by([("price", 2)], COLUMNS)
    with pytest.raises(UnknownColumn):
        select_list(["*"], COLUMNS)
    with pytest.raises(BadRequest, match="non-empty list"):
        select_list([], COLUMNS)


async def test_table_columns_reads_the_real_columns(pool: PgPool) -> None:
    async with pool.connection() as conn:
        assert await table_columns(conn, "orders") == COLUMNS
        info = await table_info(conn, "orders")
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
            await table_columns(conn, table)


async def test_new_columns_are_seen_after_a_refresh(pool: PgPool) -> None:
    async with pool.connection() as conn:
        await table_info(conn, "orders")  # cached
        await conn.execute("ALTER TABLE orders ADD COLUMN venue TEXT")
        stale = await table_info(conn, "orders")
        assert "venue" not in stale.columns
        fresh = await table_info(conn, "orders", fresh=True)
        assert fresh.columns["venue"] == "text"
