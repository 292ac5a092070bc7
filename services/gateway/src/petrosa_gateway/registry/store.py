"""Where versions live: the interface both stores implement, and what they share.

Invariants (each store enforces them; the service relies on them):
* (name, version) is unique: a second insert of the same pair raises DuplicateVersion, so
  two gateways registering at once cannot both win.
* ``schema_text`` is the schema exactly as registered (JSON); ``schema`` is read back from it.
* Versions are returned newest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from petrosa_gateway.registry.models import Database, SchemaSummary, SchemaVersion, Status
from petrosa_gateway.schemas import CompatibilityMode


class DuplicateVersion(Exception):
    """(name, version) is already stored."""


class SchemaStore(Protocol):
    """Versions of the schemas of one database, stored in that database."""

    database: Database

    async def prepare(self) -> None:
        """Create indexes (idempotent)."""

    async def versions(self, name: str, *, include_deleted: bool) -> list[SchemaVersion]:
        """Every version of ``name``, newest first."""

    async def insert(self, entry: SchemaVersion) -> None:
        """Store a new version (DuplicateVersion if taken)."""

    async def update(
        self,
        name: str,
        version: int,
        *,
        updated_at: datetime,
        schema: Any | None = None,
        fingerprint: str | None = None,
        description: str | None = None,
        status: Status | None = None,
    ) -> bool:
        """Change the given fields of one version; whether it exists."""

    async def delete(self, name: str, version: int) -> bool:
        """Remove one version for good; whether it existed."""

    async def all_versions(self) -> list[SchemaVersion]:
        """Every non-deleted version of every schema (the registry is small)."""

    async def get_mode(self, name: str) -> CompatibilityMode | None:
        """The schema's own compatibility mode, if set."""

    async def set_mode(self, name: str, mode: CompatibilityMode, now: datetime) -> None:
        """Set the schema's compatibility mode."""


def schema_text(schema: Any) -> str:
    """The schema as stored: JSON keeping the caller's key order."""
    return json.dumps(schema, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def summarise(database: Database, versions: Iterable[SchemaVersion]) -> list[SchemaSummary]:
    """One summary per name (newest non-deleted version), by name."""
    by_name: dict[str, list[SchemaVersion]] = {}
    for entry in versions:
        if entry.status is not Status.DELETED:
            by_name.setdefault(entry.name, []).append(entry)
    summaries = []
    for name in sorted(by_name):
        entries = sorted(by_name[name], key=lambda e: e.version, reverse=True)
        latest = entries[0]
        summaries.append(
            SchemaSummary(
                database=database,
                name=name,
                latest_version=latest.version,
                versions=len(entries),
                status=latest.status,
                description=latest.description,
                updated_at=max(e.updated_at for e in entries),
            )
        )
    return summaries
