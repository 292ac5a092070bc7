"""Generic CRUD: /api/v1/{database}/{collection} (+ /batch) and the legacy /api/v1/data/*.

``database`` is ``mongodb`` or ``postgres`` (``mysql`` is an alias of ``postgres`` so existing
clients keep working); anything else is 400. Each route calls one store
(:mod:`petrosa_gateway.store`): no route knows which one it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field

from petrosa_gateway.deps import ReadAccess, ResourcesDep, WriteAccess
from petrosa_gateway.errors import BadRequest
from petrosa_gateway.inputs import Offset, Record, Text, UpdateData
from petrosa_gateway.metrics import db_operation, within_deadline
from petrosa_gateway.registry.crud_check import RecordCheck, record_check
from petrosa_gateway.resources import Resources
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import WRITE_RESPONSES
from petrosa_gateway.store import Store, store_for
from petrosa_gateway.store.language import ReadQuery, read_query
from petrosa_gateway.store.models import (
    MAX_PAGE_SIZE,
    BatchRequest,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListResult,
    UpdateResult,
)
from petrosa_gateway.store.writes import delete_of, insert_of, plan_batch, update_of

router = APIRouter(responses=WRITE_RESPONSES, prefix="/api/v1", tags=["crud"])

DatabaseParam = Annotated[Text, Path(description="mongodb, postgres (or its alias mysql)")]
CollectionParam = Annotated[Text, Path(description="Collection or table name")]
FilterParam = Annotated[
    Text | None, Query(description='Filter as JSON, e.g. {"symbol": "BTCUSDT"}')
]
SortParam = Annotated[
    Text | None, Query(description='Sort as JSON {"timestamp": -1} or "timestamp,-price"')
]
FieldsParam = Annotated[Text | None, Query(description="Fields to return, comma-separated")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]
OffsetParam = Annotated[Offset, Query(description="Records to skip")]


def path_store(resources: ResourcesDep, database: DatabaseParam) -> Store:
    """The store named by the path (400 for an unknown database)."""
    return store_for(database, resources)


StoreDep = Annotated[Store, Depends(path_store)]


CheckDep = Annotated[RecordCheck, Depends(record_check)]
"""``?schema=NAME&validate=true``: records checked against the registry before any write."""


async def read(resources: Resources, store: Store, collection: str, query: ReadQuery) -> Any:
    """One page, within the read deadline."""
    async with db_operation(store.name, "find"):
        page = await within_deadline(
            store.list(collection=collection, query=query),
            resources.settings.query_timeout_seconds,
            f"reading {collection}",
        )
    return FastJSONResponse(page)


async def insert(store: Store, collection: str, data: object, *, status: int = 201) -> Any:
    """Insert one record or a list (duplicates reported, never stored twice)."""
    write = insert_of(data)
    async with db_operation(store.name, "insert"):
        return FastJSONResponse(await store.insert(collection=collection, write=write), status)


class InsertBody(BaseModel):
    data: Record | list[Record] = Field(description="One record or a list of records")


class UpdateBody(BaseModel):
    filter: dict[str, Any] = Field(description="Which records (must not be empty)")
    data: UpdateData = Field(description='Fields to set, or {"$set": {...}}')
    upsert: bool = False


class DeleteBody(BaseModel):
    filter: dict[str, Any] = Field(description="Which records (must not be empty)")


class LegacyQuery(BaseModel):
    database: Text
    collection: Text
    filter: dict[str, Any] = Field(default_factory=dict)
    sort: dict[str, Literal[1, -1]] = Field(default_factory=dict)
    fields: list[str] | None = None
    limit: int = Field(100, ge=1, le=MAX_PAGE_SIZE)
    offset: Offset = 0


class LegacyInsert(BaseModel):
    database: Text
    collection: Text
    records: list[Record] = Field(min_length=1)


# Legacy routes first: "/api/v1/data/query" must not be read as database "data".
@router.post("/data/query", response_model=ListResult, dependencies=[ReadAccess])
async def legacy_query(resources: ResourcesDep, body: LegacyQuery) -> Any:
    """Legacy read: the same as ``GET /api/v1/{database}/{collection}``."""
    query = read_query(
        filter=body.filter, sort=body.sort, fields=body.fields, limit=body.limit, offset=body.offset
    )
    return await read(resources, store_for(body.database, resources), body.collection, query)


@router.post("/data/insert", response_model=InsertResult, dependencies=[WriteAccess])
async def legacy_insert(resources: ResourcesDep, body: LegacyInsert) -> Any:
    """Legacy insert: ``{database, collection, records}`` (200, as it always answered)."""
    store = store_for(body.database, resources)
    return await insert(store, body.collection, body.records, status=200)


@router.get("/{database}/{collection}", response_model=ListResult, dependencies=[ReadAccess])
async def list_records(
    resources: ResourcesDep,
    store: StoreDep,
    collection: CollectionParam,
    filter: FilterParam = None,
    sort: SortParam = None,
    fields: FieldsParam = None,
    limit: LimitParam = 100,
    offset: OffsetParam = 0,
) -> Any:
    """Records matching ``filter``, sorted, projected and paginated by the database."""
    query = read_query(filter=filter, sort=sort, fields=fields, limit=limit, offset=offset)
    return await read(resources, store, collection, query)


@router.post(
    "/{database}/{collection}",
    response_model=InsertResult,
    status_code=201,
    dependencies=[WriteAccess],
)
async def insert_records(
    store: StoreDep, collection: CollectionParam, body: InsertBody, check: CheckDep
) -> Any:
    """Insert one record or a list; records already present are reported as duplicates."""
    await check.records(body.data if isinstance(body.data, list) else [body.data])
    return await insert(store, collection, body.data)


@router.put(
    "/{database}/{collection}",
    response_model=UpdateResult,
    dependencies=[WriteAccess],
)
async def update_records(
    store: StoreDep, collection: CollectionParam, body: UpdateBody, check: CheckDep
) -> Any:
    """Set ``data`` on the records matching ``filter`` (optionally upsert)."""
    await check.update(body.data)
    write = update_of(filter=body.filter, data=body.data, upsert=body.upsert)
    async with db_operation(store.name, "update"):
        return FastJSONResponse(await store.update(collection=collection, write=write))


@router.delete("/{database}/{collection}", response_model=DeleteResult, dependencies=[WriteAccess])
async def delete_records(
    store: StoreDep,
    collection: CollectionParam,
    body: Annotated[DeleteBody | None, Body(description='{"filter": {...}}, as in PUT')] = None,
    filter: Annotated[
        Text | None, Query(description="Which records, as JSON (when the body has no filter)")
    ] = None,
) -> Any:
    """Delete the records matching the filter: ``{"filter": {...}}`` in the body (what clients
    send), or the ``filter`` parameter; an empty filter is refused."""
    if body is not None and filter is not None:
        raise BadRequest("give the filter once: in the body or as the 'filter' parameter")
    write = delete_of(filter=filter if body is None else body.filter)
    async with db_operation(store.name, "delete"):
        return FastJSONResponse(await store.delete(collection=collection, write=write))


@router.post(
    "/{database}/{collection}/batch", response_model=BatchResult, dependencies=[WriteAccess]
)
async def batch(
    store: StoreDep,
    collection: CollectionParam,
    body: Annotated[BatchRequest, Body()],
    check: CheckDep,
) -> Any:
    """Up to 5,000 insert/update/delete operations in order; atomic where the store allows
    (``atomic`` in the answer says whether it was)."""
    writes = plan_batch(body.operations)
    await check.operations(body.operations)
    async with db_operation(store.name, "batch"):
        return FastJSONResponse(await store.batch(collection=collection, writes=writes))
