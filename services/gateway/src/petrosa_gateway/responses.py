"""A JSON response rendered by orjson with the gateway's one reply encoding."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from petrosa_gateway.store.encoding import dumps


class FastJSONResponse(JSONResponse):
    """``application/json`` via :func:`petrosa_gateway.store.encoding.dumps` (datetimes as
    ``...Z``, ObjectId, Decimal, bytes and result models included); the payload must match
    the route's declared model.

    A :class:`JSONResponse` subclass so that FastAPI documents the routes' response models.
    """

    def render(self, content: Any) -> bytes:
        return dumps(content)
