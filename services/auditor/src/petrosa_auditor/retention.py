"""Retention: what is older than its kind's horizon is deleted, oldest first, by the leader.

The policy, one rule per method below:

- **Targets.** Every market series whose kind has a horizon (``RETENTION_<KIND>``), the dead
  letters (``RETENTION_DEAD_LETTERS``, by ``received_at``) and the analytics history
  (``RETENTION_ANALYTICS_HISTORY``, by ``computed_at``). A kind without a horizon keeps
  everything (candles and funding rates by default). Series are found by listing the database,
  so a symbol that is no longer ingested still ages out.
- **Cutoff.** One instant per run: ``started - horizon``. Only documents strictly older than
  it are deleted, so a document written during the run is never touched, whatever its time.
- **Bounded batches, oldest first.** Each batch reads the ``_id`` of the ``RETENTION_BATCH_SIZE``
  oldest documents past the cutoff (a range and a sort the time index serves on MongoDB), then
  deletes exactly those (the cutoff repeated in the filter). One statement never deletes an
  unbounded number of documents, and a collection stops after ``RETENTION_MAX_BATCHES``
  batches in a run (status ``partial``) so that one backlog cannot starve the others.
- **Paced.** After each query (a batch's read, its delete) the job waits
  ``RETENTION_PAUSE_RATIO`` times that query's own duration before the next one, so a run
  leaves the database to its other clients for part of its time instead of holding it from
  start to end (0: no pause). The lease is verified after the pause, right before the delete.
- **Fenced.** The lease is verified (``verify_leadership``) before anything is read and right
  before every delete; a follower, or a leader that lost its term, deletes nothing more.
- **Resumable.** The filter is the only state: a run that crashes or loses its lease between
  or inside batches leaves a prefix of the oldest documents deleted, and the next run goes on
  from the oldest that remains. There is nothing to checkpoint and nothing half-written.
- **Reported.** Each run adds a ``retention_runs`` row (read by ``/health/summary``) and sets
  the horizon, cutoff and running total on its datasets in the catalog; metrics count the
  documents deleted by kind and the runs by status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from petrosa_common.analytics import ANALYTICS_HISTORY_COLLECTION
from petrosa_common.leases import LostLeadership
from petrosa_common.logging import get_logger
from petrosa_common.metrics.retention import (
    RETENTION_DELETED,
    RETENTION_LAST_COMPLETED,
    RETENTION_RUN_SECONDS,
    RETENTION_RUNS,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import DEAD_LETTERS_COLLECTION, parse_collection_name
from petrosa_common.postgres import PgPool
from psycopg.types.json import Jsonb
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

log = get_logger(__name__)

DEAD_LETTERS_KIND = "dead_letters"
ANALYTICS_HISTORY_KIND = "analytics_history"
SERIES_TIME_FIELD = "timestamp"
"""Every market series document's time (indexed ``timestamp_1``)."""
RUNS_KEPT = timedelta(days=30)
"""How long ``retention_runs`` rows are kept (about 8,640 rows at a 5-minute interval)."""

RunStatus = Literal["completed", "partial", "aborted", "failed"]
Verify = Callable[[], Awaitable[int]]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Timer = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Target:
    """One collection under a horizon."""

    collection: str
    kind: str
    time_field: str
    horizon: timedelta


@dataclass(slots=True)
class Purge:
    """What a run did to one collection."""

    collection: str
    kind: str
    cutoff: datetime
    deleted: int = 0
    complete: bool = False
    """Every document past the cutoff is gone (else the batch cap stopped it)."""


@dataclass(slots=True)
class RetentionReport:
    """One run: its status and what it deleted, collection by collection."""

    started_at: datetime
    status: RunStatus = "completed"
    term: int | None = None
    purges: list[Purge] = field(default_factory=list)
    error: str | None = None
    duration_seconds: float = 0.0

    @property
    def deleted(self) -> int:
        """Documents deleted in the run, all collections."""
        return sum(purge.deleted for purge in self.purges)


def retention_targets(
    collections: Iterable[str], horizons: Mapping[str, timedelta | None]
) -> list[Target]:
    """The collections among ``collections`` whose kind has a horizon in ``horizons`` (keys:
    dataset kinds, ``dead_letters``, ``analytics_history``), in name order."""
    targets: list[Target] = []
    for name in sorted(collections):
        if name == DEAD_LETTERS_COLLECTION:
            kind, time_field = DEAD_LETTERS_KIND, "received_at"
        elif name == ANALYTICS_HISTORY_COLLECTION:
            kind, time_field = ANALYTICS_HISTORY_KIND, "computed_at"
        elif (series := parse_collection_name(name)) is not None:
            kind, time_field = series.kind.value, SERIES_TIME_FIELD
        else:
            continue
        horizon = horizons.get(kind)
        if horizon is not None:
            targets.append(Target(name, kind, time_field, horizon))
    return targets


