"""The normalised text of a schema, for "registering the identical schema again".

Two schemas are the same when their normalised texts are equal: object keys sorted at every
depth and no insignificant whitespace, which is what Confluent's ``normalize`` does for JSON
Schema (it reorders properties; the order of arrays such as ``required`` or ``enum`` is kept, so
reordering them registers a new, compatible version there as here).
"""

from __future__ import annotations

import hashlib
import json

from petrosa_gateway.schemas.errors import InvalidSchemaError


def normalise(schema: object) -> str:
    """Canonical JSON text of ``schema``; raises InvalidSchemaError for non-JSON values."""
    try:
        return json.dumps(
            schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidSchemaError([f"not a JSON document: {exc}"]) from exc
    except RecursionError as exc:
        raise InvalidSchemaError(["schema nested too deeply"]) from exc


def fingerprint(schema: object) -> str:
    """SHA-256 (hex) of the normalised text: equal for identical schemas, a lookup key."""
    return hashlib.sha256(normalise(schema).encode()).hexdigest()
