"""MongoDB side of the registry: the ``schemas`` and ``schema_configs`` collections.

A document is ``{_id: "<name>@<version>", name, version, schema_text, fingerprint,
description, status, created_at, updated_at}``, plus ``schema`` (the parsed schema) when
its keys can be stored as MongoDB field names (JSON Schema's ``$ref``, ``$defs`` or dotted
``patternProperties`` cannot): a convenience for readers such as the catalog; the registry
itself reads ``schema_text``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from petrosa_common.mongo import Document
from petrosa_common.naming import SCHEMA_CONFIGS_COLLECTION, SCHEMAS_COLLECTION
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from petrosa_gateway.registry.models import Database, SchemaVersion, Status
from petrosa_gateway.registry.store import DuplicateVersion, schema_text
from petrosa_gateway.schemas import CompatibilityMode

CONFIGS_COLLECTION: Final = SCHEMA_CONFIGS_COLLECTION


class MongoSchemaStore:
    """Versions of MongoDB schemas, in MongoDB."""

    database = Database.MONGODB

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._versions = db[SCHEMAS_COLLECTION]
        self._configs = db[CONFIGS_COLLECTION]

    async def prepare(self) -> None:
        """The unique (name, version) index."""
        await self._versions.create_index(
            [("name", ASCENDING), ("version", ASCENDING)], unique=True, name="name_version"
        )

    async def versions(self, name: str, *, include_deleted: bool) -> list[SchemaVersion]:
        """Every version of ``name``, newest first."""
        query: dict[str, Any] = {"name": name}
        if not include_deleted:
            query["status"] = {"$ne": Status.DELETED.value}
        found = await self._versions.find(query, sort=[("version", DESCENDING)]).to_list()
        return [_entry(document) for document in found]

    async def insert(self, entry: SchemaVersion) -> None:
        """Store a new version (DuplicateVersion if taken)."""
        document: dict[str, Any] = {
            "_id": f"{entry.name}@{entry.version}",
            "name": entry.name,
            "version": entry.version,
            "schema_text": schema_text(entry.schema),
            "fingerprint": entry.fingerprint,
            "description": entry.description,
            "status": entry.status.value,
            "created_at": entry.created_at,
            "updated_at": entry.updated_at,
        }
        if _storable(entry.schema):
            document["schema"] = entry.schema
        try:
            await self._versions.insert_one(document)
        except DuplicateKeyError as exc:
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
        changes: dict[str, Any] = {"updated_at": updated_at}
        unset: dict[str, Any] = {}
        if schema is not None:
            changes["schema_text"] = schema_text(schema)
            if _storable(schema):
                changes["schema"] = schema
            else:
                unset["schema"] = ""
        if fingerprint is not None:
            changes["fingerprint"] = fingerprint
        if description is not None:
            changes["description"] = description
        if status is not None:
            changes["status"] = status.value
        update: dict[str, Any] = {"$set": changes}
        if unset:
            update["$unset"] = unset
        result = await self._versions.update_one({"name": name, "version": version}, update)
        return result.matched_count > 0

    async def delete(self, name: str, version: int) -> bool:
        """Remove one version for good; whether it existed."""
        result = await self._versions.delete_one({"name": name, "version": version})
        return result.deleted_count > 0

    async def all_versions(self) -> list[SchemaVersion]:
        """Every non-deleted version of every schema."""
        query = {"status": {"$ne": Status.DELETED.value}, "schema_text": {"$exists": True}}
        found = await self._versions.find(query, sort=[("name", ASCENDING)]).to_list()
        return [_entry(document) for document in found]

    async def get_mode(self, name: str) -> CompatibilityMode | None:
        """The schema's own compatibility mode, if set."""
        found = await self._configs.find_one({"_id": name})
        return None if found is None else CompatibilityMode(found["compatibility"])

    async def set_mode(self, name: str, mode: CompatibilityMode, now: datetime) -> None:
        """Set the schema's compatibility mode."""
        await self._configs.update_one(
            {"_id": name}, {"$set": {"compatibility": mode.value, "updated_at": now}}, upsert=True
        )


def _entry(document: Mapping[str, Any]) -> SchemaVersion:
    return SchemaVersion(
        database=Database.MONGODB,
        name=document["name"],
        version=int(document["version"]),
        schema=json.loads(document["schema_text"]),
        fingerprint=document["fingerprint"],
        description=document.get("description"),
        status=Status(document["status"]),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )


def _storable(value: Any, depth: int = 0) -> bool:
    """Whether every key can be a MongoDB field name (no leading ``$``, no ``.``)."""
    if depth > 90:
        return False
    if isinstance(value, dict):
        return all(
            isinstance(k, str)
            and k
            and not k.startswith("$")
            and "." not in k
            and "\x00" not in k
            and _storable(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_storable(item, depth + 1) for item in value)
    return True
