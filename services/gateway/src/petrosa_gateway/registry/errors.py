"""Registry refusals that carry a list besides ``{error, detail}`` (the app adds ``extra``)."""

from __future__ import annotations

from typing import Any

from petrosa_gateway.errors import BadRequest, Conflict
from petrosa_gateway.schemas import BreakingChange, SchemaError


class IncompatibleSchema(Conflict):
    """409: the schema breaks its compatibility mode; ``breaking_changes`` says how."""

    def __init__(self, detail: str, *, mode: str, breaking: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.extra: dict[str, Any] = {"compatibility": mode, "breaking_changes": breaking}


class InvalidRecords(BadRequest):
    """400: records fail their schema; ``errors`` lists every error of every record."""

    def __init__(self, detail: str, *, report: dict[str, Any]) -> None:
        super().__init__(detail)
        self.extra: dict[str, Any] = report


class UnusableSchema(BadRequest):
    """400: the schema sent is not a JSON Schema the registry can use (every reason)."""

    def __init__(self, error: SchemaError) -> None:
        reasons = list(getattr(error, "reasons", ())) or [str(error)]
        super().__init__(f"schema: {'; '.join(reasons)}")
        self.extra: dict[str, Any] = {"reasons": reasons}


def breaking_change(found: BreakingChange) -> dict[str, Any]:
    """One breaking change as the API shows it."""
    return {
        "version": found.version,
        "direction": found.direction.value,
        "type": found.change.type.value,
        "path": found.change.path,
        "detail": found.change.detail,
        "message": found.message,
        "hint": found.hint,
    }
