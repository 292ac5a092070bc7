"""PostgreSQL side of the registry: the ``schemas`` and ``schema_configs`` tables (0007)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from petrosa_common.postgres import PgPool
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from petrosa_gateway.registry.models import Database, SchemaVersion, Status
from petrosa_gateway.registry.store import DuplicateVersion, schema_text
from petrosa_gateway.schemas import CompatibilityMode

_COLUMNS = (
    "SELECT name, version, schema_text, fingerprint, description, status, created_at,"
    " updated_at FROM schemas"
)


class PgSchemaStore:
    """Versions of PostgreSQL schemas, in PostgreSQL."""

    database = Database.POSTGRES

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def prepare(self) -> None:
        """Nothing: migration 0007 made the tables."""

    async def versions(self, name: str, *, include_deleted: bool) -> list[SchemaVersion]:
        """Every version of ``name``, newest first."""
        query = _COLUMNS + " WHERE name = %s"
        if not include_deleted:
            query += " AND status <> 'deleted'"
        async with self._pool.connection() as conn:
            cursor = await conn.execute((query + " ORDER BY version DESC").encode(), (name,))
            return [_entry(row) for row in await cursor.fetchall()]

    async def insert(self, entry: SchemaVersion) -> None:
        """Store a new version (DuplicateVersion if taken)."""
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO schemas (name, version, schema, schema_text, fingerprint,"
                    " description, status, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        entry.name,
                        entry.version,
                        Jsonb(entry.schema),
                        schema_text(entry.schema),
                        entry.fingerprint,
                        entry.description,
                        entry.status.value,
                        entry.created_at,
                        entry.updated_at,
                    ),
                )
        except errors.UniqueViolation as exc:
            raise DuplicateVersion(f"{entry.name} version {entry.version}") from exc

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
        values: dict[str, Any] = {"updated_at": updated_at}
        if schema is not None:
            values["schema"] = Jsonb(schema)
            values["schema_text"] = schema_text(schema)
        if fingerprint is not None:
            values["fingerprint"] = fingerprint
        if description is not None:
            values["description"] = description
        if status is not None:
            values["status"] = status.value
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in values
        )
        statement = sql.SQL("UPDATE schemas SET {} WHERE name = %s AND version = %s").format(
            assignments
        )
        async with self._pool.connection() as conn:
            cursor = await conn.execute(statement, (*values.values(), name, version))
            return cursor.rowcount > 0

    async def delete(self, name: str, version: int) -> bool:
        """Remove one version for good; whether it existed."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM schemas WHERE name = %s AND version = %s", (name, version)
            )
            return cursor.rowcount > 0

    async def all_versions(self) -> list[SchemaVersion]:
        """Every non-deleted version of every schema."""
        query = _COLUMNS + " WHERE status <> 'deleted' ORDER BY name, version DESC"
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query.encode())
            return [_entry(row) for row in await cursor.fetchall()]

    async def get_mode(self, name: str) -> CompatibilityMode | None:
        """The schema's own compatibility mode, if set."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT compatibility FROM schema_configs WHERE name = %s", (name,)
            )
            row = await cursor.fetchone()
        return None if row is None else CompatibilityMode(row["compatibility"])

    async def set_mode(self, name: str, mode: CompatibilityMode, now: datetime) -> None:
        """Set the schema's compatibility mode."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO schema_configs (name, compatibility, updated_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE"
                " SET compatibility = EXCLUDED.compatibility, updated_at = EXCLUDED.updated_at",
                (name, mode.value, now),
            )


def _entry(row: Mapping[str, Any]) -> SchemaVersion:
    return SchemaVersion(
        database=Database.POSTGRES,
        name=row["name"],
        version=int(row["version"]),
        schema=json.loads(row["schema_text"]),
        fingerprint=row["fingerprint"],
        description=row["description"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
