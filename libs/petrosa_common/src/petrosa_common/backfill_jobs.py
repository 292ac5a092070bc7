"""Backfill jobs in PostgreSQL: requests, the queue, checkpoints.

Shared by the gateway (creates, lists, cancels jobs) and the backfiller (claims and runs them).
A job covers ``[start, end)`` of one series, split into chunks aligned to the series' interval;
``chunks_done`` is the checkpoint: chunks are written idempotently in order, so a backfiller
killed mid-job resumes at the first chunk not done, after its claim lease expires. A job given
back after a transient failure waits ``retry_at`` (exponential back-off on ``attempts``).
Every API shows a job as a :class:`BackfillJob` (REST, NATS replies and events).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from nats.aio.client import Client as NatsClient
from psycopg.types.json import Jsonb
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from petrosa_common.logging import get_logger
from petrosa_common.naming import backfill_event_subject, is_symbol
from petrosa_common.postgres import PgPool
from petrosa_common.time import ensure_utc, floor_time
from petrosa_common.timeframes import TIMEFRAME_SECONDS

DataType = Literal["candles", "agg_trades", "funding", "mark_price"]
RequestedBy = Literal["api", "auditor", "cli"]


class JobStatus(StrEnum):
    """Life cycle of a job."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


log = get_logger(__name__)
ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUNDING_INTERVAL_SECONDS = 8 * 3600
AGG_TRADES_WINDOW_SECONDS = 3600  # Binance serves at most one hour of agg trades per request


class BackfillRequest(BaseModel):
    """What to backfill (REST body, NATS request, CLI arguments); ``[start, end)``, an end in
    the future is cut at the present."""

    symbol: str
    data_type: DataType = "candles"
    timeframe: str | None = Field(None, description="Candles and mark_price: e.g. 1m")
    start: datetime
    end: datetime
    priority: int = Field(0, ge=0, le=10)
    requested_by: RequestedBy = "api"
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        upper = value.upper()
        if not is_symbol(upper):
            raise ValueError("symbol must be a Binance symbol such as BTCUSDT")
        return upper

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        moment = ensure_utc(value)
        if moment.year < 1970:
            raise ValueError("dates before 1970 hold no market data")
        return moment

    @model_validator(mode="after")
    def _check(self) -> BackfillRequest:
        if self.data_type in ("candles", "mark_price"):
            if self.timeframe not in TIMEFRAME_SECONDS or self.timeframe == "1M":
                raise ValueError(f"{self.data_type} need a timeframe such as 1m")
        elif self.timeframe is not None:
            raise ValueError(f"{self.data_type} take no timeframe")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        now = datetime.now(UTC)
        if self.start >= now:
            raise ValueError("start must be in the past: nothing to backfill yet")
        if self.end > now:  # "up to now": the data after it does not exist yet
            self.end = now
        return self


