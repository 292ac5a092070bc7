"""The MongoDB store on a real MongoDB-wire server (FerretDB here): reads, writes, batches,
refusals. Writes go through the shared rules first, as the routes send them."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bson import ObjectId
from petrosa_gateway.errors import BadRequest, Forbidden, GatewayError, NotFound
from petrosa_gateway.store.encoding import dumps
from petrosa_gateway.store.models import BatchOperation, BatchRequest
from petrosa_gateway.store.mongo import MongoStore
from petrosa_gateway.store.mongo_catalog import collection_name
from petrosa_gateway.store.mongo_writes import InsertFailed, insert_unordered, transactions_refused
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from .store_verbs import (
    delete_records,
    insert_records,
    list_records,
    query,
    run_batch,
    update_records,
)

Db = AsyncDatabase[dict[str, Any]]
JAN1 = datetime(2025, 1, 1, tzinfo=UTC)
JAN1_MS = 1_735_689_600_000


async def snapshot(db: Db) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection: what 'nothing changed' is compared against."""
    names = sorted(await db.list_collection_names())
    return {name: await db[name].find({}).sort("_id", 1).to_list() for name in names}


async def seed_trades(db: Db, count: int = 120) -> None:
    await db["trades_BTCUSDT"].insert_many(
        [
            {
                "_id": i,
                "symbol": "BTCUSDT",
                "price": 50_000 + i,
                "side": "BUY" if i % 2 else "SELL",
                "timestamp": JAN1 + timedelta(minutes=i),
            }
            for i in range(count)
        ]
    )


# --- reads -------------------------------------------------------------------------------


async def test_get_all_records_of_a_collection(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 3)
    page = await list_records(MongoStore(mongo_db), collection="trades_BTCUSDT", query=query())
    assert [doc["_id"] for doc in page.data] == [0, 1, 2]
    assert page.data[0]["timestamp"] == JAN1
    assert orjson.loads(dumps(page))["data"][0]["timestamp"] == "2025-01-01T00:00:00Z"
    assert page.pagination.total == 3


async def test_filter_sort_and_limit_like_the_seed_example(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 30)
    await mongo_db["trades_BTCUSDT"].insert_one({"_id": "eth", "symbol": "ETHUSDT", "price": 1})
    page = await list_records(
        MongoStore(mongo_db),
        collection="trades_BTCUSDT",
        query=query(filter={"symbol": "BTCUSDT"}, sort=[("timestamp", -1)], limit=10),
    )
    assert [doc["_id"] for doc in page.data] == list(range(29, 19, -1))
    assert page.pagination.total == 30
    assert page.pagination.has_next is True


@pytest.mark.parametrize(
    ("limit", "offset", "ids", "page", "pages", "has_next", "has_previous"),
    [
        (50, 100, list(range(100, 120)), 3, 3, False, True),
        (50, 0, list(range(50)), 1, 3, True, False),
        (50, 50, list(range(50, 100)), 2, 3, True, True),
        (50, 70, list(range(70, 120)), 2, 3, False, True),
        (50, 120, [], 3, 3, False, True),
        (50, 500, [], 11, 3, False, True),
        (1, 0, [0], 1, 120, True, False),
        (1, 119, [119], 120, 120, False, True),
        (120, 0, list(range(120)), 1, 1, False, False),
        (1000, 0, list(range(120)), 1, 1, False, False),
    ],
)
async def test_pagination_numbers_at_the_edges(
    mongo_db: Db,
    limit: int,
    offset: int,
    ids: list[int],
    page: int,
    pages: int,
    has_next: bool,
    has_previous: bool,
) -> None:
    await seed_trades(mongo_db, 120)
    result = await list_records(
        MongoStore(mongo_db), collection="trades_BTCUSDT", query=query(limit=limit, offset=offset)
    )
    assert [doc["_id"] for doc in result.data] == ids
    numbers = result.pagination
    assert (numbers.total, numbers.limit, numbers.offset) == (120, limit, offset)
    assert (numbers.page, numbers.pages) == (page, pages)
    assert (numbers.has_next, numbers.has_previous) == (has_next, has_previous)


