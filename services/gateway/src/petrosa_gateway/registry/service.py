"""The schema registry: versions, compatibility, validation and bootstrap over both stores.

Rules (each enforced below):
* A version is read from the store of the database it describes; reads go through the cache,
  every change invalidates it (here and, via ``on_change``, in every other gateway).
* Registering a schema identical (normalised) to a non-deleted version returns that version.
* A new version must keep the schema's compatibility mode against the non-deleted versions
  (409 with every breaking change), and fit under ``SCHEMA_MAX_VERSIONS`` non-deleted ones.
* Version numbers only grow: the next is one past the highest ever stored (soft-deleted too).
* "Latest" is the newest active version, else the newest deprecated one.
* A hard delete needs a soft delete first (as Confluent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from petrosa_common.logging import get_logger

from petrosa_gateway.errors import Conflict, NotFound
from petrosa_gateway.registry.cache import SchemaCache
from petrosa_gateway.registry.errors import IncompatibleSchema, UnusableSchema, breaking_change
from petrosa_gateway.registry.models import (
    Database,
    SchemaConfig,
    SchemaSummary,
    SchemaVersion,
    Status,
)
from petrosa_gateway.registry.store import DuplicateVersion, SchemaStore, summarise
from petrosa_gateway.schemas import (
    CompatibilityMode,
    CompatibilityResult,
    RegisteredVersion,
    SchemaError,
    check,
    check_schema,
    fingerprint,
)

log = get_logger(__name__)
OnChange = Callable[[Database | None, str | None], Awaitable[None]]


class SchemaRegistry:
    """Registry operations over one store per database."""

    def __init__(
        self,
        *,
        stores: Mapping[Database, SchemaStore],
        cache: SchemaCache,
        default_mode: CompatibilityMode,
        max_versions: int,
        on_change: OnChange | None = None,
    ) -> None:
        self.stores = stores
        self.cache = cache
        self.default_mode = default_mode
        self.max_versions = max_versions
        self.on_change = on_change
        self._locks: dict[tuple[Database, str], asyncio.Lock] = {}

    # Reads

    async def versions(
        self, database: Database, name: str, *, include_deleted: bool = False
    ) -> list[SchemaVersion]:
        """Versions of ``name``, newest first (non-deleted ones through the cache)."""
        if include_deleted:
            return await self.stores[database].versions(name, include_deleted=True)
        key = (database, name)
        cached = self.cache.get(key)
        if cached is None:
            cached = await self.stores[database].versions(name, include_deleted=False)
            self.cache.put(key, cached)
        return cached

    async def get(
        self, database: Database, name: str, version: int | None, *, include_deleted: bool = False
    ) -> SchemaVersion:
        """One version, or the latest (404 if there is none)."""
        found = await self.versions(database, name, include_deleted=include_deleted)
        if version is None:
            latest = _latest(found)
            if latest is None:
                raise NotFound(f"no schema {name!r} in {database.value}")
            return latest
        for entry in found:
            if entry.version == version:
                return entry
        raise NotFound(f"schema {name!r} in {database.value} has no version {version}")

    async def find(self, database: Database, name: str) -> SchemaVersion | None:
        """The latest version, or ``None`` when the schema is unknown."""
        return _latest(await self.versions(database, name))

    async def summaries(
        self, database: Database | None, *, search: str | None = None
    ) -> list[SchemaSummary]:
        """One summary per schema (by database, then name); ``search`` matches a substring of
        the name or description, case-insensitively."""
        found: list[SchemaSummary] = []
        for db in (database,) if database else tuple(Database):
            found += summarise(db, await self.stores[db].all_versions())
        if search:
            needle = search.casefold()
            found = [
                s
                for s in found
                if needle in s.name.casefold() or needle in (s.description or "").casefold()
            ]
        return found

    async def config(self, database: Database, name: str) -> SchemaConfig:
        """The compatibility mode ``name`` is held to."""
        own = await self.stores[database].get_mode(name)
        return SchemaConfig(database, name, own or self.default_mode, is_default=own is None)

    # Compatibility

    async def compatibility(
        self,
        database: Database,
        name: str,
        *,
        schema: Any,
        mode: CompatibilityMode | None = None,
        against: Sequence[SchemaVersion] | None = None,
    ) -> CompatibilityResult:
        """``schema`` against ``against`` (default: every non-deleted version) under ``mode``
        (default: the schema's)."""
        used = mode or (await self.config(database, name)).compatibility
        earlier = await self.versions(database, name) if against is None else against
        previous = [RegisteredVersion(e.version, e.schema) for e in earlier]
        try:
            return check(schema, previous, used)
        except SchemaError as exc:
            raise UnusableSchema(exc) from exc

    async def compare_versions(
        self,
        database: Database,
        name: str,
        old: int,
        new: int,
        mode: CompatibilityMode | None = None,
    ) -> CompatibilityResult:
        """Whether version ``new`` keeps the mode against version ``old``."""
        old_entry = await self.get(database, name, old)
        new_entry = await self.get(database, name, new)
        return await self.compatibility(
            database, name, schema=new_entry.schema, mode=mode, against=[old_entry]
        )

    # Writes

    async def register(
        self,
        database: Database,
        name: str,
        schema: Any,
        *,
        description: str | None = None,
        version: int | None = None,
        mode: CompatibilityMode | None = None,
    ) -> tuple[SchemaVersion, bool]:
        """Register ``schema`` as the next version; ``(version, created)``. An identical
        schema returns the existing version (``created`` false)."""
        _usable(schema)
        async with self._lock(database, name):
            every = await self.stores[database].versions(name, include_deleted=True)
            live = [e for e in every if e.status is not Status.DELETED]
            same = fingerprint(schema)
            for entry in live:
                if entry.fingerprint == same:
                    return entry, False
            number = _next_version(name, every, version)
            if len(live) >= self.max_versions:
                raise Conflict(
                    f"schema {name!r} in {database.value} already has {len(live)} versions "
                    f"(SCHEMA_MAX_VERSIONS={self.max_versions}): delete an old version first"
                )
            await self._require_compatible(database, name, schema, live, mode)
            now = datetime.now(UTC)
            entry = SchemaVersion(
                database, name, number, schema, same, description, Status.ACTIVE, now, now
            )
            try:
                await self.stores[database].insert(entry)
            except DuplicateVersion as exc:
                raise Conflict(
                    f"version {number} of {name!r} was registered concurrently: retry"
                ) from exc
        await self._changed(database, name)
        log.info("schema_registered", database=database.value, name=name, version=number)
        return entry, True

    async def update(
        self,
        database: Database,
        name: str,
        version: int,
        *,
        schema: Any | None = None,
        description: str | None = None,
        status: Status | None = None,
        check_compatibility: bool = True,
    ) -> SchemaVersion:
        """Change a non-deleted version's schema (held to the mode against the versions
        before it), description or status (active / deprecated)."""
        async with self._lock(database, name):
            current = await self.get(database, name, version)
            new_fingerprint = None
            if schema is not None:
                _usable(schema)
                new_fingerprint = fingerprint(schema)
                if new_fingerprint == current.fingerprint:
                    schema = new_fingerprint = None
                elif check_compatibility:
                    live = await self.stores[database].versions(name, include_deleted=False)
                    earlier = [e for e in live if e.version < version]
                    await self._require_compatible(database, name, schema, earlier, None)
            await self.stores[database].update(
                name,
                version,
                updated_at=datetime.now(UTC),
                schema=schema,
                fingerprint=new_fingerprint,
                description=description,
                status=status,
            )
        await self._changed(database, name)
        return await self.get(database, name, version)

    async def delete(
        self, database: Database, name: str, version: int, *, permanent: bool
    ) -> SchemaVersion:
        """Soft delete (status ``deleted``), or remove a soft-deleted version for good."""
        async with self._lock(database, name):
            entry = await self.get(database, name, version, include_deleted=True)
            store = self.stores[database]
            if permanent:
                if entry.status is not Status.DELETED:
                    raise Conflict(
                        f"version {version} of {name!r} must be soft-deleted before a "
                        "permanent delete (DELETE without permanent=true first)"
                    )
                await store.delete(name, version)
            else:
                if entry.status is Status.DELETED:
                    raise NotFound(f"version {version} of {name!r} is already deleted")
                await store.update(
                    name, version, updated_at=datetime.now(UTC), status=Status.DELETED
                )
        await self._changed(database, name)
        return entry

    async def set_mode(
        self, database: Database, name: str, mode: CompatibilityMode
    ) -> SchemaConfig:
        """Hold ``name`` to ``mode`` from now on."""
        await self.stores[database].set_mode(name, mode, datetime.now(UTC))
        await self._changed(database, name)
        return SchemaConfig(database, name, mode, is_default=False)

    async def clear_cache(self) -> int:
        """Empty the cache here and in every other gateway; entries dropped here."""
        dropped = self.cache.clear()
        if self.on_change is not None:
            await self.on_change(None, None)
        return dropped

    # Helpers

    async def _require_compatible(
        self,
        database: Database,
        name: str,
        schema: Any,
        earlier: Sequence[SchemaVersion],
        mode: CompatibilityMode | None,
    ) -> None:
        result = await self.compatibility(database, name, schema=schema, mode=mode, against=earlier)
        if not result.is_compatible:
            breaking = [breaking_change(b) for b in result.breaking]
            raise IncompatibleSchema(
                f"schema {name!r} breaks {result.mode.value} compatibility: "
                + "; ".join(f"{b['message']} {b['hint']}" for b in breaking),
                mode=result.mode.value,
                breaking=breaking,
            )

    def _lock(self, database: Database, name: str) -> asyncio.Lock:
        return self._locks.setdefault((database, name), asyncio.Lock())

    async def _changed(self, database: Database, name: str) -> None:
        self.cache.invalidate((database, name))
        if self.on_change is not None:
            await self.on_change(database, name)


def _usable(schema: Any) -> None:
    try:
        check_schema(schema)
    except SchemaError as exc:
        raise UnusableSchema(exc) from exc


def _latest(versions: Sequence[SchemaVersion]) -> SchemaVersion | None:
    for status in (Status.ACTIVE, Status.DEPRECATED):
        for entry in versions:
            if entry.status is status:
                return entry
    return None


def _next_version(name: str, every: Sequence[SchemaVersion], asked: int | None) -> int:
    next_free = max((e.version for e in every), default=0) + 1
    if asked is None:
        return next_free
    if asked < next_free:
        raise Conflict(
            f"version {asked} of {name!r} already exists (or existed) with a different schema; "
            f"the next free version is {next_free}"
        )
    return asked