@dataclass(frozen=True, slots=True)
class JobBackoff:
    """Back-off of a job given back after a transient failure: ``initial_seconds`` after the
    first failed attempt, doubling with each consecutive one, at most ``max_seconds``."""

    initial_seconds: float = 5.0
    max_seconds: float = 300.0

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` consecutive failures before this one."""
        return float(min(self.max_seconds, self.initial_seconds * 2 ** min(failed_attempts, 32)))


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How a job's range is cut: aligned ``start``/``end`` and the span of one chunk."""

    start: datetime
    end: datetime
    span: timedelta

    @property
    def total(self) -> int:
        """Number of chunks."""
        return max(1, math.ceil((self.end - self.start) / self.span))

    def chunk(self, index: int) -> tuple[datetime, datetime]:
        """``[start, end)`` of chunk ``index``."""
        begin = self.start + self.span * index
        return begin, min(self.end, begin + self.span)


def step_seconds(data_type: DataType, timeframe: str | None) -> int:
    """The series' natural step (candle interval, 8 h funding, 1 s for agg trades)."""
    if data_type in ("candles", "mark_price"):
        assert timeframe is not None
        return TIMEFRAME_SECONDS[timeframe]
    return FUNDING_INTERVAL_SECONDS if data_type == "funding" else 1


def chunk_plan(
    data_type: DataType, timeframe: str | None, start: datetime, end: datetime
) -> ChunkPlan:
    """Chunks aligned to the series' boundaries, one Binance request's worth each
    (1,500 candles, 1,000 funding rates, one hour of agg trades)."""
    step = step_seconds(data_type, timeframe)
    # The grid's origin: weekly candles open on Mondays, everything else on the epoch's grid.
    origin = floor_time(_EPOCH, "1w") if timeframe == "1w" else _EPOCH
    first = (start - origin).total_seconds() // step * step
    last = math.ceil((end - origin).total_seconds() / step) * step
    per_chunk = {"candles": 1500, "mark_price": 1500, "funding": 1000}.get(data_type)
    span = step * per_chunk if per_chunk else AGG_TRADES_WINDOW_SECONDS
    return ChunkPlan(
        origin + timedelta(seconds=first), origin + timedelta(seconds=last), timedelta(seconds=span)
    )


UtcTime = Annotated[datetime, AfterValidator(ensure_utc)]
"""An aware UTC datetime (PostgreSQL hands them out in the session's time zone); JSON
``...Z``."""


class BackfillJob(BaseModel):
    """A job as every API shows it: REST (``/backfill/*``), NATS replies and the events on
    ``data_manager.backfill.events.<status>``. Claim internals (``claimed_by``,
    ``lease_expires_at``) stay in the table."""

    model_config = ConfigDict(frozen=True)

    id: int
    symbol: str
    data_type: DataType
    timeframe: str | None = Field(description="Candles and mark_price only, e.g. 1m")
    start_time: UtcTime = Field(description="First time covered (inclusive)")
    end_time: UtcTime = Field(description="End of the range (exclusive)")
    priority: int = Field(description="0-10, higher runs first")
    status: JobStatus
    progress: float = Field(description="Chunks done / total, percent")
    records_fetched: int = Field(description="Rows received from Binance")
    records_written: int = Field(description="Documents inserted or updated")
    chunks_done: int = Field(description="The checkpoint: chunks written, in order")
    chunks_total: int
    error: str | None = Field(description="Why it failed, or why it waits to be retried")
    attempts: int = Field(description="Consecutive failed attempts (reset by progress)")
    retry_at: UtcTime | None = Field(
        description="A job given back after a transient failure is not resumed before this"
    )
    requested_by: RequestedBy
    details: dict[str, Any] = Field(description="e.g. the auditor's gap_id and severity")
    created_at: UtcTime
    updated_at: UtcTime
    started_at: UtcTime | None
    completed_at: UtcTime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BackfillJob:
        """The job of a ``backfill_jobs`` row, read by column name (claim internals left
        out; a missing column is a ``KeyError``)."""
        return cls.model_validate({name: row[name] for name in cls.model_fields})


class StartedJob(BaseModel):
    """The answer to a backfill request (REST ``POST /backfill/start``, NATS
    ``data_manager.backfill.request``)."""

    job: BackfillJob = Field(description="The new job, or the active job that covers the request")
    created: bool = Field(description="Whether the request created a job")
    jobs: list[BackfillJob] = Field(
        description="Every pending/running job that together covers the request, by start"
    )


class JobReply(BaseModel):
    """A NATS reply about one job (``jobs.get``, ``cancel``) and the body of a job event."""

    job: BackfillJob


@dataclass(frozen=True, slots=True)
class Submission:
    """What a request became: the jobs that together cover it, none fetching a range twice."""

    job: BackfillJob
    """The job to follow first: the first one created, else the first one covering it."""
    created: list[BackfillJob]
    """Jobs created for the request (``pending`` events are due for these)."""
    jobs: list[BackfillJob]
    """Every pending/running job of the series that covers part of the request, by start."""

    def answer(self) -> StartedJob:
        """What the APIs reply."""
        return StartedJob(job=self.job, created=bool(self.created), jobs=self.jobs)


async def submit(pool: PgPool, request: BackfillRequest) -> Submission:
    """Queue ``request`` without ever fetching a range twice.

    Against the pending/running jobs of the same series that overlap the request:
    * the request is covered by them: nothing is created;
    * one pending job that has not started (no chunk done) overlaps: it is widened to cover
      the request (none of its chunks is counted yet, so moving its start is safe);
    * otherwise a new job is created for each part of the request they do not cover.
    """
    plan = chunk_plan(request.data_type, request.timeframe, request.start, request.end)
    series_lock = f"backfill:{request.symbol}:{request.data_type}:{request.timeframe}"
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (series_lock,))
        cursor = await conn.execute(
            "SELECT * FROM backfill_jobs WHERE symbol = %(symbol)s AND data_type = %(data_type)s"
            " AND timeframe IS NOT DISTINCT FROM %(timeframe)s AND status = ANY(%(active)s)"
            " AND start_time < %(end)s AND end_time > %(start)s"
            " ORDER BY start_time, id FOR UPDATE",
            {
                "symbol": request.symbol,
                "data_type": request.data_type,
                "timeframe": request.timeframe,
                "active": list(ACTIVE),
                "start": plan.start,
                "end": plan.end,
            },
        )
        active = [BackfillJob.from_row(row) for row in await cursor.fetchall()]
        missing = uncovered(plan.start, plan.end, [(j.start_time, j.end_time) for j in active])
        if not missing:
            return Submission(active[0], [], active)
        existing = active[0] if len(active) == 1 else None
        if existing and existing.status == JobStatus.PENDING and existing.chunks_done == 0:
            merged = chunk_plan(
                request.data_type,
                request.timeframe,
                min(existing.start_time, plan.start),
                max(existing.end_time, plan.end),
            )
            cursor = await conn.execute(
                "UPDATE backfill_jobs SET start_time = %(start)s, end_time = %(end)s,"
                " chunks_total = %(total)s, priority = GREATEST(priority, %(priority)s),"
                " updated_at = now() WHERE id = %(id)s RETURNING *",
                {
                    "start": merged.start,
                    "end": merged.end,
                    "total": merged.total,
                    "priority": request.priority,
                    "id": existing.id,
                },
            )
            row = await cursor.fetchone()
            assert row is not None
            widened = BackfillJob.from_row(row)
            return Submission(widened, [], [widened])
        created: list[BackfillJob] = []
        for begin, end in missing:
            part = chunk_plan(request.data_type, request.timeframe, begin, end)
            cursor = await conn.execute(
                "INSERT INTO backfill_jobs (symbol, data_type, timeframe, start_time, end_time,"
                " priority, chunks_total, requested_by, details)"
                " VALUES (%(symbol)s, %(data_type)s, %(timeframe)s, %(start)s, %(end)s,"
                " %(priority)s, %(total)s, %(requested_by)s, %(details)s) RETURNING *",
                {
                    "symbol": request.symbol,
                    "data_type": request.data_type,
                    "timeframe": request.timeframe,
                    "start": part.start,
                    "end": part.end,
                    "priority": request.priority,
                    "total": part.total,
                    "requested_by": request.requested_by,
                    "details": Jsonb(request.details),
                },
            )
            row = await cursor.fetchone()
            assert row is not None
            created.append(BackfillJob.from_row(row))
        covering = sorted(active + created, key=lambda job: (job.start_time, job.id))
        return Submission(created[0], created, covering)


async def create_job(pool: PgPool, request: BackfillRequest) -> tuple[BackfillJob, bool]:
    """``submit`` for callers that follow one job: ``(job, created)``."""
    submission = await submit(pool, request)
    return submission.job, bool(submission.created)


def uncovered(
    start: datetime, end: datetime, covered: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` outside every ``[begin, stop)`` of ``covered``."""
    missing: list[tuple[datetime, datetime]] = []
    cursor = start
    for begin, stop in sorted(covered):
        if begin > cursor:
            missing.append((cursor, min(begin, end)))
        cursor = max(cursor, stop)
        if cursor >= end:
            break
    if cursor < end:
        missing.append((cursor, end))
    return [(begin, stop) for begin, stop in missing if begin < stop]


def job_event(job: BackfillJob) -> bytes:
    """The body of a ``data_manager.backfill.events.<status>`` event: ``{"job": ...}``."""
    return JobReply(job=job).model_dump_json().encode()


async def publish_job_event(nc: NatsClient | None, job: BackfillJob) -> None:
    """Publish ``job`` on ``data_manager.backfill.events.<its status>``; best effort (the
    table holds the truth), nothing when there is no connection."""
    if nc is None or not nc.is_connected:
        return
    try:
        await nc.publish(backfill_event_subject(job.status), job_event(job))
    except Exception as exc:
        log.warning("backfill_event_failed", status=job.status, job_id=job.id, error=str(exc))


async def get_job(pool: PgPool, job_id: int) -> BackfillJob | None:
    """One job, or ``None``."""
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM backfill_jobs WHERE id = %(id)s", {"id": job_id})
        row = await cursor.fetchone()
    return BackfillJob.from_row(row) if row else None


async def list_jobs(
    pool: PgPool,
    *,
    status: JobStatus | None,
    symbol: str | None,
    limit: int,
    offset: int,
) -> tuple[list[BackfillJob], int]:
    """A page of jobs (newest first) and the total matching."""
    params = {
        "status": status,
        "symbol": symbol.upper() if symbol else None,
        "limit": limit,
        "offset": offset,
    }
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM backfill_jobs"
            " WHERE (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)",
            params,
        )
        total_row = await cursor.fetchone()
        cursor = await conn.execute(
            "SELECT * FROM backfill_jobs"
            " WHERE (%(status)s::text IS NULL OR status = %(status)s)"
            " AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s)"
            " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        rows = await cursor.fetchall()
    return [BackfillJob.from_row(row) for row in rows], int(total_row["n"]) if total_row else 0


async def cancel_job(pool: PgPool, job_id: int) -> tuple[BackfillJob, bool] | None:
    """Cancel a pending or running job (a running one stops after its current chunk).
    Returns ``(job, True)`` if cancelled now, ``(job, False)`` if it had already ended, and
    ``None`` for an unknown job."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = 'cancelled', completed_at = now(),"
            " updated_at = now() WHERE id = %(id)s AND status = ANY(%(active)s) RETURNING *",
            {"id": job_id, "active": list(ACTIVE)},
        )
        row = await cursor.fetchone()
    if row is not None:
        return BackfillJob.from_row(row), True
    job = await get_job(pool, job_id)
    return None if job is None else (job, False)


