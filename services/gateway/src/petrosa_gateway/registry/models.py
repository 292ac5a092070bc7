"""What the registry stores and answers: versions of a named schema, per database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from petrosa_gateway.schemas import CompatibilityMode

DatabaseName = Literal["mongodb", "postgres", "mysql"]
"""As clients name a database; ``mysql`` is an alias of ``postgres``."""


class Database(StrEnum):
    """The database a schema describes, and where its versions are stored."""

    MONGODB = "mongodb"
    POSTGRES = "postgres"

    @classmethod
    def of(cls, name: str) -> Database:
        """``mongodb`` or ``postgres`` (``mysql`` is an alias of ``postgres``)."""
        return cls.POSTGRES if name == "mysql" else cls(name)


class Status(StrEnum):
    """A version's life: readable while active or deprecated, gone from views once deleted."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One registered version of a schema."""

    database: Database
    name: str
    version: int
    schema: Any
    fingerprint: str
    description: str | None
    status: Status
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """The version as the API shows it."""
        return {
            "database": self.database.value,
            "name": self.name,
            "version": self.version,
            "schema": self.schema,
            "description": self.description,
            "status": self.status.value,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class SchemaSummary:
    """A schema in lists: its newest non-deleted version and how many there are."""

    database: Database
    name: str
    latest_version: int
    versions: int
    status: Status
    description: str | None
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        """The summary as the API shows it."""
        return {
            "database": self.database.value,
            "name": self.name,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "status": self.status.value,
            "description": self.description,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class SchemaConfig:
    """A schema's compatibility mode and whether it is its own or the global default."""

    database: Database
    name: str
    compatibility: CompatibilityMode
    is_default: bool
