"""Records against a schema: a fast verdict with jsonschema-rs, every error with jsonschema.

* Dialect: the one ``$schema`` names (Draft 4, 6, 7, 2019-09, 2020-12), else Draft 2020-12.
* The schema itself must pass its dialect's meta-schema (InvalidSchemaError with every reason)
  and resolve every ``$ref`` inside itself: nothing is fetched, validation does no I/O.
* Formats are assertions, in every dialect. ``date-time``, ``email``, ``uri`` and ``uuid`` are
  decided by jsonschema-rs on both paths (jsonschema's own email check is only "has an @"), so
  the fast verdict and the detailed errors cannot disagree on them.
* Compiled validators are cached per normalised schema text, so a CRUD write with
  ``validate=true`` compiles its schema once, not once per request.

:func:`validate_records` asks jsonschema-rs whether each record is valid and runs jsonschema
only on the invalid ones, for their errors: a clean batch costs one fast pass. A record
jsonschema-rs refuses is invalid even if jsonschema finds nothing (a format only one library
knows, say): its errors then come from jsonschema-rs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no inline types; stubs are a separate package
import jsonschema_rs

from petrosa_gateway.schemas.dialects import DEFAULT_VALIDATION_DIALECT, Dialect, declared_dialect
from petrosa_gateway.schemas.errors import InvalidSchemaError, UnresolvableReferenceError
from petrosa_gateway.schemas.normalise import normalise

SHARED_FORMATS = ("date-time", "email", "uri", "uuid")
"""Formats both paths decide with jsonschema-rs."""

_CACHE_SIZE = 256

_FAST: dict[Dialect, Callable[..., jsonschema_rs.Validator]] = {
    Dialect.DRAFT_4: jsonschema_rs.Draft4Validator,
    Dialect.DRAFT_6: jsonschema_rs.Draft6Validator,
    Dialect.DRAFT_7: jsonschema_rs.Draft7Validator,
    Dialect.DRAFT_2019_09: jsonschema_rs.Draft201909Validator,
    Dialect.DRAFT_2020_12: jsonschema_rs.Draft202012Validator,
}
_DETAILED: dict[Dialect, Any] = {
    Dialect.DRAFT_4: jsonschema.Draft4Validator,
    Dialect.DRAFT_6: jsonschema.Draft6Validator,
    Dialect.DRAFT_7: jsonschema.Draft7Validator,
    Dialect.DRAFT_2019_09: jsonschema.Draft201909Validator,
    Dialect.DRAFT_2020_12: jsonschema.Draft202012Validator,
}


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One error of one record.

    ``path`` is a JSONPath into the record (``$``, ``$.price``, ``$.levels[2][0]``),
    ``keyword`` the schema keyword that failed (``type``, ``format``, ``required``, ...),
    ``schema_path`` a JSON pointer to it in the schema.
    """

    index: int
    path: str
    message: str
    keyword: str
    schema_path: str


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of validating a batch of records."""

    dialect: Dialect
    total: int
    valid: int
    invalid: int
    invalid_indices: tuple[int, ...]
    issues: tuple[ValidationIssue, ...]
    elapsed_ms: float

    @property
    def all_valid(self) -> bool:
        """Every record passed."""
        return self.invalid == 0


@dataclass(frozen=True, slots=True)
class _Compiled:
    dialect: Dialect
    fast: jsonschema_rs.Validator
    detailed: Any


def check_schema(schema: object) -> Dialect:
    """Raise SchemaError unless ``schema`` is a usable JSON Schema; return its dialect."""
    return _compiled(schema).dialect


def is_valid(schema: object, record: object) -> bool:
    """Whether one record is valid (the fast path)."""
    return _compiled(schema).fast.is_valid(record)


def all_valid(schema: object, records: Iterable[object]) -> bool:
    """Whether every record is valid; stops at the first invalid one (the fast path)."""
    validator = _compiled(schema).fast
    return all(validator.is_valid(record) for record in records)


def validate_records(
    schema: object,
    records: Sequence[object],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> ValidationReport:
    """Every error of every record, with its index and path, the counts, and the time taken.

    ``clock`` returns seconds (injected by tests); compiling a schema not yet cached counts.
    """
    started = clock()
    compiled = _compiled(schema)
    invalid = [i for i, record in enumerate(records) if not compiled.fast.is_valid(record)]
    issues: list[ValidationIssue] = []
    for index in invalid:
        found = _detailed_issues(compiled, index, records[index])
        issues += found or _fast_issues(compiled, index, records[index])
    return ValidationReport(
        dialect=compiled.dialect,
        total=len(records),
        valid=len(records) - len(invalid),
        invalid=len(invalid),
        invalid_indices=tuple(invalid),
        issues=tuple(issues),
        elapsed_ms=round((clock() - started) * 1000, 3),
    )


def _compiled(schema: object) -> _Compiled:
    return _compile(normalise(schema))


@lru_cache(maxsize=_CACHE_SIZE)
def _compile(text: str) -> _Compiled:
    schema = json.loads(text)
    if not isinstance(schema, dict | bool):
        raise InvalidSchemaError(["a schema is a JSON object or a boolean"])
    dialect = declared_dialect(schema) or DEFAULT_VALIDATION_DIALECT
    detailed_cls = _DETAILED[dialect]
    meta = detailed_cls(detailed_cls.META_SCHEMA)
    try:
        errors = sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.path)))
    except RecursionError as exc:
        raise InvalidSchemaError(["schema nested too deeply"]) from exc
    reasons = [f"{_pointer(error.absolute_path)}: {error.message}" for error in errors]
    if reasons:
        raise InvalidSchemaError(reasons)
    try:
        fast = _FAST[dialect](
            schema, validate_formats=True, offline=True, formats=_formats_missing_in(dialect)
        )
    except jsonschema_rs.ReferencingError as exc:
        raise UnresolvableReferenceError(_first_line(exc)) from exc
    except ValueError as exc:  # an unresolvable $ref, a pattern the regex engine refuses, ...
        raise InvalidSchemaError([_first_line(exc)]) from exc
    detailed = detailed_cls(schema, format_checker=_format_checker(detailed_cls))
    return _Compiled(dialect=dialect, fast=fast, detailed=detailed)


def _format_checker(detailed_cls: Any) -> Any:
    """The dialect's format checker with the shared formats decided by jsonschema-rs."""
    checker = jsonschema.FormatChecker(list(detailed_cls.FORMAT_CHECKER.checkers))
    for name in SHARED_FORMATS:
        checker.checks(name)(_rs_format(name))
    return checker


