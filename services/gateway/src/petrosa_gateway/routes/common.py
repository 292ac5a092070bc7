"""Error responses documented on every route (so the OpenAPI schema says what clients get)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error the gateway raises: a stable code and a human-readable reason."""

    error: str
    detail: str


class FieldError(BaseModel):
    """One reason of a 422: where (``["query", "offset"]``) and why."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidParameters(ErrorBody):
    """A 422: ``detail`` gives every reason in one line, ``errors`` one by one."""

    errors: list[FieldError] | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed or refused request (bad JSON, bad filter, refused query)"),
    404: _error("Unknown database object or data"),
    413: _error("Request body over the limit"),
    422: {"model": InvalidParameters, "description": "Invalid parameter or body field value"},
    503: _error("A required database is unavailable"),
    504: _error("The read took longer than the deadline"),
}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or unknown API key"),
    403: _error("API key without the needed scope, or read-only resource"),
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    **AUTH_RESPONSES,
    409: _error("Conflict with stored data"),
    501: _error("Needs a feature that does not exist yet (schema validation)"),
}
