"""Raw read-only queries: /api/v1/raw/postgres (alias /raw/mysql) and /api/v1/raw/mongodb.

Need the ``admin`` scope. SQL: one parsed, read-only statement in a READ ONLY transaction with
a statement timeout and a row cap. MongoDB: find/aggregate/count/distinct only, dangerous
stages and operators and system collections refused. Rows are encoded like every reply.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from petrosa_gateway.deps import AdminAccess, ResourcesDep
from petrosa_gateway.metrics import db_operation
from petrosa_gateway.queries.raw_mongo import RawMongoResult, run_raw_mongo
from petrosa_gateway.queries.raw_sql import RawSqlResult, run_raw_sql
from petrosa_gateway.resources import Resources
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import AUTH_RESPONSES, ERROR_RESPONSES

router = APIRouter(
    responses={**ERROR_RESPONSES, **AUTH_RESPONSES},
    prefix="/api/v1/raw",
    tags=["raw"],
    dependencies=[AdminAccess],
)


class RawSqlRequest(BaseModel):
    query: str = Field(
        min_length=1, description="One read-only SQL statement", examples=["SELECT 1 AS one"]
    )
    params: list[Any] | None = Field(
        None, description="Values for $1..$n or %s placeholders (bound, never interpolated)"
    )


class RawMongoRequest(BaseModel):
    query: str | dict[str, Any] = Field(
        description='"collection: {\\"find\\": {...}, \\"limit\\": 10}" or '
        '{"collection": ..., "find"|"aggregate"|"count"|"distinct": ...}'
    )


async def _sql(
    resources: Resources, body: RawSqlRequest, dialect: Literal["postgres", "mysql"]
) -> Any:
    settings = resources.settings
    async with db_operation("postgres", "raw_query"):
        result = await run_raw_sql(
            resources.pg,
            body.query,
            dialect=dialect,
            params=body.params,
            statement_timeout_ms=settings.raw_query_timeout_ms,
            max_rows=settings.raw_query_max_rows,
        )
    return FastJSONResponse(result)


@router.post("/postgres", response_model=RawSqlResult)
async def raw_postgres(resources: ResourcesDep, body: RawSqlRequest) -> Any:
    """Run one read-only PostgreSQL statement."""
    return await _sql(resources, body, "postgres")


@router.post("/mysql", response_model=RawSqlResult)
async def raw_mysql(resources: ResourcesDep, body: RawSqlRequest) -> Any:
    """Alias kept for existing clients: MySQL syntax is translated to PostgreSQL."""
    return await _sql(resources, body, "mysql")


@router.post("/mongodb", response_model=RawMongoResult)
async def raw_mongodb(resources: ResourcesDep, body: RawMongoRequest) -> Any:
    """Run one read-only MongoDB query (find, aggregate, count or distinct)."""
    settings = resources.settings
    async with db_operation("mongodb", "raw_query"):
        result = await run_raw_mongo(
            resources.db,
            body.query,
            max_rows=settings.raw_query_max_rows,
            max_time_ms=settings.raw_query_timeout_ms,
        )
    return FastJSONResponse(result)
