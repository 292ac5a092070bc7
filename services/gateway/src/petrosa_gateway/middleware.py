"""Pure ASGI middleware: request metrics and the request-size limit (no per-request task)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from petrosa_gateway.metrics import ACTIVE_REQUESTS, REQUEST_DURATION, REQUESTS, record_error


class _BodyTooLarge(Exception):
    pass


class GatewayMiddleware:
    """Counts requests by route template and status, times them, and enforces the size limit."""

    def __init__(self, app: ASGIApp, *, max_request_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_request_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit)
                return

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        status = 500
        started_response = False

        async def observed_send(message: Message) -> None:
            nonlocal status, started_response
            if too_large:
                # The app turned the aborted body read into its own error: answer 413 instead.
                if not started_response:
                    started_response, status = True, 413
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
            await send(message)

        started = time.perf_counter()
        ACTIVE_REQUESTS.inc()
        try:
            await self.app(scope, limited_receive, observed_send)
        except _BodyTooLarge:
            if not started_response:
                status = 413
                await _too_large(send, limit)
        finally:
            ACTIVE_REQUESTS.dec()
            route: Any = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            # Any token is a valid HTTP method: only the known ones become label values.
            method = scope["method"] if scope["method"] in _METHODS else "other"
            REQUESTS.labels(method, endpoint, str(status)).inc()
            REQUEST_DURATION.labels(method, endpoint).observe(time.perf_counter() - started)
            if status >= 500:
                record_error(endpoint, f"http_{status}")


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"error": "payload_too_large", "detail": f"request body over {limit} bytes"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
