"""The PostgreSQL store on real tables: reads, writes, batches, refusals and injection. Writes
go through the shared rules first, as the routes send them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_gateway.errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound
from petrosa_gateway.store.encoding import dumps
from petrosa_gateway.store.models import BatchOperation, BatchRequest
from petrosa_gateway.store.postgres import PostgresStore

from .store_verbs import (
    delete_records,
    insert_records,
    list_records,
    query,
    run_batch,
    update_records,
)

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
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ
)
"""
SEED: list[dict[str, Any]] = [
    {"order_id": "o1", "symbol": "BTCUSDT", "side": "BUY", "status": "NEW", "quantity": 1,
     "price": 50000, "created_at": "2025-01-01T00:00:00Z"},
    {"order_id": "o2", "symbol": "BTCUSDT", "side": "SELL", "status": "FILLED", "quantity": 2,
     "price": 50100.5, "created_at": "2025-01-02T00:00:00Z"},
    {"order_id": "o3", "symbol": "ETHUSDT", "side": "BUY", "status": "FILLED", "quantity": 10,
     "price": 3000, "created_at": "2025-01-03T00:00:00Z"},
    {"order_id": "o4", "symbol": "ETHUSDT", "side": "SELL", "status": "CANCELED", "quantity": 5,
     "price": 3100, "created_at": "2025-01-04T00:00:00Z"},
    {"order_id": "o5", "symbol": "SOLUSDT", "side": "BUY", "status": None, "quantity": 100,
     "price": 150, "created_at": "2025-01-05T00:00:00Z"},
    {"order_id": "o6", "symbol": "BNBUSDT", "side": "BUY", "status": "NEW", "quantity": 3,
     "price": 600, "created_at": "2025-01-06T00:00:00Z", "details": {"note": "x' OR '1'='1"}},
]  # fmt: skip


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[PgPool]:
    pool = await create_pg_pool(postgres_url, min_size=1, max_size=4)
    await apply_migrations(pool)
    async with pool.connection() as conn:
        await conn.execute(ORDERS_DDL)
    result = await insert_records(
        PostgresStore(pool), collection="orders", records=[dict(r) for r in SEED]
    )
    assert result.inserted_count == len(SEED)
    yield pool
    await pool.close()


async def orders(pool: PgPool) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM orders ORDER BY order_id")
        return list(await cursor.fetchall())


async def public_tables(pool: PgPool) -> list[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " ORDER BY relname"
        )
        return [row["relname"] for row in await cursor.fetchall()]


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["order_id"] for row in rows]


# --------------------------------------------------------------------------------------------
# Reads


async def test_rows_are_encoded_like_every_reply(pool: PgPool) -> None:
    page = await list_records(
        PostgresStore(pool),
        collection="orders",
        query=query(filter={"order_id": {"$in": ["o2", "o6"]}}),
    )
    first, second = orjson.loads(dumps(page))["data"]
    assert first["created_at"] == "2025-01-02T00:00:00Z"
    assert first["price"] == 50100.5
    assert isinstance(first["quantity"], float)
    assert first["updated_at"] is None
    assert second["details"] == {"note": "x' OR '1'='1"}


async def test_sort_projection_and_default_primary_key_order(pool: PgPool) -> None:
    page = await list_records(PostgresStore(pool), collection="orders", query=query())
    assert ids(page.data) == ["o1", "o2", "o3", "o4", "o5", "o6"]
    page = await list_records(
        PostgresStore(pool),
        collection="orders",
        query=query(sort=[("symbol", 1), ("price", -1)], fields=["order_id", "price"]),
    )
    assert ids(page.data) == ["o6", "o2", "o1", "o4", "o3", "o5"]
    assert all(set(row) == {"order_id", "price"} for row in page.data)
    page = await list_records(
        PostgresStore(pool),
        collection="orders",
        query=query(sort=[("status", -1)], fields=["order_id"]),
    )
    # ties (NEW, FILLED) are broken by the primary key; NULL sorts as MongoDB sorts a missing
    # value: last descending (first ascending)
    assert ids(page.data) == ["o1", "o6", "o2", "o3", "o4", "o5"]