async def test_pages_of_a_sort_with_ties_neither_overlap_nor_skip(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 45)
    seen: list[int] = []
    for offset in range(0, 45, 7):
        result = await list_records(
            MongoStore(mongo_db),
            collection="trades_BTCUSDT",
            query=query(sort=[("side", 1)], limit=7, offset=offset),
        )
        seen.extend(doc["_id"] for doc in result.data)
    assert sorted(seen) == list(range(45))


@pytest.mark.parametrize(
    ("filter_", "ids"),
    [
        ({"price": {"$gt": 50_007}}, [8, 9]),
        ({"price": {"$gte": 50_008, "$lte": 50_009}}, [8, 9]),
        ({"price": {"$lt": 50_001}}, [0]),
        ({"side": {"$ne": "BUY"}}, [0, 2, 4, 6, 8]),
        ({"_id": {"$in": [1, 3, 99]}}, [1, 3]),
        ({"_id": {"$nin": [0, 1, 2, 3, 4, 5, 6, 7]}}, [8, 9]),
        ({"note": {"$exists": True}}, [5]),
        ({"$or": [{"_id": 1}, {"price": {"$gte": 50_009}}]}, [1, 9]),
        ({"$and": [{"side": "BUY"}, {"price": {"$lt": 50_004}}]}, [1, 3]),
        ({"symbol": {"$ne": None}}, list(range(10))),
    ],
)
async def test_filter_operators_on_real_data(
    mongo_db: Db, filter_: dict[str, Any], ids: list[int]
) -> None:
    await seed_trades(mongo_db, 10)
    await mongo_db["trades_BTCUSDT"].update_one({"_id": 5}, {"$set": {"note": "x"}})
    result = await list_records(
        MongoStore(mongo_db), collection="trades_BTCUSDT", query=query(filter=filter_)
    )
    assert [doc["_id"] for doc in result.data] == ids
    assert result.pagination.total == len(ids)


@pytest.mark.parametrize(
    ("bound", "ids"),
    [
        ({"$gte": "2025-01-01T00:05:00Z"}, [5, 6, 7, 8, 9]),
        ({"$gte": "2025-01-01T02:05:00+02:00"}, [5, 6, 7, 8, 9]),
        ({"$lt": "2025-01-01T00:02:00"}, [0, 1]),
        ({"$lte": "2025-01-01"}, [0]),
        ({"$gt": "2024-12-31", "$lt": "2025-01-02"}, list(range(10))),
        ({"$in": ["2025-01-01T00:03:00Z", "2025-01-01T00:04:00.000Z"]}, [3, 4]),
    ],
)
async def test_iso_date_strings_compare_as_dates(
    mongo_db: Db, bound: dict[str, Any], ids: list[int]
) -> None:
    await seed_trades(mongo_db, 10)
    result = await list_records(
        MongoStore(mongo_db), collection="trades_BTCUSDT", query=query(filter={"timestamp": bound})
    )
    assert [doc["_id"] for doc in result.data] == ids


async def test_projection_returns_only_the_asked_fields_and_id(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 2)
    result = await list_records(
        MongoStore(mongo_db), collection="trades_BTCUSDT", query=query(fields=["price"])
    )
    assert result.data == [{"_id": 0, "price": 50_000}, {"_id": 1, "price": 50_001}]


async def test_results_are_encoded_like_every_reply(mongo_db: Db) -> None:
    oid = ObjectId()
    await mongo_db["misc"].insert_one(
        {
            "_id": oid,
            "at": datetime(2025, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC),
            "blob": b"\x00\x01\xff",
            "nested": [{"ref": oid}],
        }
    )
    result = await list_records(MongoStore(mongo_db), collection="misc", query=query())
    assert orjson.loads(dumps(result))["data"] == [
        {
            "_id": str(oid),
            "at": "2025-01-01T12:00:00.250000Z",
            "blob": base64.b64encode(b"\x00\x01\xff").decode(),
            "nested": [{"ref": str(oid)}],
        }
    ]


