"""MongoDB access: the client factory and the indexes of every collection kind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.monitoring import ConnectionPoolListener

from petrosa_common.naming import DEAD_LETTERS_COLLECTION, DatasetKind

Document = dict[str, Any]
NAMESPACE_NOT_FOUND = 26
"""The server's error code for a collection that does not exist."""


def create_mongo_client(
    url: str,
    *,
    app_name: str,
    timeout_ms: int = 5_000,
    max_pool_size: int = 50,
    event_listeners: Sequence[ConnectionPoolListener] = (),
) -> AsyncMongoClient[Document]:
    """An ``AsyncMongoClient`` returning aware UTC datetimes, with bounded timeouts."""
    return AsyncMongoClient(
        url,
        event_listeners=list(event_listeners),
        appname=app_name,
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 6, 30_000),
        maxPoolSize=max_pool_size,
    )


async def ensure_series_indexes(db: AsyncDatabase[Document], collection: str) -> None:
    """Indexes of a market series: ``_id`` is the unique natural key; ``timestamp`` for ranges."""
    await db[collection].create_index([("timestamp", ASCENDING)], name="timestamp_1")


async def ensure_coordination_indexes(db: AsyncDatabase[Document]) -> None:
    """Indexes of the coordination collections (dead letters by time and reason)."""
    dead = db[DEAD_LETTERS_COLLECTION]
    await dead.create_index([("received_at", ASCENDING)], name="received_at_1")
    await dead.create_index([("reason", ASCENDING)], name="reason_1")


async def estimated_count(
    collection: AsyncCollection[Document], *, max_time_ms: int | None = None
) -> int:
    """The collection's document count from its storage metadata: no document is read.

    The ``$collStats`` ``count`` stage (summed over the rows a sharded cluster returns, one per
    shard): on MongoDB the same O(1) metadata count as ``estimated_document_count``, and it
    may lag likewise after an unclean shutdown. A collection that does not exist counts 0.

    FerretDB 1.24 on PostgreSQL answers the stage from the planner's statistics
    (``reltuples``), without decoding a document, where its ``count`` command decodes every
    one; those statistics lag behind writes until the next (auto)``ANALYZE`` and are -1
    before the table's first, when this falls back to ``estimated_document_count``.
    """
    options: dict[str, Any] = {} if max_time_ms is None else {"maxTimeMS": max_time_ms}
    try:
        cursor = await collection.aggregate([{"$collStats": {"count": {}}}], **options)
        rows = await cursor.to_list()
    except OperationFailure as exc:
        if exc.code == NAMESPACE_NOT_FOUND:
            return 0
        raise
    counts = [row.get("count") for row in rows]
    known = [n for n in counts if isinstance(n, int) and n >= 0]
    if known and len(known) == len(counts):
        return sum(known)
    return await collection.estimated_document_count(**options)


async def ping(client: AsyncMongoClient[Document]) -> float:
    """Round-trip a ``ping``; returns seconds taken, raises on failure."""
    started = datetime.now(UTC)
    await client.admin.command("ping")
    return (datetime.now(UTC) - started).total_seconds()


async def server_time(client: AsyncMongoClient[Document]) -> datetime:
    """The database server's clock (``hello.localTime``), independent of this host's clock."""
    reply = await client.admin.command("hello")
    local: datetime = reply["localTime"]
    return local if local.tzinfo else local.replace(tzinfo=UTC)


__all__ = [
    "DatasetKind",
    "Document",
    "PyMongoError",
    "create_mongo_client",
    "ensure_coordination_indexes",
    "ensure_series_indexes",
    "estimated_count",
    "ping",
    "server_time",
]
