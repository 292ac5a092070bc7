"""A JSON Schema document parsed once into typed nodes: the shapes the compatibility walk compares.

The shapes are those of the schema model Confluent's checker walks (the everit loader behind
``JsonSchema.rawSchema``), because its verdicts depend on them:

* ``type`` given: one node of that kind, built from that kind's keywords only; a list of types
  is an anyOf with one node per type.
* ``type`` absent: one node per kind whose keywords appear, with the kinds' keyword sets below
  (``{"properties": {}}`` is an object node, ``{"maxLength": 3}`` a string node).
* ``enum``, ``const``, ``not``, each of ``allOf``/``anyOf``/``oneOf`` and ``if`` add a node of
  their own. No node at all is the empty schema (accepts anything), one node is that node,
  several are a *synthetic* allOf of them, carrying the title/description/default.
* ``true`` is the empty schema, ``false`` the schema that accepts nothing.
* ``$ref`` is resolved inside the document only (a JSON pointer, an ``$anchor``, an embedded
  ``$id``); a reference to another document raises UnresolvableReferenceError. Up to Draft 7 the
  siblings of ``$ref`` are ignored, as that draft says; from 2019-09 they also apply.

A schema without ``$schema`` is read as Confluent reads it, Draft 7, and the 2019-09/2020-12
keywords that cannot be mistaken for Draft 7 ones (``prefixItems``, ``$defs``,
``dependentRequired``, ``dependentSchemas``, ``unevaluated*``, ``$anchor``) are understood too.
Nodes compare by identity: a recursive schema is a graph, and the walk detects cycles by the
pair of nodes it is on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from functools import partial
from urllib.parse import unquote, urldefrag, urljoin

from petrosa_gateway.schemas.dialects import Dialect, declared_dialect
from petrosa_gateway.schemas.errors import InvalidSchemaError, UnresolvableReferenceError


class Criterion(StrEnum):
    """How a combined schema joins its branches; the value is the keyword."""

    ALL_OF = "allOf"
    ANY_OF = "anyOf"
    ONE_OF = "oneOf"


@dataclass(frozen=True, slots=True)
class Meta:
    """Annotations of a node; ``default`` is the canonical JSON of the default, if any."""

    id: str | None = None
    title: str | None = None
    description: str | None = None
    default: str | None = None
    connect_type: str | None = None


NO_META = Meta()


@dataclass(frozen=True, eq=False, slots=True)
class Node:
    """A schema node. ``raw`` is the JSON it came from: combined schemas dedupe branches by it."""

    meta: Meta
    raw: object


@dataclass(frozen=True, eq=False, slots=True)
class EmptyNode(Node):
    """Accepts anything: ``{}`` or ``true`` (``literal_true``)."""

    literal_true: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class FalseNode(Node):
    """Accepts nothing: ``false``."""


@dataclass(frozen=True, eq=False, slots=True)
class BooleanNode(Node):
    """``"type": "boolean"``."""


@dataclass(frozen=True, eq=False, slots=True)
class NullNode(Node):
    """``"type": "null"``."""


@dataclass(frozen=True, eq=False, slots=True)
class ConditionalNode(Node):
    """``if``/``then``/``else``: Confluent compares only its annotations."""


@dataclass(frozen=True, eq=False, slots=True)
class StringNode(Node):
    """String keywords (``format`` is not compared, as in Confluent)."""

    min_length: int | None
    max_length: int | None
    pattern: str | None


@dataclass(frozen=True, eq=False, slots=True)
class NumberNode(Node):
    """Number keywords; ``integer`` when the type is integer."""

    minimum: float | None
    maximum: float | None
    exclusive_minimum: float | None
    exclusive_maximum: float | None
    multiple_of: Decimal | None
    integer: bool


@dataclass(frozen=True, eq=False, slots=True)
class EnumNode(Node):
    """``enum``: the canonical JSON of each allowed value."""

    values: frozenset[str]


@dataclass(frozen=True, eq=False, slots=True)
class ConstNode(Node):
    """``const``: the canonical JSON of the value."""

    value: str


@dataclass(frozen=True, eq=False, slots=True)
class NotNode(Node):
    """``not``."""

    schema: Node


@dataclass(frozen=True, eq=False, slots=True)
class CombinedNode(Node):
    """``allOf``/``anyOf``/``oneOf`` (or a synthetic allOf of a schema's several parts)."""

    criterion: Criterion
    subschemas: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class PatternProperty:
    """One ``patternProperties`` entry."""

    pattern: str
    schema: Node


@dataclass(frozen=True, eq=False, slots=True)
class ObjectNode(Node):
    """Object keywords. ``additional`` is the schema of ``additionalProperties`` if it is one."""

    properties: Mapping[str, Node]
    required: frozenset[str]
    pattern_properties: tuple[PatternProperty, ...]
    additional_allowed: bool
    additional: Node | None
    unevaluated: Node | None
    property_dependencies: Mapping[str, frozenset[str]]
    schema_dependencies: Mapping[str, Node]
    min_properties: int | None
    max_properties: int | None


@dataclass(frozen=True, eq=False, slots=True)
class ArrayNode(Node):
    """Array keywords. ``all_items`` is a single ``items`` schema, ``tuple_items`` the tuple form
    (``items`` list up to 2019-09, ``prefixItems`` in 2020-12); ``additional`` is the schema the
    items after the tuple must meet, if it is one."""

    all_items: Node | None
    tuple_items: tuple[Node, ...]
    additional_allowed: bool
    additional: Node | None
    unevaluated: Node | None
    min_items: int | None
    max_items: int | None
    unique_items: bool
    min_contains: int | None
    max_contains: int | None


@dataclass(frozen=True, eq=False, slots=True)
class RefNode(Node):
    """``$ref``; :func:`resolve` follows it to the node it names."""

    ref: str
    target: Callable[[], Node]


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded schema document: its root node and the dialect ``$schema`` declared."""

    root: Node
    dialect: Dialect | None


def load(schema: object) -> Document:
    """Parse a schema (a JSON object or boolean) into nodes; raises SchemaError if unusable."""
    dialect = declared_dialect(schema)
    try:
        loader = _Loader(schema, dialect)
        return Document(root=loader.node_at(""), dialect=dialect)
    except RecursionError as exc:  # a 4xx for absurd nesting, not a crashed request
        raise InvalidSchemaError(["schema nested too deeply"]) from exc


def resolve(node: Node) -> Node:
    """The node a chain of ``$ref`` ends at (the node itself when it is not a reference)."""
    seen: set[int] = set()
    while isinstance(node, RefNode):
        if id(node) in seen:
            raise UnresolvableReferenceError(f"$ref {node.ref!r} refers to itself")
        seen.add(id(node))
        node = node.target()
    return node


def canonical_json(value: object) -> str:
    """One spelling per JSON value: sorted keys, no spaces, integral floats as integers."""
    return json.dumps(_integral(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _integral(value: object) -> object:
    # JSON Schema compares numbers mathematically: 1.0 and 1 are one enum value.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


_ARRAY_WORDS = frozenset(
    {"items", "additionalItems", "maxItems", "minItems", "uniqueItems", "contains"}
)
_OBJECT_WORDS = frozenset(
    {
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "dependencies",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
    }
)
_NUMBER_WORDS = frozenset(
    {"minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum"}
)
_STRING_WORDS = frozenset({"minLength", "maxLength", "pattern", "format"})
_MODERN_ARRAY_WORDS = frozenset({"prefixItems", "unevaluatedItems", "maxContains", "minContains"})
_MODERN_OBJECT_WORDS = frozenset({"dependentRequired", "dependentSchemas", "unevaluatedProperties"})

# Keywords whose values are schemas, lists of schemas, or maps of schemas: where $id and
# $anchor can appear, and where a $ref may point.
_ONE_SCHEMA = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "items",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_MAPS = (
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
    "dependencies",
)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _where(pointer: str) -> str:
    return "#" + pointer


class _Loader:
    """Builds nodes by JSON pointer, once each, so every path to a location shares its node."""

    def __init__(self, root: object, dialect: Dialect | None) -> None:
        self._root = root
        self._dialect = dialect
        # Without $schema both keyword families are read (Confluent's Draft 7 reading, plus the
        # 2019-09/2020-12 keywords that cannot be mistaken for Draft 7 ones).
        self._reads_modern = dialect is None or dialect.is_modern
        self._reads_legacy = dialect is None or not dialect.is_modern
        self._nodes: dict[str, Node] = {}
        self._refs: dict[tuple[str, str], Node] = {}
        self._locations: dict[str, str] = {}
        self._bases: dict[str, str] = {}
        self._index(root, "", "")

    def node_at(self, pointer: str) -> Node:
        """The node of the schema at ``pointer`` (``""`` is the root)."""
        return self._child(self._raw_at(pointer), pointer)

    def _raw_at(self, pointer: str) -> object:
        value = self._root
        for segment in pointer.split("/")[1:]:
            key = segment.replace("~1", "/").replace("~0", "~")
            if isinstance(value, Mapping) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise UnresolvableReferenceError(f"nothing at {_where(pointer)}")
        return value

    def _index(self, raw: object, pointer: str, base: str) -> None:
        """Record where each ``$id`` and ``$anchor`` lives, and each location's base URI."""
        if not isinstance(raw, Mapping):
            return
        own_id = raw.get("$id", raw.get("id") if self._reads_legacy else None)
        if isinstance(own_id, str):
            if own_id.startswith("#"):  # Draft 6/7 spelling of an anchor
                self._locations[base + own_id] = pointer
            else:
                base = urljoin(base, own_id) if base else own_id
                self._locations[urldefrag(base)[0]] = pointer
        anchor = raw.get("$anchor")
        if isinstance(anchor, str):
            self._locations[f"{urldefrag(base)[0]}#{anchor}"] = pointer
        self._bases[pointer] = base
        for segment, sub in _subschemas(raw):
            self._index(sub, f"{pointer}/{segment}", base)

    def _resolve_ref(self, ref: str, pointer: str) -> Node:
        cached = self._refs.get((ref, pointer))
        if cached is not None:
            return cached
        base = self._bases.get(pointer, "")
        target = urljoin(base, ref) if base else ref
        document, fragment = urldefrag(target)
        fragment = unquote(fragment)
        if document and document not in self._locations:
            raise UnresolvableReferenceError(
                f"$ref {ref!r} at {_where(pointer)} points outside this schema"
            )
        start = self._locations.get(document, "") if document else ""
        if fragment == "" or fragment.startswith("/"):
            located = start + fragment
        else:
            anchored = self._locations.get(f"{document}#{fragment}")
            if anchored is None:
                raise UnresolvableReferenceError(f"$ref {ref!r}: no anchor {fragment!r}")
            located = anchored
        node = self.node_at(located)
        self._refs[(ref, pointer)] = node
        return node

    def _child(self, raw: object, pointer: str) -> Node:
        """The node at ``pointer``, built once: every path to a location shares its node."""
        node = self._nodes.get(pointer)
        if node is None:
            node = self._make(raw, pointer)
            self._nodes[pointer] = node
        return node

    def _make(self, raw: object, pointer: str) -> Node:
        if raw is True:
            return EmptyNode(NO_META, raw, literal_true=True)
        if raw is False:
            return FalseNode(NO_META, raw)
        if not isinstance(raw, Mapping):
            raise InvalidSchemaError(
                [f"{_where(pointer)}: a schema is an object or a boolean, not {raw!r}"]
            )
        if "$ref" in raw:
            ref = raw["$ref"]
            if not isinstance(ref, str):
                raise InvalidSchemaError([f"{_where(pointer)}/$ref: must be a string"])
            ref_node = RefNode(
                NO_META, raw, ref=ref, target=partial(self._resolve_ref, ref, pointer)
            )
            siblings = (
                self._parts(raw, pointer) if self._dialect and self._dialect.is_modern else []
            )
            if not siblings:
                return ref_node
            return CombinedNode(self._meta(raw), raw, Criterion.ALL_OF, (ref_node, *siblings))
        parts = self._parts(raw, pointer)
        meta = self._meta(raw)
        if not parts:
            return EmptyNode(meta, raw)
        if len(parts) == 1:
            return replace(parts[0], meta=meta, raw=raw)
        return CombinedNode(meta, raw, Criterion.ALL_OF, tuple(parts))

    def _meta(self, raw: Mapping[str, object]) -> Meta:
        schema_id = None
        if self._reads_legacy:  # Confluent reports no ID_CHANGED for 2019-09/2020-12 schemas
            found = raw.get("$id", raw.get("id"))
            schema_id = found if isinstance(found, str) else None
        connect_type = raw.get("connect.type")
        return Meta(
            id=schema_id,
            title=_text(raw.get("title")),
            description=_text(raw.get("description")),
            default=canonical_json(raw["default"]) if "default" in raw else None,
            connect_type=connect_type if isinstance(connect_type, str) else None,
        )

    def _parts(self, raw: Mapping[str, object], pointer: str) -> list[Node]:
        """Every node the keywords of one schema object make, in everit's order."""
        parts: list[Node] = []
        if "enum" in raw:
            values = raw["enum"]
            if not isinstance(values, list):
                raise InvalidSchemaError([f"{_where(pointer)}/enum: must be an array"])
            parts.append(
                EnumNode(NO_META, {"enum": values}, frozenset(canonical_json(v) for v in values))
            )
        for criterion in Criterion:
            if criterion.value in raw:
                branches = raw[criterion.value]
                if not isinstance(branches, list) or not branches:
                    raise InvalidSchemaError(
                        [f"{_where(pointer)}/{criterion}: must be a non-empty array"]
                    )
                subschemas = tuple(
                    self._child(b, f"{pointer}/{criterion}/{i}") for i, b in enumerate(branches)
                )
                parts.append(
                    CombinedNode(NO_META, {criterion.value: branches}, criterion, subschemas)
                )
        if "not" in raw:
            negated = self._child(raw["not"], f"{pointer}/not")
            parts.append(NotNode(NO_META, {"not": raw["not"]}, negated))
        if "const" in raw:
            parts.append(ConstNode(NO_META, {"const": raw["const"]}, canonical_json(raw["const"])))
        if "type" in raw:
            parts.append(self._typed(raw, pointer))
        else:
            parts.extend(self._sniffed(raw, pointer))
        if "if" in raw:
            parts.append(
                ConditionalNode(NO_META, {k: raw[k] for k in ("if", "then", "else") if k in raw})
            )
        return parts

    def _typed(self, raw: Mapping[str, object], pointer: str) -> Node:
        declared = raw["type"]
        if isinstance(declared, str):
            return self._kind(declared, raw, pointer)
        if isinstance(declared, list) and declared and all(isinstance(t, str) for t in declared):
            kinds = tuple(self._kind(str(t), raw, pointer) for t in declared)
            return CombinedNode(NO_META, {"type": declared}, Criterion.ANY_OF, kinds)
        raise InvalidSchemaError([f"{_where(pointer)}/type: must be a type name or a list of them"])

    def _sniffed(self, raw: Mapping[str, object], pointer: str) -> list[Node]:
        words = raw.keys()
        array_words = _ARRAY_WORDS | (_MODERN_ARRAY_WORDS if self._reads_modern else frozenset())
        object_words = _OBJECT_WORDS | (_MODERN_OBJECT_WORDS if self._reads_modern else frozenset())
        sniffed = (
            ("array", array_words),
            ("object", object_words),
            ("number", _NUMBER_WORDS),
            ("string", _STRING_WORDS),
        )
        return [self._kind(kind, raw, pointer) for kind, kw in sniffed if not kw.isdisjoint(words)]

    def _kind(self, name: str, raw: Mapping[str, object], pointer: str) -> Node:
        """The node of one kind; its ``raw`` names the kind, so the parts of one schema
        object never collapse into one when a combined schema dedupes its branches."""
        return replace(self._kind_node(name, raw, pointer), raw={**raw, "type": name})

    def _kind_node(self, name: str, raw: Mapping[str, object], pointer: str) -> Node:
        if name == "string":
            return self._string(raw, pointer)
        if name in ("number", "integer"):
            return self._number(raw, pointer, integer=name == "integer")
        if name == "object":
            return self._object(raw, pointer)
        if name == "array":
            return self._array(raw, pointer)
        if name == "boolean":
            return BooleanNode(NO_META, {"type": name})
        if name == "null":
            return NullNode(NO_META, {"type": name})
        raise InvalidSchemaError([f"{_where(pointer)}/type: unknown type {name!r}"])

    def _string(self, raw: Mapping[str, object], pointer: str) -> StringNode:
        pattern = raw.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise InvalidSchemaError([f"{_where(pointer)}/pattern: must be a string"])
        return StringNode(
            NO_META,
            raw,
            min_length=_count(raw, "minLength", pointer),
            max_length=_count(raw, "maxLength", pointer),
            pattern=pattern,
        )

    def _number(self, raw: Mapping[str, object], pointer: str, *, integer: bool) -> NumberNode:
        multiple_of = _number(raw, "multipleOf", pointer)
        return NumberNode(
            NO_META,
            raw,
            minimum=_number(raw, "minimum", pointer),
            maximum=_number(raw, "maximum", pointer),
            # Draft 4 spells these as booleans that modify minimum/maximum; Confluent compares
            # only the numeric (Draft 6+) limits, and so do we.
            exclusive_minimum=_number(raw, "exclusiveMinimum", pointer, allow_bool=True),
            exclusive_maximum=_number(raw, "exclusiveMaximum", pointer, allow_bool=True),
            multiple_of=None if multiple_of is None else Decimal(str(raw["multipleOf"])),
            integer=integer,
        )

    def _object(self, raw: Mapping[str, object], pointer: str) -> ObjectNode:
        properties = {
            name: self._child(sub, f"{pointer}/properties/{_escape(name)}")
            for name, sub in _schema_map(raw, "properties", pointer).items()
        }
        patterns = tuple(
            PatternProperty(p, self._child(sub, f"{pointer}/patternProperties/{_escape(p)}"))
            for p, sub in _schema_map(raw, "patternProperties", pointer).items()
        )
        required = raw.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise InvalidSchemaError([f"{_where(pointer)}/required: must be a list of names"])
        additional = raw.get("additionalProperties", True)
        property_dependencies: dict[str, frozenset[str]] = {}
        schema_dependencies: dict[str, Node] = {}
        sources = (("dependencies",) if self._reads_legacy else ()) + (
            ("dependentRequired", "dependentSchemas") if self._reads_modern else ()
        )
        for keyword in sources:
            for name, value in _schema_map(raw, keyword, pointer).items():
                if isinstance(value, list):
                    property_dependencies[name] = frozenset(str(v) for v in value)
                else:
                    schema_dependencies[name] = self._child(
                        value, f"{pointer}/{keyword}/{_escape(name)}"
                    )
        return ObjectNode(
            NO_META,
            raw,
            properties=properties,
            required=frozenset(required),
            pattern_properties=patterns,
            additional_allowed=additional is not False,
            additional=self._optional(additional, f"{pointer}/additionalProperties"),
            unevaluated=self._unevaluated(raw, "unevaluatedProperties", pointer),
            property_dependencies=property_dependencies,
            schema_dependencies=schema_dependencies,
            min_properties=_count(raw, "minProperties", pointer),
            max_properties=_count(raw, "maxProperties", pointer),
        )

    def _array(self, raw: Mapping[str, object], pointer: str) -> ArrayNode:
        items = raw.get("items")
        all_items: object = None
        tuple_raw: object = []
        tuple_at = "items"
        if self._dialect is Dialect.DRAFT_2020_12 or (
            self._dialect is None and "prefixItems" in raw
        ):
            # 2020-12: prefixItems is the tuple and items what may follow it; without a tuple
            # a boolean items allows or forbids every item, a schema constrains every item.
            tuple_raw, tuple_at = raw.get("prefixItems", []), "prefixItems"
            after, after_at = (True if items is None else items), "items"
            if "prefixItems" not in raw and not isinstance(items, bool):
                all_items, after = items, True
        else:
            if isinstance(items, list):
                tuple_raw = items
            else:
                all_items = items
            after, after_at = raw.get("additionalItems", True), "additionalItems"
        if not isinstance(tuple_raw, list):
            raise InvalidSchemaError([f"{_where(pointer)}/{tuple_at}: must be an array"])
        return ArrayNode(
            NO_META,
            raw,
            all_items=None if all_items is None else self._child(all_items, f"{pointer}/items"),
            tuple_items=tuple(
                self._child(s, f"{pointer}/{tuple_at}/{i}") for i, s in enumerate(tuple_raw)
            ),
            additional_allowed=after is not False,
            additional=self._optional(after, f"{pointer}/{after_at}"),
            unevaluated=self._unevaluated(raw, "unevaluatedItems", pointer),
            min_items=_count(raw, "minItems", pointer),
            max_items=_count(raw, "maxItems", pointer),
            unique_items=raw.get("uniqueItems") is True,
            min_contains=_count(raw, "minContains", pointer),
            max_contains=_count(raw, "maxContains", pointer),
        )

    def _optional(self, value: object, pointer: str) -> Node | None:
        """A schema-valued keyword that may instead be a boolean switch (None then)."""
        return None if isinstance(value, bool) else self._child(value, pointer)

    def _unevaluated(self, raw: Mapping[str, object], keyword: str, pointer: str) -> Node | None:
        if not self._reads_modern or keyword not in raw:
            return None
        return self._child(raw[keyword], f"{pointer}/{keyword}")


def _subschemas(raw: Mapping[str, object]) -> Iterator[tuple[str, object]]:
    for keyword in _ONE_SCHEMA:
        value = raw.get(keyword)
        if isinstance(value, Mapping | bool):
            yield keyword, value
    for keyword in _SCHEMA_LISTS:
        value = raw.get(keyword)
        if isinstance(value, list):
            for i, sub in enumerate(value):
                yield f"{keyword}/{i}", sub
    for keyword in _SCHEMA_MAPS:
        value = raw.get(keyword)
        if isinstance(value, Mapping):
            for name, sub in value.items():
                if isinstance(sub, Mapping | bool):
                    yield f"{keyword}/{_escape(str(name))}", sub


def _schema_map(raw: Mapping[str, object], keyword: str, pointer: str) -> Mapping[str, object]:
    value = raw.get(keyword, {})
    if not isinstance(value, Mapping):
        raise InvalidSchemaError([f"{_where(pointer)}/{keyword}: must be an object"])
    return value


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else canonical_json(value)


def _count(raw: Mapping[str, object], keyword: str, pointer: str) -> int | None:
    value = _number(raw, keyword, pointer)
    if value is None:
        return None
    if not value.is_integer() or value < 0:
        raise InvalidSchemaError([f"{_where(pointer)}/{keyword}: must be a non-negative integer"])
    return int(value)


def _number(
    raw: Mapping[str, object], keyword: str, pointer: str, *, allow_bool: bool = False
) -> float | None:
    value = raw.get(keyword)
    if value is None or (allow_bool and isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSchemaError([f"{_where(pointer)}/{keyword}: must be a number"])
    return float(value)