async def test_reading_an_unknown_collection_is_not_found(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 1)
    with pytest.raises(NotFound, match="trades_ETHUSDT"):
        await list_records(MongoStore(mongo_db), collection="trades_ETHUSDT", query=query())


async def test_coordination_collections_are_readable(mongo_db: Db) -> None:
    await mongo_db["leader_election"].insert_one({"_id": "auditor", "pod_id": "p1"})
    result = await list_records(MongoStore(mongo_db), collection="leader_election", query=query())
    assert result.data == [{"_id": "auditor", "pod_id": "p1"}]


# --- inserts -----------------------------------------------------------------------------


async def test_insert_a_single_record_like_the_seed(mongo_db: Db) -> None:
    record = {
        "symbol": "BTCUSDT",
        "open": 50000,
        "high": 51000,
        "low": 49000,
        "close": 50500,
        "volume": 1000,
    }
    result = await insert_records(
        MongoStore(mongo_db), collection="candles_BTCUSDT_1m", records=[record]
    )
    assert result.inserted_count == 1
    assert result.duplicates == 0
    stored = await mongo_db["candles_BTCUSDT_1m"].find_one({})
    assert stored is not None
    assert stored.pop("_id") == result.inserted_ids[0]
    assert stored == record


async def test_insert_multiple_records_like_the_seed(mongo_db: Db) -> None:
    records = [
        {"symbol": "BTCUSDT", "price": 50000, "quantity": 0.1},
        {"symbol": "BTCUSDT", "price": 50100, "quantity": 0.2},
    ]
    result = await insert_records(
        MongoStore(mongo_db), collection="trades_BTCUSDT", records=records
    )
    assert result.inserted_count == 2
    assert len(set(result.inserted_ids)) == 2
    assert await mongo_db["trades_BTCUSDT"].count_documents({}) == 2


async def test_resending_a_batch_reports_duplicates_and_stores_no_copies(mongo_db: Db) -> None:
    batch = [
        {"symbol": "BTCUSDT", "timestamp": "2025-01-01T00:00:00Z", "close": 50500},
        {"symbol": "BTCUSDT", "timestamp": "2025-01-01T01:00:00Z", "close": 51000},
    ]
    first = await insert_records(
        MongoStore(mongo_db), collection="candles_BTCUSDT_1h", records=batch
    )
    assert first.inserted_ids == [f"BTCUSDT_{JAN1_MS}", f"BTCUSDT_{JAN1_MS + 3_600_000}"]
    assert first.duplicates == 0

    again = await insert_records(
        MongoStore(mongo_db), collection="candles_BTCUSDT_1h", records=batch
    )
    assert again.inserted_count == 0
    assert again.duplicates == 2
    assert again.duplicate_ids == first.inserted_ids
    assert await mongo_db["candles_BTCUSDT_1h"].count_documents({}) == 2

    stored = await mongo_db["candles_BTCUSDT_1h"].find_one({"_id": f"BTCUSDT_{JAN1_MS}"})
    assert stored is not None
    assert stored["timestamp"] == JAN1


async def test_epoch_ms_and_iso_timestamps_give_the_same_natural_key(mongo_db: Db) -> None:
    coll = "candles_BTCUSDT_1h"
    await insert_records(
        MongoStore(mongo_db), collection=coll, records=[{"symbol": "BTCUSDT", "timestamp": JAN1_MS}]
    )
    mixed: list[dict[str, Any]] = [
        {"symbol": "BTCUSDT", "timestamp": "2025-01-01T00:00:00Z"},
        {"symbol": "BTCUSDT", "timestamp": JAN1_MS + 60_000},
        {"symbol": "BTCUSDT", "timestamp": JAN1_MS + 60_000},
    ]
    result = await insert_records(MongoStore(mongo_db), collection=coll, records=mixed)
    assert result.inserted_ids == [f"BTCUSDT_{JAN1_MS + 60_000}"]
    assert result.duplicate_ids == [f"BTCUSDT_{JAN1_MS}", f"BTCUSDT_{JAN1_MS + 60_000}"]
    stored = await mongo_db[coll].find({}).sort("_id", 1).to_list()
    assert [doc["timestamp"] for doc in stored] == [JAN1, JAN1 + timedelta(minutes=1)]


