"""The query language compiled to MongoDB, and records as MongoDB stores them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from petrosa_gateway.errors import BadRequest
from petrosa_gateway.store.language import parse_fields, parse_filter, parse_sort
from petrosa_gateway.store.mongo_writes import documents
from petrosa_gateway.store.to_mongo import mongo_filter, mongo_projection, mongo_sort
from petrosa_gateway.store.writes import insert_of

JAN1 = datetime(2025, 1, 1, tzinfo=UTC)


def compiled(spec: dict[str, Any]) -> dict[str, Any]:
    return mongo_filter(parse_filter(spec))


def test_plain_equality_and_every_operator_keep_the_clients_shape() -> None:
    spec = {
        "symbol": "BTCUSDT",
        "price": {"$gt": 1, "$gte": 2, "$lt": 3.5, "$lte": 4},
        "side": {"$ne": "SELL"},
        "venue": {"$in": ["a", "b"], "$nin": ["c"]},
        "closed": {"$exists": True},
        "note": None,
        "is_maker": False,
    }
    assert compiled(spec) == spec


def test_a_lone_eq_is_written_as_plain_equality() -> None:
    assert compiled({"side": {"$eq": "BUY"}}) == {"side": "BUY"}


def test_and_or_nest_and_dates_become_bson_dates() -> None:
    spec = {
        "$or": [
            {"symbol": "BTCUSDT"},
            {"$and": [{"price": {"$gt": 10}}, {"timestamp": {"$lt": "2025-01-01"}}]},
        ],
        "t": "2025-01-01T00:00:00Z",
        "u": {"$in": ["2025-01-01", "x"]},
        "_id": "2025-01-01",
    }
    assert compiled(spec) == {
        "$or": [
            {"symbol": "BTCUSDT"},
            {"$and": [{"price": {"$gt": 10}}, {"timestamp": {"$lt": JAN1}}]},
        ],
        "t": JAN1,
        "u": {"$in": [JAN1, "x"]},
        "_id": "2025-01-01",
    }


def test_an_empty_filter_matches_everything() -> None:
    assert compiled({}) == {}


def test_sort_gets_the_id_tiebreak_unless_sorted_on() -> None:
    assert mongo_sort(parse_sort("symbol,-timestamp"), tiebreak="_id") == [
        ("symbol", 1),
        ("timestamp", -1),
        ("_id", 1),
    ]
    assert mongo_sort(parse_sort({"_id": -1}), tiebreak="_id") == [("_id", -1)]
    assert mongo_sort(parse_sort(None)) == []


def test_projection_includes_only_the_fields() -> None:
    assert mongo_projection(parse_fields("open, meta.source")) == {"open": 1, "meta.source": 1}
    assert mongo_projection(parse_fields(None)) is None


def test_records_store_dates_everywhere_except_their_id() -> None:
    record = {
        "_id": "2025-01-01",
        "timestamp": "2025-01-01T00:00:00Z",
        "meta": {"seen": ["2025-01-01", "BTC"]},
        "n": 5,
    }
    assert documents(insert_of(record)) == (
        {"_id": "2025-01-01", "timestamp": JAN1, "meta": {"seen": [JAN1, "BTC"]}, "n": 5},
    )


def test_a_record_with_symbol_and_timestamp_gets_the_natural_key() -> None:
    (doc,) = documents(insert_of({"symbol": "BTCUSDT", "timestamp": 1_735_689_600_000}))
    assert doc == {"symbol": "BTCUSDT", "timestamp": JAN1, "_id": "BTCUSDT_1735689600000"}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"when": "1969-12-31T23:59:59Z"}, "record 0: field 'when': date"),
        ({"when": {"deep": ["9999-12-31T23:59:00-01:00"]}}, "field 'when.deep': date"),
        ({"when": "2025-02-30"}, "looks like an ISO-8601 date but is not valid"),
        ({"symbol": "X", "timestamp": 253_402_300_800_000}, "outside the years 1970-9999"),
        ({"blob": "x" * (16 * 1024 * 1024)}, "larger than MongoDB's 16 MiB document limit"),
    ],
)
def test_records_mongodb_cannot_hold_are_refused(record: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        documents(insert_of(record))
    assert message in refused.value.detail
