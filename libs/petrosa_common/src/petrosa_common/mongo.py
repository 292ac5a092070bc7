"""MongoDB access: the client factory and the indexes of every collection kind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.monitoring import ConnectionPoolListener

from petrosa_common.naming import DEAD_LETTERS_COLLECTION, DatasetKind

Document = dict[str, Any]


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
    "ping",
    "server_time",
]