@pytest.mark.parametrize(
    ("limit", "offset", "expected_ids", "page", "pages", "has_next", "has_previous"),
    [
        (2, 0, ["o1", "o2"], 1, 3, True, False),
        (2, 2, ["o3", "o4"], 2, 3, True, True),
        (2, 4, ["o5", "o6"], 3, 3, False, True),
        (4, 4, ["o5", "o6"], 2, 2, False, True),
        (2, 10, [], 6, 3, False, True),
        (1, 0, ["o1"], 1, 6, True, False),
        (1, 5, ["o6"], 6, 6, False, True),
        (100, 0, ["o1", "o2", "o3", "o4", "o5", "o6"], 1, 1, False, False),
    ],
)
async def test_pagination_edges(
    pool: PgPool,
    limit: int,
    offset: int,
    expected_ids: list[str],
    page: int,
    pages: int,
    has_next: bool,
    has_previous: bool,
) -> None:
    result = await list_records(
        PostgresStore(pool), collection="orders", query=query(limit=limit, offset=offset)
    )
    assert ids(result.data) == expected_ids
    p = result.pagination
    assert (p.total, p.limit, p.offset) == (6, limit, offset)
    assert (p.page, p.pages, p.has_next, p.has_previous) == (page, pages, has_next, has_previous)


async def test_total_counts_the_filter_not_the_page(pool: PgPool) -> None:
    result = await list_records(
        PostgresStore(pool),
        collection="orders",
        query=query(filter={"side": "BUY"}, limit=2, offset=0, sort=[("price", 1)]),
    )
    assert ids(result.data) == ["o5", "o6"]
    assert result.pagination.total == 4
    assert result.pagination.pages == 2
    empty = await list_records(
        PostgresStore(pool), collection="orders", query=query(filter={"side": "X"})
    )
    assert empty.data == []
    assert (empty.pagination.total, empty.pagination.pages) == (0, 0)
    assert not empty.pagination.has_next


async def test_iso_dates_filter_through_list(pool: PgPool) -> None:
    result = await list_records(
        PostgresStore(pool),
        collection="orders",
        query=query(filter={"created_at": {"$gte": "2025-01-03", "$lt": "2025-01-05T00:00Z"}}),
    )
    assert ids(result.data) == ["o3", "o4"]


async def test_read_only_tables_can_still_be_read(pool: PgPool) -> None:
    result = await list_records(PostgresStore(pool), collection="schema_migrations", query=query())
    assert result.pagination.total >= 2


async def test_unknown_table_is_not_found_and_unknown_column_a_bad_request(pool: PgPool) -> None:
    with pytest.raises(NotFound):
        await list_records(PostgresStore(pool), collection="nope", query=query())
    with pytest.raises(BadRequest, match="unknown column 'colour'"):
        await list_records(
            PostgresStore(pool), collection="orders", query=query(filter={"colour": "red"})
        )
    with pytest.raises(BadRequest, match="unknown column 'colour'"):
        await list_records(
            PostgresStore(pool), collection="orders", query=query(sort=[("colour", 1)])
        )
    with pytest.raises(BadRequest, match="unknown column 'colour'"):
        await list_records(PostgresStore(pool), collection="orders", query=query(fields=["colour"]))


async def test_a_column_added_later_is_found(pool: PgPool) -> None:
    await list_records(
        PostgresStore(pool), collection="orders", query=query()
    )  # caches the columns
    async with pool.connection() as conn:
        await conn.execute("ALTER TABLE orders ADD COLUMN venue TEXT DEFAULT 'binance'")
    result = await list_records(
        PostgresStore(pool), collection="orders", query=query(filter={"venue": "binance"}, limit=1)
    )
    assert result.pagination.total == 6