async def claim_next(
    pool: PgPool, *, worker: str, lease_seconds: float, job_id: int | None = None
) -> BackfillJob | None:
    """Claim the most urgent runnable job: pending (and past its ``retry_at``), or running with
    an expired claim (its backfiller died); the claim lasts ``lease_seconds`` and is renewed by
    every checkpoint. With ``job_id``, claim that job only (``None`` if it is not runnable now)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = 'running', claimed_by = %(worker)s,"
            " lease_expires_at = now() + make_interval(secs => %(lease)s),"
            " started_at = COALESCE(started_at, now()), updated_at = now()"
            " WHERE id = (SELECT id FROM backfill_jobs"
            "   WHERE ((status = 'pending' AND (retry_at IS NULL OR retry_at <= now()))"
            "   OR (status = 'running' AND lease_expires_at < now()))"
            "   AND (%(id)s::bigint IS NULL OR id = %(id)s::bigint)"
            "   ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            {"worker": worker, "lease": lease_seconds, "id": job_id},
        )
        row = await cursor.fetchone()
    return BackfillJob.from_row(row) if row else None


async def checkpoint(
    pool: PgPool,
    job_id: int,
    *,
    worker: str,
    chunks_done: int,
    fetched: int,
    written: int,
    lease_seconds: float,
) -> JobStatus | None:
    """Record a finished chunk (and renew the claim, and reset the count of failed attempts);
    returns ``RUNNING``, ``CANCELLED`` (stop after this chunk), or ``None`` if this worker no
    longer holds the job (its claim expired and another worker took it over)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET chunks_done = %(done)s,"
            " progress = round((100.0 * %(done)s / chunks_total)::numeric, 2),"
            " records_fetched = records_fetched + %(fetched)s,"
            " records_written = records_written + %(written)s,"
            " lease_expires_at = now() + make_interval(secs => %(lease)s), attempts = 0,"
            " updated_at = now()"
            " WHERE id = %(id)s AND claimed_by = %(worker)s AND status = 'running'"
            " RETURNING status",
            {
                "done": chunks_done,
                "fetched": fetched,
                "written": written,
                "lease": lease_seconds,
                "id": job_id,
                "worker": worker,
            },
        )
        row = await cursor.fetchone()
        if row is None:
            cursor = await conn.execute(
                "SELECT status FROM backfill_jobs WHERE id = %(id)s", {"id": job_id}
            )
            current = await cursor.fetchone()
            cancelled = current is not None and current["status"] == JobStatus.CANCELLED
            return JobStatus.CANCELLED if cancelled else None
    return JobStatus(row["status"])


