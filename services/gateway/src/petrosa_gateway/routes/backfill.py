"""Backfill jobs through the API: start, list, inspect, cancel (write scope).

Jobs live in PostgreSQL (``petrosa_common.backfill_jobs``); the backfiller claims and runs
them. A request overlapping a pending or running job of the same series gets that job back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from petrosa_common.backfill_jobs import (
    BackfillRequest,
    JobStatus,
    get_job,
    publish_job_event,
    submit,
)
from petrosa_common.backfill_jobs import cancel_job as cancel
from petrosa_common.backfill_jobs import list_jobs as query_jobs
from pydantic import BaseModel, Field, field_validator

from petrosa_gateway.deps import NatsDep, PgDep, WriteAccess
from petrosa_gateway.errors import NotFound
from petrosa_gateway.inputs import Int64, Offset, Text, UtcDateTime, check_record
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import AUTH_RESPONSES, ERROR_RESPONSES

router = APIRouter(
    prefix="/backfill",
    tags=["backfill"],
    dependencies=[WriteAccess],
    responses={**ERROR_RESPONSES, **AUTH_RESPONSES},
)


class BackfillJob(BaseModel):
    id: int
    symbol: str
    data_type: str
    timeframe: str | None
    start_time: datetime
    end_time: datetime
    priority: int
    status: str
    progress: float
    records_fetched: int
    records_written: int
    chunks_done: int
    chunks_total: int
    error: str | None
    attempts: int = Field(description="Consecutive failed attempts (reset by progress)")
    retry_at: datetime | None = Field(
        description="A job given back after a transient failure is not resumed before this"
    )
    requested_by: str
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class StartedJob(BaseModel):
    job: BackfillJob = Field(description="The new job, or the active job that covers the request")
    created: bool
    jobs: list[BackfillJob] = Field(
        description="Every pending/running job that together covers the request, by start"
    )


class BackfillStart(BackfillRequest):
    """:class:`BackfillRequest` held to the gateway's input rules: ``start``/``end`` in the
    years 1970-9999, ``details`` a JSON object that PostgreSQL can store."""

    start: UtcDateTime
    end: UtcDateTime

    @field_validator("details")
    @classmethod
    def _details(cls, details: dict[str, Any]) -> dict[str, Any]:
        check_record(details, what="details")
        return details


JobId = Annotated[Int64, Path(description="Job id")]


class JobPage(BaseModel):
    data: list[BackfillJob]
    pagination: Pagination


def _view(job: dict[str, Any]) -> dict[str, Any]:
    return {key: job[key] for key in BackfillJob.model_fields}


@router.post("/start", status_code=202, response_model=StartedJob)
async def start(pool: PgDep, nats: NatsDep, body: BackfillStart) -> Any:
    """Queue a backfill (202 with the job). Active jobs of the series that overlap the request
    are reused (never fetched twice); new jobs cover only the rest; ``jobs`` lists them all."""
    submission = await submit(pool, body.model_copy(update={"requested_by": "api"}))
    for created in submission.created:
        await publish_job_event(nats, JobStatus.PENDING, created)
    return FastJSONResponse(
        {
            "job": _view(submission.job),
            "created": bool(submission.created),
            "jobs": [_view(job) for job in submission.jobs],
        },
        status_code=202,
    )


@router.get("/jobs", response_model=JobPage)
async def jobs(
    pool: PgDep,
    status: Annotated[
        Literal["pending", "running", "completed", "failed", "cancelled"] | None, Query()
    ] = None,
    symbol: Annotated[Text | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    """Jobs, newest first, filtered by status and symbol, paginated."""
    page, total = await query_jobs(pool, status=status, symbol=symbol, limit=limit, offset=offset)
    return {
        "data": [_view(job) for job in page],
        "pagination": Pagination.of(total=total, limit=limit, offset=offset),
    }


@router.get("/jobs/{job_id}", response_model=BackfillJob)
async def job(pool: PgDep, job_id: JobId) -> Any:
    """One job (404 if unknown)."""
    found = await get_job(pool, job_id)
    if found is None:
        raise NotFound(f"no backfill job {job_id}")
    return _view(found)


@router.post("/jobs/{job_id}/cancel", response_model=BackfillJob)
async def cancel_job(pool: PgDep, nats: NatsDep, job_id: JobId) -> Any:
    """Cancel a pending or running job (a running one stops after its current chunk); a job
    that already ended is returned unchanged."""
    outcome = await cancel(pool, job_id)
    if outcome is None:
        raise NotFound(f"no backfill job {job_id}")
    job, cancelled_now = outcome
    if cancelled_now:
        await publish_job_event(nats, JobStatus.CANCELLED, job)
    return _view(job)
