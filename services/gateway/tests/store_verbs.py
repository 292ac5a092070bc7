"""The store verbs as the routes call them: the shared rules first, then one store."""

from __future__ import annotations

from typing import Any

from petrosa_gateway.store import Store, models
from petrosa_gateway.store.language import ReadQuery, read_query
from petrosa_gateway.store.writes import delete_of, insert_of, plan_batch, update_of


def query(**parts: Any) -> ReadQuery:
    """A read of the first 100 records, with ``parts`` (filter, sort, fields, limit, offset)."""
    return read_query(**{"limit": 100, "offset": 0, **parts})


async def list_records(store: Store, *, collection: str, query: ReadQuery) -> models.ListResult:
    return await store.list(collection=collection, query=query)


async def insert_records(store: Store, *, collection: str, records: object) -> models.InsertResult:
    return await store.insert(collection=collection, write=insert_of(records))


async def update_records(
    store: Store, *, collection: str, filter: object, data: object, upsert: bool = False
) -> models.UpdateResult:
    write = update_of(filter=filter, data=data, upsert=upsert)
    return await store.update(collection=collection, write=write)


async def delete_records(store: Store, *, collection: str, filter: object) -> models.DeleteResult:
    return await store.delete(collection=collection, write=delete_of(filter=filter))


async def run_batch(
    store: Store, *, collection: str, request: models.BatchRequest
) -> models.BatchResult:
    return await store.batch(collection=collection, writes=plan_batch(request.operations))
