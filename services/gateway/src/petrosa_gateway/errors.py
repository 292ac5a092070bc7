"""Gateway errors: raised inside queries and routes, mapped to HTTP (and NATS) in one place."""

from __future__ import annotations


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
    """A query parameter has a bad value (unknown pair format, period, range)."""

    status = 422
    code = "invalid_parameter"


class QueryTimeout(GatewayError):
    """A read took longer than the configured deadline."""

    status = 504
    code = "timeout"
