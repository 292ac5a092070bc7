"""The CRUD query language, parsed once into frozen nodes for both stores.

Filter (a JSON object; an empty or missing one means every record)::

    {"field": value}                                         equality
    {"field": {"$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte": value,
               "$in" | "$nin": [value, ...], "$exists": true | false}}   operators are ANDed
    {"$and": [filter, ...]}, {"$or": [filter, ...]}

Sort: ``{"timestamp": -1}``, ``[["timestamp", -1], ...]`` or ``"symbol,-timestamp"``;
directions ``1``/``-1``/``"asc"``/``"desc"``. Fields: a list or ``"open,close"``.

Rules, one set for MongoDB and PostgreSQL with one set of messages:

* Field names are dotted paths whose segments are legal names; values are JSON scalars that
  obey the input rules (:mod:`petrosa_gateway.inputs`). Embedded-document and array equality
  are refused; ``$gt``/``$gte``/``$lt``/``$lte`` need a value other than null.
* A string shaped like an ISO-8601 date is a date (:class:`IsoDate`): it must be a real date
  in the years 1970-9999 (UTC), else 400. ``_id`` values are never dates.
* At most :data:`MAX_DEPTH` levels of ``$and``/``$or``, :data:`MAX_CONDITIONS` conditions,
  :data:`MAX_LIST_VALUES` values per ``$in``/``$nin``, :data:`MAX_SORT_KEYS` sort keys (each
  once), :data:`MAX_FIELDS` fields (no path inside another; repeats are dropped).
* Operators outside the language are refused saying why: ``$where``/``$function`` run code,
  ``$expr`` escapes the language, and ``$regex`` stays out on purpose (the SQL side would
  need its own dialect, and a hostile pattern burns CPU: raw MongoDB queries run it under a
  time limit).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

import orjson

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.inputs import check_filter_value, check_path, parse_iso_datetime

MAX_DEPTH: Final = 16
MAX_CONDITIONS: Final = 1_000
MAX_LIST_VALUES: Final = 10_000
MAX_SORT_KEYS: Final = 32
"""MongoDB's own limit."""
MAX_FIELDS: Final = 200

Comparison = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]
Membership = Literal["$in", "$nin"]
_COMPARISONS: Final[tuple[Comparison, ...]] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_MEMBERSHIPS: Final[tuple[Membership, ...]] = ("$in", "$nin")
_FIELD_OPERATORS: Final = frozenset({*_COMPARISONS, *_MEMBERSHIPS, "$exists"})
_LOGICAL: Final = frozenset({"$and", "$or"})
_JAVASCRIPT = "it runs server-side JavaScript"
_REFUSED: Final = {
    "$where": _JAVASCRIPT,
    "$function": _JAVASCRIPT,
    "$accumulator": _JAVASCRIPT,
    "$expr": "aggregation expressions are outside the filter language",
    "$regex": "pattern matching is outside the filter language (use a raw MongoDB query, "
    "which runs under a time limit)",
    "$text": "text search is outside the filter language",
    "$jsonSchema": "schema matching is outside the filter language",
}
_DIRECTIONS: Final[dict[int | str, Literal[1, -1]]] = {
    **dict.fromkeys((1, "1", "asc", "ascending"), 1),
    **dict.fromkeys((-1, "-1", "desc", "descending"), -1),
}


@dataclass(frozen=True, slots=True)
class IsoDate:
    """A string shaped like an ISO-8601 date: the text as sent and the instant (aware UTC).

    MongoDB compares the instant; PostgreSQL binds it by column type (a text column keeps
    the text)."""

    text: str
    moment: datetime


Value = str | int | float | bool | IsoDate | None


@dataclass(frozen=True, slots=True)
class Compare:
    operator: Comparison
    value: Value


@dataclass(frozen=True, slots=True)
class Member:
    operator: Membership
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    operator: ClassVar[Literal["$exists"]] = "$exists"
    present: bool