async def test_inserting_into_a_new_collection_creates_it(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 1)
    with pytest.raises(NotFound):
        await list_records(MongoStore(mongo_db), collection="brand_new", query=query())
    await insert_records(MongoStore(mongo_db), collection="brand_new", records=[{"a": 1}])
    result = await list_records(MongoStore(mongo_db), collection="brand_new", query=query())
    assert result.pagination.total == 1


async def test_records_are_all_validated_before_any_is_written(mongo_db: Db) -> None:
    with pytest.raises(BadRequest, match=r"record 2: .*64 bits"):
        await insert_records(
            MongoStore(mongo_db), collection="x", records=[{"a": 1}, {"a": 2}, {"a": 2**70}]
        )
    with pytest.raises(BadRequest, match="record 1: '_id' cannot be an array"):
        await insert_records(MongoStore(mongo_db), collection="x", records=[{"a": 1}, {"_id": [1]}])
    assert "x" not in await mongo_db.list_collection_names()


async def test_a_record_the_server_refuses_is_reported_with_what_was_inserted(mongo_db: Db) -> None:
    # Bypasses prepare_record (which refuses array ids up front) to reach a real server refusal.
    docs: list[dict[str, Any]] = [{"_id": 1}, {"_id": [1, 2]}, {"_id": 1}, {"_id": 3}]
    with pytest.raises(InsertFailed) as failed:
        await insert_unordered(mongo_db["x"], docs)
    assert failed.value.partial.inserted_ids == [1, 3]
    assert failed.value.partial.duplicate_ids == [1]
    assert "1 record(s) refused by the database (first: record 1:" in failed.value.message
    assert "2 inserted, 1 duplicate(s)" in failed.value.message
    assert sorted(await mongo_db["x"].distinct("_id")) == [1, 3]


async def test_no_records_is_refused_and_one_record_needs_no_list(mongo_db: Db) -> None:
    with pytest.raises(BadRequest, match="needs a record or a non-empty list"):
        await insert_records(MongoStore(mongo_db), collection="x", records=[])
    with pytest.raises(BadRequest, match="record 0 must be a JSON object"):
        await insert_records(MongoStore(mongo_db), collection="x", records=[5])  # type: ignore[list-item]
    result = await insert_records(MongoStore(mongo_db), collection="x", records={"_id": "one"})
    assert result.inserted_ids == ["one"]


# --- updates and deletes -----------------------------------------------------------------


async def test_update_really_changes_the_matching_records(mongo_db: Db) -> None:
    await mongo_db["orders"].insert_many(
        [{"_id": 1, "order_id": "12345", "status": "NEW"}, {"_id": 2, "order_id": "999"}]
    )
    result = await update_records(
        MongoStore(mongo_db),
        collection="orders",
        filter={"order_id": "12345"},
        data={"status": "FILLED", "updated_at": "2025-01-01T12:00:00Z"},
    )
    assert (result.matched_count, result.modified_count, result.upserted_count) == (1, 1, 0)
    assert await mongo_db["orders"].find({}).sort("_id", 1).to_list() == [
        {
            "_id": 1,
            "order_id": "12345",
            "status": "FILLED",
            "updated_at": datetime(2025, 1, 1, 12, tzinfo=UTC),
        },
        {"_id": 2, "order_id": "999"},
    ]


