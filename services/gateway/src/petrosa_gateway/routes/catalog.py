"""The catalog: /catalog/datasets, /catalog/schemas/{id}, /catalog/lineage/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from petrosa_gateway.deps import MongoDep, PgDep, ReadAccess
from petrosa_gateway.errors import NotFound
from petrosa_gateway.inputs import Offset, Pair, Period, Text
from petrosa_gateway.queries import catalog as queries
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.routes.common import ERROR_RESPONSES

router = APIRouter(
    responses=ERROR_RESPONSES, prefix="/catalog", tags=["catalog"], dependencies=[ReadAccess]
)

HealthLevel = Literal["healthy", "degraded", "unhealthy", "critical"]
DatasetId = Annotated[Text, Path(min_length=1, max_length=200, description="Dataset id")]


class Dataset(BaseModel):
    """A catalogued dataset (see docs/catalog.md for who keeps each field true)."""

    id: str
    kind: str
    symbol: str | None
    timeframe: str | None
    storage: str
    collection: str
    schema_name: str | None
    schema_version: int | None
    record_count: int | None
    first_timestamp: datetime | None
    last_timestamp: datetime | None
    health_level: str | None
    update_frequency_seconds: float | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    last_audited_at: datetime | None
    counted_at: datetime | None
    retention_seconds: float | None = Field(
        None, description="Retention horizon (null: kept forever, or not yet applied)"
    )
    retention_cutoff: datetime | None = Field(
        None, description="Documents before this were deleted by the last retention run"
    )
    retention_run_at: datetime | None = Field(None, description="When retention last ran")
    retention_deleted_total: int = Field(0, description="Documents retention has deleted")


class DatasetPage(BaseModel):
    data: list[Dataset]
    pagination: Pagination


class InferredField(BaseModel):
    name: str
    types: list[str]
    presence: float


class DatasetSchema(BaseModel):
    """The registered schema (``inferred: false``), or the fields seen in a sample."""

    dataset_id: str
    storage: str
    inferred: bool
    name: str | None
    version: int | None
    status: str | None
    schema_: dict[str, Any] | None = Field(alias="schema")
    fields: list[InferredField] | None
    sample_size: int | None


class LineageNode(BaseModel):
    id: str
    depth: int
    type: Literal["dataset", "external"]


class LineageEdge(BaseModel):
    source: str
    process: str
    target: str
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime


class Lineage(BaseModel):
    dataset: str
    depth: int
    upstream: list[LineageNode]
    downstream: list[LineageNode]
    edges: list[LineageEdge]


@router.get("/datasets", response_model=DatasetPage)
async def datasets(
    pool: PgDep,
    kind: Annotated[Text | None, Query(max_length=50, description="e.g. candles")] = None,
    symbol: Annotated[Pair | None, Query(description="e.g. BTCUSDT (any case)")] = None,
    timeframe: Annotated[Period | None, Query(description="e.g. 1h")] = None,
    health_level: Annotated[HealthLevel | None, Query()] = None,
    search: Annotated[
        Text | None, Query(max_length=100, description="substring of the id or of a tag")
    ] = None,
    sort: Annotated[queries.SortColumn, Query()] = "id",
    sort_order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    """Catalogued datasets, filtered, sorted (nulls last, ties by id) and paginated."""
    selected = queries.DatasetFilter(
        kind=kind, symbol=symbol, timeframe=timeframe, health_level=health_level, search=search
    )
    rows, total = await queries.list_datasets(
        pool, selected, sort=sort, descending=sort_order == "desc", limit=limit, offset=offset
    )
    return {"data": rows, "pagination": Pagination.of(total=total, limit=limit, offset=offset)}


@router.get("/datasets/{dataset_id}", response_model=Dataset)
async def dataset(pool: PgDep, dataset_id: DatasetId) -> Any:
    """One dataset (404 if unknown)."""
    found = await queries.get_dataset(pool, dataset_id)
    if found is None:
        raise NotFound(f"unknown dataset {dataset_id!r}")
    return found


@router.get("/schemas/{dataset_id}", response_model=DatasetSchema)
async def schema(pool: PgDep, db: MongoDep, dataset_id: DatasetId) -> Any:
    """The dataset's registered schema, or the fields seen in its newest documents."""
    found = await queries.dataset_schema(pool, db, dataset_id)
    if found is None:
        raise NotFound(f"unknown dataset {dataset_id!r}")
    return found


@router.get("/lineage/{dataset_id}", response_model=Lineage)
async def lineage(
    pool: PgDep,
    dataset_id: DatasetId,
    depth: Annotated[int, Query(ge=1, le=5, description="hops each way")] = 1,
) -> Any:
    """Upstream sources and downstream datasets within ``depth`` hops, with every edge."""
    found = await queries.lineage(pool, dataset_id, depth)
    if found is None:
        raise NotFound(f"unknown dataset {dataset_id!r}")
    return found
