"""Bootstrap: register a set of schemas at once (the eight common ones by default).

Per schema: unknown name -> registered (``created``); a version identical to it exists ->
``unchanged``; otherwise ``skipped``, unless ``overwrite_existing``: then the given version
(or the latest) is replaced in place, without a compatibility check (``overwritten``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from petrosa_gateway.registry.common_schemas import COMMON_SCHEMAS
from petrosa_gateway.registry.models import Database, Status
from petrosa_gateway.registry.service import SchemaRegistry
from petrosa_gateway.schemas import fingerprint


@dataclass(frozen=True, slots=True)
class BootstrapItem:
    """One schema to bootstrap."""

    database: Database
    name: str
    schema: Any
    description: str | None = None
    version: int | None = None


def common_items(database: Database | None = None) -> list[BootstrapItem]:
    """The common schemas (of one database, or all eight)."""
    return [
        BootstrapItem(c.database, c.name, c.schema, c.description)
        for c in COMMON_SCHEMAS
        if database is None or c.database is database
    ]


async def bootstrap(
    registry: SchemaRegistry, items: Sequence[BootstrapItem], *, overwrite: bool
) -> list[dict[str, Any]]:
    """Register ``items``; one ``{database, name, version, action}`` per item."""
    results = []
    for item in items:
        live = await registry.versions(item.database, item.name)
        same = fingerprint(item.schema)
        identical = next((e for e in live if e.fingerprint == same), None)
        if identical is not None:
            action, version = "unchanged", identical.version
        elif not live:
            entry, _ = await registry.register(
                item.database,
                item.name,
                item.schema,
                description=item.description,
                version=item.version,
            )
            action, version = "created", entry.version
        elif not overwrite:
            action, version = "skipped", live[0].version
        else:
            version = item.version or live[0].version
            if any(e.version == version for e in live):
                await registry.update(
                    item.database,
                    item.name,
                    version,
                    schema=item.schema,
                    description=item.description,
                    status=Status.ACTIVE,
                    check_compatibility=False,
                )
            else:
                entry, _ = await registry.register(
                    item.database,
                    item.name,
                    item.schema,
                    description=item.description,
                    version=version,
                )
                version = entry.version
            action = "overwritten"
        results.append(
            {
                "database": item.database.value,
                "name": item.name,
                "version": version,
                "action": action,
            }
        )
    return results
