"""Backfill jobs in PostgreSQL: requests, the queue, checkpoints.

Shared by the gateway (creates, lists, cancels jobs) and the backfiller (claims and runs them).
A job covers ``[start, end)`` of one series, split into chunks aligned to the series' interval;
``chunks_done`` is the checkpoint: chunks are written idempotently in order, so a backfiller
killed mid-job resumes at the first chunk not done, after its claim lease expires. A job given
back after a transient failure waits ``retry_at`` (exponential back-off on ``attempts``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from nats.aio.client import Client as NatsClient
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, field_validator, model_validator

from petrosa_common.logging import get_logger
from petrosa_common.naming import backfill_event_subject, is_symbol
from petrosa_common.nats import json_bytes
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


Job = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Submission:
    """What a request became: the jobs that together cover it, none fetching a range twice."""

    job: Job
    """The job to follow first: the first one created, else the first one covering it."""
    created: list[Job]
    """Jobs created for the request (``pending`` events are due for these)."""
    jobs: list[Job]
    """Every pending/running job of the series that covers part of the request, by start."""


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
        active = [dict(row) for row in await cursor.fetchall()]
        missing = uncovered(
            plan.start, plan.end, [(j["start_time"], j["end_time"]) for j in active]
        )
        if not missing:
            return Submission(active[0], [], active)
        existing = active[0] if len(active) == 1 else None
        if existing and existing["status"] == JobStatus.PENDING and existing["chunks_done"] == 0:
            merged = chunk_plan(
                request.data_type,
                request.timeframe,
                min(existing["start_time"], plan.start),
                max(existing["end_time"], plan.end),
            )
            cursor = await conn.execute(
                "UPDATE backfill_jobs SET start_time = %s, end_time = %s, chunks_total = %s,"
                " priority = GREATEST(priority, %s), updated_at = now()"
                " WHERE id = %s RETURNING *",
                (merged.start, merged.end, merged.total, request.priority, existing["id"]),
            )
            row = await cursor.fetchone()
            assert row is not None
            return Submission(dict(row), [], [dict(row)])
        created: list[Job] = []
        for begin, end in missing:
            part = chunk_plan(request.data_type, request.timeframe, begin, end)
            cursor = await conn.execute(
                "INSERT INTO backfill_jobs (symbol, data_type, timeframe, start_time, end_time,"
                " priority, chunks_total, requested_by, details)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (
                    request.symbol,
                    request.data_type,
                    request.timeframe,
                    part.start,
                    part.end,
                    request.priority,
                    part.total,
                    request.requested_by,
                    Jsonb(request.details),
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
            created.append(dict(row))
        covering = sorted(active + created, key=lambda job: (job["start_time"], job["id"]))
        return Submission(created[0], created, covering)


async def create_job(pool: PgPool, request: BackfillRequest) -> tuple[Job, bool]:
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


def job_view(job: Job) -> dict[str, Any]:
    """A job as APIs and events show it (no claim internals)."""
    return {key: value for key, value in job.items() if key not in _CLAIM_INTERNALS}


def job_event(job: Job) -> bytes:
    """The body of a ``data_manager.backfill.events.<status>`` event."""
    return json_bytes({"job": job_view(job)})


_CLAIM_INTERNALS = frozenset({"claimed_by", "lease_expires_at"})


async def publish_job_event(nc: NatsClient | None, status: str, job: Job) -> None:
    """Publish ``job`` on ``data_manager.backfill.events.<status>``; best effort (the table
    holds the truth), nothing when there is no connection."""
    if nc is None or not nc.is_connected:
        return
    try:
        await nc.publish(backfill_event_subject(status), job_event(job))
    except Exception as exc:
        log.warning("backfill_event_failed", status=status, job_id=job.get("id"), error=str(exc))


async def get_job(pool: PgPool, job_id: int) -> Job | None:
    """One job, or ``None``."""
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM backfill_jobs WHERE id = %s", (job_id,))
        row = await cursor.fetchone()
    return dict(row) if row else None


async def list_jobs(
    pool: PgPool, *, status: str | None, symbol: str | None, limit: int, offset: int
) -> tuple[list[Job], int]:
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
    return [dict(row) for row in rows], int(total_row["n"]) if total_row else 0


async def cancel_job(pool: PgPool, job_id: int) -> tuple[Job, bool] | None:
    """Cancel a pending or running job (a running one stops after its current chunk).
    Returns ``(job, True)`` if cancelled now, ``(job, False)`` if it had already ended, and
    ``None`` for an unknown job."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = 'cancelled', completed_at = now(),"
            " updated_at = now() WHERE id = %s AND status = ANY(%s) RETURNING *",
            (job_id, list(ACTIVE)),
        )
        row = await cursor.fetchone()
    if row is not None:
        return dict(row), True
    job = await get_job(pool, job_id)
    return None if job is None else (job, False)


