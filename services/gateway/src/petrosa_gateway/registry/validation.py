"""Records against a registered schema, as the settings say.

* ``SCHEMA_VALIDATION_ENABLED=false``: nothing is checked; the answer says so and a warning
  is logged.
* Unknown schema: ``SCHEMA_STRICT_MODE=true`` refuses (404 on /schemas/validate, 400 on a
  CRUD write); otherwise every record passes with a warning.
* Fields the schema does not name (top level, when it has ``properties`` and says nothing
  of ``additionalProperties``/``patternProperties``): an error in strict mode (the schema is
  checked as if ``additionalProperties`` were false), a warning otherwise.
* ``partial`` (updates) drops the top-level ``required``: a patch names only what it sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from petrosa_common.logging import get_logger

from petrosa_gateway.errors import BadRequest, NotFound
from petrosa_gateway.registry.models import Database, SchemaVersion
from petrosa_gateway.registry.service import SchemaRegistry
from petrosa_gateway.schemas import SchemaError, ValidationReport, validate_records

log = get_logger(__name__)

DISABLED = "schema validation is disabled (SCHEMA_VALIDATION_ENABLED=false): nothing was checked"


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """The SCHEMA_* settings validation follows."""

    enabled: bool
    strict: bool


async def validate(
    registry: SchemaRegistry,
    policy: ValidationPolicy,
    *,
    database: Database,
    name: str,
    records: Sequence[Any],
    version: int | None = None,
    partial: bool = False,
    unknown_is_bad_request: bool = False,
) -> dict[str, Any]:
    """The validation answer: verdict, counts, every error with index and path, time."""
    answer: dict[str, Any] = {"database": database.value, "schema_name": name}
    if not policy.enabled:
        log.warning("schema_validation_disabled", database=database.value, schema=name)
        return {**answer, **_passed(len(records)), "validated": False, "warnings": [DISABLED]}
    entry = await _entry(registry, database, name, version)
    if entry is None:
        reason = f"no schema {name!r} registered in {database.value}"
        if policy.strict:
            raise (BadRequest if unknown_is_bad_request else NotFound)(
                f"{reason} (SCHEMA_STRICT_MODE=true)"
            )
        log.warning("schema_unknown", database=database.value, schema=name)
        return {**answer, **_passed(len(records)), "validated": False, "warnings": [reason]}
    schema = effective_schema(entry.schema, strict=policy.strict, partial=partial)
    try:
        report = validate_records(schema, records)
    except SchemaError as exc:  # a stored schema is always usable; say so if not
        raise BadRequest(f"schema {name!r} version {entry.version}: {exc}") from exc
    warnings = [] if policy.strict else _extra_fields(entry.schema, records)
    return {**answer, "version": entry.version, **report_body(report), "warnings": warnings}


def effective_schema(schema: Any, *, strict: bool, partial: bool) -> Any:
    """The schema records are checked against under the policy."""
    if not isinstance(schema, dict) or "properties" not in schema:
        return schema
    changed = dict(schema)
    if partial:
        changed.pop("required", None)
    if strict and _open(schema):
        changed["additionalProperties"] = False
    return changed


def report_body(report: ValidationReport) -> dict[str, Any]:
    """A validation report as the API shows it."""
    return {
        "valid": report.all_valid,
        "validated": True,
        "dialect": report.dialect.value,
        "total": report.total,
        "valid_count": report.valid,
        "invalid_count": report.invalid,
        "invalid_indices": list(report.invalid_indices),
        "errors": [
            {
                "index": issue.index,
                "path": issue.path,
                "message": issue.message,
                "keyword": issue.keyword,
                "schema_path": issue.schema_path,
            }
            for issue in report.issues
        ],
        "elapsed_ms": report.elapsed_ms,
    }


async def _entry(
    registry: SchemaRegistry, database: Database, name: str, version: int | None
) -> SchemaVersion | None:
    if version is None:
        return await registry.find(database, name)
    return await registry.get(database, name, version)


def _passed(total: int) -> dict[str, Any]:
    return {
        "valid": True,
        "total": total,
        "valid_count": total,
        "invalid_count": 0,
        "invalid_indices": [],
        "errors": [],
    }


def _open(schema: dict[str, Any]) -> bool:
    return "additionalProperties" not in schema and "patternProperties" not in schema


def _extra_fields(schema: Any, records: Sequence[Any]) -> list[str]:
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    if not _open(schema):
        return []
    known = set(schema["properties"])
    warnings = []
    for index, record in enumerate(records):
        if isinstance(record, dict) and (extra := sorted(set(record) - known)):
            warnings.append(f"record {index}: fields not in the schema: {', '.join(extra)}")
    return warnings
