"""The structural walk: every difference between an old (writer) and a new (reader) schema.

The walk takes the steps of Confluent's ``SchemaDiff`` (confluentinc/schema-registry,
``json-schema-provider``, package ``...json.diff``), so it reports the change types, and reaches
the verdicts, Confluent does:

* ``$ref`` is followed on both sides before comparing, so moving a schema into ``$defs`` is no
  change at all.
* A plain schema becoming a oneOf/anyOf is SUM_TYPE_EXTENDED when one branch accepts what the
  old schema did; an allOf becoming a plain schema is PRODUCT_TYPE_NARROWED when one conjunct
  is compatible with it; a singleton combination compares as its only branch.
* Two different kinds (string vs object, combined vs not) are TYPE_CHANGED, except that
  anything may become the empty schema and the ``false`` schema may become anything.
* Combined schemas: the keyword may only widen (to anyOf; to oneOf from a singleton), and the
  old and new branches (duplicates collapsed) must pair up, each pair compatible, as many pairs
  as the smaller side has branches (a maximum bipartite matching); otherwise
  COMBINED_TYPE_SUBSCHEMAS_CHANGED.
* Objects and arrays are judged by *content model*: open (no ``additionalProperties`` /
  ``additionalItems`` schema, not false, no ``patternProperties``, ``unevaluated*`` absent or
  true), closed, or partially open (a schema covers what is not declared). A property or tuple
  item removed from the reader is fine when the reader is open, or partially open with a
  schema compatible with the old one; one added is fine when the writer was closed, or
  partially open with a schema the new one is compatible with. Adding a non-empty property to an
  open writer is never fine: old documents may already carry it with any value.
* Recursive schemas: a pair of nodes met again while being compared is assumed compatible; a
  pass that leaned on that assumption is repeated with the pairs it found incompatible seeded
  as such, until nothing new turns up (a greatest fixed point, as Confluent does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from petrosa_gateway.schemas.changes import Change, ChangeType, Policy, compatible_types
from petrosa_gateway.schemas.errors import InvalidSchemaError
from petrosa_gateway.schemas.nodes import (
    ArrayNode,
    CombinedNode,
    ConstNode,
    Criterion,
    Document,
    EmptyNode,
    EnumNode,
    FalseNode,
    Meta,
    Node,
    NotNode,
    NumberNode,
    ObjectNode,
    RefNode,
    StringNode,
    canonical_json,
    load,
    resolve,
)

_T = ChangeType
_Path = tuple[str, ...]
_Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Found:
    """A change with its path relative to the pair of nodes it was found under."""

    type: ChangeType
    path: _Path = ()
    detail: str = ""


def diff(old: object, new: object, *, policy: Policy = Policy.STRICT) -> list[Change]:
    """Every change from ``old`` (the writer) to ``new`` (the reader), in walk order.

    The policy matters only where the walk itself asks "is this part compatible?" (combined
    branches, partially open content models, ``not``). Raises SchemaError for unusable schemas.
    """
    return diff_documents(load(old), load(new), policy=policy)


def diff_documents(old: Document, new: Document, *, policy: Policy = Policy.STRICT) -> list[Change]:
    """:func:`diff` for documents already loaded (a transitive check loads the new one once)."""
    compatible = compatible_types(policy)
    seed: dict[_Pair, tuple[_Found, ...]] = {}
    try:
        return _fixed_point(old, new, compatible, seed)
    except RecursionError as exc:  # a 4xx for absurd nesting, not a crashed request
        raise InvalidSchemaError(["schema nested too deeply to compare"]) from exc


def _fixed_point(
    old: Document,
    new: Document,
    compatible: frozenset[ChangeType],
    seed: dict[_Pair, tuple[_Found, ...]],
) -> list[Change]:
    while True:
        walk = _Walk(compatible, seed)
        found = walk.compare(old.root, new.root)
        broken = walk.incompatible_pairs()
        if not walk.truncated or broken.keys() <= seed.keys():
            return [Change(f.type, "#/" + "/".join(f.path), f.detail) for f in found]
        seed = {**seed, **broken}


def _under(prefix: _Path, found: Sequence[_Found]) -> list[_Found]:
    return [_Found(f.type, prefix + f.path, f.detail) for f in found]


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind(node: Node) -> str:
    if isinstance(node, NumberNode):
        return "integer" if node.integer else "number"
    if isinstance(node, CombinedNode):
        return node.criterion.value
    return type(node).__name__.removesuffix("Node").lower()


# Keyword -> the stem of its change types (MAX_LENGTH -> MAX_LENGTH_ADDED, ..._DECREASED).
_LIMIT_STEMS = {
    "maxLength": "MAX_LENGTH",
    "minLength": "MIN_LENGTH",
    "maximum": "MAXIMUM",
    "minimum": "MINIMUM",
    "exclusiveMaximum": "EXCLUSIVE_MAXIMUM",
    "exclusiveMinimum": "EXCLUSIVE_MINIMUM",
    "maxProperties": "MAX_PROPERTIES",
    "minProperties": "MIN_PROPERTIES",
    "maxItems": "MAX_ITEMS",
    "minItems": "MIN_ITEMS",
    "maxContains": "MAX_CONTAINS",
    "minContains": "MIN_CONTAINS",
}


def _limit(keyword: str, old: float | None, new: float | None) -> list[_Found]:
    """ADDED / REMOVED / INCREASED / DECREASED for one numeric keyword, or nothing."""
    if old == new:
        return []
    if old is None:
        suffix = "ADDED"
    elif new is None:
        suffix = "REMOVED"
    else:
        suffix = "INCREASED" if old < new else "DECREASED"
    stem = _LIMIT_STEMS[keyword]
    return [_Found(ChangeType(f"{stem}_{suffix}"), (keyword,), f"{_shown(old)} -> {_shown(new)}")]


def _annotations(old: Meta, new: Meta) -> list[_Found]:
    found = []
    if old.id != new.id:
        found.append(_Found(_T.ID_CHANGED, (), f"{old.id} -> {new.id}"))
    if old.title != new.title:
        found.append(_Found(_T.TITLE_CHANGED))
    if old.description != new.description:
        found.append(_Found(_T.DESCRIPTION_CHANGED))
    if old.default != new.default:
        found.append(_Found(_T.DEFAULT_CHANGED, (), f"{old.default} -> {new.default}"))
    return found


def _string(old: StringNode, new: StringNode) -> list[_Found]:
    found = _limit("maxLength", old.max_length, new.max_length)
    found += _limit("minLength", old.min_length, new.min_length)
    if old.pattern != new.pattern:
        if old.pattern is None:
            change = _T.PATTERN_ADDED
        elif new.pattern is None:
            change = _T.PATTERN_REMOVED
        else:
            change = _T.PATTERN_CHANGED
        found.append(_Found(change, ("pattern",), f"{old.pattern} -> {new.pattern}"))
    return found


def _number(old: NumberNode, new: NumberNode) -> list[_Found]:
    found = _limit("maximum", old.maximum, new.maximum)
    found += _limit("minimum", old.minimum, new.minimum)
    found += _limit("exclusiveMaximum", old.exclusive_maximum, new.exclusive_maximum)
    found += _limit("exclusiveMinimum", old.exclusive_minimum, new.exclusive_minimum)
    found += _multiple_of(old.multiple_of, new.multiple_of)
    if old.integer and not new.integer:
        found.append(_Found(_T.TYPE_EXTENDED, (), "integer -> number"))
    elif new.integer and not old.integer:
        found.append(_Found(_T.TYPE_NARROWED, (), "number -> integer"))
    return found


def _multiple_of(old: Decimal | None, new: Decimal | None) -> list[_Found]:
    # Decimal arithmetic: 0.5 and 0.50 are one value, and 10 is a multiple of 0.5.
    if old == new:
        return []
    if old is None:
        change = _T.MULTIPLE_OF_ADDED
    elif new is None:
        change = _T.MULTIPLE_OF_REMOVED
    elif new % old == 0:
        change = _T.MULTIPLE_OF_EXPANDED
    elif old % new == 0:
        change = _T.MULTIPLE_OF_REDUCED
    else:
        change = _T.MULTIPLE_OF_CHANGED
    return [_Found(change, ("multipleOf",), f"{_shown(old)} -> {_shown(new)}")]


def _enum(old: EnumNode, new: EnumNode) -> list[_Found]:
    if old.values == new.values:
        return []
    if new.values >= old.values:
        change = _T.ENUM_ARRAY_EXTENDED
    elif old.values >= new.values:
        change = _T.ENUM_ARRAY_NARROWED
    else:
        change = _T.ENUM_ARRAY_CHANGED
    lost = ", ".join(sorted(old.values - new.values)) or "none"
    return [_Found(change, ("enum",), f"values no longer allowed: {lost}")]


def _criterion_change(old: CombinedNode, new: CombinedNode) -> ChangeType | None:
    """None when the keyword is the same; EXTENDED when the new one accepts at least as much."""
    if old.criterion is new.criterion:
        return None
    if new.criterion is Criterion.ANY_OF:
        return _T.COMBINED_TYPE_EXTENDED
    if new.criterion is Criterion.ONE_OF and len(old.subschemas) == 1:
        return _T.COMBINED_TYPE_EXTENDED
    if new.criterion is Criterion.ALL_OF and len(old.subschemas) == len(new.subschemas) == 1:
        return _T.COMBINED_TYPE_EXTENDED
    return _T.COMBINED_TYPE_CHANGED


def _distinct(branches: Sequence[Node]) -> list[Node]:
    """Branches with textual duplicates collapsed (``allOf: [A, A]`` is ``allOf: [A]``)."""
    seen: dict[str, Node] = {}
    for branch in branches:
        seen.setdefault(canonical_json(branch.raw), branch)
    return list(seen.values())


def _max_matching(candidates: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """Old branch -> new branch, as many pairs as possible (Kuhn's augmenting paths).

    Each old branch's candidates come cheapest first, so identical branches pair up with each
    other and the report shows the fewest changes.
    """
    owner: dict[int, int] = {}

    def augment(left: int, visited: set[int]) -> bool:
        for right in candidates.get(left, ()):
            if right in visited:
                continue
            visited.add(right)
            if right not in owner or augment(owner[right], visited):
                owner[right] = left
                return True
        return False

    for left in sorted(candidates):
        augment(left, set())
    return {left: right for right, left in owner.items()}


def _is_open(node: ObjectNode | ArrayNode) -> bool:
    """Open content model: anything undeclared is allowed with any value."""
    if isinstance(node, ObjectNode) and node.pattern_properties:
        return False
    unevaluated_open = node.unevaluated is None or isinstance(node.unevaluated, EmptyNode)
    return node.additional_allowed and node.additional is None and unevaluated_open


def _covering(node: ObjectNode | ArrayNode, name: str | None = None) -> Node | None:
    """The schema a partially open content model gives to an undeclared property or item."""
    if isinstance(node, ObjectNode) and name is not None:
        for entry in node.pattern_properties:
            try:
                if re.search(entry.pattern, name):
                    return entry.schema
            except re.error as exc:
                raise InvalidSchemaError([f"patternProperties {entry.pattern!r}: {exc}"]) from exc
    if node.additional is not None:
        return node.additional
    unevaluated = node.unevaluated
    if node.additional_allowed and not isinstance(unevaluated, FalseNode | EmptyNode | None):
        return unevaluated
    return None


def _has_default(node: Node) -> bool:
    if node.meta.default is not None:
        return True
    return isinstance(node, RefNode) and isinstance(node.raw, Mapping) and "default" in node.raw


class _Walk:
    """One pass over a pair of documents, with its memo and cycle guard."""

    def __init__(
        self, compatible: frozenset[ChangeType], seed: Mapping[_Pair, tuple[_Found, ...]]
    ) -> None:
        self._compatible = compatible
        self._seed = seed
        self._memo: dict[_Pair, tuple[_Found, ...]] = {}
        self._in_progress: set[_Pair] = set()
        self.truncated = False
        """Whether a cycle was cut short by assuming it compatible."""

    def ok(self, found: Sequence[_Found]) -> bool:
        return all(f.type in self._compatible for f in found)

    def incompatible_pairs(self) -> dict[_Pair, tuple[_Found, ...]]:
        return {pair: found for pair, found in self._memo.items() if not self.ok(found)}

    def compare(self, old: Node | None, new: Node | None) -> list[_Found]:
        """Changes from ``old`` to ``new``, with paths relative to them."""
        if old is None and new is None:
            return []
        if old is None:
            return [_Found(_T.SCHEMA_ADDED)]
        if new is None:
            return [_Found(_T.SCHEMA_REMOVED)]
        old, new = resolve(old), resolve(new)
        pair = (id(old), id(new))
        known = self._memo.get(pair)
        if known is not None:
            return list(known)
        if pair in self._in_progress:
            self.truncated = True
            return list(self._seed.get(pair, ()))
        self._in_progress.add(pair)
        try:
            found = self._compare_resolved(old, new)
        finally:
            self._in_progress.discard(pair)
        self._memo[pair] = tuple(found)
        return found

    def _compare_resolved(self, old: Node, new: Node) -> list[_Found]:
        if not isinstance(old, CombinedNode) and isinstance(new, CombinedNode):
            if len(new.subschemas) == 1:
                found = self.compare(old, new.subschemas[0])
                if self.ok(found):
                    return found
            elif new.criterion is not Criterion.ALL_OF:
                for branch in new.subschemas:
                    found = self.compare(old, branch)
                    if self.ok(found):
                        return [*found, _Found(_T.SUM_TYPE_EXTENDED)]
        elif isinstance(old, CombinedNode) and not isinstance(new, CombinedNode):
            if len(old.subschemas) == 1:
                found = self.compare(old.subschemas[0], new)
                if self.ok(found):
                    return found
            elif old.criterion is Criterion.ALL_OF:
                for branch in old.subschemas:
                    found = self.compare(branch, new)
                    if self.ok(found):
                        return [*found, _Found(_T.PRODUCT_TYPE_NARROWED)]

        if type(old) is not type(new) or (
            isinstance(old, EmptyNode)
            and isinstance(new, EmptyNode)
            and old.literal_true != new.literal_true
        ):
            if isinstance(old, FalseNode) or isinstance(new, EmptyNode):
                return []
            if old.meta.connect_type == "bytes" == new.meta.connect_type:
                return []  # Kafka Connect's decimal-as-bytes may switch JSON types
            return [_Found(_T.TYPE_CHANGED, (), f"{_kind(old)} -> {_kind(new)}")]

        found = _annotations(old.meta, new.meta)
        if isinstance(old, StringNode) and isinstance(new, StringNode):
            found += _string(old, new)
        elif isinstance(old, NumberNode) and isinstance(new, NumberNode):
            found += _number(old, new)
        elif isinstance(old, ConstNode) and isinstance(new, ConstNode):
            if old.value != new.value:
                found.append(
                    _Found(_T.ENUM_ARRAY_CHANGED, ("const",), f"{old.value} -> {new.value}")
                )
        elif isinstance(old, EnumNode) and isinstance(new, EnumNode):
            found += _enum(old, new)
        elif isinstance(old, CombinedNode) and isinstance(new, CombinedNode):
            found += self._combined(old, new)
        elif isinstance(old, NotNode) and isinstance(new, NotNode):
            # What `not` excludes may only shrink: compare the negated schemas the other way.
            reversed_found = self.compare(new.schema, old.schema)
            narrowed = self.ok(reversed_found)
            found.append(
                _Found(_T.NOT_TYPE_NARROWED if narrowed else _T.NOT_TYPE_EXTENDED, ("not",))
            )
        elif isinstance(old, ObjectNode) and isinstance(new, ObjectNode):
            found += self._object(old, new)
        elif isinstance(old, ArrayNode) and isinstance(new, ArrayNode):
            found += self._array(old, new)
        return found

    def _combined(self, old: CombinedNode, new: CombinedNode) -> list[_Found]:
        found: list[_Found] = []
        criterion_change = _criterion_change(old, new)
        if criterion_change is _T.COMBINED_TYPE_CHANGED:
            return [_Found(criterion_change, (), f"{old.criterion} -> {new.criterion}")]
        if criterion_change is not None:
            found.append(_Found(criterion_change, (), f"{old.criterion} -> {new.criterion}"))
        olds, news = _distinct(old.subschemas), _distinct(new.subschemas)
        if len(olds) != len(news):
            widened = len(olds) < len(news)
            if new.criterion is Criterion.ALL_OF:
                change = _T.PRODUCT_TYPE_EXTENDED if widened else _T.PRODUCT_TYPE_NARROWED
            else:
                change = _T.SUM_TYPE_EXTENDED if widened else _T.SUM_TYPE_NARROWED
            found.append(_Found(change, (), f"{len(olds)} -> {len(news)} branches"))

        pairs: dict[tuple[int, int], list[_Found]] = {}
        candidates: dict[int, list[int]] = {}
        for i, old_branch in enumerate(olds):
            costs: list[tuple[int, int]] = []
            for j, new_branch in enumerate(news):
                branch_found = self.compare(old_branch, new_branch)
                if self.ok(branch_found):
                    pairs[(i, j)] = _under((old.criterion.value, str(i)), branch_found)
                    costs.append((len(branch_found), j))
            candidates[i] = [j for _, j in sorted(costs)]
        matching = _max_matching(candidates)
        for i in sorted(matching):
            found += pairs[(i, matching[i])]
        if len(matching) < min(len(olds), len(news)):
            unmatched = len(olds) - len(matching)
            found.append(
                _Found(_T.COMBINED_TYPE_SUBSCHEMAS_CHANGED, (), f"{unmatched} branch(es) unmatched")
            )
        return found

    def _object(self, old: ObjectNode, new: ObjectNode) -> list[_Found]:
        found: list[_Found] = []
        for name in sorted(old.properties.keys() & new.properties.keys()):
            was, now = name in old.required, name in new.required
            if was and not now:
                found.append(_Found(_T.REQUIRED_ATTRIBUTE_REMOVED, ("required", name)))
            elif now and not was:
                with_default = _has_default(new.properties[name])
                change = (
                    _T.REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
                    if with_default
                    else _T.REQUIRED_ATTRIBUTE_ADDED
                )
                found.append(_Found(change, ("required", name)))
        for name in sorted(old.properties.keys() | new.properties.keys()):
            before, after = old.properties.get(name), new.properties.get(name)
            if after is None and before is not None:
                found += _under(("properties", name), self._property_removed(name, before, new))
            elif before is None and after is not None:
                found += _under(("properties", name), self._property_added(name, after, old, new))
            else:
                found += _under(("properties", name), self.compare(before, after))
        found += _under(("dependencies",), self._dependencies(old, new))
        found += _under(("additionalProperties",), self._additional(old, new, "PROPERTIES"))
        found += self._unevaluated(old.unevaluated, new.unevaluated, "PROPERTIES")
        found += _limit("maxProperties", old.max_properties, new.max_properties)
        found += _limit("minProperties", old.min_properties, new.min_properties)
        return found

    def _property_removed(self, name: str, before: Node, reader: ObjectNode) -> list[_Found]:
        # Old documents may still carry the property: the reader must let it through.
        if _is_open(reader):
            return [_Found(_T.PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL)]
        covering = _covering(reader, name)
        if covering is not None:
            found = self.compare(before, covering)
            covered = self.ok(found)
            return [
                *found,
                _Found(
                    _T.PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                    if covered
                    else _T.PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                ),
            ]
        if isinstance(before, FalseNode):
            return [_Found(_T.PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL)]
        return [_Found(_T.PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL)]

    def _property_added(
        self, name: str, after: Node, writer: ObjectNode, reader: ObjectNode
    ) -> list[_Found]:
        required = name in reader.required
        if _is_open(writer):
            # An open writer may already have sent this name with any value at all.
            if isinstance(after, EmptyNode):
                return [_Found(_T.PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL)]
            if not required:
                return [_Found(_T.OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL)]
            if _has_default(after):
                return [_Found(_T.REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL)]
            return [_Found(_T.REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL)]
        found: list[_Found] = []
        covering = _covering(writer, name)
        if covering is not None:
            found += self.compare(covering, after)
            found.append(
                _Found(
                    _T.PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                    if self.ok(found)
                    else _T.PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                )
            )
        if not required:
            found.append(_Found(_T.OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL))
        elif _has_default(after):
            found.append(_Found(_T.REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL))
        else:
            found.append(_Found(_T.REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL))
        return found

    def _dependencies(self, old: ObjectNode, new: ObjectNode) -> list[_Found]:
        found: list[_Found] = []
        olds, news = old.property_dependencies, new.property_dependencies
        for name in sorted(olds.keys() | news.keys()):
            before, after = olds.get(name), news.get(name)
            if after is None:
                change = _T.DEPENDENCY_ARRAY_REMOVED
            elif before is None:
                change = _T.DEPENDENCY_ARRAY_ADDED
            elif before == after:
                continue
            elif after >= before:
                change = _T.DEPENDENCY_ARRAY_EXTENDED
            elif before >= after:
                change = _T.DEPENDENCY_ARRAY_NARROWED
            else:
                change = _T.DEPENDENCY_ARRAY_CHANGED
            found.append(_Found(change, (name,)))
        old_schemas, new_schemas = old.schema_dependencies, new.schema_dependencies
        for name in sorted(old_schemas.keys() | new_schemas.keys()):
            if name not in new_schemas:
                found.append(_Found(_T.DEPENDENCY_SCHEMA_REMOVED, (name,)))
            elif name not in old_schemas:
                found.append(_Found(_T.DEPENDENCY_SCHEMA_ADDED, (name,)))
            else:
                found += _under((name,), self.compare(old_schemas[name], new_schemas[name]))
        return found

    def _additional(
        self, old: ObjectNode | ArrayNode, new: ObjectNode | ArrayNode, noun: str
    ) -> list[_Found]:
        """additionalProperties / additionalItems: allowed or not, then their schemas."""
        if old.additional_allowed != new.additional_allowed:
            suffix = "ADDED" if new.additional_allowed else "REMOVED"
        elif old.additional is None and new.additional is not None:
            suffix = "NARROWED"
        elif new.additional is None and old.additional is not None:
            suffix = "EXTENDED"
        else:
            return self.compare(old.additional, new.additional)
        return [_Found(ChangeType(f"ADDITIONAL_{noun}_{suffix}"))]

    def _unevaluated(self, old: Node | None, new: Node | None, noun: str) -> list[_Found]:
        """unevaluatedProperties / unevaluatedItems, judged as Confluent judges them."""
        if old is None and new is None:
            return []
        keyword = "unevaluatedProperties" if noun == "PROPERTIES" else "unevaluatedItems"
        if old is None:
            suffix = "REMOVED" if isinstance(new, FalseNode) else "NARROWED"
        elif new is None:
            suffix = "ADDED" if isinstance(old, FalseNode) else "EXTENDED"
        elif isinstance(old, FalseNode) != isinstance(new, FalseNode):
            suffix = "ADDED" if isinstance(old, FalseNode) else "REMOVED"
        elif isinstance(old, EmptyNode) != isinstance(new, EmptyNode):
            suffix = "NARROWED" if isinstance(old, EmptyNode) else "EXTENDED"
        else:
            return _under((keyword,), self.compare(old, new))
        return [_Found(ChangeType(f"UNEVALUATED_{noun}_{suffix}"), (keyword,))]

    def _array(self, old: ArrayNode, new: ArrayNode) -> list[_Found]:
        found = _under(("items",), self.compare(old.all_items, new.all_items))
        found += self._tuple_items(old, new)
        found += _under(("additionalItems",), self._additional(old, new, "ITEMS"))
        found += self._unevaluated(old.unevaluated, new.unevaluated, "ITEMS")
        found += _limit("maxItems", old.max_items, new.max_items)
        found += _limit("minItems", old.min_items, new.min_items)
        if old.unique_items != new.unique_items:
            change = _T.UNIQUE_ITEMS_REMOVED if old.unique_items else _T.UNIQUE_ITEMS_ADDED
            found.append(_Found(change, ("uniqueItems",)))
        found += _limit("maxContains", old.max_contains, new.max_contains)
        found += _limit("minContains", old.min_contains, new.min_contains)
        return found

    def _tuple_items(self, old: ArrayNode, new: ArrayNode) -> list[_Found]:
        found: list[_Found] = []
        shared = min(len(old.tuple_items), len(new.tuple_items))
        for index in range(shared):
            at = ("items", str(index))
            found += _under(at, self.compare(old.tuple_items[index], new.tuple_items[index]))
        for index in range(shared, len(old.tuple_items)):
            at = ("items", str(index))
            found += _under(at, self._item_removed(old.tuple_items[index], new))
        for index in range(shared, len(new.tuple_items)):
            at = ("items", str(index))
            found += _under(at, self._item_added(new.tuple_items[index], old))
        return found

    def _item_removed(self, before: Node, reader: ArrayNode) -> list[_Found]:
        if _is_open(reader):
            return [_Found(_T.ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL)]
        covering = _covering(reader)
        if covering is not None:
            found = self.compare(before, covering)
            covered = self.ok(found)
            return [
                *found,
                _Found(
                    _T.ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                    if covered
                    else _T.ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                ),
            ]
        if isinstance(before, FalseNode):
            return [_Found(_T.ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL)]
        return [_Found(_T.ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL)]

    def _item_added(self, after: Node, writer: ArrayNode) -> list[_Found]:
        if _is_open(writer):
            if isinstance(after, EmptyNode):
                return [_Found(_T.ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL)]
            return [_Found(_T.ITEM_ADDED_TO_OPEN_CONTENT_MODEL)]
        covering = _covering(writer)
        if covering is None:
            return [_Found(_T.ITEM_ADDED_TO_CLOSED_CONTENT_MODEL)]
        found = self.compare(covering, after)
        covered = self.ok(found)
        return [
            *found,
            _Found(
                _T.ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                if covered
                else _T.ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
            ),
        ]