async def test_update_of_many_records_and_dotted_paths(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 6)
    result = await update_records(
        MongoStore(mongo_db),
        collection="trades_BTCUSDT",
        filter={"side": "BUY"},
        data={"meta.checked": True},
    )
    assert (result.matched_count, result.modified_count) == (3, 3)
    checked = await mongo_db["trades_BTCUSDT"].distinct("_id", {"meta.checked": True})
    assert sorted(checked) == [1, 3, 5]


async def test_upsert_creates_the_missing_record(mongo_db: Db) -> None:
    result = await update_records(
        MongoStore(mongo_db),
        collection="orders",
        filter={"order_id": "777"},
        data={"status": "NEW"},
        upsert=True,
    )
    assert (result.matched_count, result.upserted_count) == (0, 1)
    stored = await mongo_db["orders"].find_one({"order_id": "777"})
    assert stored is not None
    assert stored["status"] == "NEW"
    assert stored["_id"] == result.upserted_id
    assert orjson.loads(dumps(result))["upserted_id"] == str(stored["_id"])


async def test_update_or_delete_of_an_unknown_collection_is_not_found(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 1)
    with pytest.raises(NotFound):
        await update_records(
            MongoStore(mongo_db), collection="nope", filter={"a": 1}, data={"b": 2}
        )
    with pytest.raises(NotFound):
        await delete_records(MongoStore(mongo_db), collection="nope", filter={"a": 1})


async def test_delete_really_removes_the_matching_records(mongo_db: Db) -> None:
    await seed_trades(mongo_db, 10)
    result = await delete_records(
        MongoStore(mongo_db),
        collection="trades_BTCUSDT",
        filter={"timestamp": {"$gte": "2025-01-01T00:07:00Z"}},
    )
    assert result.deleted_count == 3
    remaining = await mongo_db["trades_BTCUSDT"].distinct("_id")
    assert sorted(remaining) == list(range(7))


async def test_a_legal_ne_null_filter_is_an_ordinary_condition(mongo_db: Db) -> None:
    await mongo_db["orders"].insert_many([{"_id": 1, "status": None}, {"_id": 2, "status": "X"}])
    result = await delete_records(
        MongoStore(mongo_db), collection="orders", filter={"status": {"$ne": None}}
    )
    assert result.deleted_count == 1
    assert await mongo_db["orders"].distinct("_id") == [1]


# --- batches -----------------------------------------------------------------------------


def batch(*operations: dict[str, Any]) -> BatchRequest:
    return BatchRequest(operations=[BatchOperation.model_validate(op) for op in operations])


async def test_the_seed_batch_runs_in_order_and_says_whether_it_was_atomic(mongo_db: Db) -> None:
    await mongo_db["candles_BTCUSDT_1m"].insert_many(
        [{"_id": "eth", "symbol": "ETHUSDT"}, {"_id": "old", "symbol": "BTCUSDT"}]
    )
    result = await run_batch(
        MongoStore(mongo_db),
        collection="candles_BTCUSDT_1m",
        request=batch(
            {"type": "insert", "data": {"symbol": "BTCUSDT", "open": 50000}},
            {"type": "update", "filter": {"symbol": "BTCUSDT"}, "data": {"updated": True}},
            {"type": "delete", "filter": {"symbol": "ETHUSDT"}},
        ),
    )
    # FerretDB has no transactions: the batch must say it ran without one.
    assert result.atomic is False
    assert result.success is True
    assert (result.completed, result.failed_at, result.error) == (3, None, None)
    assert [(r.index, r.type) for r in result.results] == [
        (0, "insert"),
        (1, "update"),
        (2, "delete"),
    ]
    assert result.results[0].inserted_count == 1
    assert (result.results[1].matched_count, result.results[1].modified_count) == (2, 2)
    assert result.results[2].deleted_count == 1
    docs = await mongo_db["candles_BTCUSDT_1m"].find({}, {"_id": 0}).to_list()
    assert sorted(docs, key=len) == [
        {"symbol": "BTCUSDT", "updated": True},
        {"symbol": "BTCUSDT", "open": 50000, "updated": True},
    ]