Condition = Compare | Member | Exists


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """The conditions on one field (all must hold)."""

    path: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Logical:
    operator: Literal["$and", "$or"]
    clauses: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    """One JSON object of the language: its terms all hold; no terms means everything."""

    terms: tuple[FieldMatch | Logical, ...] = ()


@dataclass(frozen=True, slots=True)
class SortKey:
    path: str
    direction: Literal[1, -1]


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A validated read: which records, their order, which fields, which page."""

    filter: Filter = Filter()
    sort: tuple[SortKey, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = 100
    offset: int = 0


def read_query(
    *, filter: object = None, sort: object = None, fields: object = None, limit: int, offset: int
) -> ReadQuery:
    """A :class:`ReadQuery` from a request's parts (JSON text or decoded values)."""
    return ReadQuery(parse_filter(filter), parse_sort(sort), parse_fields(fields), limit, offset)


def parse_filter(spec: object) -> Filter:
    """A filter from its JSON object (or its text); :class:`BadRequest` saying why not."""
    if isinstance(spec, str):
        spec = _json(spec, "filter")
    if spec is None:
        return Filter()
    if not isinstance(spec, Mapping):
        raise BadRequest(f"filter must be a JSON object, got {type(spec).__name__}")
    return _filter(spec, depth=0, budget=[MAX_CONDITIONS])


def _json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text) if text else None
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in '{what}': {exc}") from None


def _filter(spec: Mapping[Any, Any], *, depth: int, budget: list[int]) -> Filter:
    if depth > MAX_DEPTH:
        raise BadRequest(f"filter nests $and/$or deeper than {MAX_DEPTH} levels")
    terms: list[FieldMatch | Logical] = []
    for key, value in spec.items():
        budget[0] -= 1
        if budget[0] < 0:
            raise BadRequest(f"filter has more than {MAX_CONDITIONS} conditions")
        if isinstance(key, str) and key.startswith("$"):
            if key not in _LOGICAL:
                raise BadRequest(_refusal(key, "at the top of a filter", _LOGICAL))
            if not isinstance(value, list) or not value:
                raise BadRequest(f"{key} takes a non-empty list of filters")
            clauses = []
            for index, clause in enumerate(value):
                if not isinstance(clause, Mapping):
                    raise BadRequest(f"{key}[{index}] must be a filter object")
                clauses.append(_filter(clause, depth=depth + 1, budget=budget))
            terms.append(Logical("$and" if key == "$and" else "$or", tuple(clauses)))
        else:
            path = check_path(key, what="filter field")
            terms.append(FieldMatch(path, _conditions(path, value)))
    return Filter(tuple(terms))


def _conditions(path: str, value: object) -> tuple[Condition, ...]:
    if isinstance(value, list):
        raise BadRequest(f"filter field {path!r}: array equality is not supported (use $in)")
    if not isinstance(value, Mapping):
        return (Compare("$eq", _value(path, value)),)
    if not value:
        raise BadRequest(f"filter field {path!r}: empty condition object")
    if not all(isinstance(key, str) and key.startswith("$") for key in value):
        raise BadRequest(
            f"filter field {path!r}: embedded-document equality is not supported "
            "(compare dotted paths such as 'meta.source' instead)"
        )
    return tuple(_condition(path, operator, operand) for operator, operand in value.items())


def _condition(path: str, operator: str, operand: object) -> Condition:
    where = f"filter field {path!r}"
    if operator in _COMPARISONS:
        value = _value(path, operand)
        if value is None and operator not in ("$eq", "$ne"):
            raise BadRequest(f"{where}: {operator} needs a value other than null")
        return Compare(operator, value)
    if operator in _MEMBERSHIPS:
        if not isinstance(operand, list):
            raise BadRequest(f"{where}: {operator} takes a list of values")
        if len(operand) > MAX_LIST_VALUES:
            raise BadRequest(f"{where}: {operator} lists more than {MAX_LIST_VALUES} values")
        return Member(operator, tuple(_value(path, item) for item in operand))
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise BadRequest(f"{where}: $exists takes true or false")
        return Exists(operand)
    raise BadRequest(_refusal(operator, f"on field {path!r}", _FIELD_OPERATORS))


