"""MongoDB catalog: which collection names are reachable, which exist, and MongoDB's errors
in its own words (shared with raw MongoDB queries)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Final

from petrosa_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from petrosa_gateway.errors import BadRequest, NotFound

COLLECTION_NAME_MAX_LENGTH: Final = 120
COLLECTION_CACHE_SECONDS: Final = 5.0
"""How long a listing of collection names is trusted (a miss always asks the server again)."""
_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def collection_name(name: object) -> str:
    """``name`` when it names an ordinary collection; :class:`BadRequest` with the reason."""
    if not isinstance(name, str) or not name:
        raise BadRequest("collection name must be a non-empty string")
    if "\x00" in name:
        raise BadRequest("collection name must not contain NUL")
    if "$" in name:
        raise BadRequest(f"collection name {name!r} must not contain '$'")
    if name.startswith("system."):
        raise BadRequest(f"{name!r} is a system collection; system collections are not accessible")
    if len(name) > COLLECTION_NAME_MAX_LENGTH:
        raise BadRequest(f"collection name is longer than {COLLECTION_NAME_MAX_LENGTH} characters")
    if not _NAME.fullmatch(name) or name.endswith(".") or ".." in name:
        raise BadRequest(
            f"collection name {name!r} may only contain letters, digits, '_', '-' and '.', "
            "must start with a letter, digit or '_' and must not have empty '.' parts"
        )
    return name


_seen: dict[tuple[int, str], tuple[float, frozenset[str]]] = {}


def _key(db: AsyncDatabase[Document]) -> tuple[int, str]:
    return (id(db.client), db.name)


async def ensure_collection_exists(db: AsyncDatabase[Document], name: str) -> None:
    """:class:`NotFound` when ``name`` does not exist (listing cached briefly; a miss asks
    the server again)."""
    cached = _seen.get(_key(db))
    if cached is not None and cached[0] > time.monotonic() and name in cached[1]:
        return
    names = frozenset(await db.list_collection_names())
    _seen[_key(db)] = (time.monotonic() + COLLECTION_CACHE_SECONDS, names)
    if name not in names:
        raise NotFound(f"collection {name!r} does not exist")


def remember_collection(db: AsyncDatabase[Document], name: str) -> None:
    """``name`` exists now (a write created it)."""
    cached = _seen.get(_key(db))
    if cached is not None:
        _seen[_key(db)] = (cached[0], cached[1] | {name})


@contextlib.contextmanager
def refused(action: str) -> Iterator[None]:
    """MongoDB refusing ``action`` because of the request: a 400 in MongoDB's words."""
    try:
        yield
    except OperationFailure as exc:
        raise BadRequest(f"MongoDB refused the {action}: {mongo_error_message(exc)}") from exc


def mongo_error_message(exc: PyMongoError) -> str:
    """The server's own message for ``exc`` (first write error of a bulk), without noise."""
    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        if errors:
            return str(errors[0].get("errmsg", exc))
    if isinstance(exc, OperationFailure):
        message = (exc.details or {}).get("errmsg")
        if message:
            return str(message)
    return str(exc)
