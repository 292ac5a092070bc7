"""Health of the service and of the data: /health/*."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from petrosa_gateway.deps import ResourcesDep
from petrosa_gateway.errors import NotFound
from petrosa_gateway.inputs import Pair, Period
from petrosa_gateway.pools import refresh_pool_gauges
from petrosa_gateway.queries import health as queries
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES, prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]
    service: str


class ComponentState(BaseModel):
    status: Literal["ok", "error"]
    connected: bool
    latency_ms: float | None = None
    version: str | None = None
    database: str | None = None
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["healthy", "unhealthy"]
    components: dict[str, ComponentState]


class Databases(BaseModel):
    databases: dict[str, ComponentState]


class Connections(BaseModel):
    postgres: dict[str, int]
    mongodb: dict[str, int]
    nats: dict[str, int | bool]


class RetentionRun(BaseModel):
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    status: str = Field(description="completed, partial, aborted or failed")
    deleted: int
    error: str | None


class Retention(BaseModel):
    last_run: RetentionRun | None = Field(description="The latest retention run (null: none yet)")
    last_completed_at: datetime | None = Field(
        description="When the latest run that reached every horizon finished"
    )
    deleted_last_24h: int


class Summary(BaseModel):
    datasets_total: int
    datasets_scored: int
    levels: dict[str, int]
    retention: Retention


class QualityMetrics(BaseModel):
    timestamp: datetime
    completeness: float
    freshness: float
    consistency: float
    quality: float
    level: str
    gaps: int
    duplicates: int
    record_count: int
    details: dict[str, Any]


class DatasetHealth(BaseModel):
    pair: str
    period: str
    dataset_id: str
    metrics: QualityMetrics | None


class Lease(BaseModel):
    role: str
    holder: str | None
    status: str | None
    term: int | None
    elected_at: datetime | None
    last_heartbeat: datetime | None
    expires_at: datetime | None
    expired: bool


class Leases(BaseModel):
    leases: list[Lease]


class AuditCycle(BaseModel):
    id: int
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    datasets_audited: int
    gaps: int
    duplicates: int
    errors: int
    leader_term: int | None
    pod_id: str | None
    details: dict[str, Any]


class AuditStatus(BaseModel):
    last_cycle: AuditCycle | None


@router.get("/liveness", response_model=Liveness)
async def liveness() -> Any:
    """The process answers."""
    return {"status": "ok", "service": "petrosa-gateway"}


@router.get(
    "/readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a required component is down"}},
)
async def readiness(resources: ResourcesDep) -> Any:
    """Real checks of MongoDB, PostgreSQL and NATS; 503 when a required one is down."""
    components = await queries.component_states(resources)
    healthy = all(state["status"] == "ok" for state in components.values())
    body = {"status": "healthy" if healthy else "unhealthy", "components": components}
    return FastJSONResponse(body, status_code=200 if healthy else 503)


@router.get("/databases", response_model=Databases)
async def databases(resources: ResourcesDep) -> Any:
    """Per database: connection state, ping latency, server version."""
    return {"databases": await queries.component_states(resources)}


@router.get("/connections", response_model=Connections)
async def connections(resources: ResourcesDep) -> Any:
    """Live pool statistics of PostgreSQL, MongoDB and NATS."""
    return refresh_pool_gauges(resources)


@router.get("/summary", response_model=Summary)
async def summary(resources: ResourcesDep) -> Any:
    """Datasets by health level, from the latest health metrics of each."""
    return await queries.health_summary(resources)


@router.get("/leader", response_model=Leases)
async def leader(resources: ResourcesDep) -> Any:
    """Every leader lease: role, holder, term, last heartbeat, expiry."""
    return {"leases": await queries.leases(resources)}


@router.get("/audit-status", response_model=AuditStatus)
async def audit_status(resources: ResourcesDep) -> Any:
    """The auditor's last cycle record (null until the auditor has run)."""
    return {"last_cycle": await queries.last_audit_cycle(resources)}


@router.get(
    "",
    response_model=DatasetHealth,
    responses={404: {"description": "unknown dataset"}},
)
async def dataset_health(
    resources: ResourcesDep,
    pair: Annotated[Pair, Query(description="Symbol, e.g. BTCUSDT (any case)")],
    period: Annotated[Period, Query(description="Timeframe, e.g. 1m")],
) -> Any:
    """Latest quality metrics of the candles of ``pair``/``period`` (404 if unknown)."""
    result = await queries.dataset_health(resources, pair, period)
    if result is None:
        raise NotFound(f"unknown dataset candles_{pair}_{period}")
    return result