async def test_type_mismatch_in_a_filter_is_a_bad_request(pool: PgPool) -> None:
    with pytest.raises(BadRequest, match="numeric"):
        await list_records(
            PostgresStore(pool), collection="orders", query=query(filter={"price": "not a number"})
        )


# --------------------------------------------------------------------------------------------
# Insert


async def test_resent_rows_are_reported_as_duplicates_not_stored_twice(pool: PgPool) -> None:
    new = {"order_id": "o7", "symbol": "XRPUSDT", "side": "BUY", "quantity": 1, "price": 2}
    changed_o1 = {**SEED[0], "status": "CHANGED"}
    result = await insert_records(
        PostgresStore(pool), collection="orders", records=[changed_o1, new, new]
    )
    assert result.inserted_count == 1
    assert result.inserted_ids == ["o7"]
    assert result.duplicates == 2
    assert result.duplicate_ids == ["o1", "o7"]
    rows = await orders(pool)
    assert ids(rows) == ["o1", "o2", "o3", "o4", "o5", "o6", "o7"]
    assert rows[0]["status"] == "NEW"  # the duplicate did not overwrite
    again = await insert_records(PostgresStore(pool), collection="orders", records=[new])
    assert (again.inserted_count, again.duplicates, again.duplicate_ids) == (0, 1, ["o7"])


async def test_insert_uses_defaults_and_serial_keys(pool: PgPool) -> None:
    result = await insert_records(
        PostgresStore(pool),
        collection="audit_logs",
        records=[
            {"check_type": "gap", "message": "m1", "details": {"gaps": [1, 2]}},
            {"check_type": "gap", "message": "m2", "timestamp": "2025-01-01T00:00:00Z"},
        ],
    )
    assert result.inserted_count == 2
    assert result.inserted_ids == [1, 2]
    page = await list_records(PostgresStore(pool), collection="audit_logs", query=query())
    first, second = orjson.loads(dumps(page))["data"]
    assert first["details"] == {"gaps": [1, 2]}
    assert first["severity"] == "info"
    assert second["timestamp"] == "2025-01-01T00:00:00Z"
    assert second["details"] == {}


async def test_insert_of_an_unknown_column_is_refused_and_stores_nothing(pool: PgPool) -> None:
    with pytest.raises(BadRequest, match="unknown column 'colour'"):
        await insert_records(PostgresStore(pool), collection="orders",
            records=[
                {"order_id": "o8", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1},
                {"order_id": "o9", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1,
                 "colour": "red"},
            ],
        )  # fmt: skip
    assert len(await orders(pool)) == 6


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"quantity": "abc"}, "invalid input syntax for type numeric"),
        ({"symbol": None}, 'null value in column "symbol"'),
        ({"created_at": "yesterday-ish"}, "takes ISO-8601 dates in the years 1970-9999"),
        ({"created_at": "infinity"}, "takes ISO-8601 dates in the years 1970-9999"),
        ({"symbol": {"a": 1}}, "cannot hold an object"),
    ],
)
async def test_values_postgresql_refuses_are_bad_requests(
    pool: PgPool, record: dict[str, Any], message: str
) -> None:
    base = {"order_id": "o8", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1}
    with pytest.raises(BadRequest, match=message):
        await insert_records(PostgresStore(pool), collection="orders", records=[{**base, **record}])
    assert len(await orders(pool)) == 6


async def test_many_rows_are_inserted_in_chunks(pool: PgPool) -> None:
    records = [
        {"order_id": f"bulk{i:05d}", "symbol": "BTCUSDT", "side": "BUY", "quantity": i,
         "price": 1.5}
        for i in range(2_500)
    ]  # fmt: skip
    result = await insert_records(PostgresStore(pool), collection="orders", records=records)
    assert (result.inserted_count, result.duplicates) == (2_500, 0)
    total = await list_records(
        PostgresStore(pool), collection="orders", query=query(filter={"price": 1.5}, limit=1)
    )
    assert total.pagination.total == 2_500


# --------------------------------------------------------------------------------------------
# Update and delete


