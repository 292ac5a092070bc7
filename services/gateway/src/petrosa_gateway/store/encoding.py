"""The one JSON encoding of every reply, REST and NATS, whatever store a value came from.

orjson writes what it knows (datetimes as ISO-8601 with ``Z``: naive ones are UTC, aware
ones must be UTC, see :func:`utc_values`; UUIDs, dates, NaN as ``null``); :func:`encode` is
its ``default`` for the rest: ObjectId as its hex string, Decimal and Decimal128 as JSON
numbers (as the stores' floats are), bytes as base64, UUID binaries as UUID strings,
intervals as seconds, result models as objects, anything else as its ``str``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

import orjson
from bson import Binary, Decimal128, ObjectId, Regex
from bson.binary import UUID_SUBTYPE, UuidRepresentation
from petrosa_common.time import ensure_utc
from pydantic import BaseModel

_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(payload: Any) -> bytes:
    """``payload`` as the JSON every reply carries."""
    return orjson.dumps(payload, default=encode, option=_OPTIONS)


def encode(value: Any) -> Any:
    """orjson's ``default``: a JSON-ready stand-in for a type orjson does not write itself."""
    if isinstance(value, BaseModel):
        return dict(value)  # field by field: the values go through this hook again
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal):
        return None if value.is_nan() else float(value)
    if isinstance(value, Binary) and value.subtype == UUID_SUBTYPE:
        return value.as_uuid(UuidRepresentation.STANDARD)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, Regex | re.Pattern):
        return value.pattern
    return str(value)


def utc_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with its datetimes (and those in its lists) in UTC: PostgreSQL answers
    ``timestamptz`` in the session's time zone, and replies carry ``...Z`` only. A time of day
    with a zone (``timetz``) becomes its ISO text (orjson writes naive times only)."""
    return {key: _utc(value) for key, value in row.items()}


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, time) and value.tzinfo is not None:
        return value.isoformat()
    if isinstance(value, list):
        return [_utc(item) for item in value]
    return value
