"""Backfill jobs through the API: start, list, inspect, cancel (write scope).

Jobs live in PostgreSQL (``petrosa_common.backfill_jobs``); the backfiller claims and runs
them. A request overlapping a pending or running job of the same series gets that job back.
Jobs are :class:`BackfillJob`s and errors use the codes of ``petrosa_common.errors``, as on
NATS (``data_manager.backfill.*``, answered by the backfiller).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from petrosa_common.backfill_jobs import (
    BackfillJob,
    BackfillRequest,
    JobStatus,
    StartedJob,
    get_job,
    publish_job_event,
    submit,
)
from petrosa_common.backfill_jobs import cancel_job as cancel
from petrosa_common.backfill_jobs import list_jobs as query_jobs
from pydantic import BaseModel, field_validator

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


@router.post("/start", status_code=202, response_model=StartedJob)
async def start(pool: PgDep, nats: NatsDep, body: BackfillStart) -> FastJSONResponse:
    """Queue a backfill (202 with the job). Active jobs of the series that overlap the request
    are reused (never fetched twice); new jobs cover only the rest; ``jobs`` lists them all."""
    submission = await submit(pool, body.model_copy(update={"requested_by": "api"}))
    for created in submission.created:
        await publish_job_event(nats, created)
    return FastJSONResponse(submission.answer().model_dump(mode="json"), status_code=202)


@router.get("/jobs", response_model=JobPage)
async def jobs(
    pool: PgDep,
    status: Annotated[JobStatus | None, Query()] = None,
    symbol: Annotated[Text | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> JobPage:
    """Jobs, newest first, filtered by status and symbol, paginated."""
    page, total = await query_jobs(pool, status=status, symbol=symbol, limit=limit, offset=offset)
    return JobPage(data=page, pagination=Pagination.of(total=total, limit=limit, offset=offset))


@router.get("/jobs/{job_id}", response_model=BackfillJob)
async def job(pool: PgDep, job_id: JobId) -> BackfillJob:
    """One job (404 if unknown)."""
    found = await get_job(pool, job_id)
    if found is None:
        raise NotFound(f"no backfill job {job_id}")
    return found


@router.post("/jobs/{job_id}/cancel", response_model=BackfillJob)
async def cancel_job(pool: PgDep, nats: NatsDep, job_id: JobId) -> BackfillJob:
    """Cancel a pending or running job (a running one stops after its current chunk); a job
    that already ended is returned unchanged."""
    outcome = await cancel(pool, job_id)
    if outcome is None:
        raise NotFound(f"no backfill job {job_id}")
    job, cancelled_now = outcome
    if cancelled_now:
        await publish_job_event(nats, job)
    return job