async def test_update_changes_matching_rows_and_counts_real_modifications(pool: PgPool) -> None:
    result = await update_records(
        PostgresStore(pool),
        collection="orders",
        filter={"order_id": "o1"},
        data={"status": "FILLED", "updated_at": "2025-01-01T12:00:00Z"},
    )
    assert (result.matched_count, result.modified_count, result.upserted_count) == (1, 1, 0)
    row = (await orders(pool))[0]
    assert row["status"] == "FILLED"
    assert row["updated_at"].isoformat() == "2025-01-01T12:00:00+00:00"
    same = await update_records(
        PostgresStore(pool),
        collection="orders",
        filter={"status": "FILLED"},
        data={"$set": {"side": "SELL"}},
    )
    assert (same.matched_count, same.modified_count) == (3, 2)  # o2 was already SELL
    none = await update_records(
        PostgresStore(pool),
        collection="orders",
        filter={"order_id": "missing"},
        data={"status": "X"},
    )
    assert (none.matched_count, none.modified_count, none.upserted_id) == (0, 0, None)


async def test_upsert_inserts_filter_equalities_plus_data(pool: PgPool) -> None:
    result = await update_records(
        PostgresStore(pool),
        collection="orders",
        filter={"order_id": "o9", "symbol": {"$eq": "ADAUSDT"}},
        data={"side": "BUY", "quantity": 7, "price": 0.5},
        upsert=True,
    )
    assert (result.matched_count, result.upserted_count, result.upserted_id) == (0, 1, "o9")
    row = (await orders(pool))[-1]
    assert (row["order_id"], row["symbol"], row["side"], float(row["quantity"])) == (
        "o9",
        "ADAUSDT",
        "BUY",
        7.0,
    )
    matched = await update_records(
        PostgresStore(pool),
        collection="orders",
        filter={"order_id": "o9"},
        data={"quantity": 8},
        upsert=True,
    )
    assert (matched.matched_count, matched.modified_count, matched.upserted_count) == (1, 1, 0)
    with pytest.raises(Conflict):
        await update_records(
            PostgresStore(pool),
            collection="orders",
            filter={"order_id": "o1", "status": "NOT-THIS"},
            data={"symbol": "A", "side": "BUY", "quantity": 1, "price": 1},
            upsert=True,
        )


async def test_update_refuses_empty_filters_and_bad_data(pool: PgPool) -> None:
    before = await orders(pool)
    empty_filters: list[dict[str, Any] | None] = [None, {}]
    for filter in empty_filters:
        with pytest.raises(BadRequest, match="non-empty filter"):
            await update_records(
                PostgresStore(pool), collection="orders", filter=filter, data={"status": "X"}
            )
    with pytest.raises(BadRequest, match="non-empty JSON object"):
        await update_records(
            PostgresStore(pool), collection="orders", filter={"order_id": "o1"}, data={}
        )
    with pytest.raises(BadRequest, match=r"\$set"):
        await update_records(
            PostgresStore(pool),
            collection="orders",
            filter={"order_id": "o1"},
            data={"$inc": {"price": 1}},
        )
    with pytest.raises(BadRequest, match="unknown column 'colour'"):
        await update_records(
            PostgresStore(pool),
            collection="orders",
            filter={"order_id": "o1"},
            data={"colour": "red"},
        )
    with pytest.raises(BadRequest, match="numeric"):
        await update_records(
            PostgresStore(pool),
            collection="orders",
            filter={"order_id": "o1"},
            data={"price": "free"},
        )
    assert await orders(pool) == before


async def test_delete_removes_matching_rows_and_refuses_empty_filters(pool: PgPool) -> None:
    empty_filters: list[dict[str, Any] | None] = [None, {}]
    for filter in empty_filters:
        with pytest.raises(BadRequest, match="non-empty filter"):
            await delete_records(PostgresStore(pool), collection="orders", filter=filter)
    assert len(await orders(pool)) == 6
    result = await delete_records(
        PostgresStore(pool), collection="orders", filter={"symbol": "ETHUSDT"}
    )
    assert result.deleted_count == 2
    assert ids(await orders(pool)) == ["o1", "o2", "o5", "o6"]
    result = await delete_records(PostgresStore(pool), collection="orders", filter={"status": None})
    assert result.deleted_count == 1
    assert ids(await orders(pool)) == ["o1", "o2", "o6"]


