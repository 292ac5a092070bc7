"""The error vocabulary of request/reply APIs: ``{"error": <code>, "detail": <reason>}``.

The backfill APIs answer the same code for the same problem over REST (the gateway) and NATS
(the backfiller); the gateway maps each code to its HTTP status in one place. Codes:

* ``bad_request`` — the body is not JSON (HTTP 400);
* ``invalid_parameter`` — a JSON body, or a parameter, breaks a rule: a missing or mistyped
  field, a value out of bounds, ``end`` not after ``start`` (HTTP 422);
* ``not_found`` — no such job (HTTP 404);
* ``unavailable`` — a store (PostgreSQL) cannot be reached now: try again (HTTP 503).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError


class ErrorCode(StrEnum):
    """Machine-readable error codes shared by REST and NATS (module docstring)."""

    BAD_REQUEST = "bad_request"
    INVALID_PARAMETER = "invalid_parameter"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


class ErrorReply(BaseModel):
    """An error answer: the code and a human-readable reason."""

    error: ErrorCode
    detail: str


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """Pydantic's validation errors as one line: ``where: why; ...``."""
    reasons = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons)


def validation_reply(exc: ValidationError) -> ErrorReply:
    """The answer to a body that failed validation: ``bad_request`` when it is not JSON at
    all, else ``invalid_parameter`` with every reason (as the gateway answers)."""
    errors = exc.errors()
    for error in errors:
        if error["type"] == "json_invalid":
            reason = f"malformed JSON body: {error.get('ctx', {}).get('error', '')}"
            return ErrorReply(error=ErrorCode.BAD_REQUEST, detail=reason.rstrip(": "))
    return ErrorReply(error=ErrorCode.INVALID_PARAMETER, detail=describe_errors(errors))
