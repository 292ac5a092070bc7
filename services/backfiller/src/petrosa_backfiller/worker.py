"""Runs backfill jobs: claim the most urgent, fetch and write it chunk by chunk, checkpoint.

Each chunk is written idempotently (natural keys) before its checkpoint, so a backfiller
killed mid-job loses at most the chunk in flight; after the claim lease expires any
backfiller resumes at the first chunk not done and never fetches finished chunks again.
A transient failure gives the job back with a back-off (``JobBackoff``), so an outage of
Binance or MongoDB neither spins the workers nor spends the weight budget on re-fetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from petrosa_common.backfill_jobs import (
    Job,
    JobBackoff,
    JobStatus,
    checkpoint,
    chunk_plan,
    claim_next,
    finish_job,
    release_job,
)
from petrosa_common.catalog import record_lineage, register_datasets
from petrosa_common.logging import get_logger
from petrosa_common.mongo import Document
from petrosa_common.postgres import PgPool
from petrosa_common.series_writer import SeriesWriter, TransientWriteError
from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from petrosa_backfiller import metrics
from petrosa_backfiller.binance import BinanceClient, BinanceRequestError, BinanceUnavailable
from petrosa_backfiller.chunks import fetch_chunk

log = get_logger(__name__)
EventSink = Callable[[str, Job], Awaitable[None]]
_ENDPOINTS = {
    "candles": "/fapi/v1/klines",
    "agg_trades": "/fapi/v1/aggTrades",
    "funding": "/fapi/v1/fundingRate",
    "mark_price": "/fapi/v1/markPriceKlines",
}


class JobRunner:
    """Claims and runs jobs until stopped; ``concurrency`` jobs at once."""

    def __init__(
        self,
        *,
        pool: PgPool,
        db: AsyncDatabase[Document],
        client: BinanceClient,
        worker_id: str,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        backoff: JobBackoff | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self._pool = pool
        self._writer = SeriesWriter(db)
        self._client = client
        self._worker = worker_id
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._backoff = backoff or JobBackoff()
        self._on_event = on_event

    async def run(self, stop: asyncio.Event, *, concurrency: int) -> None:
        """Keep ``concurrency`` workers busy until ``stop`` is set."""
        await asyncio.gather(*(self._loop(stop) for _ in range(concurrency)))

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                job = await self.run_next(stop)
            except Exception as exc:  # e.g. PostgreSQL lost mid-checkpoint: the claim lease
                # expires and the job resumes from its last checkpoint; this worker goes on.
                log.exception("backfill_worker_error", error=str(exc))
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)

    async def run_next(
        self, stop: asyncio.Event | None = None, *, job_id: int | None = None
    ) -> Job | None:
        """Claim one job (the most urgent, or ``job_id``) and run it to its end (or until
        ``stop``); ``None`` if no such job is runnable."""
        try:
            job = await claim_next(
                self._pool, worker=self._worker, lease_seconds=self._lease, job_id=job_id
            )
        except Exception as exc:  # the queue is unreachable: try again later
            log.warning("backfill_claim_failed", error=str(exc))
            return None
        if job is None:
            return None
        await self._emit("running", job)
        progress = metrics.JOB_PROGRESS.labels(
            str(job["id"]), job["symbol"], job["data_type"], job["timeframe"] or ""
        )
        progress.set(job["progress"])
        metrics.JOBS_RUNNING.inc()
        try:
            return await self._run(job, stop or asyncio.Event(), progress)
        finally:
            metrics.JOBS_RUNNING.dec()
            metrics.JOB_PROGRESS.remove(
                str(job["id"]), job["symbol"], job["data_type"], job["timeframe"] or ""
            )

    async def _run(self, job: Job, stop: asyncio.Event, progress: Gauge) -> Job:
        plan = chunk_plan(job["data_type"], job["timeframe"], job["start_time"], job["end_time"])
        log.info(
            "backfill_job_started",
            job_id=job["id"],
            symbol=job["symbol"],
            data_type=job["data_type"],
            timeframe=job["timeframe"],
            resume_at_chunk=job["chunks_done"],
            chunks=plan.total,
        )
        registered: set[str] = set()
        for index in range(job["chunks_done"], plan.total):
            if stop.is_set():
                await self._release(job, "shutdown")
                return job
            start, end = plan.chunk(index)
            began = time.perf_counter()
            try:
                rows = await fetch_chunk(self._client, job, start, end, datetime.now(UTC))
                written = 0
                ingested_at = datetime.now(UTC)
                for collection, ops in rows.writes.items():
                    if collection not in registered:
                        await self._register(job, collection)
                        registered.add(collection)
                    outcome = await self._writer.write(collection, ops, ingested_at)
                    written += outcome.inserted + outcome.updated
            except BinanceRequestError as exc:
                return await self._finish(job, JobStatus.FAILED, f"Binance: {exc.msg}")
            except (
                BinanceUnavailable,
                TransientWriteError,
                PyMongoError,
                psycopg.Error,
                OSError,
            ) as exc:
                retry_in = self._backoff.delay(job["attempts"])
                log.warning(
                    "backfill_chunk_failed",
                    job_id=job["id"],
                    chunk=index,
                    error=str(exc),
                    retry_in_seconds=retry_in,
                )
                await self._release(
                    job, f"retrying after: {exc}", kind=type(exc).__name__, retry_in=retry_in
                )
                return job
            status = await checkpoint(
                self._pool,
                job["id"],
                worker=self._worker,
                chunks_done=index + 1,
                fetched=rows.fetched,
                written=written,
                lease_seconds=self._lease,
            )
            data_type = job["data_type"]
            metrics.CHUNKS.labels(data_type).inc()
            metrics.CHUNK_SECONDS.observe(time.perf_counter() - began)
            metrics.RECORDS_FETCHED.labels(data_type).inc(rows.fetched)
            metrics.RECORDS_WRITTEN.labels(data_type).inc(written)
            metrics.observe_budget(self._client)
            progress.set(100 * (index + 1) / plan.total)
            if status != JobStatus.RUNNING:
                log.info("backfill_job_stopped", job_id=job["id"], status=status)
                if status == JobStatus.CANCELLED:
                    metrics.JOBS_FINISHED.labels(str(status), job["data_type"]).inc()
                    await self._emit("cancelled", {**job, "status": status})
                return {**job, "status": status}
        return await self._finish(job, JobStatus.COMPLETED, None)

    async def _finish(self, job: Job, status: JobStatus, error: str | None) -> Job:
        finished = await finish_job(
            self._pool, job["id"], worker=self._worker, status=status, error=error
        )
        result = finished or {**job, "status": status, "error": error}
        log.info("backfill_job_finished", job_id=job["id"], status=status.value, error=error)
        metrics.JOBS_FINISHED.labels(status.value, job["data_type"]).inc()
        await self._emit(status.value, result)
        return result

    async def _release(
        self, job: Job, reason: str, kind: str = "shutdown", retry_in: float | None = None
    ) -> None:
        metrics.JOB_RELEASES.labels(kind).inc()
        try:
            await release_job(
                self._pool, job["id"], worker=self._worker, reason=reason, retry_in=retry_in
            )
        except Exception as exc:  # the claim lease expires and another worker resumes it
            log.warning("backfill_release_failed", job_id=job["id"], error=str(exc))

    async def _register(self, job: Job, collection: str) -> None:
        await register_datasets(self._pool, [collection])
        await record_lineage(
            self._pool,
            source=f"binance-rest:{_ENDPOINTS[job['data_type']]}",
            process=f"backfiller job {job['id']}",
            target=collection,
            details={
                "symbol": job["symbol"],
                "data_type": job["data_type"],
                "timeframe": job["timeframe"],
            },
        )

    async def _emit(self, status: str, job: Job) -> None:
        if self._on_event is not None:
            try:
                await self._on_event(status, job)
            except Exception as exc:  # events are best effort; the table holds the truth
                log.warning("backfill_event_failed", status=status, error=str(exc))


def job_view(job: Job) -> dict[str, Any]:
    """A job as the API shows it (no claim internals)."""
    hidden = {"claimed_by", "lease_expires_at"}
    return {key: value for key, value in job.items() if key not in hidden}