@pytest.mark.parametrize("table", ["schema_migrations", "schemas"])
async def test_read_only_tables_refuse_every_write(pool: PgPool, table: str) -> None:
    with pytest.raises(Forbidden):
        await insert_records(
            PostgresStore(pool), collection=table, records=[{"name": "9999_evil.sql"}]
        )
    with pytest.raises(Forbidden):
        await update_records(
            PostgresStore(pool), collection=table, filter={"name": "x"}, data={"name": "y"}
        )
    with pytest.raises(Forbidden):
        await delete_records(
            PostgresStore(pool), collection=table, filter={"name": {"$exists": True}}
        )
    with pytest.raises(Forbidden):
        await run_batch(
            PostgresStore(pool),
            collection=table,
            request=BatchRequest(operations=[BatchOperation(type="delete", filter={"name": "x"})]),
        )
    migrations = await list_records(
        PostgresStore(pool), collection="schema_migrations", query=query()
    )
    assert migrations.pagination.total >= 2


async def test_writes_to_unknown_tables_are_not_found(pool: PgPool) -> None:
    with pytest.raises(NotFound):
        await insert_records(PostgresStore(pool), collection="nope", records=[{"a": 1}])
    with pytest.raises(NotFound):
        await delete_records(
            PostgresStore(pool), collection="pg_authid", filter={"rolname": "postgres"}
        )


# --------------------------------------------------------------------------------------------
# Batch


async def test_batch_applies_everything_in_order(pool: PgPool) -> None:
    request = BatchRequest(
        operations=[
            BatchOperation(
                type="insert",
                data=[
                    {"order_id": "b1", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1},
                    {"order_id": "o1", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1},
                ],
            ),
            BatchOperation(type="update", filter={"order_id": "b1"}, data={"status": "FILLED"}),
            BatchOperation(type="delete", filter={"symbol": "ETHUSDT"}),
            BatchOperation(
                type="update",
                filter={"order_id": "b2"},
                data={"symbol": "B", "side": "SELL", "quantity": 2, "price": 2},
                upsert=True,
            ),
        ]
    )
    result = await run_batch(PostgresStore(pool), collection="orders", request=request)
    assert (result.atomic, result.success, result.completed, result.failed_at) == (
        True,
        True,
        4,
        None,
    )
    counts = [
        (r.index, r.type, r.inserted_count, r.duplicates, r.modified_count, r.deleted_count)
        for r in result.results
    ]
    assert counts == [
        (0, "insert", 1, 1, 0, 0),
        (1, "update", 0, 0, 1, 0),
        (2, "delete", 0, 0, 0, 2),
        (3, "update", 0, 0, 0, 0),
    ]
    assert result.results[3].upserted_count == 1
    rows = {row["order_id"]: row for row in await orders(pool)}
    assert sorted(rows) == ["b1", "b2", "o1", "o2", "o5", "o6"]
    assert rows["b1"]["status"] == "FILLED"


async def test_a_failing_third_operation_undoes_the_first_two(pool: PgPool) -> None:
    before = await orders(pool)
    request = BatchRequest(
        operations=[
            BatchOperation(
                type="insert",
                data={"order_id": "b1", "symbol": "A", "side": "BUY", "quantity": 1, "price": 1},
            ),
            BatchOperation(type="update", filter={"order_id": "o1"}, data={"status": "FILLED"}),
            BatchOperation(
                type="insert",
                data={"order_id": "b2", "symbol": "A", "side": "BUY", "quantity": "lots",
                      "price": 1},
            ),
            BatchOperation(type="delete", filter={"order_id": "o2"}),
        ]
    )  # fmt: skip
    result = await run_batch(PostgresStore(pool), collection="orders", request=request)
    assert (result.atomic, result.success, result.completed, result.failed_at) == (
        True,
        False,
        0,
        2,
    )
    assert result.error is not None
    assert "invalid input syntax for type numeric" in result.error
    assert result.results == []
    assert await orders(pool) == before