async def renew_claim(pool: PgPool, job_id: int, *, worker: str, lease_seconds: float) -> bool:
    """Extend this worker's claim while a long chunk runs; ``False`` if it no longer holds
    the running job (cancelled, or taken over after its claim expired)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s)"
            " WHERE id = %(id)s AND claimed_by = %(worker)s AND status = 'running' RETURNING id",
            {"lease": lease_seconds, "id": job_id, "worker": worker},
        )
        return await cursor.fetchone() is not None


async def finish_job(
    pool: PgPool, job_id: int, *, worker: str, status: JobStatus, error: str | None = None
) -> BackfillJob | None:
    """Mark a claimed job completed or failed (``None`` if this worker no longer holds it)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = %(status)s, error = %(error)s,"
            " completed_at = now(), updated_at = now(), lease_expires_at = NULL,"
            " progress = CASE WHEN %(status)s = 'completed' THEN 100 ELSE progress END"
            " WHERE id = %(id)s AND claimed_by = %(worker)s AND status = 'running' RETURNING *",
            {"status": status.value, "error": error, "id": job_id, "worker": worker},
        )
        row = await cursor.fetchone()
    return BackfillJob.from_row(row) if row else None


async def release_job(
    pool: PgPool, job_id: int, *, worker: str, reason: str, retry_in: float | None = None
) -> None:
    """Give a claimed job back to the queue: it resumes later from its checkpoint, on this or
    another backfiller. ``retry_in`` (a transient failure) counts a failed attempt and keeps
    the job from being claimed for that many seconds; ``None`` (shutdown) frees it at once."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE backfill_jobs SET status = 'pending', claimed_by = NULL,"
            " lease_expires_at = NULL, error = %(reason)s, updated_at = now(),"
            " attempts = attempts + CASE WHEN %(retry)s::float8 IS NULL THEN 0 ELSE 1 END,"
            " retry_at = now() + make_interval(secs => %(retry)s::float8)"
            " WHERE id = %(id)s AND claimed_by = %(worker)s AND status = 'running'",
            {"reason": reason, "retry": retry_in, "id": job_id, "worker": worker},
        )
