"""Breaking changes in plain words, each with a migration hint (the verbose compatibility report).

Every sentence names the *reader* (the schema that must accept the data) and the *writer* (the
schema the data was valid under). In a BACKWARD check the new schema reads an earlier version's
data; in a FORWARD check an earlier version reads the new schema's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from petrosa_gateway.schemas.changes import Change, ChangeType

_T = ChangeType


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a breaking change does to existing data, and how to evolve the schema instead."""

    message: str
    hint: str


# Stems of the keyword-limit change types (MAX_LENGTH_ADDED, MIN_ITEMS_INCREASED, ...).
_LIMITS = {
    "MAX_LENGTH": "maximum length (maxLength)",
    "MIN_LENGTH": "minimum length (minLength)",
    "PATTERN": "pattern",
    "MAXIMUM": "maximum",
    "MINIMUM": "minimum",
    "EXCLUSIVE_MAXIMUM": "exclusive maximum",
    "EXCLUSIVE_MINIMUM": "exclusive minimum",
    "MULTIPLE_OF": "multipleOf",
    "MAX_PROPERTIES": "maximum number of properties (maxProperties)",
    "MIN_PROPERTIES": "minimum number of properties (minProperties)",
    "MAX_ITEMS": "maximum number of items (maxItems)",
    "MIN_ITEMS": "minimum number of items (minItems)",
    "MAX_CONTAINS": "maxContains",
    "MIN_CONTAINS": "minContains",
    "UNIQUE_ITEMS": "uniqueItems",
}

_OPEN_HINT = (
    "an open content model cannot gain properties under BACKWARD nor lose them under FORWARD: "
    "close it from the subject's first version (additionalProperties: false), or give "
    "'{name}' an empty schema ({{}} or true) in {reader}"
)

