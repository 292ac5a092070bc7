"""What the gateway holds open while it runs: database clients, NATS, keys."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from petrosa_common.mongo import Document
from petrosa_common.postgres import PgPool
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    ConnectionCheckedInEvent,
    ConnectionCheckedOutEvent,
    ConnectionCheckOutFailedEvent,
    ConnectionCheckOutStartedEvent,
    ConnectionClosedEvent,
    ConnectionCreatedEvent,
    ConnectionPoolListener,
    ConnectionReadyEvent,
    PoolClearedEvent,
    PoolClosedEvent,
    PoolCreatedEvent,
)

from petrosa_gateway.security import ApiKeys
from petrosa_gateway.settings import GatewaySettings


class MongoPoolStats(ConnectionPoolListener):
    """Counts the driver's pool events: real numbers for /health/connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0
        self.in_use = 0
        self.created_total = 0
        self.checkout_failures = 0

    def _add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def connection_created(self, event: ConnectionCreatedEvent) -> None:
        self._add(open=1, created_total=1)

    def connection_closed(self, event: ConnectionClosedEvent) -> None:
        self._add(open=-1)

    def connection_checked_out(self, event: ConnectionCheckedOutEvent) -> None:
        self._add(in_use=1)

    def connection_checked_in(self, event: ConnectionCheckedInEvent) -> None:
        self._add(in_use=-1)

    def connection_check_out_failed(self, event: ConnectionCheckOutFailedEvent) -> None:
        self._add(checkout_failures=1)

    def connection_check_out_started(self, event: ConnectionCheckOutStartedEvent) -> None:
        pass

    def connection_ready(self, event: ConnectionReadyEvent) -> None:
        pass

    def pool_created(self, event: PoolCreatedEvent) -> None:
        pass

    def pool_ready(self, event: object) -> None:
        pass

    def pool_cleared(self, event: PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: PoolClosedEvent) -> None:
        pass


@dataclass
class Resources:
    """Open clients and configuration, available to routes through dependencies."""

    settings: GatewaySettings
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    pg: PgPool
    keys: ApiKeys
    mongo_pool: MongoPoolStats
    nats: NatsClient | None = None
    nats_error: str | None = None
    postgres_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once PostgreSQL answered and the migrations are applied."""