async def test_batch_validation_errors_are_raised_before_anything_runs(pool: PgPool) -> None:
    before = await orders(pool)
    bad_batches = [
        ([BatchOperation(type="delete", filter={})], "operation 0 \\(delete\\).*non-empty filter"),
        (
            [
                BatchOperation(type="delete", filter={"order_id": "o1"}),
                BatchOperation(type="update", filter={"order_id": "o2"}, data={"colour": "red"}),
            ],
            "operation 1 \\(update\\): unknown column 'colour'",
        ),
        (
            [
                BatchOperation(type="delete", filter={"order_id": "o1"}),
                BatchOperation(type="insert"),
            ],
            "operation 1 \\(insert\\): insert needs a record",
        ),
        (
            [
                BatchOperation(type="delete", filter={"order_id": "o1"}),
                BatchOperation(type="update", filter={"order_id": "o2"}),
            ],
            "operation 1 \\(update\\)",
        ),
    ]
    for operations, message in bad_batches:
        with pytest.raises(BadRequest, match=message):
            await run_batch(
                PostgresStore(pool),
                collection="orders",
                request=BatchRequest(operations=operations),
            )
    assert await orders(pool) == before


async def test_failed_upsert_in_a_batch_rolls_back(pool: PgPool) -> None:
    before = await orders(pool)
    request = BatchRequest(
        operations=[
            BatchOperation(type="delete", filter={"order_id": "o3"}),
            BatchOperation(
                type="update",
                filter={"order_id": "o1", "status": "NOT-THIS"},
                data={"symbol": "A", "side": "SELL", "quantity": 1, "price": 1},
                upsert=True,
            ),
        ]
    )
    result = await run_batch(PostgresStore(pool), collection="orders", request=request)
    assert (result.success, result.failed_at) == (False, 1)
    assert result.error is not None
    assert "conflicts" in result.error
    assert await orders(pool) == before


# --------------------------------------------------------------------------------------------
# Injection corpus: every attempt is refused or inert, and nothing changes