_TEXTS: dict[ChangeType, tuple[str, str]] = {
    _T.TYPE_CHANGED: (
        "the type changes{detail}: values {writer} allowed there are refused by {reader}",
        "keep one type in both, or let {reader} accept both (a oneOf/anyOf with the other "
        "type as a branch); to really change it, add a property under a new name and retire "
        "the old one",
    ),
    _T.TYPE_NARROWED: (
        "number becomes integer: fractional numbers {writer} allowed are refused by {reader}",
        'keep both at "type": "number", or both at "integer"',
    ),
    _T.SCHEMA_ADDED: (
        "{reader} constrains a position {writer} left free, so values {writer} allowed there "
        "may be refused",
        "leave the position unconstrained in {reader}, or make its schema accept anything",
    ),
    _T.PATTERN_CHANGED: (
        "the pattern changes{detail}: strings {writer} allowed may not match it",
        "keep one pattern in both, or make {reader}'s match every string {writer}'s did "
        "(an alternation: old|new)",
    ),
    _T.MULTIPLE_OF_EXPANDED: (
        "multipleOf grows{detail}: numbers {writer} allowed that are not multiples of the new "
        "value are refused by {reader}",
        "{reader}'s multipleOf must divide {writer}'s: keep them equal, or use a divisor",
    ),
    _T.MULTIPLE_OF_CHANGED: (
        "multipleOf changes{detail}: numbers {writer} allowed may not be multiples of "
        "{reader}'s value",
        "{reader}'s multipleOf must divide {writer}'s: keep them equal, or use a divisor",
    ),
    _T.REQUIRED_ATTRIBUTE_ADDED: (
        "'{name}' becomes required without a default: documents written with {writer} without "
        "it are refused",
        "give '{name}' a default in {reader}, or keep it optional there",
    ),
    _T.DEPENDENCY_ARRAY_ADDED: (
        "when '{name}' is present {reader} requires other properties {writer} did not",
        "keep the dependentRequired entries of both schemas equal, or drop {reader}'s",
    ),
    _T.DEPENDENCY_ARRAY_EXTENDED: (
        "when '{name}' is present {reader} requires more properties than {writer} did",
        "{reader} may require only a subset of what {writer} required with '{name}'",
    ),
    _T.DEPENDENCY_ARRAY_CHANGED: (
        "when '{name}' is present {reader} requires different properties than {writer} did",
        "{reader} may require only a subset of what {writer} required with '{name}'",
    ),
    _T.DEPENDENCY_SCHEMA_ADDED: (
        "documents holding '{name}' must also meet a dependent schema {writer} did not have",
        "drop the dependent schema from {reader}, or make it accept every document",
    ),
    _T.ADDITIONAL_PROPERTIES_REMOVED: (
        "{reader} allows no undeclared properties: documents written with {writer} that carry "
        "one are refused",
        "a content model can be closed only from a subject's first version: keep "
        "additionalProperties open in {reader} and declare the properties you expect",
    ),
    _T.ADDITIONAL_PROPERTIES_NARROWED: (
        "{reader} gives undeclared properties a schema where {writer} allowed any value",
        "keep additionalProperties open in {reader}, or declare the properties you need",
    ),
    _T.UNEVALUATED_PROPERTIES_REMOVED: (
        "{reader} refuses unevaluated properties {writer} allowed",
        "keep unevaluatedProperties open in {reader}, or declare the properties you expect",
    ),
    _T.UNEVALUATED_PROPERTIES_NARROWED: (
        "{reader} gives unevaluated properties a schema where {writer} allowed any value",
        "keep unevaluatedProperties open in {reader}, or declare the properties you need",
    ),
    _T.ADDITIONAL_ITEMS_REMOVED: (
        "{reader} allows no items past the tuple: arrays written with {writer} that have more "
        "are refused",
        "keep extra items allowed in {reader}",
    ),
    _T.ADDITIONAL_ITEMS_NARROWED: (
        "{reader} gives the items past the tuple a schema where {writer} allowed any value",
        "keep extra items unconstrained in {reader}",
    ),
    _T.UNEVALUATED_ITEMS_REMOVED: (
        "{reader} refuses unevaluated items {writer} allowed",
        "keep unevaluatedItems open in {reader}",
    ),
    _T.UNEVALUATED_ITEMS_NARROWED: (
        "{reader} gives unevaluated items a schema where {writer} allowed any value",
        "keep unevaluatedItems open in {reader}",
    ),
    _T.OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} declares '{name}', but {writer} has an open content model: its documents "
        "may already carry '{name}' with any value",
        _OPEN_HINT,
    ),
    _T.PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} declares '{name}', but {writer} has an open content model: its documents "
        "may already carry '{name}' with any value",
        _OPEN_HINT,
    ),
    _T.REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} declares '{name}', but {writer} has an open content model: its documents "
        "may already carry '{name}' with any value",
        _OPEN_HINT,
    ),
    _T.REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} requires '{name}' without a default, and {writer} has an open content "
        "model: its documents may lack '{name}' or carry it with any value",
        "make '{name}' optional with a default; " + _OPEN_HINT,
    ),
    _T.REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL: (
        "{reader} requires '{name}' without a default: documents written with {writer} do not "
        "have it",
        "give '{name}' a default in {reader}, or make it optional there",
    ),
    _T.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: (
        "{reader} lacks '{name}' and allows no undeclared properties: documents written with "
        "{writer} that carry '{name}' are refused",
        "keep '{name}' declared in {reader} (say it is deprecated in its description), or let "
        "its additionalProperties accept it",
    ),
    _T.PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} lacks '{name}', and its additionalProperties/patternProperties schema refuses "
        "values {writer} allowed for '{name}'",
        "keep '{name}' declared in {reader}, or widen its covering schema to accept them",
    ),
    _T.PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} declares '{name}' with a schema that refuses values {writer} allowed for it "
        "through additionalProperties/patternProperties",
        "give '{name}' a schema in {reader} that accepts all that {writer}'s covering schema did",
    ),
    _T.ITEM_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} has a tuple position {writer} did not, and {writer} allowed any extra items, "
        "so its arrays may hold anything there",
        "forbid extra items from the subject's first version, or give the position an empty "
        "schema in {reader}",
    ),
    _T.ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL: (
        "{reader} lacks a tuple position and allows no extra items: arrays written with "
        "{writer} that fill it are refused",
        "keep the position in {reader}, or allow extra items there",
    ),
    _T.ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} lacks a tuple position, and its schema for extra items refuses values "
        "{writer} allowed there",
        "keep the position in {reader}, or widen its schema for extra items",
    ),
    _T.ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} has a tuple position whose schema refuses values {writer} allowed there as "
        "extra items",
        "give the position a schema in {reader} that accepts all {writer}'s extra items could",
    ),
    _T.ENUM_ARRAY_NARROWED: (
        "{reader} allows fewer values ({values}): documents written with {writer} using them "
        "are refused",
        "{reader} must keep every value {writer} allowed (say retired ones are deprecated in "
        "the description)",
    ),
    _T.ENUM_ARRAY_CHANGED: (
        "the allowed values change ({values}): documents written with {writer} may hold a "
        "value {reader} refuses",
        "{reader} must keep every value {writer} allowed; adding values is safe for readers",
    ),
    _T.COMBINED_TYPE_CHANGED: (
        "the combination keyword changes{detail}: {reader} does not accept all {writer} did",
        "keep one keyword in both; anyOf in {reader} is always safe",
    ),
    _T.COMBINED_TYPE_SUBSCHEMAS_CHANGED: (
        "branches of {writer} have no compatible branch in {reader}{detail}",
        "{reader} must keep a branch accepting what each branch of {writer} accepted",
    ),
    _T.SUM_TYPE_NARROWED: (
        "{reader} has fewer oneOf/anyOf branches{detail}: values that matched only a missing "
        "branch are refused",
        "{reader} must keep every branch of {writer}; adding branches is safe for readers",
    ),
    _T.PRODUCT_TYPE_EXTENDED: (
        "{reader} adds an allOf condition{detail} that documents written with {writer} may fail",
        "drop the extra condition from {reader}, or make it accept every document",
    ),
    _T.NOT_TYPE_EXTENDED: (
        "{reader}'s not excludes values {writer} allowed",
        "{reader}'s not-schema may match only values {writer}'s matched",
    ),
    _T.RESERVED_PROPERTY_REMOVED: (
        "{reader} no longer reserves '{name}', which {writer} reserved",
        "keep the reserved property in the metadata",
    ),
    _T.RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY: (
        "{reader} declares '{name}', which is reserved",
        "rename the property",
    ),
}


