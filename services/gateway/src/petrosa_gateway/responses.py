"""A JSON response rendered by orjson (datetimes as ISO-8601)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """``application/json`` via orjson; the payload must already match the declared model.

    A :class:`JSONResponse` subclass so that FastAPI documents the routes' response models.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
