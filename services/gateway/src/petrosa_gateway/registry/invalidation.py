"""Cache invalidation across gateway replicas over NATS.

Every change publishes ``{database, name, origin}`` (``database``/``name`` null: clear all)
on :data:`SUBJECT`; each gateway drops the named entry (or everything) unless it sent the
message itself. Publishing is best effort: without NATS the TTL bounds staleness.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Final

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from petrosa_common.logging import get_logger
from petrosa_common.naming import SCHEMAS_CHANGED_SUBJECT

from petrosa_gateway.registry.cache import SchemaCache
from petrosa_gateway.registry.models import Database

log = get_logger(__name__)
SUBJECT: Final = SCHEMAS_CHANGED_SUBJECT


class Invalidation:
    """Publishes this gateway's changes and applies the others'."""

    def __init__(self, cache: SchemaCache, nats: Callable[[], NatsClient | None]) -> None:
        self.cache = cache
        self.origin = uuid.uuid4().hex
        self._nats = nats
        self.received = 0

    async def publish(self, database: Database | None, name: str | None) -> None:
        """Tell the other gateways (best effort)."""
        nc = self._nats()
        if nc is None or not nc.is_connected:
            return
        body = {
            "database": database.value if database else None,
            "name": name,
            "origin": self.origin,
        }
        try:
            await nc.publish(SUBJECT, orjson.dumps(body))
        except Exception as exc:  # a lost message costs at most one TTL of staleness
            log.warning("schema_invalidation_not_published", error=str(exc))

    async def subscribe(self, nc: NatsClient) -> Subscription:
        """Apply other gateways' changes to this cache."""
        return await nc.subscribe(SUBJECT, cb=self._on_message)

    async def _on_message(self, msg: Msg) -> None:
        try:
            body = orjson.loads(msg.data)
            if body.get("origin") == self.origin:
                return
            self.received += 1
            if body.get("database") is None:
                self.cache.clear()
            else:
                self.cache.invalidate((Database(body["database"]), str(body["name"])))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("schema_invalidation_malformed", error=str(exc))