def explain(change: Change, *, reader: str, writer: str) -> Explanation:
    """Plain words for a breaking ``change``; ``reader``/``writer`` name the two schemas."""
    name = change.path.rstrip("/").rsplit("/", 1)[-1]
    detail = f" ({change.detail})" if change.detail else ""
    words = {
        "reader": reader,
        "writer": writer,
        "name": name,
        "detail": detail,
        "values": change.detail or "values removed",
    }
    text = _TEXTS.get(change.type) or _limit_text(change.type)
    if text is None:
        message = f"{change.type.value}{detail}: {reader} may refuse data {writer} allowed"
        hint = f"make {reader} accept everything {writer} allowed"
    else:
        message = text[0].format(**words)
        hint = text[1].format(**words)
    return Explanation(message=f"{change.path}: {message}.", hint=f"{hint[0].upper()}{hint[1:]}.")


def _limit_text(change_type: ChangeType) -> tuple[str, str] | None:
    stem, _, suffix = change_type.value.rpartition("_")
    what = _LIMITS.get(stem)
    if what is None:
        return None
    if suffix == "ADDED":
        return (
            f"{{reader}} adds a {what}{{detail}} that {{writer}} did not have: documents "
            f"valid under {{writer}} may break it",
            f"give {{writer}} the same {what}, or drop it from {{reader}}",
        )
    return (
        f"{{reader}} tightens the {what}{{detail}}: documents valid under {{writer}} may be "
        f"refused",
        f"keep the old {what} or loosen it; tighten only after migrating the data",
    )
