"""The writes a store takes, validated by rules shared by both stores, and the store protocol.

Rules (same refusal, same message, on MongoDB and PostgreSQL; nothing is written first):

* an insert takes a record or a non-empty list of records, each a JSON object whose names
  and values obey :func:`~petrosa_gateway.inputs.check_record`; ``_id`` is never a list;
* a string shaped like an ISO-8601 date, anywhere in a record or an update, is a real date in
  the years 1970-9999 (the query language's rule; MongoDB stores it as a date, PostgreSQL
  binds it by column type);
* an update or a delete needs a non-empty filter (one request never rewrites or wipes a
  whole collection); an update sets fields (or ``{"$set": {...}}``), never ``_id``, and no
  path inside another;
* a batch is planned whole before anything runs, each refusal naming its operation;
* read-only collections and tables refuse every write (:func:`ensure_writable`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from petrosa_gateway.errors import BadRequest, Forbidden
from petrosa_gateway.inputs import check_record, parse_iso_datetime, update_fields
from petrosa_gateway.store.language import Filter, ReadQuery, parse_filter, refuse_collisions
from petrosa_gateway.store.models import (
    BatchOperation,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListResult,
    UpdateResult,
)

StoreName = Literal["mongodb", "postgres"]


@dataclass(frozen=True, slots=True)
class Insert:
    records: tuple[Mapping[str, Any], ...]
    kind: Literal["insert"] = "insert"


@dataclass(frozen=True, slots=True)
class Update:
    filter: Filter
    changes: Mapping[str, Any]
    upsert: bool = False
    kind: Literal["update"] = "update"


@dataclass(frozen=True, slots=True)
class Delete:
    filter: Filter
    kind: Literal["delete"] = "delete"


Write = Insert | Update | Delete


class Store(Protocol):
    """Generic CRUD on one store; ``collection`` is a collection or table name."""

    name: StoreName

    async def list(self, *, collection: str, query: ReadQuery) -> ListResult:
        """One page of matching records, with the count of all of them."""

    async def insert(self, *, collection: str, write: Insert) -> InsertResult:
        """Insert the records; records already present are duplicates, not copies."""

    async def update(self, *, collection: str, write: Update) -> UpdateResult:
        """Set the changes on every matching record (or upsert one)."""

    async def delete(self, *, collection: str, write: Delete) -> DeleteResult:
        """Delete every matching record."""

    async def batch(self, *, collection: str, writes: Sequence[Write]) -> BatchResult:
        """Apply the writes in order, atomically where the store can."""


def ensure_writable(name: str, read_only: frozenset[str]) -> None:
    """:class:`Forbidden` for the collections and tables CRUD only reads."""
    if name in read_only:
        raise Forbidden(f"{name!r} is read-only through the CRUD API")


def insert_of(data: object) -> Insert:
    """An insert of ``data``: one record or a non-empty list of them."""
    records = [data] if isinstance(data, Mapping) else data
    if not isinstance(records, list) or not records:
        raise BadRequest("insert needs a record or a non-empty list of records")
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise BadRequest(f"record {index} must be a JSON object")
        check_record(record, what=f"record {index}")
        if isinstance(record.get("_id"), list):
            raise BadRequest(f"record {index}: '_id' cannot be an array")
        with_dates(record, what=f"record {index}")
    return Insert(tuple(records))


def update_of(*, filter: object, data: object, upsert: bool = False) -> Update:
    """An update setting ``data`` (fields or ``{"$set": {...}}``) where ``filter`` matches."""
    checked = required_filter(filter, what="an update")
    changes = update_fields(data)
    refuse_collisions(list(changes), what="update")
    for path in changes:
        if path == "_id" or path.startswith("_id."):
            raise BadRequest(f"an update cannot change '_id' (got field {path!r})")
    with_dates(changes, what="update data")
    return Update(checked, changes, upsert)


def with_dates(record: Mapping[str, Any], *, what: str) -> dict[str, Any]:
    """``record`` with its date-shaped strings as aware UTC datetimes (``_id`` kept as sent);
    :class:`BadRequest` for one that is not a real date in the years 1970-9999."""
    return {
        key: value if key == "_id" else _dated(value, what, key) for key, value in record.items()
    }


def _dated(value: Any, what: str, path: str) -> Any:
    if isinstance(value, Mapping):
        return {key: _dated(item, what, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_dated(item, what, path) for item in value]
    if isinstance(value, str):
        moment = parse_iso_datetime(value, what=f"{what}: field {path!r}: date")
        return value if moment is None else moment
    return value


def delete_of(*, filter: object) -> Delete:
    """A delete of what ``filter`` matches."""
    return Delete(required_filter(filter, what="a delete"))


def required_filter(filter: object, *, what: str) -> Filter:
    """A non-empty filter, or :class:`BadRequest`."""
    parsed = parse_filter(filter)
    if not parsed.terms:
        raise BadRequest(f"{what} needs a non-empty filter (refusing to touch every record)")
    return parsed


def plan_batch(operations: Sequence[BatchOperation]) -> tuple[Write, ...]:
    """Every operation validated before any runs; a refusal names its operation."""
    writes: list[Write] = []
    for index, operation in enumerate(operations):
        with in_operation(index, operation.type):
            if operation.type == "update":
                writes.append(
                    update_of(filter=operation.filter, data=operation.data, upsert=operation.upsert)
                )
                continue
            if operation.upsert:
                raise BadRequest("upsert applies to updates only")
            if operation.type == "insert":
                if operation.filter is not None:
                    raise BadRequest("an insert takes no filter")
                writes.append(insert_of(operation.data))
            else:
                if operation.data is not None:
                    raise BadRequest("a delete takes no data")
                writes.append(delete_of(filter=operation.filter))
    return tuple(writes)


@contextlib.contextmanager
def in_operation(index: int, kind: str) -> Iterator[None]:
    """Prefix a refusal with the batch operation it is about (the exception keeps its type:
    callers tell an unknown column apart)."""
    try:
        yield
    except BadRequest as exc:
        where = f"operation {index} ({kind})"
        if not exc.detail.startswith(where):
            exc.detail = f"{where}: {exc.detail}"
            exc.args = (exc.detail,)
        raise