async def test_a_batch_starting_with_writes_to_existing_data_applies_each_once(
    mongo_db: Db,
) -> None:
    # Were a refused transaction attempt to have applied anything, the ordered rerun would
    # report zero deletions and zero modifications.
    await seed_trades(mongo_db, 6)
    result = await run_batch(
        MongoStore(mongo_db),
        collection="trades_BTCUSDT",
        request=batch(
            {"type": "delete", "filter": {"_id": {"$in": [0, 1]}}},
            {"type": "update", "filter": {"side": "BUY"}, "data": {"price": 1}},
        ),
    )
    assert (result.atomic, result.success, result.completed) == (False, True, 2)
    assert result.results[0].deleted_count == 2
    assert (result.results[1].matched_count, result.results[1].modified_count) == (2, 2)
    assert sorted(await mongo_db["trades_BTCUSDT"].distinct("_id")) == [2, 3, 4, 5]


async def test_without_transactions_a_failing_operation_stops_the_batch(mongo_db: Db) -> None:
    await mongo_db["c"].insert_one({"_id": "scalar", "n": 5})
    result = await run_batch(
        MongoStore(mongo_db),
        collection="c",
        request=batch(
            {"type": "insert", "data": [{"_id": "a"}, {"_id": "b"}]},
            {"type": "update", "filter": {"_id": "scalar"}, "data": {"n.inner": 1}},
            {"type": "insert", "data": {"_id": "c"}},
        ),
    )
    assert result.atomic is False
    assert result.success is False
    assert result.completed == 1
    assert result.failed_at == 1
    assert result.error is not None
    assert "operation 1 (update) failed" in result.error
    assert "does not support transactions" in result.error
    assert "operations 0..0 were applied" in result.error
    assert [r.index for r in result.results] == [0]
    assert sorted(await mongo_db["c"].distinct("_id")) == ["a", "b", "scalar"]


async def test_batch_inserts_count_duplicates_instead_of_failing(mongo_db: Db) -> None:
    records = [{"symbol": "BTCUSDT", "timestamp": JAN1_MS}]
    await insert_records(MongoStore(mongo_db), collection="c", records=records)
    result = await run_batch(
        MongoStore(mongo_db),
        collection="c",
        request=batch({"type": "insert", "data": [*records, {"symbol": "X", "timestamp": 1}]}),
    )
    assert result.success is True
    assert (result.results[0].inserted_count, result.results[0].duplicates) == (1, 1)
    assert await mongo_db["c"].count_documents({}) == 2


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        ({"type": "update", "filter": {}, "data": {"a": 1}}, "non-empty filter"),
        ({"type": "update", "filter": {"a": 1}}, "non-empty JSON object"),
        ({"type": "update", "filter": {"a": 1}, "data": [{"a": 1}]}, "non-empty JSON object"),
        ({"type": "update", "filter": {"a": 1}, "data": {"_id": 2}}, "cannot change '_id'"),
        ({"type": "delete"}, "non-empty filter"),
        ({"type": "delete", "filter": {"$where": "1"}}, "JavaScript"),
        ({"type": "delete", "filter": {"a": 1}, "data": {"a": 1}}, "takes no data"),
        ({"type": "insert"}, "needs a record"),
        ({"type": "insert", "data": []}, "needs a record"),
        ({"type": "insert", "data": {"$set": 1}}, "must not start with"),
        ({"type": "insert", "data": {"a": 1}, "filter": {"a": 1}}, "takes no filter"),
    ],
)
async def test_a_malformed_batch_names_the_operation_and_changes_nothing(
    mongo_db: Db, operation: dict[str, Any], reason: str
) -> None:
    await seed_trades(mongo_db, 3)
    before = await snapshot(mongo_db)
    request = batch(
        {"type": "insert", "data": {"_id": "new"}},
        {"type": "delete", "filter": {"_id": 0}},
        operation,
    )
    with pytest.raises(BadRequest, match=rf"operation 2 \({operation['type']}\).*{reason}"):
        await run_batch(MongoStore(mongo_db), collection="trades_BTCUSDT", request=request)
    assert await snapshot(mongo_db) == before


