"""The registry's read cache: versions of a schema by (database, name), with a TTL.

An entry is the list of non-deleted versions of one schema (what latest, get-version,
validation and compatibility read). Every change drops the schema's entry here and, through
NATS, in every other gateway (:mod:`.invalidation`); the TTL bounds staleness if a message is
lost. Statistics count hits, misses (absent or expired) and evictions (expired, invalidated
or cleared entries).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from petrosa_gateway.registry.models import Database, SchemaVersion

Key = tuple[Database, str]


@dataclass(slots=True)
class _Entry:
    versions: list[SchemaVersion]
    expires_at: float


@dataclass
class SchemaCache:
    """Versions by (database, name), each entry living ``ttl`` seconds (0: no caching)."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    invalidations: int = 0
    _entries: dict[Key, _Entry] = field(default_factory=dict)

    def get(self, key: Key) -> list[SchemaVersion] | None:
        """The cached versions, or ``None`` (a miss)."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= self.clock():
            del self._entries[key]
            self.evictions += 1
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry.versions

    def put(self, key: Key, versions: list[SchemaVersion]) -> None:
        """Remember ``versions`` for ``ttl`` seconds."""
        if self.ttl > 0:
            self._entries[key] = _Entry(versions, self.clock() + self.ttl)

    def invalidate(self, key: Key) -> None:
        """Forget one schema (after a change to it)."""
        self.invalidations += 1
        if self._entries.pop(key, None) is not None:
            self.evictions += 1

    def clear(self) -> int:
        """Forget everything; how many entries there were."""
        count = len(self._entries)
        self.evictions += count
        self._entries.clear()
        return count

    def stats(self) -> dict[str, Any]:
        """Size, TTL and counters (hit rate over all lookups)."""
        lookups = self.hits + self.misses
        return {
            "size": len(self._entries),
            "ttl_seconds": self.ttl,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
            "evictions": self.evictions,
            "invalidations": self.invalidations,
            "entries": [f"{db.value}/{name}" for db, name in sorted(self._entries)],
        }
