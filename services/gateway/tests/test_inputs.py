"""The input rules themselves (petrosa_gateway.inputs): exact edges, one definition each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from petrosa_gateway.errors import InvalidInput
from petrosa_gateway.inputs import (
    INT64_MAX,
    INT64_MIN,
    MAX_OFFSET,
    Offset,
    Pair,
    Period,
    Text,
    UtcDateTime,
    check_datetime,
    check_name,
    check_path,
    check_record,
    check_text,
    parse_iso_datetime,
    update_fields,
)
from petrosa_gateway.queries.market import SeriesQuery
from pydantic import TypeAdapter, ValidationError


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("BTC\x00USDT", "must not contain NUL"),
        ("a\x0fb", "U\\+000F"),
        ("tab\there", "U\\+0009"),
        ("del\x7f", "U\\+007F"),
        ("c1\x85", "U\\+0085"),
        ("lone \ud800", "lone surrogate"),
    ],
)
def test_text_with_control_characters_or_lone_surrogates_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_text(text, what="symbol")


def test_ordinary_text_passes_unchanged() -> None:
    for text in ("", "BTCUSDT", "naïve café ✓", "quote ' and \" and \\", "emoji 🚀"):
        assert check_text(text, what="x") == text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("$where", "must not start with '\\$'"),
        ("a.b", "must not contain '\\.'"),
        ("a\x0fb", "control characters"),
        ("a\x00b", "NUL"),
        (5, "must be a string"),
    ],
)
def test_field_names_follow_mongodbs_rules(name: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_name(name)


def test_names_may_hold_a_dollar_inside_and_paths_check_each_segment() -> None:
    assert check_name("price$usd") == "price$usd"
    assert check_path("meta.source") == "meta.source"
    with pytest.raises(InvalidInput, match="empty segment"):
        check_path("meta..source")
    with pytest.raises(InvalidInput, match="must not start with '\\$'"):
        check_path("tags.$")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"doc": {"a\x0fb": 1}}, "record: field name 'a\\\\x0fb' in 'doc' must not contain"),
        ({"doc": [{"ok": {"$gt": 1}}]}, "in 'doc.ok' must not start with '\\$'"),
        ({"doc": [[{"a.b": 1}]]}, "in 'doc' must not contain '\\.'"),
        ({"n": INT64_MAX + 1}, "field 'n': integer .* does not fit in 64 bits"),
        ({"n": INT64_MIN - 1}, "64 bits"),
        ({"x": float("nan")}, "not a finite number"),
        ({"s": "lone \udc00"}, "lone surrogate"),
    ],
)
def test_records_are_checked_at_every_depth(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_record(record, what="record")


def test_record_values_may_hold_control_characters_they_are_data() -> None:
    record = {"note": "line one\nline two\x00", "n": INT64_MAX, "m": INT64_MIN}
    assert check_record(record, what="record") is record


def test_an_update_takes_plain_fields_or_set_only() -> None:
    assert update_fields({"a.b": 1}) == {"a.b": 1}
    assert update_fields({"$set": {"a": 1}}) == {"a": 1}
    with pytest.raises(InvalidInput, match="other update operators"):
        update_fields({"$unset": {"a": 1}})
    with pytest.raises(InvalidInput, match="other update operators"):
        update_fields({"$set": {"a": 1}, "b": 2})
    with pytest.raises(InvalidInput, match="non-empty"):
        update_fields({"$set": {}})
    with pytest.raises(InvalidInput, match="must not start with '\\$'"):
        update_fields({"$set": {"$where": 1}})


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2024, 1, 1),  # naive means UTC
    ],
)
def test_dates_at_the_edges_of_1970_9999_utc_are_accepted(moment: datetime) -> None:
    accepted = check_datetime(moment)
    assert accepted.tzinfo is UTC
    assert accepted == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # 1969 in UTC
        datetime(1, 1, 1, 0, 1, tzinfo=timezone(timedelta(hours=4))),  # OverflowError in UTC
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),  # year 10000
    ],
)
def test_dates_outside_1970_9999_utc_are_refused(moment: datetime) -> None:
    with pytest.raises(InvalidInput, match="outside the years 1970-9999"):
        check_datetime(moment)


def test_iso_strings_are_dates_only_when_real_and_in_range() -> None:
    assert parse_iso_datetime("2025-01-01T10:00:00+02:00") == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert parse_iso_datetime("BTCUSDT") is None
    with pytest.raises(InvalidInput, match="not valid"):
        parse_iso_datetime("2025-02-30")
    with pytest.raises(InvalidInput, match="1970-9999"):
        parse_iso_datetime("0001-01-01T00:01:00+04:00")
    with pytest.raises(InvalidInput, match="1970-9999"):
        parse_iso_datetime("9999-12-31T23:59:00-01:00")


def test_typed_parameters_state_and_enforce_the_rules() -> None:
    offset: TypeAdapter[int] = TypeAdapter(Offset)
    assert offset.validate_python(MAX_OFFSET) == MAX_OFFSET
    for bad in (-1, MAX_OFFSET + 1, 2**63):
        with pytest.raises(ValidationError):
            offset.validate_python(bad)
    assert offset.json_schema() == {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
    text: TypeAdapter[str] = TypeAdapter(Text)
    with pytest.raises(ValidationError, match="NUL"):
        text.validate_python("BTC\x00USDT")
    assert text.json_schema()["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    pair: TypeAdapter[str] = TypeAdapter(Pair)
    assert pair.validate_python("ethusdt") == "ETHUSDT"
    with pytest.raises(ValidationError):
        pair.validate_python("ßUSDT")  # upper() would make it SSUSDT
    period: TypeAdapter[str] = TypeAdapter(Period)
    assert period.json_schema()["enum"][0] == "1m"
    with pytest.raises(ValidationError):
        period.validate_python("2m")
    moment: TypeAdapter[datetime] = TypeAdapter(UtcDateTime)
    with pytest.raises(ValidationError, match="1970-9999"):
        moment.validate_python("0001-01-01T00:01:00+04:00")


def test_nats_series_requests_obey_the_same_bounds() -> None:
    with pytest.raises(ValidationError, match="offset"):
        SeriesQuery.model_validate({"pair": "BTCUSDT", "offset": 2**63})
    with pytest.raises(ValidationError, match="1970-9999"):
        SeriesQuery.model_validate({"pair": "BTCUSDT", "start": "9999-12-31T23:59:00-01:00"})
    with pytest.raises(ValidationError, match="pair"):
        SeriesQuery.model_validate({"pair": "BTC\x00USDT"})
