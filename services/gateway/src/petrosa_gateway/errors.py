"""Gateway errors: raised inside queries and routes, mapped to HTTP (and NATS) in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class GatewayError(Exception):
    """Base: ``status`` is the HTTP status, ``code`` a stable machine-readable error code."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(GatewayError):
    """The request is malformed or not allowed (bad JSON, bad filter, refused query)."""

    status = 400
    code = "bad_request"


class InvalidInput(BadRequest, ValueError):
    """A value breaks one of the input rules of :mod:`petrosa_gateway.inputs` (400).

    Also a :class:`ValueError`: raised inside pydantic validation (typed parameters, body
    models) it becomes one of the field errors of a 422, reported with the others.
    """


class Unauthorized(GatewayError):
    """No API key, or an unknown one."""

    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    """The API key lacks the scope, or the resource is read-only."""

    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    """Unknown collection, table, dataset or record."""

    status = 404
    code = "not_found"


class Conflict(GatewayError):
    """The write conflicts with existing data."""

    status = 409
    code = "conflict"


class PayloadTooLarge(GatewayError):
    """Request body over the configured limit, or too many batch operations."""

    status = 413
    code = "payload_too_large"


class NotImplementedYet(GatewayError):
    """A documented feature whose dependency does not exist yet (says which)."""

    status = 501
    code = "not_implemented"


class Unavailable(GatewayError):
    """A required database or the broker is down."""

    status = 503
    code = "unavailable"


class InvalidParameter(GatewayError):
    """A parameter or body field has a bad value (pair format, period, range, bounds)."""

    status = 422
    code = "invalid_parameter"


class QueryTimeout(GatewayError):
    """A read took longer than the configured deadline."""

    status = 504
    code = "timeout"


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """Pydantic's (or FastAPI's) validation errors as one line: ``where: why; ...``."""
    reasons = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons)
