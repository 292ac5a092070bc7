"""The schema registry around the schema core: storage in the described database, cache
with cross-gateway invalidation, validation policy and bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.client import Client as NatsClient

from petrosa_gateway.registry.cache import SchemaCache
from petrosa_gateway.registry.invalidation import Invalidation
from petrosa_gateway.registry.models import Database, SchemaVersion, Status
from petrosa_gateway.registry.mongo_store import MongoSchemaStore
from petrosa_gateway.registry.pg_store import PgSchemaStore
from petrosa_gateway.registry.service import SchemaRegistry
from petrosa_gateway.registry.validation import ValidationPolicy
from petrosa_gateway.resources import Resources

__all__ = [
    "Database",
    "Registry",
    "SchemaRegistry",
    "SchemaVersion",
    "Status",
    "ValidationPolicy",
    "build_registry",
]


@dataclass(frozen=True, slots=True)
class Registry:
    """What the routes and the CRUD hook use."""

    service: SchemaRegistry
    policy: ValidationPolicy
    invalidation: Invalidation


def build_registry(resources: Resources) -> Registry:
    """The registry over the gateway's open databases, configured by its settings."""
    settings = resources.settings
    cache = SchemaCache(ttl=settings.schema_cache_ttl)

    def nats() -> NatsClient | None:
        return resources.nats

    invalidation = Invalidation(cache, nats)
    service = SchemaRegistry(
        stores={
            Database.MONGODB: MongoSchemaStore(resources.db),
            Database.POSTGRES: PgSchemaStore(resources.pg),
        },
        cache=cache,
        default_mode=settings.schema_compatibility_mode,
        max_versions=settings.schema_max_versions,
        on_change=invalidation.publish,
    )
    policy = ValidationPolicy(
        enabled=settings.schema_validation_enabled, strict=settings.schema_strict_mode
    )
    return Registry(service=service, policy=policy, invalidation=invalidation)
