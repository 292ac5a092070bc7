"""Compatibility verdicts and change types, case by case, as Confluent Schema Registry gives them.

Each case names the rule of Confluent's JSON Schema checker it follows
(confluentinc/schema-registry, json-schema-provider, ``...json.diff``: ``SchemaDiff`` and its
``COMPATIBLE_CHANGES_STRICT``, ``ObjectSchemaDiff``, ``ArraySchemaDiff``, ``CombinedSchemaDiff``,
``NumberSchemaDiff``, ...; docs.confluent.io "Schema Evolution and Compatibility" and the JSON
Schema serdes page for the content models). BACKWARD diffs the registered version (writer)
against the new schema (reader); FORWARD swaps them; FULL does both, backward first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from petrosa_gateway.schemas import (
    Change,
    ChangeType,
    CompatibilityMode,
    Direction,
    Policy,
    RegisteredVersion,
    SchemaError,
    UnresolvableReferenceError,
    UnsupportedDialectError,
    check,
    diff,
    explain,
    is_compatible,
)

B = CompatibilityMode.BACKWARD
F = CompatibilityMode.FORWARD
FULL = CompatibilityMode.FULL
NONE = CompatibilityMode.NONE
DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"


def closed(properties: dict[str, object], **more: object) -> dict[str, object]:
    """An object schema with a closed content model."""
    return {"type": "object", "properties": properties, "additionalProperties": False, **more}


def opened(properties: dict[str, object], **more: object) -> dict[str, object]:
    """An object schema with the default, open, content model."""
    return {"type": "object", "properties": properties, **more}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}


@dataclass(frozen=True)
class Case:
    id: str
    old: object
    new: object
    mode: CompatibilityMode
    compatible: bool
    changes: tuple[str, ...]
    rule: str
    """The Confluent semantics the verdict follows."""


CASES = [
    # annotations
    Case(
        "title-changed",
        {"title": "Candle", **STR},
        {"title": "OHLCV candle", **STR},
        B,
        True,
        ("TITLE_CHANGED #/",),
        "ID/TITLE/DESCRIPTION/DEFAULT_CHANGED are in COMPATIBLE_CHANGES_STRICT",
    ),
    Case(
        "default-changed",
        closed({"interval": {"type": "string", "default": "1m"}}),
        closed({"interval": {"type": "string", "default": "5m"}}),
        FULL,
        True,
        ("DEFAULT_CHANGED #/properties/interval", "DEFAULT_CHANGED #/properties/interval"),
        "DEFAULT_CHANGED is compatible in both directions",
    ),
    # types
    Case(
        "integer-widened-to-number",
        closed({"volume": INT}),
        closed({"volume": NUM}),
        B,
        True,
        ("TYPE_EXTENDED #/properties/volume",),
        "NumberSchemaDiff: requiresInteger dropped is TYPE_EXTENDED, compatible",
    ),
    Case(
        "number-narrowed-to-integer",
        closed({"volume": NUM}),
        closed({"volume": INT}),
        B,
        False,
        ("TYPE_NARROWED #/properties/volume",),
        "TYPE_NARROWED is not in COMPATIBLE_CHANGES",
    ),
    Case(
        "integer-widened-forward",
        closed({"volume": INT}),
        closed({"volume": NUM}),
        F,
        False,
        ("TYPE_NARROWED #/properties/volume",),
        "FORWARD is the backward diff swapped: the old reader sees a narrowing",
    ),
    Case(
        "integer-widened-full",
        closed({"volume": INT}),
        closed({"volume": NUM}),
        FULL,
        False,
        ("TYPE_EXTENDED #/properties/volume", "TYPE_NARROWED #/properties/volume"),
        "FULL = BACKWARD and FORWARD",
    ),
    Case(
        "string-to-number",
        closed({"price": STR}),
        closed({"price": NUM}),
        B,
        False,
        ("TYPE_CHANGED #/properties/price",),
        "SchemaDiff: different schema classes are TYPE_CHANGED",
    ),
    Case(
        "string-made-nullable",
        closed({"note": STR}),
        closed({"note": {"type": ["string", "null"]}}),
        B,
        True,
        ("SUM_TYPE_EXTENDED #/properties/note",),
        "a type list is an anyOf; a plain schema to a union with a compatible branch is "
        "SUM_TYPE_EXTENDED",
    ),
    Case(
        "nullable-made-required-string",
        closed({"note": {"type": ["string", "null"]}}),
        closed({"note": STR}),
        B,
        False,
        ("TYPE_CHANGED #/properties/note",),
        "a non-singleton anyOf to a plain schema falls through to TYPE_CHANGED",
    ),
    Case(
        "anything-to-empty-schema",
        closed({"price": NUM}),
        {},
        B,
        True,
        (),
        "SchemaDiff: any schema may change to the empty schema (update instanceof EmptySchema)",
    ),
    Case(
        "empty-schema-to-object",
        {},
        {"type": "object"},
        B,
        False,
        ("TYPE_CHANGED #/",),
        "SchemaDiffTest.testSchemaAddsProperties: {} to an object schema is incompatible",
    ),
    Case(
        "false-to-anything",
        False,
        STR,
        B,
        True,
        (),
        "SchemaDiff: the false schema may change to anything (original instanceof FalseSchema)",
    ),
    # strings
    Case(
        "max-length-decreased",
        closed({"symbol": {"type": "string", "maxLength": 20}}),
        closed({"symbol": {"type": "string", "maxLength": 10}}),
        B,
        False,
        ("MAX_LENGTH_DECREASED #/properties/symbol/maxLength",),
        "StringSchemaDiff: MAX_LENGTH_DECREASED is incompatible",
    ),
    Case(
        "max-length-increased",
        closed({"symbol": {"type": "string", "maxLength": 10}}),
        closed({"symbol": {"type": "string", "maxLength": 20}}),
        B,
        True,
        ("MAX_LENGTH_INCREASED #/properties/symbol/maxLength",),
        "MAX_LENGTH_INCREASED is in COMPATIBLE_CHANGES",
    ),
    Case(
        "min-length-added",
        closed({"symbol": STR}),
        closed({"symbol": {"type": "string", "minLength": 2}}),
        B,
        False,
        ("MIN_LENGTH_ADDED #/properties/symbol/minLength",),
        "a keyword added is a new constraint: *_ADDED limits are incompatible",
    ),
    Case(
        "pattern-added-forward",
        closed({"symbol": STR}),
        closed({"symbol": {"type": "string", "pattern": "^[A-Z0-9]+$"}}),
        F,
        True,
        ("PATTERN_REMOVED #/properties/symbol/pattern",),
        "FORWARD: the old reader sees the pattern removed, PATTERN_REMOVED is compatible",
    ),
    Case(
        "pattern-changed",
        closed({"symbol": {"type": "string", "pattern": "^[A-Z]+$"}}),
        closed({"symbol": {"type": "string", "pattern": "^[A-Z0-9]+$"}}),
        B,
        False,
        ("PATTERN_CHANGED #/properties/symbol/pattern",),
        "StringSchemaDiff compares pattern text: any other text is PATTERN_CHANGED",
    ),
    # numbers
    Case(
        "minimum-increased",
        closed({"qty": {"type": "number", "minimum": 0}}),
        closed({"qty": {"type": "number", "minimum": 1}}),
        B,
        False,
        ("MINIMUM_INCREASED #/properties/qty/minimum",),
        "NumberSchemaDiff: MINIMUM_INCREASED is incompatible",
    ),
    Case(
        "maximum-removed",
        closed({"qty": {"type": "number", "maximum": 1e6}}),
        closed({"qty": NUM}),
        B,
        True,
        ("MAXIMUM_REMOVED #/properties/qty/maximum",),
        "MAXIMUM_REMOVED is in COMPATIBLE_CHANGES",
    ),
    Case(
        "exclusive-minimum-added",
        closed({"price": NUM}),
        closed({"price": {"type": "number", "exclusiveMinimum": 0}}),
        B,
        False,
        ("EXCLUSIVE_MINIMUM_ADDED #/properties/price/exclusiveMinimum",),
        "EXCLUSIVE_MINIMUM_ADDED is not in COMPATIBLE_CHANGES",
    ),
    Case(
        "tick-size-refined",
        closed({"price": {"type": "number", "multipleOf": 0.01}}),
        closed({"price": {"type": "number", "multipleOf": 0.001}}),
        B,
        True,
        ("MULTIPLE_OF_REDUCED #/properties/price/multipleOf",),
        "old multipleOf a multiple of the new one: MULTIPLE_OF_REDUCED, compatible",
    ),
    Case(
        "tick-size-coarsened",
        closed({"price": {"type": "number", "multipleOf": 0.01}}),
        closed({"price": {"type": "number", "multipleOf": 0.05}}),
        B,
        False,
        ("MULTIPLE_OF_EXPANDED #/properties/price/multipleOf",),
        "new multipleOf a multiple of the old one: MULTIPLE_OF_EXPANDED, incompatible",
    ),
    Case(
        "multiple-of-unrelated",
        closed({"lot": {"type": "integer", "multipleOf": 3}}),
        closed({"lot": {"type": "integer", "multipleOf": 4}}),
        B,
        False,
        ("MULTIPLE_OF_CHANGED #/properties/lot/multipleOf",),
        "neither divides the other: MULTIPLE_OF_CHANGED, incompatible",
    ),
    # enums and const
    Case(
        "enum-extended",
        closed({"interval": {"enum": ["1m", "5m"]}}),
        closed({"interval": {"enum": ["1m", "5m", "15m"]}}),
        B,
        True,
        ("ENUM_ARRAY_EXTENDED #/properties/interval/enum",),
        "EnumSchemaDiff: new values a superset is ENUM_ARRAY_EXTENDED, compatible",
    ),
    Case(
        "enum-narrowed",
        closed({"interval": {"enum": ["1m", "5m", "15m"]}}),
        closed({"interval": {"enum": ["1m", "5m"]}}),
        B,
        False,
        ("ENUM_ARRAY_NARROWED #/properties/interval/enum",),
        "ENUM_ARRAY_NARROWED is incompatible",
    ),
    Case(
        "enum-narrowed-forward",
        closed({"interval": {"enum": ["1m", "5m", "15m"]}}),
        closed({"interval": {"enum": ["1m", "5m"]}}),
        F,
        True,
        ("ENUM_ARRAY_EXTENDED #/properties/interval/enum",),
        "FORWARD: the old reader's enum is a superset of what the new writer sends",
    ),
    Case(
        "typed-enum-changed-full",
        closed({"side": {"type": "string", "enum": ["BUY", "SELL"]}}),
        closed({"side": {"type": "string", "enum": ["buy", "sell"]}}),
        FULL,
        False,
        (
            "COMBINED_TYPE_SUBSCHEMAS_CHANGED #/properties/side",
            "COMBINED_TYPE_SUBSCHEMAS_CHANGED #/properties/side",
        ),
        "type + enum loads as a synthetic allOf[enum, string]; the enum branches cannot pair",
    ),
    Case(
        "typed-enum-extended",
        closed({"side": {"type": "string", "enum": ["BUY"]}}),
        closed({"side": {"type": "string", "enum": ["BUY", "SELL"]}}),
        B,
        True,
        ("ENUM_ARRAY_EXTENDED #/properties/side/allOf/0/enum",),
        "the synthetic allOf pairs enum with enum; the path names its branch",
    ),
    Case(
        "enum-dropped",
        closed({"side": {"type": "string", "enum": ["BUY", "SELL"]}}),
        closed({"side": STR}),
        B,
        True,
        ("PRODUCT_TYPE_NARROWED #/properties/side",),
        "an allOf losing a conjunct compatible with the new schema is PRODUCT_TYPE_NARROWED",
    ),
    Case(
        "const-changed",
        closed({"kind": {"const": "candle"}}),
        closed({"kind": {"const": "kline"}}),
        B,
        False,
        ("ENUM_ARRAY_CHANGED #/properties/kind/const",),
        "ConstSchemaDiff: a different const is ENUM_ARRAY_CHANGED",
    ),
    # open content model
    Case(
        "optional-added-to-open",
        opened({"symbol": STR}),
        opened({"symbol": STR, "venue": STR}),
        B,
        False,
        ("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/venue",),
        "8.x ObjectSchemaDiff: an open writer may already have sent 'venue' with any value",
    ),
    Case(
        "optional-added-to-open-forward",
        opened({"symbol": STR}),
        opened({"symbol": STR, "venue": STR}),
        F,
        True,
        ("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/venue",),
        "FORWARD: the open old reader ignores the extra property",
    ),
    Case(
        "empty-schema-added-to-open",
        opened({"symbol": STR}),
        opened({"symbol": STR, "meta": {}}),
        B,
        True,
        ("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/meta",),
        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL is compatible",
    ),
    Case(
        "removed-from-open",
        opened({"symbol": STR, "venue": STR}),
        opened({"symbol": STR}),
        B,
        True,
        ("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/venue",),
        "an open reader accepts the removed property as an additional one",
    ),
    Case(
        "removed-from-open-full",
        opened({"symbol": STR, "venue": STR}),
        opened({"symbol": STR}),
        FULL,
        False,
        (
            "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/venue",
            "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/venue",
        ),
        "forward half: the old reader declares what the open new writer may send freely",
    ),
    Case(
        "required-added-to-open",
        opened({"symbol": STR}),
        opened({"symbol": STR, "venue": STR}, required=["venue"]),
        B,
        False,
        ("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/venue",),
        "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL is never compatible",
    ),
    # closed content model
    Case(
        "optional-added-to-closed",
        closed({"symbol": STR}),
        closed({"symbol": STR, "venue": STR}),
        B,
        True,
        ("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/venue",),
        "a closed writer never sent 'venue': OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    ),
    Case(
        "optional-added-to-closed-full",
        closed({"symbol": STR}),
        closed({"symbol": STR, "venue": STR}),
        FULL,
        False,
        (
            "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/venue",
            "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/venue",
        ),
        "forward half: the closed old reader refuses the new property",
    ),
    Case(
        "required-added-to-closed",
        closed({"symbol": STR}),
        closed({"symbol": STR, "venue": STR}, required=["venue"]),
        B,
        False,
        ("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/venue",),
        "required without a default: old documents lack it",
    ),
    Case(
        "required-with-default-added-to-closed",
        closed({"symbol": STR}),
        closed(
            {"symbol": STR, "venue": {"type": "string", "default": "binance"}}, required=["venue"]
        ),
        B,
        True,
        ("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/venue",),
        "the reader fills the default in: compatible",
    ),
    Case(
        "removed-from-closed",
        closed({"symbol": STR, "venue": STR}),
        closed({"symbol": STR}),
        B,
        False,
        ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/venue",),
        "a closed reader refuses old documents that carry the property",
    ),
    # required
    Case(
        "made-required",
        closed({"symbol": STR, "venue": STR}),
        closed({"symbol": STR, "venue": STR}, required=["venue"]),
        B,
        False,
        ("REQUIRED_ATTRIBUTE_ADDED #/required/venue",),
        "ObjectSchemaDiff.compareRequired: REQUIRED_ATTRIBUTE_ADDED is incompatible",
    ),
    Case(
        "made-required-with-default",
        closed({"venue": STR}),
        closed({"venue": {"type": "string", "default": "binance"}}, required=["venue"]),
        B,
        True,
        (
            "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED #/required/venue",
            "DEFAULT_CHANGED #/properties/venue",
        ),
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED is compatible",
    ),
    Case(
        "made-optional",
        closed({"venue": STR}, required=["venue"]),
        closed({"venue": STR}),
        B,
        True,
        ("REQUIRED_ATTRIBUTE_REMOVED #/required/venue",),
        "REQUIRED_ATTRIBUTE_REMOVED is compatible",
    ),
    # additionalProperties
    Case(
        "content-model-closed",
        opened({"symbol": STR}),
        closed({"symbol": STR}),
        B,
        False,
        ("ADDITIONAL_PROPERTIES_REMOVED #/additionalProperties",),
        "closing a model later is ADDITIONAL_PROPERTIES_REMOVED, incompatible",
    ),
    Case(
        "content-model-opened",
        closed({"symbol": STR}),
        opened({"symbol": STR}),
        B,
        True,
        ("ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",),
        "ADDITIONAL_PROPERTIES_ADDED is compatible",
    ),
    Case(
        "additional-given-a-schema",
        {"type": "object"},
        {"type": "object", "additionalProperties": NUM},
        B,
        False,
        ("ADDITIONAL_PROPERTIES_NARROWED #/additionalProperties",),
        "a schema where anything was allowed is ADDITIONAL_PROPERTIES_NARROWED",
    ),
    Case(
        "additional-schema-dropped",
        {"type": "object", "additionalProperties": NUM},
        {"type": "object"},
        B,
        True,
        ("ADDITIONAL_PROPERTIES_EXTENDED #/additionalProperties",),
        "ADDITIONAL_PROPERTIES_EXTENDED is compatible",
    ),
    # partially open content model
    Case(
        "removed-covered-by-additional",
        closed({"symbol": STR, "venue": STR}),
        {"type": "object", "properties": {"symbol": STR}, "additionalProperties": STR},
        B,
        True,
        (
            "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/venue",
            "ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",
        ),
        "the reader's additionalProperties schema accepts the old values",
    ),
    Case(
        "removed-not-covered",
        {"type": "object", "properties": {"qty": INT}, "additionalProperties": STR},
        {"type": "object", "properties": {}, "additionalProperties": STR},
        B,
        False,
        (
            "TYPE_CHANGED #/properties/qty",
            "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/qty",
        ),
        "integers the writer sent under 'qty' fail the reader's string additionalProperties",
    ),
    Case(
        "added-covered-by-pattern",
        {"type": "object", "patternProperties": {"^px_": NUM}, "additionalProperties": False},
        {
            "type": "object",
            "properties": {"px_open": NUM},
            "patternProperties": {"^px_": NUM},
            "additionalProperties": False,
        },
        B,
        True,
        (
            "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/px_open",
            "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/px_open",
        ),
        "patternProperties covers the new property with a compatible schema",
    ),
    # combined schemas
    Case(
        "one-of-gains-branch",
        {"oneOf": [STR, NUM]},
        {"oneOf": [STR, NUM, {"type": "null"}]},
        B,
        True,
        ("SUM_TYPE_EXTENDED #/",),
        "CombinedSchemaDiff: more branches of a union is SUM_TYPE_EXTENDED",
    ),
    Case(
        "one-of-loses-branch",
        {"oneOf": [STR, NUM, {"type": "null"}]},
        {"oneOf": [STR, NUM]},
        B,
        False,
        ("SUM_TYPE_NARROWED #/",),
        "SUM_TYPE_NARROWED is incompatible",
    ),
    Case(
        "all-of-gains-conjunct",
        {"allOf": [NUM]},
        {"allOf": [NUM, {"minimum": 0}]},
        B,
        False,
        ("PRODUCT_TYPE_EXTENDED #/",),
        "PRODUCT_TYPE_EXTENDED is incompatible",
    ),
    Case(
        "one-of-to-any-of",
        {"oneOf": [STR, NUM]},
        {"anyOf": [STR, NUM]},
        B,
        True,
        ("COMBINED_TYPE_EXTENDED #/",),
        "any criterion may become anyOf: COMBINED_TYPE_EXTENDED",
    ),
    Case(
        "any-of-to-one-of",
        {"anyOf": [STR, NUM]},
        {"oneOf": [STR, NUM]},
        B,
        False,
        ("COMBINED_TYPE_CHANGED #/",),
        "to oneOf only from a singleton: otherwise COMBINED_TYPE_CHANGED",
    ),
    Case(
        "one-of-branch-retyped",
        {"oneOf": [STR, {"type": "object", "properties": {"px": NUM}}]},
        {"oneOf": [STR, {"type": "object", "properties": {"px": STR}}]},
        B,
        False,
        ("COMBINED_TYPE_SUBSCHEMAS_CHANGED #/",),
        "the object branches do not pair compatibly: COMBINED_TYPE_SUBSCHEMAS_CHANGED",
    ),
    Case(
        "one-of-reordered",
        {"oneOf": [STR, NUM]},
        {"oneOf": [NUM, STR]},
        FULL,
        True,
        (),
        "branches pair by a maximum matching, not by position",
    ),
    # $ref
    Case(
        "moved-into-defs",
        closed({"price": {"type": "number", "minimum": 0}}),
        {
            **closed({"price": {"$ref": "#/$defs/price"}}),
            "$defs": {"price": {"type": "number", "minimum": 0}},
        },
        FULL,
        True,
        (),
        "SchemaDiff.normalizeSchema follows $ref on both sides before comparing",
    ),
    Case(
        "ref-target-retyped",
        {
            **closed({"bid": {"$ref": "#/$defs/px"}, "ask": {"$ref": "#/$defs/px"}}),
            "$defs": {"px": NUM},
        },
        {
            **closed({"bid": {"$ref": "#/$defs/px"}, "ask": {"$ref": "#/$defs/px"}}),
            "$defs": {"px": STR},
        },
        B,
        False,
        ("TYPE_CHANGED #/properties/ask", "TYPE_CHANGED #/properties/bid"),
        "the change is reported where each reference is used",
    ),
    # arrays and tuples
    Case(
        "items-retyped",
        {"type": "array", "items": NUM},
        {"type": "array", "items": STR},
        B,
        False,
        ("TYPE_CHANGED #/items",),
        "ArraySchemaDiff compares the all-items schema under #/items",
    ),
    Case(
        "items-schema-added",
        {"type": "array"},
        {"type": "array", "items": NUM},
        B,
        False,
        ("SCHEMA_ADDED #/items",),
        "a schema where there was none is SCHEMA_ADDED, incompatible",
    ),
    Case(
        "items-schema-removed",
        {"type": "array", "items": NUM},
        {"type": "array"},
        B,
        True,
        ("SCHEMA_REMOVED #/items",),
        "SCHEMA_REMOVED is compatible",
    ),
    Case(
        "array-limits",
        {"type": "array", "minItems": 1, "maxItems": 500},
        {"type": "array", "maxItems": 100, "uniqueItems": True},
        B,
        False,
        (
            "MAX_ITEMS_DECREASED #/maxItems",
            "MIN_ITEMS_REMOVED #/minItems",
            "UNIQUE_ITEMS_ADDED #/uniqueItems",
        ),
        "MAX_ITEMS_DECREASED and UNIQUE_ITEMS_ADDED are incompatible, MIN_ITEMS_REMOVED is not",
    ),
    Case(
        "tuple-item-added-closed",
        {"type": "array", "items": [NUM, NUM], "additionalItems": False},
        {"type": "array", "items": [NUM, NUM, NUM], "additionalItems": False},
        B,
        True,
        ("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/2",),
        "Draft 7 tuple: a closed writer never sent a third item",
    ),
    Case(
        "tuple-item-added-open",
        {"type": "array", "items": [NUM, NUM]},
        {"type": "array", "items": [NUM, NUM, NUM]},
        B,
        False,
        ("ITEM_ADDED_TO_OPEN_CONTENT_MODEL #/items/2",),
        "an open tuple may already hold anything in third place",
    ),
    Case(
        "tuple-item-removed-closed",
        {"type": "array", "items": [NUM, NUM, NUM], "additionalItems": False},
        {"type": "array", "items": [NUM, NUM], "additionalItems": False},
        B,
        False,
        ("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL #/items/2",),
        "the closed reader refuses old three-item arrays",
    ),
    Case(
        "prefix-item-covered",
        {"$schema": DRAFT_2020, "type": "array", "prefixItems": [NUM], "items": NUM},
        {"$schema": DRAFT_2020, "type": "array", "prefixItems": [NUM, NUM], "items": NUM},
        B,
        True,
        ("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1",),
        "2020-12: prefixItems is the tuple, items the partially open rest",
    ),
    Case(
        "nested-book-level-retyped",
        closed({"bids": {"type": "array", "items": {"type": "array", "items": NUM}}}),
        closed({"bids": {"type": "array", "items": {"type": "array", "items": STR}}}),
        B,
        False,
        ("TYPE_CHANGED #/properties/bids/items/items",),
        "the walk descends nested objects and arrays; the path says where",
    ),
    # not, dependencies
    Case(
        "not-narrowed",
        {"not": NUM},
        {"not": INT},
        B,
        True,
        ("NOT_TYPE_NARROWED #/not",),
        "NotSchemaDiff: what `not` excludes shrinks: NOT_TYPE_NARROWED, compatible",
    ),
    Case(
        "not-extended",
        {"not": INT},
        {"not": NUM},
        B,
        False,
        ("NOT_TYPE_EXTENDED #/not",),
        "NOT_TYPE_EXTENDED is incompatible",
    ),
    Case(
        "dependent-required-added",
        {"$schema": DRAFT_2020, **opened({"bid": NUM, "ask": NUM})},
        {
            "$schema": DRAFT_2020,
            **opened({"bid": NUM, "ask": NUM}, dependentRequired={"bid": ["ask"]}),
        },
        B,
        False,
        ("DEPENDENCY_ARRAY_ADDED #/dependencies/bid",),
        "dependentRequired compares as Draft 7 dependencies: DEPENDENCY_ARRAY_ADDED",
    ),
    # NONE
    Case(
        "none-mode",
        closed({"price": STR}),
        closed({"price": NUM}),
        NONE,
        True,
        (),
        "NONE checks nothing",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verdict_and_changes_match_confluent(case: Case) -> None:
    result = check(case.new, [RegisteredVersion(1, case.old)], case.mode)
    found = tuple(f"{c.type} {c.path}" for cmp in result.comparisons for c in cmp.changes)
    assert (result.is_compatible, found) == (case.compatible, case.changes), case.rule


def test_the_table_covers_at_least_forty_pairs_and_every_mode_family() -> None:
    assert len(CASES) >= 40
    assert {c.mode for c in CASES} == {B, F, FULL, NONE}
    assert len({c.id for c in CASES}) == len(CASES)


# transitive modes

# v1: 'venue' optional. v2: required with a default (compatible: a reader fills it in).
# v3: the default dropped. Against v2 only the default changed; v1's documents may lack 'venue'
# and v3 has nothing to fill in.
V1 = closed({"symbol": STR, "venue": STR})
V2 = closed({"symbol": STR, "venue": {"type": "string", "default": "binance"}}, required=["venue"])
V3 = closed({"symbol": STR, "venue": STR}, required=["venue"])
HISTORY = [RegisteredVersion(2, V2), RegisteredVersion(1, V1)]


def test_each_step_of_the_history_was_backward_compatible() -> None:
    assert check(V2, [RegisteredVersion(1, V1)]).is_compatible


def test_backward_accepts_what_only_breaks_version_one() -> None:
    result = check(V3, HISTORY, CompatibilityMode.BACKWARD)
    assert result.is_compatible
    assert [c.version for c in result.comparisons] == [2]


def test_backward_transitive_catches_the_break_against_version_one() -> None:
    result = check(V3, HISTORY, CompatibilityMode.BACKWARD_TRANSITIVE)
    assert not result.is_compatible
    assert [c.version for c in result.comparisons] == [2, 1]
    assert [(b.version, b.change.type, b.change.path) for b in result.breaking] == [
        (1, ChangeType.REQUIRED_ATTRIBUTE_ADDED, "#/required/venue")
    ]
    assert "version 1" in result.breaking[0].message
    assert "default" in result.breaking[0].hint


def test_forward_transitive_catches_an_old_reader_the_latest_would_not() -> None:
    # v1 readers require 'venue' with no default; v2 gave it a default; v3 makes it optional.
    # v2's readers fill the default in, v1's cannot.
    history = [RegisteredVersion(2, V2), RegisteredVersion(1, V3)]
    new = V1
    assert check(new, history, CompatibilityMode.FORWARD).is_compatible
    result = check(new, history, CompatibilityMode.FORWARD_TRANSITIVE)
    assert not result.is_compatible
    assert {(b.version, b.direction) for b in result.breaking} == {(1, Direction.FORWARD)}


def test_full_transitive_checks_both_directions_against_every_version() -> None:
    result = check(V3, HISTORY, CompatibilityMode.FULL_TRANSITIVE)
    assert [(c.version, c.direction) for c in result.comparisons] == [
        (2, Direction.BACKWARD),
        (2, Direction.FORWARD),
        (1, Direction.BACKWARD),
        (1, Direction.FORWARD),
    ]
    assert not result.is_compatible


def test_lenient_transitive_catches_a_property_retyped_behind_an_open_model() -> None:
    # Confluent's LENIENT policy lets properties come and go in open models, so removing
    # 'qty' and adding it back with another type passes step by step; only v1 sees the retype.
    v1 = opened({"qty": INT})
    v2 = opened({})
    v3 = opened({"qty": STR})
    history = [RegisteredVersion(2, v2), RegisteredVersion(1, v1)]
    assert check(v3, history, CompatibilityMode.BACKWARD, policy=Policy.LENIENT).is_compatible
    result = check(v3, history, CompatibilityMode.BACKWARD_TRANSITIVE, policy=Policy.LENIENT)
    assert [(b.version, b.change.type) for b in result.breaking] == [(1, ChangeType.TYPE_CHANGED)]
    assert not check(v3, history, CompatibilityMode.BACKWARD).is_compatible  # STRICT


def test_earlier_versions_must_be_given_newest_first() -> None:
    with pytest.raises(ValueError, match="newest first"):
        check(V3, list(reversed(HISTORY)), CompatibilityMode.BACKWARD_TRANSITIVE)


def test_a_first_version_is_compatible_in_every_mode() -> None:
    for mode in CompatibilityMode:
        result = check(V1, [], mode)
        assert result.is_compatible
        assert result.comparisons == ()


# verbose report


def test_verbose_messages_name_the_path_the_versions_and_a_hint() -> None:
    result = check(
        opened({"symbol": STR, "venue": STR}), [RegisteredVersion(4, opened({"symbol": STR}))]
    )
    (message,) = result.messages
    assert message.startswith("#/properties/venue: the new schema declares 'venue'")
    assert "version 4 has an open content model" in message
    assert "additionalProperties: false" in message


def test_forward_messages_swap_reader_and_writer() -> None:
    result = check(closed({"price": NUM}), [RegisteredVersion(3, closed({"price": INT}))], F)
    (breaking,) = result.breaking
    assert breaking.direction is Direction.FORWARD
    assert breaking.message == (
        "#/properties/price: number becomes integer: fractional numbers the new schema allowed "
        "are refused by version 3."
    )
    assert breaking.hint == 'Keep both at "type": "number", or both at "integer".'


def _emittable_breaking_types() -> list[ChangeType]:
    never_emitted = {
        ChangeType.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,  # Confluent 7.x name
        ChangeType.RESERVED_PROPERTY_REMOVED,  # metadata checks, not schema structure
        ChangeType.RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY,
    }
    return [t for t in ChangeType if not is_compatible(t) and t not in never_emitted]


@pytest.mark.parametrize("change_type", _emittable_breaking_types())
def test_every_breaking_change_type_has_its_own_words(change_type: ChangeType) -> None:
    words = explain(Change(change_type, "#/properties/px"), reader="R", writer="W")
    # The fallback for a type without words of its own starts with the type's name.
    assert not words.message.startswith(f"#/properties/px: {change_type.value}")
    assert "R" in words.message or "W" in words.message


def test_explanations_fill_in_the_property_name_and_values() -> None:
    words = explain(
        Change(ChangeType.REQUIRED_ATTRIBUTE_ADDED, "#/required/venue"),
        reader="the new schema",
        writer="version 2",
    )
    assert words.message == (
        "#/required/venue: 'venue' becomes required without a default: documents written with "
        "version 2 without it are refused."
    )
    assert words.hint == "Give 'venue' a default in the new schema, or keep it optional there."


# the walk itself


def _recursive_pair(t0_id: str, t1_id: str) -> dict[str, object]:
    """Confluent's memoisation reproducer: T0 -> T2 -> T0 behind a root oneOf[T0, T1]."""

    def node(id_type: str, target: str) -> dict[str, object]:
        return opened(
            {"id": {"type": id_type}, "ref": {"oneOf": [{"$ref": f"#/definitions/{target}"}]}}
        )

    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {
            "T0": node(t0_id, "T2"),
            "T1": node(t1_id, "T2"),
            "T2": node("integer", "T0"),
        },
        **opened({"root": {"oneOf": [{"$ref": "#/definitions/T0"}, {"$ref": "#/definitions/T1"}]}}),
    }


def test_recursive_schemas_compare_equal_to_themselves() -> None:
    assert diff(_recursive_pair("integer", "boolean"), _recursive_pair("integer", "boolean")) == []


def test_a_cycle_assumed_compatible_does_not_mask_a_real_break() -> None:
    changes = diff(_recursive_pair("integer", "boolean"), _recursive_pair("boolean", "number"))
    assert not all(is_compatible(c.type) for c in changes)


def test_references_outside_the_document_are_refused() -> None:
    with pytest.raises(UnresolvableReferenceError, match="outside this schema"):
        diff({"$ref": "https://example.com/candle.json"}, STR)
    with pytest.raises(UnresolvableReferenceError):
        diff({"$ref": "#/$defs/missing"}, STR)


def test_an_unknown_dialect_is_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedDialectError):
        diff({"$schema": "https://example.com/my-dialect"}, STR)


def test_a_schema_that_is_not_an_object_or_boolean_is_refused() -> None:
    with pytest.raises(SchemaError):
        diff([STR], STR)


def test_absurdly_deep_nesting_is_a_schema_error_not_a_crash() -> None:
    deep: dict[str, object] = STR
    for _ in range(5000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(SchemaError, match="too deeply"):
        diff(deep, deep)
