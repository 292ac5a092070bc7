"""The CRUD filter language: what it accepts, how it translates, and what it refuses."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from petrosa_gateway.errors import BadRequest
from petrosa_gateway.queries.mongo_filters import (
    coerce_document,
    parse_iso_datetime,
    to_mongo_filter,
    to_mongo_sort,
    to_projection,
)

JAN1 = datetime(2025, 1, 1, tzinfo=UTC)


def test_plain_equality_and_every_field_operator_pass_through() -> None:
    filter_ = {
        "symbol": "BTCUSDT",
        "price": {"$gt": 1, "$gte": 2, "$lt": 3.5, "$lte": 4},
        "side": {"$eq": "BUY", "$ne": "SELL"},
        "venue": {"$in": ["a", "b"], "$nin": ["c"]},
        "closed": {"$exists": True},
        "note": None,
        "is_maker": False,
    }
    assert to_mongo_filter(filter_) == filter_


def test_and_or_nest_and_translate_their_clauses() -> None:
    filter_ = {
        "$or": [
            {"symbol": "BTCUSDT"},
            {"$and": [{"price": {"$gt": 10}}, {"timestamp": {"$lt": "2025-01-01"}}]},
        ]
    }
    assert to_mongo_filter(filter_) == {
        "$or": [
            {"symbol": "BTCUSDT"},
            {"$and": [{"price": {"$gt": 10}}, {"timestamp": {"$lt": JAN1}}]},
        ]
    }


def test_empty_or_missing_filter_means_everything() -> None:
    assert to_mongo_filter({}) == {}
    assert to_mongo_filter(None) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01", JAN1),
        ("2025-01-01T00:00:00Z", JAN1),
        ("2025-01-01T00:00:00", JAN1),
        ("2025-01-01 00:00", JAN1),
        ("2025-01-01T02:00:00+02:00", JAN1),
        ("2024-12-31T19:00:00-0500", JAN1),
        ("2025-01-01T00:00:00.123Z", datetime(2025, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)),
        ("2025-01-01T00:00:00.123456789Z", datetime(2025, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_iso_strings_become_aware_utc_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_iso_datetime(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() is not None
    assert to_mongo_filter({"timestamp": {"$gte": text}}) == {"timestamp": {"$gte": expected}}


def test_dates_inside_in_lists_and_plain_equality_are_converted() -> None:
    assert to_mongo_filter({"t": "2025-01-01", "u": {"$in": ["2025-01-01", "x"]}}) == {
        "t": JAN1,
        "u": {"$in": [JAN1, "x"]},
    }


@pytest.mark.parametrize("text", ["BTCUSDT", "2025", "2025-01", "20250101", "1735689600000", ""])
def test_strings_that_are_not_dates_stay_strings(text: str) -> None:
    assert parse_iso_datetime(text) is None
    assert to_mongo_filter({"x": text}) == {"x": text}


def test_an_ids_date_like_string_stays_a_string() -> None:
    assert to_mongo_filter({"_id": "2025-01-01"}) == {"_id": "2025-01-01"}


@pytest.mark.parametrize("text", ["2025-02-30", "2025-13-01T00:00:00Z", "2025-01-01T25:00:00Z"])
def test_a_date_shaped_string_that_is_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="not valid"):
        to_mongo_filter({"timestamp": text})


def test_translation_does_not_modify_the_input() -> None:
    filter_: dict[str, Any] = {"$and": [{"t": {"$gte": "2025-01-01"}}]}
    before = copy.deepcopy(filter_)
    to_mongo_filter(filter_)
    assert filter_ == before


@pytest.mark.parametrize(
    ("filter_", "reason"),
    [
        ({"$where": "sleep(1000)"}, "server-side JavaScript"),
        ({"symbol": {"$where": "1"}}, "server-side JavaScript"),
        ({"$function": {"body": "return 1", "args": [], "lang": "js"}}, "JavaScript"),
        ({"$expr": {"$eq": ["$a", "$b"]}}, "aggregation expressions"),
        ({"symbol": {"$regex": "^BTC"}}, "pattern matching"),
        ({"$text": {"$search": "x"}}, "text search"),
        ({"$nor": [{"a": 1}]}, "not part of the filter language"),
        ({"a": {"$not": {"$gt": 1}}}, "not part of the filter language"),
        ({"a": {"$elemMatch": {"b": 1}}}, "not part of the filter language"),
        ({"a": {"$size": 1}}, "not part of the filter language"),
        ({"a": {"$and": [{"b": 1}]}}, "not part of the filter language"),
        ({"a": {"$gt": 1, "b": 2}}, "embedded-document"),
        ({"a": {"b": 1}}, "embedded-document"),
        ({"a": [1, 2]}, "array equality"),
        ({"a": {}}, "empty condition"),
        ({"a": {"$gt": {"$function": {}}}}, "values must be"),
        ({"a": {"$gt": [1]}}, "values must be"),
        ({"a": {"$in": "x"}}, "list of values"),
        ({"a": {"$in": [{"$gt": 1}]}}, "values must be"),
        ({"a": {"$exists": 1}}, "true or false"),
        ({"a": 2**70}, "64 bits"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$or": [1]}, "filter object"),
        ({"a.$where": 1}, "must not start with '\\$'"),
        ({"": 1}, "must not be empty"),
        ({"a..b": 1}, "empty segment"),
        ({"a\x0fb": 1}, "control characters"),
        ({"a": "x\x0fy"}, "control characters"),
        ({"a": {"$in": ["ok", "x\x00"]}}, "NUL"),
        ({"a": 1e999}, "finite"),
        ({"t": "0001-01-01T00:01:00+04:00"}, "1970-9999"),
        ({"t": {"$lt": "1969-12-31T23:59:59Z"}}, "1970-9999"),
        ({"a\x00": 1}, "NUL"),
    ],
)
def test_refused_filters_say_why(filter_: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        to_mongo_filter(filter_)


def test_a_filter_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="JSON object"):
        to_mongo_filter(["a"])  # type: ignore[arg-type]


def test_runaway_nesting_is_refused() -> None:
    filter_: dict[str, Any] = {"a": 1}
    for _ in range(20):
        filter_ = {"$and": [filter_]}
    with pytest.raises(BadRequest, match="deeper"):
        to_mongo_filter(filter_)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, []),
        ({}, []),
        ({"timestamp": -1}, [("timestamp", -1)]),
        ({"symbol": "asc", "timestamp": "DESC"}, [("symbol", 1), ("timestamp", -1)]),
        ([["symbol", 1], ("timestamp", -1)], [("symbol", 1), ("timestamp", -1)]),
        ("-timestamp", [("timestamp", -1)]),
        ("symbol, -timestamp", [("symbol", 1), ("timestamp", -1)]),
        ({"meta.source": "-1"}, [("meta.source", -1)]),
    ],
)
def test_sort_forms(sort: object, expected: list[tuple[str, int]]) -> None:
    assert to_mongo_sort(sort) == expected


@pytest.mark.parametrize(
    ("sort", "reason"),
    [
        ({"timestamp": 2}, "direction"),
        ({"timestamp": True}, "direction"),
        ({"$natural": 1}, "must not start with '\\$'"),
        ([["a", 1, 2]], "pairs"),
        ("a,a", "twice"),
        (5, "must be"),
    ],
)
def test_bad_sorts_are_refused(sort: object, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        to_mongo_sort(sort)


def test_projection_forms() -> None:
    assert to_projection(None) is None
    assert to_projection([]) is None
    assert to_projection("") is None
    assert to_projection(["open", "close"]) == {"open": 1, "close": 1}
    assert to_projection("open, meta.source") == {"open": 1, "meta.source": 1}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [(["$where"], "'\\$'"), (["a", "a.b"], "collide"), (["a\x00"], "NUL")],
)
def test_bad_projections_are_refused(fields: list[str], reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        to_projection(fields)


def test_documents_get_dates_everywhere_except_their_id() -> None:
    doc = {
        "_id": "2025-01-01",
        "timestamp": "2025-01-01T00:00:00Z",
        "meta": {"seen": ["2025-01-01", "BTC"]},
        "n": 5,
    }
    assert coerce_document(doc) == {
        "_id": "2025-01-01",
        "timestamp": JAN1,
        "meta": {"seen": [JAN1, "BTC"]},
        "n": 5,
    }


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"$where": "1"}, "must not start with '\\$'"),
        ({"$set": {"a": 1}}, "must not start with '\\$'"),
        ({"a": {"$gt": 1}}, "must not start with '\\$'"),
        ({"a": [{"b": {"$inc": 1}}]}, "must not start with '\\$'"),
        ({"a\x00b": 1}, "NUL"),
        ({"a": {"b\x00": 1}}, "NUL"),
        ({"": 1}, "must not be empty"),
        ({"a\x0fb": 1}, "control characters"),
        ({"a": [{"b\tc": 1}]}, "control characters"),
        ({"a": {"b": {"c": {"": 1}}}}, "must not be empty"),
        ({"when": "1969-12-31T23:59:59Z"}, "1970-9999"),
        ({"when": "9999-12-31T23:59:00-01:00"}, "1970-9999"),
        ({"a.b": 1}, "must not contain '.'"),
        ({"a": {"b.c": 1}}, "must not contain '.'"),
        ({"a": 2**64}, "64 bits"),
        ({"a": {1, 2}}, "unsupported value type"),
    ],
)
def test_documents_refuse_operator_keys_and_bad_names(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        coerce_document(doc)


def test_update_documents_may_use_dotted_paths_but_not_operator_segments() -> None:
    assert coerce_document({"meta.source": "api"}, paths=True) == {"meta.source": "api"}
    with pytest.raises(BadRequest, match="must not start with '\\$'"):
        coerce_document({"meta.$": 1}, paths=True)
    with pytest.raises(BadRequest, match="empty segment"):
        coerce_document({"meta.": 1}, paths=True)
    with pytest.raises(BadRequest, match="collide"):
        coerce_document({"meta": {}, "meta.source": "api"}, paths=True)
    with pytest.raises(BadRequest, match=r"must not contain '\.'"):
        coerce_document({"meta": {"a.b": 1}}, paths=True)