def _formats_missing_in(dialect: Dialect) -> dict[str, Callable[[object], bool]]:
    # uuid is a 2019-09 format: jsonschema-rs's older drafts skip it as unknown, but the
    # registry checks it in every dialect, with the 2020-12 rule.
    return {} if dialect.is_modern else {"uuid": _rs_format("uuid")}


@lru_cache(maxsize=len(SHARED_FORMATS))
def _rs_format(name: str) -> Callable[[object], bool]:
    validator = jsonschema_rs.Draft202012Validator(
        {"format": name}, validate_formats=True, offline=True
    )
    return validator.is_valid


def _detailed_issues(compiled: _Compiled, index: int, record: object) -> list[ValidationIssue]:
    errors = sorted(compiled.detailed.iter_errors(record), key=lambda e: list(map(str, e.path)))
    return [
        ValidationIssue(
            index=index,
            path=str(error.json_path),
            message=str(error.message),
            keyword=str(error.validator),
            schema_path=_pointer(error.absolute_schema_path),
        )
        for error in errors
    ]


def _fast_issues(compiled: _Compiled, index: int, record: object) -> list[ValidationIssue]:
    return [
        ValidationIssue(
            index=index,
            path=_json_path(error.instance_path),
            message=error.message,
            keyword=error.kind.name,
            schema_path=_pointer(error.schema_path),
        )
        for error in compiled.fast.iter_errors(record)
    ]


def _first_line(exc: Exception) -> str:
    # jsonschema-rs appends the failing schema and instance after a blank line.
    return str(exc).split("\n", 1)[0]


def _json_path(parts: Iterable[object]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _pointer(parts: Iterable[object]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "#/" + "/".join(escaped)
