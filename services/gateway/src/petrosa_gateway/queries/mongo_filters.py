"""The generic CRUD filter language, validated and translated to MongoDB.

The language is the same on both databases (the PostgreSQL side translates it to SQL)::

    {"field": value}                                 equality
    {"field": {"$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte": value}}
    {"field": {"$in" | "$nin": [value, ...]}}
    {"field": {"$exists": true | false}}
    {"$and": [filter, ...]}, {"$or": [filter, ...]}

Values are JSON scalars (string, number, boolean, null). Field names are dotted paths
whose segments are legal names, and values obey the input rules (no control characters,
64-bit integers, finite numbers: :mod:`petrosa_gateway.inputs`). Anything else is refused
with :class:`~petrosa_gateway.errors.BadRequest` naming the reason: operators that run code
or escape the language (``$where``, ``$function``, ``$accumulator``, ``$expr``), operators
the language does not have (``$regex``, ``$not``, ``$elemMatch``, ...), embedded-document
or array equality.

``$regex`` is refused on purpose: it is not part of the shared language (the SQL side would
need its own dialect and safety story), an unanchored pattern cannot use an index, and a
hostile pattern can burn CPU. Pattern matching belongs in a raw MongoDB query, which runs
under a time limit.

Strings shaped like ISO-8601 dates (``"2025-01-01"``, ``"2025-01-01T00:00:00Z"``, with or
without fraction and offset) are compared as dates: they become aware UTC datetimes (a
missing offset means UTC), and must lie in the years 1970-9999. The same conversion
applies to documents written through CRUD (:func:`coerce_document`), so what is stored as
a date is found by a date string.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.inputs import (
    check_datetime,
    check_filter_value,
    check_path,
    check_record,
    parse_iso_datetime,
)

COMPARISON_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
LIST_OPERATORS = frozenset({"$in", "$nin"})
FIELD_OPERATORS = COMPARISON_OPERATORS | LIST_OPERATORS | {"$exists"}
LOGICAL_OPERATORS = frozenset({"$and", "$or"})

MAX_FILTER_DEPTH = 16
"""How deeply ``$and`` / ``$or`` may nest."""
MAX_FILTER_NODES = 1_000
"""How many conditions one filter may hold in all."""
MAX_LIST_VALUES = 10_000
"""How many values one ``$in`` / ``$nin`` may list."""
MAX_SORT_KEYS = 32
"""MongoDB's own limit on sort keys."""
MAX_PROJECTION_FIELDS = 200

_REFUSED_REASONS = {
    "$where": "it runs server-side JavaScript",
    "$function": "it runs server-side JavaScript",
    "$accumulator": "it runs server-side JavaScript",
    "$expr": "aggregation expressions are outside the filter language",
    "$regex": (
        "pattern matching is outside the filter language (use a raw MongoDB query, "
        "which runs under a time limit)"
    ),
    "$text": "text search is outside the filter language",
    "$jsonSchema": "schema matching is outside the filter language",
}

Scalar = str | int | float | bool | None


def to_mongo_filter(filter: Mapping[str, Any] | None) -> dict[str, Any]:
    """The MongoDB filter for a filter of the CRUD language; :class:`BadRequest` if invalid.

    The input is not modified; ISO-8601 date strings in values become aware UTC datetimes.
    """
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise BadRequest(f"filter must be a JSON object, got {type(filter).__name__}")
    budget = [MAX_FILTER_NODES]
    return _filter(filter, depth=0, budget=budget)


def _filter(node: Mapping[str, Any], *, depth: int, budget: list[int]) -> dict[str, Any]:
    if depth > MAX_FILTER_DEPTH:
        raise BadRequest(f"filter nests $and/$or deeper than {MAX_FILTER_DEPTH} levels")
    out: dict[str, Any] = {}
    for key, value in node.items():
        budget[0] -= 1
        if budget[0] < 0:
            raise BadRequest(f"filter has more than {MAX_FILTER_NODES} conditions")
        if isinstance(key, str) and key.startswith("$"):
            if key not in LOGICAL_OPERATORS:
                raise BadRequest(_refusal(key, "at the top of a filter", LOGICAL_OPERATORS))
            out[key] = _logical(key, value, depth=depth, budget=budget)
            continue
        field = check_path(key, what="filter field")
        out[field] = _condition(field, value)
    return out


