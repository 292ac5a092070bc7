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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from petrosa_common.backfill_jobs import (
    BackfillJob,
    JobBackoff,
    JobStatus,
    checkpoint,
    chunk_plan,
    claim_next,
    finish_job,
    release_job,
    renew_claim,
)
from petrosa_common.catalog import record_lineage, register_datasets
from petrosa_common.logging import get_logger
from petrosa_common.metrics.backfill import ReleaseReason
from petrosa_common.mongo import Document
from petrosa_common.openlineage_emitter import RunEmitter, RunState, run_id_for
from petrosa_common.postgres import PgPool
from petrosa_common.series_writer import SeriesWriter, TransientWriteError
from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from petrosa_backfiller import metrics
from petrosa_backfiller.binance import (
    BinanceClient,
    BinanceRequestError,
    BinanceResponseError,
    BinanceUnavailable,
)
from petrosa_backfiller.chunks import fetch_chunk

log = get_logger(__name__)
EventSink = Callable[[BackfillJob], Awaitable[None]]
"""Told each job whose status this runner changed (``running``, ``completed``, ``failed``)."""
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
        self._lineage = RunEmitter.from_env()  # OpenLineage RunEvents; off unless configured
        self._outputs: dict[int, set[str]] = {}

    async def run(self, stop: asyncio.Event, *, concurrency: int) -> None:
        """Keep ``concurrency`` workers busy until ``stop`` is set. Each holds its claims
        under its own id (``<worker_id>/<n>``), so one never mistakes a sibling's claim for
        its own."""
        await asyncio.gather(*(self._loop(stop, n) for n in range(1, concurrency + 1)))

    async def _loop(self, stop: asyncio.Event, number: int) -> None:
        worker = Worker(f"{self._worker}/{number}", str(number))
        while not stop.is_set():
            try:
                job = await self._claim_and_run(stop, worker, None)
            except Exception as exc:  # e.g. PostgreSQL lost mid-checkpoint: the claim lease
                # expires and the job resumes from its last checkpoint; this worker goes on.
                log.exception("backfill_worker_error", error=str(exc))
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)

    async def run_next(
        self, stop: asyncio.Event | None = None, *, job_id: int | None = None
    ) -> BackfillJob | None:
        """Claim one job (the most urgent, or ``job_id``) and run it to its end (or until
        ``stop``); ``None`` if no such job is runnable."""
        return await self._claim_and_run(stop or asyncio.Event(), Worker(self._worker), job_id)

    async def _claim_and_run(
        self, stop: asyncio.Event, worker: Worker, job_id: int | None
    ) -> BackfillJob | None:
        try:
            job = await claim_next(
                self._pool, worker=worker.claim_id, lease_seconds=self._lease, job_id=job_id
            )
        except Exception as exc:  # the queue is unreachable: try again later
            log.warning("backfill_claim_failed", error=str(exc))
            return None
        if job is None:
            return None
        await self._emit(job)
        labels = (worker.number, job.data_type, job.timeframe or "")
        progress = metrics.JOB_PROGRESS.labels(*labels)
        progress.set(job.progress)
        metrics.JOBS_RUNNING.inc()
        try:
            return await self._run(job, worker.claim_id, stop, progress)
        finally:
            metrics.JOBS_RUNNING.dec()
            metrics.JOB_PROGRESS.remove(*labels)

    async def _run(
        self, job: BackfillJob, worker: str, stop: asyncio.Event, progress: Gauge
    ) -> BackfillJob:
        plan = chunk_plan(job.data_type, job.timeframe, job.start_time, job.end_time)
        log.info(
            "backfill_job_started",
            job_id=job.id,
            worker=worker,
            symbol=job.symbol,
            data_type=job.data_type,
            timeframe=job.timeframe,
            resume_at_chunk=job.chunks_done,
            chunks=plan.total,
        )
        registered = self._outputs.setdefault(job.id, set())
        await self._run_event(RunState.START, job)
        for index in range(job.chunks_done, plan.total):
            if stop.is_set():
                await self._release(job, worker, "shutdown")
                return job
            start, end = plan.chunk(index)
            began = time.perf_counter()
            try:
                async with self._claim_kept(job, worker):
                    rows = await fetch_chunk(self._client, job, start, end, datetime.now(UTC))
                    written = 0
                    ingested_at = datetime.now(UTC)
                    for collection, ops in rows.writes.items():
                        if collection not in registered:
                            await self._register(job, collection)
                            registered.add(collection)
                        outcome = await self._writer.write(collection, ops, ingested_at)
                        if outcome.refused:
                            doc_id, reason = next(iter(outcome.refused.items()))
                            raise DocumentsRefused(
                                f"MongoDB refused {len(outcome.refused)} documents of chunk"
                                f" {index} of {collection} (e.g. {doc_id}: {reason})"
                            )
                        written += outcome.inserted + outcome.updated
            except BinanceRequestError as exc:
                return await self._finish(job, worker, JobStatus.FAILED, f"Binance: {exc.msg}")
            except (
                BinanceUnavailable,
                TransientWriteError,
                PyMongoError,
                psycopg.Error,
                OSError,
            ) as exc:
                retry_in = self._backoff.delay(job.attempts)
                log.warning(
                    "backfill_chunk_failed",
                    job_id=job.id,
                    chunk=index,
                    error=str(exc),
                    retry_in_seconds=retry_in,
                )
                await self._release(
                    job,
                    worker,
                    f"retrying after: {exc}",
                    kind=_release_reason(exc),
                    retry_in=retry_in,
                )
                return job
            except Exception as exc:  # not transient: retrying would fail again, forever
                log.exception("backfill_chunk_error", job_id=job.id, chunk=index)
                return await self._finish(job, worker, JobStatus.FAILED, _describe_failure(exc))
            status = await checkpoint(
                self._pool,
                job.id,
                worker=worker,
                chunks_done=index + 1,
                fetched=rows.fetched,
                written=written,
                lease_seconds=self._lease,
            )
            data_type = job.data_type
            metrics.CHUNKS.labels(data_type).inc()
            metrics.CHUNK_SECONDS.observe(time.perf_counter() - began)
            metrics.RECORDS_FETCHED.labels(data_type).inc(rows.fetched)
            metrics.RECORDS_WRITTEN.labels(data_type).inc(written)
            metrics.observe_budget(self._client)
            progress.set(100 * (index + 1) / plan.total)
            if status == JobStatus.CANCELLED:  # whoever cancelled it published the event
                log.info("backfill_job_stopped", job_id=job.id, status=status)
                metrics.JOBS_FINISHED.labels(status, job.data_type).inc()
                return job.model_copy(update={"status": status})
            if status is None:
                return self._claim_lost(job, worker)
        return await self._finish(job, worker, JobStatus.COMPLETED, None)

    @contextlib.asynccontextmanager
    async def _claim_kept(self, job: BackfillJob, worker: str) -> AsyncIterator[None]:
        """Renew the claim while a chunk runs: a chunk may outlast the claim lease (a 418 ban,
        a spent weight budget, an hour of agg trades of a busy symbol)."""

        async def keep() -> None:
            while True:
                await asyncio.sleep(self._lease / 3)
                try:
                    held = await renew_claim(
                        self._pool, job.id, worker=worker, lease_seconds=self._lease
                    )
                except Exception as exc:  # PostgreSQL away: the next checkpoint tells
                    log.warning("backfill_claim_renewal_failed", job_id=job.id, error=str(exc))
                    continue
                if not held:  # cancelled or taken over: nothing to keep (the checkpoint tells)
                    return

        keeper = asyncio.create_task(keep())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    def _claim_lost(self, job: BackfillJob, worker: str) -> BackfillJob:
        # Our claim expired and another worker resumed the job: it is theirs now.
        log.warning("backfill_claim_lost", job_id=job.id, worker=worker)
        metrics.JOB_RELEASES.labels("claim_lost").inc()
        return job

    async def _finish(
        self, job: BackfillJob, worker: str, status: JobStatus, error: str | None
    ) -> BackfillJob:
        finished = await finish_job(self._pool, job.id, worker=worker, status=status, error=error)
        if finished is None:
            return self._claim_lost(job, worker)
        log.info("backfill_job_finished", job_id=job.id, status=status.value, error=error)
        metrics.JOBS_FINISHED.labels(status.value, job.data_type).inc()
        await self._emit(finished)
        state = RunState.COMPLETE if status is JobStatus.COMPLETED else RunState.FAIL
        await self._run_event(state, finished, error=error)
        return finished

    async def _run_event(self, state: RunState, job: BackfillJob, error: str | None = None) -> None:
        """The job's OpenLineage RunEvent (one run id per job, whichever worker runs it)."""
        outputs = self._outputs.get(job.id, set())
        if state is not RunState.START:
            self._outputs.pop(job.id, None)
        await self._lineage.emit(
            state,
            run_id=run_id_for(f"backfill-job-{job.id}"),
            job=f"backfill.{job.data_type}",
            inputs=[("binance-rest", _ENDPOINTS[job.data_type])],
            outputs=sorted(outputs),
            error=error,
        )

    async def _release(
        self,
        job: BackfillJob,
        worker: str,
        reason: str,
        kind: ReleaseReason = "shutdown",
        retry_in: float | None = None,
    ) -> None:
        metrics.JOB_RELEASES.labels(kind).inc()
        try:
            await release_job(self._pool, job.id, worker=worker, reason=reason, retry_in=retry_in)
        except Exception as exc:  # the claim lease expires and another worker resumes it
            log.warning("backfill_release_failed", job_id=job.id, error=str(exc))

    async def _register(self, job: BackfillJob, collection: str) -> None:
        await register_datasets(self._pool, [collection], source="backfill")
        await record_lineage(
            self._pool,
            source=f"binance-rest:{_ENDPOINTS[job.data_type]}",
            process=f"backfiller job {job.id}",
            target=collection,
            details={
                "job_id": job.id,
                "symbol": job.symbol,
                "data_type": job.data_type,
                "timeframe": job.timeframe,
            },
        )

    async def _emit(self, job: BackfillJob) -> None:
        if self._on_event is not None:
            try:
                await self._on_event(job)
            except Exception as exc:  # events are best effort; the table holds the truth
                log.warning("backfill_event_failed", status=job.status, error=str(exc))


@dataclass(frozen=True, slots=True)
class Worker:
    """One of a runner's workers: the id its claims carry, and its number (a metric label)."""

    claim_id: str
    number: str = "1"


def _release_reason(exc: Exception) -> ReleaseReason:
    """The closed-set metric label of a transient failure (its message goes to the job)."""
    if isinstance(exc, BinanceUnavailable):
        return "binance_unavailable"
    if isinstance(exc, TransientWriteError | PyMongoError):
        return "mongodb_unavailable"
    if isinstance(exc, psycopg.Error):
        return "postgres_unavailable"
    return "network_error"


class DocumentsRefused(Exception):
    """MongoDB refused documents of a chunk for good (not a transient failure)."""


def _describe_failure(exc: Exception) -> str:
    if isinstance(exc, DocumentsRefused):
        return str(exc)
    if isinstance(exc, BinanceResponseError):
        return f"Binance answered unexpectedly: {exc}"
    return f"internal error: {type(exc).__name__}: {exc}"