INJECTIONS: list[tuple[str, dict[str, Any]]] = [
    ("value-or-true", {"op": "list", "filter": {"symbol": "x' OR '1'='1"}, "empty": True}),
    ("value-drop", {"op": "list", "filter": {"symbol": "1; DROP TABLE orders"}, "empty": True}),
    ("value-comment", {"op": "list", "filter": {"order_id": "o1' --"}, "empty": True}),
    ("value-in", {"op": "list", "filter": {"order_id": {"$in": ["o1') OR ('1'='1"]}},
                  "empty": True}),
    ("value-numeric", {"op": "list", "filter": {"price": "0 OR 1=1"}, "error": BadRequest}),
    ("value-date", {"op": "list", "filter": {"created_at": "2025-01-01'; DROP TABLE orders;--"},
                    "error": BadRequest}),
    ("value-ne", {"op": "list", "filter": {"status": {"$ne": "x'; DELETE FROM orders; --"}}}),
    ("key-drop", {"op": "list", "filter": {"symbol = symbol; DROP TABLE orders; --": 1},
                  "error": BadRequest}),
    ("key-quote", {"op": "list", "filter": {'symbol" OR "1"="1': 1}, "error": BadRequest}),
    ("key-comment", {"op": "list", "filter": {"symbol/**/": 1}, "error": BadRequest}),
    ("key-nested", {"op": "list", "filter": {"$or": [{"1=1) OR (1": 1}]}, "error": BadRequest}),
    ("operator", {"op": "list", "filter": {"price": {"$gt; DROP TABLE orders": 1}},
                  "error": BadRequest}),
    ("sort-drop", {"op": "list", "sort": [("price; DROP TABLE orders --", 1)],
                   "error": BadRequest}),
    ("sort-expression", {"op": "list", "sort": [("(SELECT 1)", 1)], "error": BadRequest}),
    ("sort-case", {"op": "list", "sort": [("CASE WHEN 1=1 THEN price END", 1)],
                   "error": BadRequest}),
    ("fields-star", {"op": "list", "fields": ["*, pg_sleep(5)"], "error": BadRequest}),
    ("fields-subquery", {"op": "list", "fields": ["(SELECT passwd FROM pg_shadow)"],
                         "error": BadRequest}),
    ("fields-quote", {"op": "list", "fields": ['order_id", "price'], "error": BadRequest}),
    ("table-drop", {"op": "list", "table": "orders; DROP TABLE orders --", "error": NotFound}),
    ("table-quote", {"op": "list", "table": 'orders" --', "error": NotFound}),
    ("table-comment", {"op": "list", "table": "orders/**/", "error": NotFound}),
    ("table-catalog", {"op": "list", "table": "pg_catalog.pg_authid", "error": NotFound}),
    ("table-shadow", {"op": "list", "table": "pg_shadow", "error": NotFound}),
    ("table-schema", {"op": "list", "table": "information_schema.tables", "error": NotFound}),
    ("insert-key", {"op": "insert", "record": {"order_id": "i1", "symbol": "A", "side": "B",
                    "quantity": 1, "price": 1, "status) VALUES ('x'); DROP TABLE orders; --": 1},
                    "error": BadRequest}),
    ("insert-table", {"op": "insert", "table": "orders (order_id) VALUES ('z'); --",
                      "record": {"order_id": "z"}, "error": NotFound}),
    ("update-key", {"op": "update", "filter": {"order_id": "o1"},
                    "data": {"status = 'x', price = 0 --": 1}, "error": BadRequest}),
    ("update-filter-key", {"op": "update", "filter": {"1=1 OR order_id": "o1"},
                           "data": {"status": "x"}, "error": BadRequest}),
    ("delete-value", {"op": "delete", "filter": {"order_id": "x' OR '1'='1"}, "deleted": 0}),
    ("delete-key", {"op": "delete", "filter": {"order_id IS NOT NULL OR order_id": "x"},
                    "error": BadRequest}),
]  # fmt: skip


async def _attempt(pool: PgPool, attempt: dict[str, Any]) -> Any:
    table = attempt.get("table", "orders")
    if attempt["op"] == "list":
        read = query(
            filter=attempt.get("filter", {}),
            sort=attempt.get("sort", []),
            fields=attempt.get("fields"),
        )
        return await list_records(PostgresStore(pool), collection=table, query=read)
    if attempt["op"] == "insert":
        return await insert_records(
            PostgresStore(pool), collection=table, records=[attempt["record"]]
        )
    if attempt["op"] == "update":
        return await update_records(
            PostgresStore(pool), collection=table, filter=attempt["filter"], data=attempt["data"]
        )
    return await delete_records(PostgresStore(pool), collection=table, filter=attempt["filter"])


@pytest.mark.parametrize(("name", "attempt"), INJECTIONS, ids=[name for name, _ in INJECTIONS])
async def test_crud_injection_is_refused_or_inert(
    pool: PgPool, name: str, attempt: dict[str, Any]
) -> None:
    rows_before, tables_before = await orders(pool), await public_tables(pool)
    error = attempt.get("error")
    if error is not None:
        with pytest.raises(GatewayError) as caught:
            await _attempt(pool, attempt)
        assert isinstance(caught.value, error), caught.value
        assert caught.value.detail
    else:
        result = await _attempt(pool, attempt)
        if attempt.get("empty"):
            assert result.data == []
            assert result.pagination.total == 0
        if "deleted" in attempt:
            assert result.deleted_count == attempt["deleted"]
    assert await orders(pool) == rows_before
    assert await public_tables(pool) == tables_before
