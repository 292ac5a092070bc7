"""Generic CRUD: /api/v1/{database}/{collection} (+ /batch) and the legacy /api/v1/data/*.

``database`` is ``mongodb`` or ``postgres`` (``mysql`` is an alias of ``postgres`` so
existing clients keep working); anything else is 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field, ValidationError

from petrosa_gateway.deps import ReadAccess, ResourcesDep, WriteAccess
from petrosa_gateway.errors import BadRequest, NotImplementedYet
from petrosa_gateway.inputs import Offset, Record, Text, UpdateData
from petrosa_gateway.metrics import db_operation, within_deadline
from petrosa_gateway.queries import mongo_crud, pg_crud
from petrosa_gateway.queries.common import (
    MAX_PAGE_SIZE,
    BatchRequest,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListQuery,
    ListResult,
    UpdateResult,
)
from petrosa_gateway.resources import Resources
from petrosa_gateway.routes.common import WRITE_RESPONSES

router = APIRouter(responses=WRITE_RESPONSES, prefix="/api/v1", tags=["crud"])
Store = Literal["mongodb", "postgres"]
_ALIASES: dict[str, Store] = {"mongodb": "mongodb", "postgres": "postgres", "mysql": "postgres"}


def store_of(database: str) -> Store:
    """The store behind a database name; 400 for an unknown one."""
    try:
        return _ALIASES[database.lower()]
    except KeyError:
        raise BadRequest(
            f"unknown database {database!r}: use mongodb, postgres (or its alias mysql)"
        ) from None


def parse_json(value: str | None, what: str) -> Any:
    """Decode a JSON query parameter; 400 with the parser's reason when malformed."""
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in '{what}': {exc}") from None


def parse_sort(value: str | None) -> list[tuple[str, Literal[1, -1]]]:
    """``{"timestamp": -1}`` (JSON) or ``timestamp,-price``."""
    if not value:
        return []
    if value.lstrip().startswith("{"):
        spec = parse_json(value, "sort")
        if not isinstance(spec, dict) or not all(v in (1, -1) for v in spec.values()):
            raise BadRequest("'sort' must map field names to 1 or -1")
        return [(str(field), direction) for field, direction in spec.items()]
    fields = [item.strip() for item in value.split(",") if item.strip()]
    return [(f.lstrip("-+"), -1 if f.startswith("-") else 1) for f in fields]


def list_query(
    filter: str | None, sort: str | None, fields: str | None, limit: int, offset: int
) -> ListQuery:
    """A validated :class:`ListQuery` from query-string parts."""
    spec = parse_json(filter, "filter")
    if spec is not None and not isinstance(spec, dict):
        raise BadRequest("'filter' must be a JSON object")
    names = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    try:
        return ListQuery(
            filter=spec or {}, sort=parse_sort(sort), fields=names, limit=limit, offset=offset
        )
    except ValidationError as exc:
        raise BadRequest("; ".join(error["msg"] for error in exc.errors())) from None


def refuse_validation(validate: bool, schema: str | None) -> None:
    """``validate=true`` needs the schema registry, which does not exist yet."""
    if validate:
        raise NotImplementedYet(
            "schema validation (validate=true) needs the schema registry, which is not "
            f"available yet; resend without validate to write unvalidated (schema={schema!r})"
        )


async def read(resources: Resources, store: Store, name: str, query: ListQuery) -> ListResult:
    """One page from either store."""
    deadline = resources.settings.query_timeout_seconds
    async with db_operation(store, "find"):
        if store == "mongodb":
            reading = mongo_crud.list_records(
                db=resources.db,
                collection=name,
                query=query,
                max_time_ms=resources.settings.raw_query_timeout_ms,
            )
        else:
            reading = pg_crud.list_records(pool=resources.pg, table=name, query=query)
        return await within_deadline(reading, deadline, f"reading {name}")


async def insert(
    resources: Resources, store: Store, name: str, records: list[dict[str, Any]]
) -> InsertResult:
    """Insert into either store (duplicates reported, never stored twice)."""
    async with db_operation(store, "insert"):
        if store == "mongodb":
            return await mongo_crud.insert_records(
                db=resources.db, collection=name, records=records
            )
        return await pg_crud.insert_records(pool=resources.pg, table=name, records=records)


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
SchemaParam = Annotated[Text | None, Query(description="Schema name to validate against")]
ValidateParam = Annotated[bool, Query(description="Validate against the schema")]


