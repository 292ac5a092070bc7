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
    "close the content model of the first version (additionalProperties: false) so later "
    "versions may add properties, give '{name}' an empty schema ({{}} or true), or use "
    "FORWARD (or NONE) compatibility for this subject"
)

_TEXTS: dict[ChangeType, tuple[str, str]] = {
    _T.TYPE_CHANGED: (
        "the type changes{detail}: values {writer} allowed there are refused by {reader}",
        "keep the old type or accept both (a oneOf/anyOf with the old type as a branch); to "
        "really change it, add a property under a new name and retire the old one",
    ),
    _T.TYPE_NARROWED: (
        "number becomes integer: fractional numbers {writer} allowed are refused by {reader}",
        'keep "type": "number"',
    ),
    _T.SCHEMA_ADDED: (
        "{reader} constrains a position {writer} left free, so values {writer} allowed there "
        "may be refused",
        "leave it unconstrained, or make the new schema accept everything old data holds",
    ),
    _T.PATTERN_CHANGED: (
        "the pattern changes{detail}: strings {writer} allowed may not match it",
        "keep the old pattern, or make the new one also match every old string (old|new)",
    ),
    _T.MULTIPLE_OF_EXPANDED: (
        "multipleOf grows{detail}: numbers {writer} allowed that are not multiples of the new "
        "value are refused",
        "keep multipleOf, or change it only to a divisor of the old value",
    ),
    _T.MULTIPLE_OF_CHANGED: (
        "multipleOf changes{detail} to a value the old one is not a multiple of",
        "keep multipleOf, or change it only to a divisor of the old value",
    ),
    _T.REQUIRED_ATTRIBUTE_ADDED: (
        "'{name}' becomes required without a default: documents written with {writer} without it "
        "are refused",
        "give '{name}' a default, or keep it optional",
    ),
    _T.DEPENDENCY_ARRAY_ADDED: (
        "when '{name}' is present {reader} requires other properties {writer} did not",
        "drop the new dependentRequired entry",
    ),
    _T.DEPENDENCY_ARRAY_EXTENDED: (
        "when '{name}' is present {reader} requires more properties than {writer} did",
        "keep the old dependentRequired list, or shorten it",
    ),
    _T.DEPENDENCY_ARRAY_CHANGED: (
        "when '{name}' is present {reader} requires different properties than {writer} did",
        "keep the old dependentRequired list, or shorten it",
    ),
    _T.DEPENDENCY_SCHEMA_ADDED: (
        "documents holding '{name}' must now also meet a dependent schema {writer} did not have",
        "drop the dependent schema, or make it accept every old document",
    ),
    _T.ADDITIONAL_PROPERTIES_REMOVED: (
        "{reader} allows no undeclared properties: documents written with {writer} that carry one "
        "are refused",
        "keep additionalProperties open and declare the properties you expect; a subject "
        "must be closed from its first version",
    ),
    _T.ADDITIONAL_PROPERTIES_NARROWED: (
        "{reader} gives undeclared properties a schema where {writer} allowed any value",
        "keep additionalProperties open, or declare the properties you need",
    ),
    _T.UNEVALUATED_PROPERTIES_REMOVED: (
        "{reader} refuses unevaluated properties {writer} allowed",
        "keep unevaluatedProperties open, or declare the properties you expect",
    ),
    _T.UNEVALUATED_PROPERTIES_NARROWED: (
        "{reader} gives unevaluated properties a schema where {writer} allowed any value",
        "keep unevaluatedProperties open, or declare the properties you need",
    ),
    _T.ADDITIONAL_ITEMS_REMOVED: (
        "{reader} allows no items past the tuple: arrays from {writer} with more are refused",
        "keep extra items allowed",
    ),
    _T.ADDITIONAL_ITEMS_NARROWED: (
        "{reader} gives the items past the tuple a schema where {writer} allowed any value",
        "keep extra items unconstrained",
    ),
    _T.UNEVALUATED_ITEMS_REMOVED: (
        "{reader} refuses unevaluated items {writer} allowed",
        "keep unevaluatedItems open",
    ),
    _T.UNEVALUATED_ITEMS_NARROWED: (
        "{reader} gives unevaluated items a schema where {writer} allowed any value",
        "keep unevaluatedItems open",
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
        "add '{name}' as optional with a default, and " + _OPEN_HINT,
    ),
    _T.REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL: (
        "{reader} adds '{name}' as required without a default: documents written with {writer} "
        "do not have it",
        "give '{name}' a default, or add it as optional",
    ),
    _T.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: (
        "{reader} drops '{name}' and allows no undeclared properties: documents written "
        "with {writer} that carry '{name}' are refused",
        "keep '{name}' declared (say it is deprecated in its description), or let "
        "additionalProperties accept it",
    ),
    _T.PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} drops '{name}', and its additionalProperties/patternProperties schema "
        "refuses values {writer} allowed for '{name}'",
        "keep '{name}' declared, or widen the covering schema to accept its old values",
    ),
    _T.PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} declares '{name}' with a schema that refuses values {writer} allowed for it "
        "through additionalProperties/patternProperties",
        "give '{name}' a schema that accepts everything the covering schema accepted",
    ),
    _T.ITEM_ADDED_TO_OPEN_CONTENT_MODEL: (
        "{reader} adds a tuple position, but {writer} allowed any extra items, so old arrays "
        "may hold anything there",
        "forbid extra items from the first version, or give the new position an empty schema",
    ),
    _T.ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL: (
        "{reader} drops a tuple position and allows no extra items: arrays from {writer} "
        "that fill it are refused",
        "keep the position, or allow extra items",
    ),
    _T.ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} drops a tuple position, and its schema for extra items refuses values "
        "{writer} allowed there",
        "keep the position, or widen the schema for extra items",
    ),
    _T.ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL: (
        "{reader} adds a tuple position whose schema refuses values {writer} allowed there "
        "as extra items",
        "give the position a schema that accepts everything the extra-items schema did",
    ),
    _T.ENUM_ARRAY_NARROWED: (
        "{reader} allows fewer values ({values}): documents written with {writer} using "
        "them are refused",
        "keep every old value (say retired ones are deprecated in the description)",
    ),
    _T.ENUM_ARRAY_CHANGED: (
        "the allowed values change ({values}): documents written with {writer} may use a value "
        "{reader} refuses",
        "keep every old value; adding values is safe",
    ),
    _T.COMBINED_TYPE_CHANGED: (
        "the combination keyword changes{detail}: {reader} does not accept all {writer} did",
        "keep the keyword; changing to anyOf is always safe",
    ),
    _T.COMBINED_TYPE_SUBSCHEMAS_CHANGED: (
        "branches of {writer} have no compatible branch in {reader}{detail}",
        "keep every old branch (or a wider version of it) in the combination",
    ),
    _T.SUM_TYPE_NARROWED: (
        "{reader} has fewer oneOf/anyOf branches{detail}: values that matched only a "
        "removed branch are refused",
        "keep every old branch; adding branches is safe",
    ),
    _T.PRODUCT_TYPE_EXTENDED: (
        "{reader} adds an allOf condition{detail} that documents written with {writer} may fail",
        "drop the new condition, or make it accept every old document",
    ),
    _T.NOT_TYPE_EXTENDED: (
        "{reader}'s not excludes values {writer} allowed",
        "the new not-schema may match only values the old one matched",
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
        hint = "revert this change, or migrate the existing data first"
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
            f"drop the new {what}; a limit may only be added before data exists",
        )
    return (
        f"{{reader}} tightens the {what}{{detail}}: documents valid under {{writer}} may be "
        f"refused",
        f"keep the old {what} or loosen it; tighten only after migrating the data",
    )