async def test_a_batch_of_updates_on_an_unknown_collection_is_not_found(mongo_db: Db) -> None:
    with pytest.raises(NotFound):
        await run_batch(
            MongoStore(mongo_db),
            collection="nope",
            request=batch({"type": "delete", "filter": {"a": 1}}),
        )


def test_transaction_refusals_are_told_apart_from_operation_errors() -> None:
    standalone = OperationFailure(
        "Transaction numbers are only allowed on a replica set member or mongos",
        20,
        {"errmsg": "Transaction numbers are only allowed on a replica set member or mongos"},
    )
    ferretdb = OperationFailure(
        'insert: unknown field "startTransaction"',
        9,
        {"errmsg": 'insert: unknown field "startTransaction"', "code": 9},
    )
    duplicate = OperationFailure("E11000 duplicate key", 11000, {"errmsg": "E11000 dup"})
    bad_path = OperationFailure("Cannot create field", 28, {"errmsg": "Cannot create field"})
    assert transactions_refused(standalone)
    assert transactions_refused(ferretdb)
    assert not transactions_refused(duplicate)
    assert not transactions_refused(bad_path)


# --- names, read-only collections, injection corpus ---------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("system.users", "system collection"),
        ("system.profile", "system collection"),
        ("trades$BTC", "must not contain '\\$'"),
        ("$cmd", "must not contain '\\$'"),
        ("", "non-empty"),
        ("a\x00b", "NUL"),
        ("x" * 121, "longer than"),
        ("bad name", "may only contain"),
        (".hidden", "may only contain"),
        ("a..b", "may only contain"),
    ],
)
def test_bad_collection_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        collection_name(name)


Attempt = Callable[[Db], Awaitable[object]]
JS = {"body": "function() { return true; }", "args": [], "lang": "js"}


def _list(collection: str, filter_: dict[str, Any]) -> Attempt:
    return lambda db: list_records(
        MongoStore(db), collection=collection, query=query(filter=filter_)
    )


def _update(filter_: dict[str, Any], data: dict[str, Any], *, upsert: bool = False) -> Attempt:
    return lambda db: update_records(
        MongoStore(db), collection="trades_BTCUSDT", filter=filter_, data=data, upsert=upsert
    )


def _insert(collection: str, record: dict[str, Any]) -> Attempt:
    return lambda db: insert_records(MongoStore(db), collection=collection, records=[record])


def _delete(collection: str, filter_: dict[str, Any]) -> Attempt:
    return lambda db: delete_records(MongoStore(db), collection=collection, filter=filter_)