def _logical(operator: str, value: Any, *, depth: int, budget: list[int]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"{operator} takes a non-empty list of filters")
    clauses: list[dict[str, Any]] = []
    for index, clause in enumerate(value):
        if not isinstance(clause, Mapping):
            raise BadRequest(f"{operator}[{index}] must be a filter object")
        clauses.append(_filter(clause, depth=depth + 1, budget=budget))
    return clauses


def _condition(field: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        if not value:
            raise BadRequest(f"filter field {field!r}: empty condition object")
        keys = list(value)
        if not all(isinstance(key, str) and key.startswith("$") for key in keys):
            raise BadRequest(
                f"filter field {field!r}: embedded-document equality is not supported "
                "(compare dotted paths such as 'meta.source' instead)"
            )
        return {op: _operand(field, op, operand) for op, operand in value.items()}
    if isinstance(value, list):
        raise BadRequest(f"filter field {field!r}: array equality is not supported (use $in)")
    return _scalar(field, value, convert_dates=field != "_id")


def _operand(field: str, operator: str, operand: Any) -> Any:
    if operator not in FIELD_OPERATORS:
        raise BadRequest(_refusal(operator, f"on field {field!r}", FIELD_OPERATORS))
    convert = field != "_id"
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise BadRequest(f"filter field {field!r}: $exists takes true or false")
        return operand
    if operator in LIST_OPERATORS:
        if not isinstance(operand, list):
            raise BadRequest(f"filter field {field!r}: {operator} takes a list of values")
        if len(operand) > MAX_LIST_VALUES:
            raise BadRequest(
                f"filter field {field!r}: {operator} lists more than {MAX_LIST_VALUES} values"
            )
        return [_scalar(field, item, convert_dates=convert) for item in operand]
    return _scalar(field, operand, convert_dates=convert)


def _scalar(field: str, value: Any, *, convert_dates: bool) -> Scalar | datetime:
    what = f"filter field {field!r}"
    if value is None or isinstance(value, bool | int | float):
        return check_filter_value(value, what=what)  # type: ignore[no-any-return]
    if isinstance(value, str):
        check_filter_value(value, what=what)
        parsed = parse_iso_datetime(value, what=f"{what}: date") if convert_dates else None
        return parsed if parsed is not None else value
    raise BadRequest(
        f"filter field {field!r}: values must be strings, numbers, booleans or null, "
        f"got {type(value).__name__}"
    )


def _refusal(operator: str, where: str, allowed: frozenset[str]) -> str:
    reason = _REFUSED_REASONS.get(operator, "it is not part of the filter language")
    return (
        f"operator {operator} is not allowed {where}: {reason}; "
        f"allowed: {', '.join(sorted(allowed))}"
    )


_DIRECTIONS: dict[object, int] = {
    1: 1,
    -1: -1,
    "1": 1,
    "-1": -1,
    "asc": 1,
    "ascending": 1,
    "desc": -1,
    "descending": -1,
}


def to_mongo_sort(sort: object) -> list[tuple[str, int]]:
    """Sort keys as ``[(field, 1 | -1), ...]``.

    Accepts a JSON object ``{"timestamp": -1}``, a list of ``[field, direction]`` pairs, or
    a string ``"timestamp"`` / ``"-timestamp"`` / ``"symbol,-timestamp"``. Directions are
    ``1`` / ``-1`` / ``"asc"`` / ``"desc"``.
    """
    if sort is None or sort == "" or sort == [] or sort == {}:
        return []
    pairs: list[tuple[object, object]]
    if isinstance(sort, str):
        pairs = []
        for part in sort.split(","):
            token = part.strip()
            pairs.append((token[1:], -1) if token.startswith("-") else (token.lstrip("+"), 1))
    elif isinstance(sort, Mapping):
        pairs = list(sort.items())
    elif isinstance(sort, Sequence):
        pairs = []
        for item in sort:
            if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
                raise BadRequest("sort list items must be [field, direction] pairs")
            pairs.append((item[0], item[1]))
    else:
        raise BadRequest(f"sort must be an object, a list of pairs or a string, got {sort!r}")
    if len(pairs) > MAX_SORT_KEYS:
        raise BadRequest(f"sort has more than {MAX_SORT_KEYS} keys")
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for name, direction in pairs:
        field = check_path(name, what="sort field")
        key = direction.lower() if isinstance(direction, str) else direction
        if isinstance(key, bool) or key not in _DIRECTIONS:
            raise BadRequest(f"sort field {field!r}: direction must be 1, -1, 'asc' or 'desc'")
        if field in seen:
            raise BadRequest(f"sort field {field!r} appears twice")
        seen.add(field)
        out.append((field, _DIRECTIONS[key]))
    return out


def to_projection(fields: str | Sequence[str] | None) -> dict[str, int] | None:
    """An inclusion projection for ``fields`` (a list or a comma-separated string).

    ``None`` (or no fields) means whole documents. ``_id`` is always included, as in MongoDB.
    """
    if fields is None:
        return None
    names = [part.strip() for part in fields.split(",")] if isinstance(fields, str) else fields
    names = [name for name in names if name != ""]
    if not names:
        return None
    if len(names) > MAX_PROJECTION_FIELDS:
        raise BadRequest(f"more than {MAX_PROJECTION_FIELDS} fields requested")
    validated = [check_path(name, what="projection field") for name in names]
    _refuse_path_collisions(validated, what="projection")
    return dict.fromkeys(validated, 1)


def _refuse_path_collisions(paths: Sequence[str], *, what: str) -> None:
    """MongoDB refuses ``a`` together with ``a.b``; say so before the server does."""
    ordered = sorted(set(paths))
    for first, second in itertools.pairwise(ordered):
        if second.startswith(first + "."):
            raise BadRequest(f"{what}: paths {first!r} and {second!r} collide")


def coerce_document(
    doc: Mapping[str, Any], *, paths: bool = False, what: str = "record"
) -> dict[str, Any]:
    """A document ready to write: ISO date strings become aware UTC datetimes (``_id`` kept).

    The document is first checked by :func:`~petrosa_gateway.inputs.check_record` (field
    names at every depth, 64-bit integers, finite numbers, nesting), so no operator can be
    smuggled into a write (``{"$set": ...}`` as a field). With ``paths=True`` (the ``$set``
    of an update) top-level keys may be dotted paths (``"meta.source"``), which must not
    collide. ``what`` starts every refusal's message (``record 3``).
    """
    check_record(doc, what=what, paths=paths)
    out = {
        key: value if key == "_id" else _with_dates(value, what=what, path=key)
        for key, value in doc.items()
    }
    if paths:
        _refuse_path_collisions(list(out), what="update")
    return out


def _with_dates(value: Any, *, what: str, path: str) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _with_dates(item, what=what, path=f"{path}.{key}") for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_with_dates(item, what=what, path=path) for item in value]
    if isinstance(value, str):
        parsed = parse_iso_datetime(value, what=f"{what}: field {path!r}: date")
        return parsed if parsed is not None else value
    if isinstance(value, datetime):
        return check_datetime(value, what=f"{what}: field {path!r}")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise BadRequest(f"{what}: field {path!r}: unsupported value type {type(value).__name__}")


__all__ = [
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "coerce_document",
    "to_mongo_filter",
    "to_mongo_sort",
    "to_projection",
]
