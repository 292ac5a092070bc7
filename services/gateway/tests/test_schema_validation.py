"""Validation of records against registered schemas: dialects, formats, every error, counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from petrosa_gateway.schemas import (
    Dialect,
    InvalidSchemaError,
    SchemaError,
    UnsupportedDialectError,
    ValidationIssue,
    all_valid,
    check_schema,
    fingerprint,
    is_valid,
    normalise,
    validate_records,
)

DRAFT_7 = "http://json-schema.org/draft-07/schema#"
DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"

TRADE = {
    "type": "object",
    "properties": {
        "trade_id": {"type": "string", "format": "uuid"},
        "executed_at": {"type": "string", "format": "date-time"},
        "price": {"type": "number", "exclusiveMinimum": 0},
        "qty": {"type": "number", "exclusiveMinimum": 0},
        "side": {"enum": ["BUY", "SELL"]},
    },
    "required": ["trade_id", "executed_at", "price", "qty", "side"],
    "additionalProperties": False,
}


def trade(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "trade_id": "123e4567-e89b-12d3-a456-426614174000",
        "executed_at": "2024-05-01T12:00:00.250Z",
        "price": 64000.5,
        "qty": 0.01,
        "side": "BUY",
    }
    record.update(changes)
    return record


FORMAT_CASES = [
    ("date-time", "2024-05-01T12:00:00Z", True),
    ("date-time", "2024-05-01T12:00:00.123+02:00", True),
    ("date-time", "2024-05-01 12:00:00Z", False),
    ("date-time", "2024-05-01T12:00:00", False),
    ("date-time", "2024-13-01T12:00:00Z", False),
    ("email", "desk@petrosa.example", True),
    ("email", "not-an-email", False),
    ("email", "two words@petrosa.example", False),
    ("uri", "https://petrosa.example/candles?pair=BTCUSDT", True),
    ("uri", "urn:isbn:0451450523", True),
    ("uri", "/relative/path", False),
    ("uri", "no scheme", False),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", True),
    ("uuid", "123e4567e89b12d3a456426614174000", False),
    ("uuid", "123e4567-e89b-12d3-a456-42661417400", False),
]


@pytest.mark.parametrize("dialect_uri", [None, DRAFT_7, DRAFT_2020])
@pytest.mark.parametrize(("fmt", "value", "valid"), FORMAT_CASES)
def test_formats_are_checked_on_both_paths(
    dialect_uri: str | None, fmt: str, value: str, valid: bool
) -> None:
    schema: dict[str, object] = {"type": "string", "format": fmt}
    if dialect_uri:
        schema["$schema"] = dialect_uri
    report = validate_records(schema, [value])
    assert is_valid(schema, value) is valid
    assert report.all_valid is valid
    assert [i.keyword for i in report.issues] == ([] if valid else ["format"])


def test_a_schema_without_schema_keyword_is_draft_2020_12() -> None:
    tuple_schema = {"type": "array", "prefixItems": [{"type": "number"}], "items": False}
    assert check_schema(tuple_schema) is Dialect.DRAFT_2020_12
    assert is_valid(tuple_schema, [1.5])
    assert not is_valid(tuple_schema, [1.5, 2])
    assert not is_valid(tuple_schema, ["x"])


def test_draft_07_is_honoured_when_declared() -> None:
    # Draft 7 tuples are `items: [...]` with `additionalItems`; prefixItems means nothing there.
    draft7 = {"$schema": DRAFT_7, "type": "array", "items": [{"type": "number"}]}
    draft7 |= {"additionalItems": False}
    assert check_schema(draft7) is Dialect.DRAFT_7
    assert is_valid(draft7, [1.5])
    assert not is_valid(draft7, [1.5, 2])
    ignored = {"$schema": DRAFT_7, "type": "array", "prefixItems": [{"type": "number"}]}
    assert is_valid(ignored, ["not a number"])


def test_an_unknown_schema_dialect_is_refused() -> None:
    with pytest.raises(UnsupportedDialectError, match="unsupported"):
        check_schema({"$schema": "https://json-schema.org/draft/2030-01/schema"})


def test_every_error_of_every_record_has_its_index_and_path() -> None:
    records = [
        trade(),
        trade(price=-1, side="HOLD", venue="binance"),
        {"executed_at": "yesterday", "price": "64000", "qty": 0.01, "side": "SELL"},
        trade(),
    ]
    report = validate_records(TRADE, records)
    assert (report.total, report.valid, report.invalid) == (4, 2, 2)
    assert report.invalid_indices == (1, 2)
    assert [(i.index, i.path, i.keyword) for i in report.issues] == [
        (1, "$", "additionalProperties"),
        (1, "$.price", "exclusiveMinimum"),
        (1, "$.side", "enum"),
        (2, "$", "required"),
        (2, "$.executed_at", "format"),
        (2, "$.price", "type"),
    ]
    assert report.issues[3] == ValidationIssue(
        index=2,
        path="$",
        message="'trade_id' is a required property",
        keyword="required",
        schema_path="#/required",
    )


def test_paths_reach_into_nested_arrays() -> None:
    book = {
        "type": "object",
        "properties": {
            "bids": {
                "type": "array",
                "items": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            }
        },
    }
    report = validate_records(book, [{"bids": [[1.0, 2.0], [3.0, "4"]]}])
    assert [(i.path, i.schema_path) for i in report.issues] == [
        ("$.bids[1][1]", "#/properties/bids/items/prefixItems/1/type")
    ]


def test_elapsed_time_is_measured_with_the_given_clock() -> None:
    ticks: Iterator[float] = iter([10.0, 10.25])
    report = validate_records(TRADE, [trade()], clock=lambda: next(ticks))
    assert report.elapsed_ms == 250.0


def test_a_clean_batch_has_no_issues() -> None:
    records = [trade(trade_id=f"123e4567-e89b-12d3-a456-4266141740{i:02d}") for i in range(50)]
    report = validate_records(TRADE, records)
    assert (report.total, report.valid, report.invalid, report.issues) == (50, 50, 0, ())
    assert report.all_valid
    assert report.elapsed_ms >= 0


def test_the_fast_path_answers_for_a_whole_batch() -> None:
    assert all_valid(TRADE, [trade(), trade(side="SELL")])
    assert not all_valid(TRADE, [trade(), trade(qty=0)])
    assert all_valid(TRADE, [])


def test_the_fast_and_detailed_paths_agree_on_email() -> None:
    # jsonschema alone accepts any string with an "@"; both paths use jsonschema-rs's rule.
    schema = {"type": "string", "format": "email"}
    assert not is_valid(schema, "a b@c.example")
    report = validate_records(schema, ["a b@c.example"])
    assert [i.keyword for i in report.issues] == ["format"]


def test_an_invalid_schema_is_refused_with_every_reason() -> None:
    with pytest.raises(InvalidSchemaError) as refused:
        check_schema({"type": "strng", "minLength": -1})
    assert len(refused.value.reasons) == 2
    assert any(r.startswith("#/minLength:") for r in refused.value.reasons)
    assert any(r.startswith("#/type:") for r in refused.value.reasons)


def test_references_are_resolved_inside_the_schema_only() -> None:
    schema = {"$defs": {"px": {"type": "number"}}, "properties": {"price": {"$ref": "#/$defs/px"}}}
    assert is_valid(schema, {"price": 1.5})
    assert not is_valid(schema, {"price": "1.5"})
    with pytest.raises(SchemaError, match="does not exist"):
        check_schema({"$ref": "#/$defs/missing"})
    with pytest.raises(SchemaError, match=r"https://petrosa\.example/px\.json"):
        check_schema({"$ref": "https://petrosa.example/px.json"})


def test_identical_schemas_normalise_alike_whatever_their_key_order() -> None:
    reordered = dict(reversed(list(TRADE.items())))
    assert normalise(reordered) == normalise(TRADE)
    assert fingerprint(reordered) == fingerprint(TRADE)


def test_a_different_required_order_is_a_different_schema_as_in_confluent() -> None:
    shuffled = {**TRADE, "required": list(reversed(TRADE["required"]))}
    assert fingerprint(shuffled) != fingerprint(TRADE)


def test_normalise_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(InvalidSchemaError):
        normalise({"maximum": float("nan")})


def test_absurdly_deep_schemas_are_refused_not_crashed_on() -> None:
    deep: dict[str, object] = {"type": "string"}
    for _ in range(5000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(SchemaError, match="too deeply"):
        check_schema(deep)
