"""Raw MongoDB queries: parsing, read-only enforcement, caps, and a real server underneath."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bson import ObjectId
from petrosa_gateway.errors import BadRequest, NotFound
from petrosa_gateway.queries import raw_mongo
from petrosa_gateway.queries.raw_mongo import RawMongoQuery, parse_raw_mongo, run_raw_mongo
from petrosa_gateway.store.encoding import dumps
from pymongo.asynchronous.database import AsyncDatabase

Db = AsyncDatabase[dict[str, Any]]
JAN1 = datetime(2025, 1, 1, tzinfo=UTC)
JS = {"body": "function() { return true; }", "args": [], "lang": "js"}

SEED_FIND = 'candles_BTCUSDT_1m: {"find": {"symbol": "BTCUSDT"}, "limit": 10}'
SEED_AGGREGATE = (
    '{"collection": "trades_BTCUSDT", '
    '"aggregate": [{"$group": {"_id": "$symbol", "count": {"$sum": 1}}}]}'
)


async def snapshot(db: Db) -> dict[str, list[dict[str, Any]]]:
    names = sorted(await db.list_collection_names())
    return {name: await db[name].find({}).sort("_id", 1).to_list() for name in names}


async def seed(db: Db) -> None:
    await db["candles_BTCUSDT_1m"].insert_many(
        [
            {
                "_id": f"BTCUSDT_{i}",
                "symbol": "BTCUSDT",
                "close": 50_000.0 + i,
                "timestamp": JAN1 + timedelta(minutes=i),
            }
            for i in range(25)
        ]
    )
    await db["trades_BTCUSDT"].insert_many(
        [
            {"_id": i, "symbol": "BTCUSDT" if i < 7 else "ETHUSDT", "tags": ["a", f"t{i % 3}"]}
            for i in range(10)
        ]
    )


# --- parsing (no database) ---------------------------------------------------------------


def test_the_seed_find_string_parses() -> None:
    assert parse_raw_mongo(SEED_FIND) == RawMongoQuery(
        collection="candles_BTCUSDT_1m", operation="find", filter={"symbol": "BTCUSDT"}, limit=10
    )


def test_the_seed_aggregate_string_parses() -> None:
    assert parse_raw_mongo(SEED_AGGREGATE) == RawMongoQuery(
        collection="trades_BTCUSDT",
        operation="aggregate",
        pipeline=[{"$group": {"_id": "$symbol", "count": {"$sum": 1}}}],
    )


@pytest.mark.parametrize(
    "query",
    [
        {"collection": "c", "find": {"a": 1}, "sort": {"t": -1}, "skip": 2, "projection": {"a": 1}},
        json.dumps({"collection": "c", "find": {"a": 1}, "sort": [["t", -1]], "skip": 2,
                    "projection": {"a": 1}}),
        'c: {"find": {"a": 1}, "sort": {"t": -1}, "skip": 2, "projection": {"a": 1}}',
        {"find": "c", "filter": {"a": 1}, "sort": {"t": -1}, "skip": 2, "projection": {"a": 1}},
        {"query": 'c: {"find": {"a": 1}, "sort": "-t", "skip": 2, "projection": {"a": 1}}'},
    ],
)  # fmt: skip
def test_find_forms_are_equivalent(query: str | dict[str, Any]) -> None:
    assert parse_raw_mongo(query) == RawMongoQuery(
        collection="c",
        operation="find",
        filter={"a": 1},
        projection={"a": 1},
        sort=[("t", -1)],
        skip=2,
    )


def test_other_operations_and_command_styles_parse() -> None:
    pipeline = [{"$match": {"a": 1}}, {"$count": "n"}]
    assert parse_raw_mongo(f"c: {json.dumps(pipeline)}").pipeline == pipeline
    assert parse_raw_mongo({"aggregate": "c", "pipeline": pipeline}).pipeline == pipeline
    assert parse_raw_mongo('c: {"count": {"a": 1}}') == RawMongoQuery(
        collection="c", operation="count", filter={"a": 1}
    )
    assert parse_raw_mongo({"count": "c", "query": {"a": 1}}).filter == {"a": 1}
    assert parse_raw_mongo('c: {"distinct": "symbol", "filter": {"a": 1}}') == RawMongoQuery(
        collection="c", operation="distinct", key="symbol", filter={"a": 1}
    )
    assert parse_raw_mongo({"distinct": "c", "key": "symbol"}).key == "symbol"


def test_dates_and_object_ids_in_filters() -> None:
    oid = ObjectId()
    parsed = parse_raw_mongo(
        {
            "collection": "c",
            "find": {
                "timestamp": {"$gte": "2025-01-01T00:00:00Z", "$lt": {"$date": "2025-01-02"}},
                "ref": {"$oid": str(oid)},
                "at": {"$date": 1_735_689_600_000},
                "name": {"$regex": "2025-01-01"},
                "$expr": {"$eq": ["$label", "2025-01-01"]},
            },
        }
    )
    assert parsed.filter == {
        "timestamp": {"$gte": JAN1, "$lt": JAN1 + timedelta(days=1)},
        "ref": oid,
        "at": JAN1,
        "name": {"$regex": "2025-01-01"},
        "$expr": {"$eq": ["$label", "2025-01-01"]},
    }


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "empty"),
        ("c: {find: {}}", "not valid JSON"),
        ('{"collection": "c", "find": {}', "not valid JSON"),
        ('["c"]', "'<collection>: {...}'"),
        ("c: 5", "JSON object or a pipeline"),
        ('c: {"limit": 5}', "exactly one of"),
        ('c: {"find": {}, "count": {}}', "exactly one of"),
        ('{"find": {}}', "needs a collection"),
        ('c: {"collection": "d", "find": {}}', "different collections"),
        ('c: {"find": "d"}', "different collections"),
        ('c: {"find": {}, "hint": "x"}', "unknown key 'hint'"),
        ('c: {"find": {}, "limit": -1}', "non-negative"),
        ('c: {"find": {}, "limit": "5"}', "non-negative"),
        ('c: {"find": [1]}', "takes a filter object"),
        ('c: {"count": {}, "limit": 5}', "applies to find only"),
        ('c: {"aggregate": [], "filter": {}}', "\\$match stage"),
        ('c: {"aggregate": {"$match": {}}}', "list of stages"),
        ('c: {"aggregate": [{"$match": {}, "$limit": 1}]}', "exactly one stage"),
        ('c: {"aggregate": [{"$bogus": {}}]}', "stage '\\$bogus' is not allowed"),
        ('c: {"distinct": 5}', "field name"),
        ('c: {"distinct": "$symbol"}', "must not start with"),
        ('c: {"find": {"t": "2025-02-30"}}', "not valid"),
        ('c: {"find": {"_id": {"$oid": "nope"}}}', "24-digit hex"),
        ('c: {"find": {"t": {"$date": true}}}', "\\$date needs"),
    ],
)
def test_malformed_queries_are_refused_with_the_reason(query: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse_raw_mongo(query)


def test_deep_nesting_is_refused() -> None:
    nested: dict[str, Any] = {"a": 1}
    for _ in range(150):
        nested = {"$and": [nested]}
    with pytest.raises(BadRequest, match="nests deeper"):
        parse_raw_mongo({"collection": "c", "find": nested})
    with pytest.raises(BadRequest, match=r"nests too deeply|not valid JSON"):
        parse_raw_mongo("c: " + "[" * 100_000 + "]" * 100_000)


# --- running on a real server ------------------------------------------------------------


async def test_the_seed_find_returns_ten_rows_encoded_like_every_reply(mongo_db: Db) -> None:
    await seed(mongo_db)
    result = await run_raw_mongo(mongo_db, SEED_FIND)
    assert (result.operation, result.collection) == ("find", "candles_BTCUSDT_1m")
    assert result.row_count == 10
    assert result.truncated is False
    assert orjson.loads(dumps(result))["data"][0] == {
        "_id": "BTCUSDT_0",
        "symbol": "BTCUSDT",
        "close": 50_000.0,
        "timestamp": "2025-01-01T00:00:00Z",
    }
    assert result.execution_time_ms > 0


async def test_the_seed_aggregation_groups_and_counts(mongo_db: Db) -> None:
    await seed(mongo_db)
    result = await run_raw_mongo(mongo_db, {"query": SEED_AGGREGATE})
    assert sorted(result.data, key=lambda row: row["_id"]) == [
        {"_id": "BTCUSDT", "count": 7},
        {"_id": "ETHUSDT", "count": 3},
    ]
    assert (result.row_count, result.truncated) == (2, False)


async def test_find_with_projection_sort_skip_and_iso_dates(mongo_db: Db) -> None:
    await seed(mongo_db)
    result = await run_raw_mongo(
        mongo_db,
        {
            "collection": "candles_BTCUSDT_1m",
            "find": {"timestamp": {"$gte": "2025-01-01T00:20:00Z"}},
            "projection": {"close": 1, "_id": 0},
            "sort": {"timestamp": -1},
            "skip": 1,
            "limit": 2,
        },
    )
    assert result.data == [{"close": 50_023.0}, {"close": 50_022.0}]


async def test_count_and_distinct(mongo_db: Db) -> None:
    await seed(mongo_db)
    count = await run_raw_mongo(mongo_db, 'trades_BTCUSDT: {"count": {"symbol": "ETHUSDT"}}')
    assert count.data == [{"count": 3}]
    assert count.row_count == 1
    symbols = await run_raw_mongo(mongo_db, 'trades_BTCUSDT: {"distinct": "symbol"}')
    assert symbols.data == [{"symbol": "BTCUSDT"}, {"symbol": "ETHUSDT"}]
    tags = await run_raw_mongo(
        mongo_db, {"distinct": "trades_BTCUSDT", "key": "tags", "query": {"_id": {"$lt": 2}}}
    )
    assert tags.data == [{"tags": "a"}, {"tags": "t0"}, {"tags": "t1"}]


@pytest.mark.parametrize(
    ("query", "rows", "truncated"),
    [
        ('candles_BTCUSDT_1m: {"find": {}}', 5, True),
        ('candles_BTCUSDT_1m: {"find": {}, "limit": 0}', 5, True),
        ('candles_BTCUSDT_1m: {"find": {}, "limit": 100}', 5, True),
        ('candles_BTCUSDT_1m: {"find": {}, "limit": 5}', 5, False),
        ('candles_BTCUSDT_1m: {"find": {}, "limit": 3}', 3, False),
        ('candles_BTCUSDT_1m: {"find": {}, "skip": 21}', 4, False),
        ('candles_BTCUSDT_1m: [{"$sort": {"_id": 1}}]', 5, True),
        ('candles_BTCUSDT_1m: [{"$limit": 5}]', 5, False),
        ('candles_BTCUSDT_1m: {"distinct": "close"}', 5, True),
        ('candles_BTCUSDT_1m: {"count": {}}', 1, False),
    ],
)
async def test_rows_are_capped_and_truncation_is_reported(
    mongo_db: Db, query: str, rows: int, truncated: bool
) -> None:
    await seed(mongo_db)
    result = await run_raw_mongo(mongo_db, query, max_rows=5, max_time_ms=5_000)
    assert (result.row_count, len(result.data), result.truncated) == (rows, rows, truncated)


async def test_an_unknown_collection_is_not_found(mongo_db: Db) -> None:
    await seed(mongo_db)
    with pytest.raises(NotFound, match="trades_ETHUSDT"):
        await run_raw_mongo(mongo_db, 'trades_ETHUSDT: {"find": {}}')


async def test_coordination_collections_can_be_read(mongo_db: Db) -> None:
    await mongo_db["leader_election"].insert_one({"_id": "auditor", "term": 3})
    result = await run_raw_mongo(mongo_db, 'leader_election: {"find": {"_id": "auditor"}}')
    assert result.data == [{"_id": "auditor", "term": 3}]


async def test_a_query_the_server_rejects_is_a_bad_request(mongo_db: Db) -> None:
    await seed(mongo_db)
    with pytest.raises(BadRequest, match="MongoDB refused the query"):
        await run_raw_mongo(mongo_db, 'trades_BTCUSDT: {"find": {"a": {"$bogusOperator": 1}}}')


async def seed_many(db: Db, count: int = 3_000) -> None:
    await db["big"].insert_many([{"_id": i, "g": i % 100, "pad": "x" * 50} for i in range(count)])


async def test_the_server_stops_a_query_at_its_time_limit(mongo_db: Db) -> None:
    await seed_many(mongo_db)  # a $group over these takes ~100 ms on FerretDB
    query = 'big: [{"$group": {"_id": "$g", "n": {"$sum": 1}}}]'
    with pytest.raises(BadRequest, match="time limit of 1 ms"):
        await run_raw_mongo(mongo_db, query, max_time_ms=1)
    result = await run_raw_mongo(mongo_db, query, max_time_ms=60_000)
    assert result.row_count == 100


async def test_the_client_deadline_stops_a_query_the_server_lets_run(
    mongo_db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FerretDB 1.x ignores maxTimeMS on find (a find of these takes ~200 ms there): the
    # client-side deadline (max_time_ms + grace, here no grace) must stop it anyway.
    await seed_many(mongo_db)
    monkeypatch.setattr(raw_mongo, "CLIENT_GRACE_SECONDS", 0.0)
    with pytest.raises(BadRequest, match="time limit of 20 ms"):
        await run_raw_mongo(mongo_db, 'big: {"find": {}}', max_time_ms=20)
    assert await mongo_db["big"].count_documents({}) == 3_000


# --- injection corpus --------------------------------------------------------------------

INJECTIONS: list[tuple[str, str | dict[str, Any], str]] = [
    ("where-sleep", 'trades_BTCUSDT: {"find": {"$where": "sleep(1000)"}}', "JavaScript"),
    ("where-beside-field", {"collection": "trades_BTCUSDT",
                            "find": {"symbol": "X", "$where": "this.a > 0"}}, "JavaScript"),
    ("where-top-level", '{"collection": "trades_BTCUSDT", "find": {}, "$where": "1"}',
     "JavaScript"),
    ("where-in-count", {"count": "trades_BTCUSDT", "query": {"$or": [{"$where": "1"}]}},
     "JavaScript"),
    ("expr-function", {"collection": "trades_BTCUSDT",
                       "find": {"$expr": {"$function": JS}}}, "JavaScript"),
    ("match-expr-function", {"collection": "trades_BTCUSDT",
                             "aggregate": [{"$match": {"$expr": {"$function": JS}}}]},
     "JavaScript"),
    ("deep-nested-function", {"collection": "trades_BTCUSDT", "aggregate": [
        {"$project": {"x": {"$cond": [{"$and": [{"$eq": [1, 1]}, {"$function": JS}]}, 1, 0]}}}
    ]}, "JavaScript"),
    ("accumulator", {"collection": "trades_BTCUSDT", "aggregate": [
        {"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}"}}}}
    ]}, "JavaScript"),
    ("projection-function", {"collection": "trades_BTCUSDT", "find": {},
                             "projection": {"x": {"$function": JS}}}, "JavaScript"),
    ("distinct-filter-where", {"collection": "trades_BTCUSDT", "distinct": "symbol",
                               "filter": {"$where": "1"}}, "JavaScript"),
    ("out-system-users", 'trades_BTCUSDT: [{"$out": "system.users"}]', "writes"),
    ("out-new-collection", 'trades_BTCUSDT: [{"$match": {}}, {"$out": "stolen"}]', "writes"),
    ("merge-system-profile", {"collection": "trades_BTCUSDT",
                              "aggregate": [{"$merge": {"into": "system.profile"}}]}, "writes"),
    ("merge-other-db", {"collection": "trades_BTCUSDT",
                        "aggregate": [{"$merge": {"into": {"db": "admin", "coll": "x"}}}]},
     "writes"),
    ("lookup-system-users", {"collection": "trades_BTCUSDT", "aggregate": [
        {"$lookup": {"from": "system.users", "localField": "a", "foreignField": "b",
                     "as": "u"}}]}, "other collections"),
    ("graph-lookup", {"collection": "trades_BTCUSDT", "aggregate": [
        {"$graphLookup": {"from": "leader_election", "startWith": "$a",
                          "connectFromField": "a", "connectToField": "b", "as": "g"}}]},
     "other collections"),
    ("union-with", 'trades_BTCUSDT: [{"$unionWith": "system.users"}]', "other collections"),
    ("lookup-in-facet", {"collection": "trades_BTCUSDT", "aggregate": [
        {"$facet": {"a": [{"$lookup": {"from": "system.users", "pipeline": [], "as": "u"}}]}}
    ]}, "other collections"),
    ("current-op", 'trades_BTCUSDT: [{"$currentOp": {}}]', "server internals"),
    ("coll-stats", 'trades_BTCUSDT: [{"$collStats": {"count": {}}}]', "server internals"),
    ("list-sessions", 'trades_BTCUSDT: [{"$listSessions": {}}]', "server internals"),
    ("plan-cache", 'trades_BTCUSDT: [{"$planCacheStats": {}}]', "server internals"),
    ("system-users", 'system.users: {"find": {}}', "system collection"),
    ("system-profile", {"collection": "system.profile", "count": {}}, "system collection"),
    ("system-js-command-style", {"find": "system.js", "filter": {}}, "system collection"),
    ("dollar-collection", 'trades$BTCUSDT: {"find": {}}', "'$'"),
    ("update", {"collection": "trades_BTCUSDT", "update": {"$set": {"a": 1}}}, "read-only"),
    ("insert", {"collection": "trades_BTCUSDT", "insert": [{"a": 1}]}, "read-only"),
    ("delete-many", 'trades_BTCUSDT: {"deleteMany": {}}', "read-only"),
    ("find-and-modify", {"collection": "trades_BTCUSDT", "findAndModify": {}}, "read-only"),
    ("map-reduce", {"collection": "trades_BTCUSDT", "mapReduce": {}}, "read-only"),
    ("drop", {"collection": "trades_BTCUSDT", "drop": 1}, "read-only"),
    ("eval", {"collection": "trades_BTCUSDT", "$eval": "db.dropDatabase()"}, "read-only"),
    ("chained-shell", 'trades_BTCUSDT: {"find": {}}; db.dropDatabase()', "not valid JSON"),
    ("shell-syntax", 'db.trades_BTCUSDT.remove({})', "'<collection>: {...}'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "reason"),
    [pytest.param(query, reason, id=name) for name, query, reason in INJECTIONS],
)
async def test_injection_attempts_are_refused_and_change_nothing(
    mongo_db: Db, query: str | dict[str, Any], reason: str
) -> None:
    await seed(mongo_db)
    await mongo_db["leader_election"].insert_one({"_id": "auditor", "term": 3})
    before = await snapshot(mongo_db)
    with pytest.raises(BadRequest) as refused:
        await run_raw_mongo(mongo_db, query)
    assert reason in refused.value.detail
    assert await snapshot(mongo_db) == before