def _value(path: str, value: object) -> Value:
    what = f"filter field {path!r}"
    if value is None or isinstance(value, bool | int | float):
        check_filter_value(value, what=what)
        return value
    if isinstance(value, str):
        check_filter_value(value, what=what)
        moment = None if path == "_id" else parse_iso_datetime(value, what=f"{what}: date")
        return value if moment is None else IsoDate(value, moment)
    raise BadRequest(
        f"{what}: values must be strings, numbers, booleans or null, got {type(value).__name__}"
    )


def _refusal(operator: str, where: str, allowed: frozenset[str]) -> str:
    reason = _REFUSED.get(operator, "it is not part of the filter language")
    allowed_list = ", ".join(sorted(allowed))
    return f"operator {operator} is not allowed {where}: {reason}; allowed: {allowed_list}"


def parse_sort(spec: object) -> tuple[SortKey, ...]:
    """Sort keys from any of the sort forms (see the module docstring)."""
    if isinstance(spec, str) and spec.lstrip().startswith(("{", "[")):
        spec = _json(spec, "sort")
    pairs: list[tuple[object, object]]
    if spec is None or isinstance(spec, str):
        tokens = [token.strip() for token in (spec or "").split(",") if token.strip()]
        pairs = [(token[1:], -1) if token[0] == "-" else (token.lstrip("+"), 1) for token in tokens]
    elif isinstance(spec, Mapping):
        pairs = list(spec.items())
    elif isinstance(spec, list | tuple):
        if not all(isinstance(item, list | tuple) and len(item) == 2 for item in spec):
            raise BadRequest("sort list items must be [field, direction] pairs")
        pairs = [(field, direction) for field, direction in spec]
    else:
        raise BadRequest(f"sort must be an object, a list of pairs or a string, got {spec!r}")
    if len(pairs) > MAX_SORT_KEYS:
        raise BadRequest(f"sort has more than {MAX_SORT_KEYS} keys")
    keys: dict[str, SortKey] = {}
    for name, direction in pairs:
        path = check_path(name, what="sort field")
        key = direction.lower() if isinstance(direction, str) else direction
        if isinstance(key, bool) or not isinstance(key, int | str) or key not in _DIRECTIONS:
            raise BadRequest(f"sort field {path!r}: direction must be 1, -1, 'asc' or 'desc'")
        if path in keys:
            raise BadRequest(f"sort field {path!r} appears twice")
        keys[path] = SortKey(path, _DIRECTIONS[key])
    return tuple(keys.values())


def parse_fields(spec: object) -> tuple[str, ...] | None:
    """The fields to return (``None``: whole records), from a list or ``"a,b"``."""
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = spec.split(",")
    if not isinstance(spec, Sequence):
        raise BadRequest("fields must be a list of names or a comma-separated string")
    names = [name.strip() if isinstance(name, str) else name for name in spec]
    names = [name for name in names if name != ""]
    if len(names) > MAX_FIELDS:
        raise BadRequest(f"more than {MAX_FIELDS} fields requested")
    paths = tuple(dict.fromkeys(check_path(name, what="projection field") for name in names))
    refuse_collisions(paths, what="projection")
    return paths or None


def refuse_collisions(paths: Sequence[str], *, what: str) -> None:
    """``a`` with ``a.b`` names one field twice (MongoDB refuses it): say so, on both stores."""
    for first, second in itertools.pairwise(sorted(set(paths))):
        if second.startswith(first + "."):
            raise BadRequest(f"{what}: paths {first!r} and {second!r} collide")