INJECTIONS: list[tuple[str, Attempt, type[GatewayError], str]] = [
    ("where-sleep", _list("trades_BTCUSDT", {"$where": "sleep(1000)"}), BadRequest, "JavaScript"),
    ("where-field", _list("trades_BTCUSDT", {"symbol": {"$where": "1"}}), BadRequest, "JavaScript"),
    ("where-in-or", _list("trades_BTCUSDT", {"$or": [{"$where": "1"}]}), BadRequest, "JavaScript"),
    ("expr-function", _list("trades_BTCUSDT", {"$expr": {"$function": JS}}), BadRequest, "$expr"),
    ("function-top", _list("trades_BTCUSDT", {"$function": JS}), BadRequest, "JavaScript"),
    ("accumulator", _list("trades_BTCUSDT", {"$accumulator": {}}), BadRequest, "JavaScript"),
    ("operand-function", _list("trades_BTCUSDT", {"price": {"$gt": {"$function": JS}}}),
     BadRequest, "values must be"),
    ("regex", _list("trades_BTCUSDT", {"symbol": {"$regex": "(a+)+$"}}), BadRequest, "pattern"),
    ("dollar-path", _list("trades_BTCUSDT", {"a.$where": 1}), BadRequest, "'$'"),
    ("system-users-read", _list("system.users", {}), BadRequest, "system collection"),
    ("system-profile-read", _list("system.profile", {}), BadRequest, "system collection"),
    ("update-where-filter", _update({"$where": "1"}, {"a": 1}), BadRequest, "JavaScript"),
    ("update-upsert-where", _update({"$where": "1"}, {"a": 1}, upsert=True), BadRequest,
     "JavaScript"),
    ("update-set-key", _update({"_id": 1}, {"$set": {"$where": 0}}), BadRequest,
     "start with '$'"),
    ("update-unset-key", _update({"_id": 1}, {"$unset": {"price": 1}}), BadRequest,
     "other update operators"),
    ("update-nested-op", _update({"_id": 1}, {"meta": {"$inc": 1}}), BadRequest, "start with '$'"),
    ("update-id", _update({"_id": 1}, {"_id": 99}), BadRequest, "cannot change '_id'"),
    ("update-dotted-id", _update({"_id": 1}, {"_id.x": 1}), BadRequest, "cannot change '_id'"),
    ("update-positional", _update({"_id": 1}, {"tags.$": 1}), BadRequest, "start with '$'"),
    ("update-empty-filter", _update({}, {"price": 0}), BadRequest, "non-empty filter"),
    ("insert-dollar-key", _insert("trades_BTCUSDT", {"$where": "1"}), BadRequest,
     "start with '$'"),
    ("insert-nested-dollar", _insert("trades_BTCUSDT", {"a": {"$gt": 1}}), BadRequest,
     "start with '$'"),
    ("insert-nul-key", _insert("trades_BTCUSDT", {"a\x00b": 1}), BadRequest, "NUL"),
    ("insert-system", _insert("system.users", {"user": "evil"}), BadRequest, "system collection"),
    ("insert-dollar-coll", _insert("trades$x", {"a": 1}), BadRequest, "'$'"),
    ("insert-leader", _insert("leader_election", {"_id": "auditor"}), Forbidden, "read-only"),
    ("insert-dead-letters", _insert("dead_letters", {"a": 1}), Forbidden, "read-only"),
    ("update-leader", lambda db: update_records(
        MongoStore(db), collection="leader_election", filter={"_id": "auditor"},
        data={"pod_id": "me"},
    ), Forbidden, "read-only"),
    ("delete-schemas", _delete("schemas", {"_id": "s"}), Forbidden, "read-only"),
    ("delete-everything", _delete("trades_BTCUSDT", {}), BadRequest, "non-empty filter"),
    ("delete-where", _delete("trades_BTCUSDT", {"$where": "true"}), BadRequest, "JavaScript"),
    ("batch-leader", lambda db: run_batch(MongoStore(db), collection="leader_election",
        request=batch({"type": "delete", "filter": {"_id": "auditor"}}),
    ), Forbidden, "read-only"),
    ("batch-late-where", lambda db: run_batch(MongoStore(db), collection="trades_BTCUSDT",
        request=batch(
            {"type": "delete", "filter": {"_id": 0}},
            {"type": "update", "filter": {"$where": "1"}, "data": {"a": 1}},
        ),
    ), BadRequest, "operation 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attempt", "error", "reason"),
    [pytest.param(attempt, error, reason, id=name) for name, attempt, error, reason in INJECTIONS],
)
async def test_injection_attempts_are_refused_and_change_nothing(
    mongo_db: Db, attempt: Attempt, error: type[GatewayError], reason: str
) -> None:
    await seed_trades(mongo_db, 3)
    await mongo_db["leader_election"].insert_one({"_id": "auditor", "pod_id": "p1", "term": 4})
    await mongo_db["schemas"].insert_one({"_id": "s", "name": "candle_v1"})
    before = await snapshot(mongo_db)
    with pytest.raises(error) as refused:
        await attempt(mongo_db)
    assert reason in refused.value.detail
    assert await snapshot(mongo_db) == before
