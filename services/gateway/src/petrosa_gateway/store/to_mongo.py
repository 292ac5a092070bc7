"""The query language compiled to MongoDB: a filter document, sort keys, a projection."""

from __future__ import annotations

from typing import Any

from petrosa_gateway.store import language as lang


def mongo_filter(filter: lang.Filter) -> dict[str, Any]:
    """The filter document; dates are compared as BSON dates."""
    return {
        term.operator if isinstance(term, lang.Logical) else term.path: _term(term)
        for term in filter.terms
    }


def _term(term: lang.FieldMatch | lang.Logical) -> Any:
    if isinstance(term, lang.Logical):
        return [mongo_filter(clause) for clause in term.clauses]
    match term.conditions:
        case (lang.Compare(operator="$eq", value=value),):
            return _value(value)  # the short form, as clients write it
    return {condition.operator: _operand(condition) for condition in term.conditions}


def _operand(condition: lang.Condition) -> Any:
    if isinstance(condition, lang.Exists):
        return condition.present
    if isinstance(condition, lang.Member):
        return [_value(value) for value in condition.values]
    return _value(condition.value)


def _value(value: lang.Value) -> Any:
    return value.moment if isinstance(value, lang.IsoDate) else value


def mongo_sort(
    keys: tuple[lang.SortKey, ...], *, tiebreak: str | None = None
) -> list[tuple[str, int]]:
    """Sort keys as the driver takes them; ``tiebreak`` is appended when not sorted on."""
    sort = [(key.path, int(key.direction)) for key in keys]
    if tiebreak and all(path != tiebreak for path, _ in sort):
        sort.append((tiebreak, 1))
    return sort


def mongo_projection(fields: tuple[str, ...] | None) -> dict[str, int] | None:
    """An inclusion projection (MongoDB adds ``_id``), or ``None`` for whole documents."""
    return None if fields is None else dict.fromkeys(fields, 1)
