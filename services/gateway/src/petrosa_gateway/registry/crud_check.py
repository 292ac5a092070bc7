"""``?schema=NAME&validate=true`` on CRUD writes: every record checked before anything is
written; one invalid record refuses the whole request (400 with every error).

Inserts are checked against the whole schema; update data (what ``$set`` sets) against the
schema without its top-level ``required`` (a patch names only the fields it changes). Batch
errors carry the operation index besides the record index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query, Request

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.inputs import Text
from petrosa_gateway.registry import Registry
from petrosa_gateway.registry.errors import InvalidRecords
from petrosa_gateway.registry.models import Database
from petrosa_gateway.registry.validation import validate


@dataclass(frozen=True, slots=True)
class RecordCheck:
    """The check a CRUD write runs before it writes (a no-op without ``validate=true``)."""

    registry: Registry | None
    database: Database | None
    schema: str | None

    async def records(self, records: Sequence[Any], *, partial: bool = False) -> None:
        """Raise InvalidRecords (400) unless every record passes."""
        if self.registry is None or self.database is None or self.schema is None:
            return
        answer = await validate(
            self.registry.service,
            self.registry.policy,
            database=self.database,
            name=self.schema,
            records=records,
            partial=partial,
            unknown_is_bad_request=True,
        )
        if not answer["valid"]:
            raise InvalidRecords(
                f"{answer['invalid_count']} of {answer['total']} records fail schema "
                f"{self.schema!r} version {answer.get('version')}: nothing was written",
                report=answer,
            )

    async def update(self, data: Any) -> None:
        """Check what an update sets."""
        if isinstance(data, dict):
            await self.records([data.get("$set", data)], partial=True)

    async def operations(self, operations: Sequence[Any]) -> None:
        """Check every insert and update of a batch (each op has ``type`` and ``data``)."""
        for index, operation in enumerate(operations):
            try:
                if operation.type == "insert" and operation.data is not None:
                    data = operation.data
                    await self.records(data if isinstance(data, list) else [data])
                elif operation.type == "update":
                    await self.update(operation.data)
            except InvalidRecords as exc:
                exc.extra["operation"] = index
                exc.detail = f"operation {index}: {exc.detail}"
                raise


def record_check(
    request: Request,
    database: Annotated[Text, Path(description="mongodb, postgres (or its alias mysql)")],
    validate: Annotated[
        bool, Query(description="Validate records against the schema first")
    ] = False,
    schema: Annotated[Text | None, Query(description="Schema name to validate against")] = None,
) -> RecordCheck:
    """Dependency: the check of a write under ``?schema=&validate=true``."""
    if not validate:
        return RecordCheck(None, None, None)
    if not schema:
        raise BadRequest("validate=true needs schema=NAME (a registered schema)")
    try:
        db = Database.of(database.lower())
    except ValueError:
        return RecordCheck(None, None, None)  # the store refuses the database name itself
    return RecordCheck(request.app.state.schema_registry, db, schema)