class RetentionJob:
    """Deletes what is past each horizon (the policy is the module's docstring)."""

    def __init__(
        self,
        *,
        db: AsyncDatabase[Document],
        pool: PgPool,
        horizons: Mapping[str, timedelta | None],
        batch_size: int,
        max_batches: int,
        verify_leadership: Verify,
        pod_id: str,
        pause_ratio: float = 0.0,
        clock: Clock = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        timer: Timer = time.monotonic,
    ) -> None:
        self._db = db
        self._pool = pool
        self._horizons = dict(horizons)
        self._batch_size = batch_size
        self._max_batches = max_batches
        self._verify = verify_leadership
        self._pod_id = pod_id
        self._pause_ratio = pause_ratio
        self._clock = clock
        self._sleep = sleep
        self._timer = timer

    async def run(self) -> RetentionReport:
        """One run over every target; raises ``LostLeadership`` (after recording the run)
        when the lease is not ours, before or during the run."""
        report = RetentionReport(started_at=self._clock())
        began = time.monotonic()
        lost: LostLeadership | None = None
        try:
            report.term = await self._verify()
            names = await self._db.list_collection_names()
            for target in retention_targets(names, self._horizons):
                purge = Purge(target.collection, target.kind, report.started_at - target.horizon)
                report.purges.append(purge)
                await self._purge(target, purge)
                if not purge.complete:
                    report.status = "partial"
        except LostLeadership as exc:
            report.status, report.error, lost = "aborted", str(exc), exc
        except PyMongoError as exc:
            report.status, report.error = "failed", repr(exc)
        report.duration_seconds = time.monotonic() - began
        RETENTION_RUNS.labels(report.status).inc()
        RETENTION_RUN_SECONDS.observe(report.duration_seconds)
        if report.status == "completed":
            RETENTION_LAST_COMPLETED.set_to_current_time()
        if report.term is not None:  # a follower has nothing to report
            await self._record(report)
        if lost is not None:
            raise lost
        return report

    async def _purge(self, target: Target, purge: Purge) -> None:
        """Delete the oldest documents past ``purge.cutoff`` batch by batch, fenced."""
        collection = self._db[target.collection]
        past_cutoff = {target.time_field: {"$lt": purge.cutoff}}
        for _ in range(self._max_batches):
            began = self._timer()
            cursor = (
                collection.find(past_cutoff, {"_id": 1})
                .sort(target.time_field, ASCENDING)
                .limit(self._batch_size)
            )
            ids = [doc["_id"] async for doc in cursor]
            await self._pause_after(began)
            if not ids:
                purge.complete = True
                return
            await self._verify()
            began = self._timer()
            result = await collection.delete_many({"_id": {"$in": ids}, **past_cutoff})
            await self._pause_after(began)
            purge.deleted += result.deleted_count
            RETENTION_DELETED.labels(target.kind).inc(result.deleted_count)
            if len(ids) < self._batch_size:
                purge.complete = True
                return

    async def _pause_after(self, began: float) -> None:
        """Wait ``pause_ratio`` times the time since ``began`` (the query just made)."""
        if self._pause_ratio > 0:
            await self._sleep(self._pause_ratio * (self._timer() - began))

    async def _record(self, report: RetentionReport) -> None:
        """The run's row, and each purged dataset's horizon, cutoff and running total."""
        finished = report.started_at + timedelta(seconds=report.duration_seconds)
        details = {
            purge.collection: {
                "kind": purge.kind,
                "cutoff": purge.cutoff.isoformat(),
                "deleted": purge.deleted,
                "complete": purge.complete,
            }
            for purge in report.purges
        }
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO retention_runs (started_at, finished_at, duration_seconds, status,"
                " deleted, leader_term, pod_id, error, details)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    report.started_at,
                    finished,
                    report.duration_seconds,
                    report.status,
                    report.deleted,
                    report.term,
                    self._pod_id,
                    report.error,
                    Jsonb(details),
                ),
            )
            for purge in report.purges:
                horizon = self._horizons[purge.kind]
                assert horizon is not None  # a purge exists only under a horizon
                await conn.execute(
                    "UPDATE datasets SET retention_seconds = %s, retention_cutoff = %s,"
                    " retention_run_at = %s,"
                    " retention_deleted_total = retention_deleted_total + %s WHERE id = %s",
                    (
                        horizon.total_seconds(),
                        purge.cutoff,
                        finished,
                        purge.deleted,
                        purge.collection,
                    ),
                )
            await conn.execute(
                "DELETE FROM retention_runs WHERE started_at < %s",
                (report.started_at - RUNS_KEPT,),
            )
        log.info(
            "retention_run_finished",
            status=report.status,
            deleted=report.deleted,
            duration_seconds=round(report.duration_seconds, 3),
            collections=len(report.purges),
            **({"error": report.error} if report.error else {}),
        )
