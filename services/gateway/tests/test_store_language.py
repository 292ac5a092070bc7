"""The CRUD query language, parsed once for both stores: its nodes, limits and refusals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from petrosa_gateway.errors import BadRequest
from petrosa_gateway.store.language import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_LIST_VALUES,
    MAX_SORT_KEYS,
    Compare,
    Exists,
    FieldMatch,
    Filter,
    IsoDate,
    Logical,
    Member,
    SortKey,
    parse_fields,
    parse_filter,
    parse_sort,
)

JAN1 = datetime(2025, 1, 1, tzinfo=UTC)


def test_every_operator_becomes_its_node() -> None:
    parsed = parse_filter(
        {
            "symbol": "BTCUSDT",
            "price": {"$gt": 1, "$lte": 4.5},
            "side": {"$ne": None},
            "venue": {"$in": ["a", None], "$nin": []},
            "closed": {"$exists": False},
            "$or": [{"a": True}, {}],
        }
    )
    assert parsed == Filter(
        (
            FieldMatch("symbol", (Compare("$eq", "BTCUSDT"),)),
            FieldMatch("price", (Compare("$gt", 1), Compare("$lte", 4.5))),
            FieldMatch("side", (Compare("$ne", None),)),
            FieldMatch("venue", (Member("$in", ("a", None)), Member("$nin", ()))),
            FieldMatch("closed", (Exists(False),)),
            Logical("$or", (Filter((FieldMatch("a", (Compare("$eq", True),)),)), Filter())),
        )
    )


@pytest.mark.parametrize("spec", [None, {}, "", "null", "{}"])
def test_an_empty_or_missing_filter_means_everything(spec: object) -> None:
    assert parse_filter(spec) == Filter()


def test_json_text_parses_like_the_object() -> None:
    assert parse_filter('{"a": {"$gte": 2}}') == parse_filter({"a": {"$gte": 2}})
    with pytest.raises(BadRequest, match="malformed JSON in 'filter'"):
        parse_filter("{nope")


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-01-01", JAN1),
        ("2025-01-01T00:00:00Z", JAN1),
        ("2025-01-01 00:00", JAN1),
        ("2025-01-01T02:00:00+02:00", JAN1),
        ("2024-12-31T19:00:00-0500", JAN1),
        ("2025-01-01T00:00:00.123456789Z", datetime(2025, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_iso_strings_are_dates_keeping_the_text_sent(text: str, moment: datetime) -> None:
    parsed = parse_filter({"t": {"$gte": text}, "u": {"$in": [text, "x"]}})
    date = IsoDate(text, moment)
    assert parsed.terms == (
        FieldMatch("t", (Compare("$gte", date),)),
        FieldMatch("u", (Member("$in", (date, "x")),)),
    )


@pytest.mark.parametrize("text", ["BTCUSDT", "2025", "2025-01", "20250101", " 2025-01-01", ""])
def test_strings_that_are_not_dates_stay_strings(text: str) -> None:
    assert parse_filter({"x": text}).terms == (FieldMatch("x", (Compare("$eq", text),)),)


def test_an_ids_date_like_string_stays_a_string() -> None:
    assert parse_filter({"_id": "2025-01-01"}).terms == (
        FieldMatch("_id", (Compare("$eq", "2025-01-01"),)),
    )


def test_parsing_does_not_modify_the_input() -> None:
    spec: dict[str, Any] = {"$and": [{"t": {"$gte": "2025-01-01"}}]}
    before = copy.deepcopy(spec)
    parse_filter(spec)
    assert spec == before


def nested(levels: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"a": 1}
    for _ in range(levels):
        spec = {"$and": [spec]}
    return spec


def test_nesting_stops_at_the_one_limit() -> None:
    parse_filter(nested(MAX_DEPTH))
    with pytest.raises(BadRequest, match=f"filter nests \\$and/\\$or deeper than {MAX_DEPTH}"):
        parse_filter(nested(MAX_DEPTH + 1))


def test_conditions_stop_at_the_one_budget() -> None:
    parse_filter({f"f{i}": 1 for i in range(MAX_CONDITIONS)})
    with pytest.raises(BadRequest, match=f"more than {MAX_CONDITIONS} conditions"):
        parse_filter({"$or": [{f"f{i}": 1} for i in range(MAX_CONDITIONS)]})


def test_lists_stop_at_the_one_limit() -> None:
    parse_filter({"a": {"$in": list(range(MAX_LIST_VALUES))}})
    with pytest.raises(BadRequest, match=f"more than {MAX_LIST_VALUES} values"):
        parse_filter({"a": {"$nin": list(range(MAX_LIST_VALUES + 1))}})


JS = {"body": "return 1", "args": [], "lang": "js"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"$where": "sleep(1000)"}, "operator $where is not allowed at the top of a filter: it "
         "runs server-side JavaScript; allowed: $and, $or"),
        ({"symbol": {"$where": "1"}}, "server-side JavaScript"),
        ({"$function": JS}, "server-side JavaScript"),
        ({"$expr": {"$eq": ["$a", "$b"]}}, "aggregation expressions"),
        ({"symbol": {"$regex": "^BTC"}}, "operator $regex is not allowed on field 'symbol': "
         "pattern matching is outside the filter language"),
        ({"$text": {"$search": "x"}}, "text search"),
        ({"$nor": [{"a": 1}]}, "not part of the filter language"),
        ({"a": {"$not": {"$gt": 1}}}, "not part of the filter language"),
        ({"a": {"$elemMatch": {"b": 1}}}, "not part of the filter language"),
        ({"a": {"$and": [{"b": 1}]}}, "not part of the filter language"),
        ({"a": {"$gt": 1, "b": 2}}, "filter field 'a': embedded-document equality is not "
         "supported"),
        ({"details": {"k": 1}}, "embedded-document equality"),
        ({"a": [1, 2]}, "filter field 'a': array equality is not supported (use $in)"),
        ({"a": {}}, "filter field 'a': empty condition object"),
        ({"a": {"$gt": None}}, "filter field 'a': $gt needs a value other than null"),
        ({"a": {"$lte": None}}, "$lte needs a value other than null"),
        ({"a": {"$gt": {"$function": {}}}}, "values must be strings, numbers, booleans or null"),
        ({"a": {"$gt": [1]}}, "values must be"),
        ({"a": {"$in": "x"}}, "filter field 'a': $in takes a list of values"),
        ({"a": {"$nin": {"b": 1}}}, "$nin takes a list of values"),
        ({"a": {"$in": [{"$gt": 1}]}}, "values must be"),
        ({"a": {"$exists": 1}}, "filter field 'a': $exists takes true or false"),
        ({"a": {"$exists": "yes"}}, "$exists takes true or false"),
        ({"a": 2**63}, "64 bits"),
        ({"a": 1e999}, "finite"),
        ({"$and": []}, "$and takes a non-empty list of filters"),
        ({"$or": {"a": 1}}, "$or takes a non-empty list of filters"),
        ({"$or": [1]}, "$or[0] must be a filter object"),
        ({"a.$where": 1}, "must not start with '$'"),
        ({"": 1}, "must not be empty"),
        ({"a..b": 1}, "empty segment"),
        ({"a\x0fb": 1}, "control characters"),
        ({"a\x00": 1}, "NUL"),
        ({"a": "x\x0fy"}, "control characters"),
        ({"a": {"$in": ["ok", "x\x00"]}}, "NUL"),
        ({"t": "2025-02-30"}, "looks like an ISO-8601 date but is not valid"),
        ({"t": "2025-01-01T25:00:00Z"}, "not valid"),
        ({"t": "0001-01-01T00:01:00+04:00"}, "1970-9999"),
        ({"t": {"$lt": "1969-12-31T23:59:59Z"}}, "1970-9999"),
    ],
)  # fmt: skip
def test_refused_filters_say_why(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_filter(spec)
    assert message in refused.value.detail


@pytest.mark.parametrize("spec", [["a"], 5, "[1]", "true"])
def test_a_filter_must_be_an_object(spec: object) -> None:
    with pytest.raises(BadRequest, match="filter must be a JSON object"):
        parse_filter(spec)


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        (None, []),
        ("", []),
        ({}, []),
        ({"timestamp": -1}, [("timestamp", -1)]),
        ('{"timestamp": -1}', [("timestamp", -1)]),
        ({"symbol": "asc", "timestamp": "DESC"}, [("symbol", 1), ("timestamp", -1)]),
        ([["symbol", 1], ("timestamp", "-1")], [("symbol", 1), ("timestamp", -1)]),
        ('[["symbol", "descending"]]', [("symbol", -1)]),
        ("-timestamp", [("timestamp", -1)]),
        ("symbol, -timestamp,+price,", [("symbol", 1), ("timestamp", -1), ("price", 1)]),
        ({"meta.source": "1"}, [("meta.source", 1)]),
    ],
)
def test_sort_forms(spec: object, keys: list[tuple[str, int]]) -> None:
    assert parse_sort(spec) == tuple(SortKey(path, direction) for path, direction in keys)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"timestamp": 2}, "sort field 'timestamp': direction must be 1, -1, 'asc' or 'desc'"),
        ({"timestamp": True}, "direction must be"),
        ({"timestamp": [1]}, "direction must be"),
        ({"$natural": 1}, "must not start with '$'"),
        ([["a", 1, 2]], "sort list items must be [field, direction] pairs"),
        ("a,-a", "sort field 'a' appears twice"),
        (5, "sort must be an object, a list of pairs or a string"),
        ("{bad", "malformed JSON in 'sort'"),
        ({f"f{i}": 1 for i in range(MAX_SORT_KEYS + 1)}, f"more than {MAX_SORT_KEYS} keys"),
    ],
)
def test_bad_sorts_are_refused_with_one_message(spec: object, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_sort(spec)
    assert message in refused.value.detail


def test_fields_forms() -> None:
    assert parse_fields(None) is None
    assert parse_fields([]) is None
    assert parse_fields("") is None
    assert parse_fields(" , ") is None
    assert parse_fields(["open", "close", "open"]) == ("open", "close")
    assert parse_fields("open, meta.source") == ("open", "meta.source")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["$where"], "must not start with '$'"),
        (["a", "a.b"], "projection: paths 'a' and 'a.b' collide"),
        (["a\x00"], "NUL"),
        ([5], "must be a string"),
        (7, "fields must be a list of names"),
        ([f"f{i}" for i in range(MAX_FIELDS + 1)], f"more than {MAX_FIELDS} fields"),
    ],
)
def test_bad_fields_are_refused(spec: object, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_fields(spec)
    assert message in refused.value.detail