class InsertBody(BaseModel):
    data: Record | list[Record] = Field(description="One record or a list of records")


class UpdateBody(BaseModel):
    filter: dict[str, Any] = Field(description="Which records (must not be empty)")
    data: UpdateData = Field(description='Fields to set, or {"$set": {...}}')
    upsert: bool = False


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
    query = ListQuery(
        filter=body.filter,
        sort=list(body.sort.items()),
        fields=body.fields,
        limit=body.limit,
        offset=body.offset,
    )
    return await read(resources, store_of(body.database), body.collection, query)


@router.post("/data/insert", response_model=InsertResult, dependencies=[WriteAccess])
async def legacy_insert(resources: ResourcesDep, body: LegacyInsert) -> Any:
    """Legacy insert: ``{database, collection, records}``."""
    return await insert(resources, store_of(body.database), body.collection, body.records)


@router.get("/{database}/{collection}", response_model=ListResult, dependencies=[ReadAccess])
async def list_records(
    resources: ResourcesDep,
    database: DatabaseParam,
    collection: CollectionParam,
    filter: FilterParam = None,
    sort: SortParam = None,
    fields: FieldsParam = None,
    limit: LimitParam = 100,
    offset: OffsetParam = 0,
) -> Any:
    """Records matching ``filter``, sorted, projected and paginated by the database."""
    query = list_query(filter, sort, fields, limit, offset)
    return await read(resources, store_of(database), collection, query)


@router.post(
    "/{database}/{collection}",
    response_model=InsertResult,
    status_code=201,
    dependencies=[WriteAccess],
)
async def insert_records(
    resources: ResourcesDep,
    database: DatabaseParam,
    collection: CollectionParam,
    body: InsertBody,
    schema: SchemaParam = None,
    validate: ValidateParam = False,
) -> Any:
    """Insert one record or a list; records already present are reported as duplicates."""
    store = store_of(database)
    refuse_validation(validate, schema)
    records = body.data if isinstance(body.data, list) else [body.data]
    return await insert(resources, store, collection, records)


@router.put("/{database}/{collection}", response_model=UpdateResult, dependencies=[WriteAccess])
async def update_records(
    resources: ResourcesDep,
    database: DatabaseParam,
    collection: CollectionParam,
    body: UpdateBody,
    schema: SchemaParam = None,
    validate: ValidateParam = False,
) -> Any:
    """Set ``data`` on the records matching ``filter`` (optionally upsert)."""
    store = store_of(database)
    refuse_validation(validate, schema)
    async with db_operation(store, "update"):
        if store == "mongodb":
            return await mongo_crud.update_records(
                db=resources.db,
                collection=collection,
                filter=body.filter,
                data=body.data,
                upsert=body.upsert,
            )
        return await pg_crud.update_records(
            pool=resources.pg,
            table=collection,
            filter=body.filter,
            data=body.data,
            upsert=body.upsert,
        )


@router.delete("/{database}/{collection}", response_model=DeleteResult, dependencies=[WriteAccess])
async def delete_records(
    resources: ResourcesDep,
    database: DatabaseParam,
    collection: CollectionParam,
    filter: Annotated[Text, Query(description="Which records, as JSON (must not be empty)")],
) -> Any:
    """Delete the records matching ``filter``."""
    store = store_of(database)
    spec = parse_json(filter, "filter")
    if not isinstance(spec, dict):
        raise BadRequest("'filter' must be a JSON object")
    async with db_operation(store, "delete"):
        if store == "mongodb":
            return await mongo_crud.delete_records(
                db=resources.db, collection=collection, filter=spec
            )
        return await pg_crud.delete_records(pool=resources.pg, table=collection, filter=spec)


@router.post(
    "/{database}/{collection}/batch", response_model=BatchResult, dependencies=[WriteAccess]
)
async def batch(
    resources: ResourcesDep,
    database: DatabaseParam,
    collection: CollectionParam,
    body: Annotated[BatchRequest, Body()],
) -> Any:
    """Up to 5,000 insert/update/delete operations in order; atomic where the store allows
    (``atomic`` in the answer says whether it was)."""
    store = store_of(database)
    async with db_operation(store, "batch"):
        if store == "mongodb":
            return await mongo_crud.run_batch(db=resources.db, collection=collection, request=body)
        return await pg_crud.run_batch(pool=resources.pg, table=collection, request=body)