async def claim_next(
    pool: PgPool, *, worker: str, lease_seconds: float, job_id: int | None = None
) -> Job | None:
    """Claim the most urgent runnable job: pending (and past its ``retry_at``), or running with
    an expired claim (its backfiller died); the claim lasts ``lease_seconds`` and is renewed by
    every checkpoint. With ``job_id``, claim that job only (``None`` if it is not runnable now)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = 'running', claimed_by = %s,"
            " lease_expires_at = now() + make_interval(secs => %s),"
            " started_at = COALESCE(started_at, now()), updated_at = now()"
            " WHERE id = (SELECT id FROM backfill_jobs"
            "   WHERE ((status = 'pending' AND (retry_at IS NULL OR retry_at <= now()))"
            "   OR (status = 'running' AND lease_expires_at < now()))"
            "   AND (%s::bigint IS NULL OR id = %s::bigint)"
            "   ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            (worker, lease_seconds, job_id, job_id),
        )
        row = await cursor.fetchone()
    return dict(row) if row else None


async def checkpoint(
    pool: PgPool,
    job_id: int,
    *,
    worker: str,
    chunks_done: int,
    fetched: int,
    written: int,
    lease_seconds: float,
) -> str | None:
    """Record a finished chunk (and renew the claim, and reset the count of failed attempts);
    returns ``"running"``, ``"cancelled"`` (stop after this chunk), or ``None`` if this worker
    no longer holds the job (its claim expired and another worker took it over)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET chunks_done = %s,"
            " progress = round((100.0 * %s / chunks_total)::numeric, 2),"
            " records_fetched = records_fetched + %s, records_written = records_written + %s,"
            " lease_expires_at = now() + make_interval(secs => %s), attempts = 0,"
            " updated_at = now()"
            " WHERE id = %s AND claimed_by = %s AND status = 'running' RETURNING status",
            (chunks_done, chunks_done, fetched, written, lease_seconds, job_id, worker),
        )
        row = await cursor.fetchone()
        if row is None:
            cursor = await conn.execute("SELECT status FROM backfill_jobs WHERE id = %s", (job_id,))
            current = await cursor.fetchone()
            cancelled = current is not None and current["status"] == JobStatus.CANCELLED
            return JobStatus.CANCELLED.value if cancelled else None
    return str(row["status"])


async def renew_claim(pool: PgPool, job_id: int, *, worker: str, lease_seconds: float) -> bool:
    """Extend this worker's claim while a long chunk runs; ``False`` if it no longer holds
    the running job (cancelled, or taken over after its claim expired)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET lease_expires_at = now() + make_interval(secs => %s)"
            " WHERE id = %s AND claimed_by = %s AND status = 'running' RETURNING id",
            (lease_seconds, job_id, worker),
        )
        return await cursor.fetchone() is not None


async def finish_job(
    pool: PgPool, job_id: int, *, worker: str, status: JobStatus, error: str | None = None
) -> Job | None:
    """Mark a claimed job completed or failed."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE backfill_jobs SET status = %s, error = %s, completed_at = now(),"
            " updated_at = now(), lease_expires_at = NULL,"
            " progress = CASE WHEN %s = 'completed' THEN 100 ELSE progress END"
            " WHERE id = %s AND claimed_by = %s AND status = 'running' RETURNING *",
            (status.value, error, status.value, job_id, worker),
        )
        row = await cursor.fetchone()
    return dict(row) if row else None


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
