"""petrosa-auditor wiring: connections, the lease, the scheduler and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from nats.aio.client import Client as NatsClient
from petrosa_common.leases import LeaderElector, LostLeadership
from petrosa_common.logging import get_logger
from petrosa_common.naming import DatasetKind, collection_name
from petrosa_common.runtime import (
    StartupAborted,
    dependency_checks,
    open_connections,
    serve_health,
    start_elector,
    stop_on_signals,
)

from petrosa_auditor.catalog_refresh import refresh_record_counts
from petrosa_auditor.cycle import AuditCycle
from petrosa_auditor.retention import RetentionJob
from petrosa_auditor.settings import AuditorSettings

log = get_logger(__name__)
SERVICE_NAME = "petrosa-auditor"
ROLE = "auditor"


class NatsPublisher:
    """Publishes JSON events (datetimes as ISO-8601) on core NATS."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc

    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        """Publish ``payload`` as JSON on ``subject``."""
        await self._nc.publish(subject, orjson.dumps(payload, option=orjson.OPT_UTC_Z))


async def run(
    settings: AuditorSettings, stop: asyncio.Event | None = None, *, once: bool = False
) -> int:
    """Run until ``stop`` (or SIGTERM/SIGINT); with ``once``, one cycle (and one retention
    run, if enabled) as leader, then exit.

    Returns the process exit code.
    """
    stop = stop_on_signals(stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            return await _run(settings, stop, stack, once=once)
    except StartupAborted as aborted:
        log.info("auditor_stopped_during_startup", waiting_for=str(aborted))
        return 0


async def _run(
    settings: AuditorSettings, stop: asyncio.Event, stack: contextlib.AsyncExitStack, *, once: bool
) -> int:
    connections = await open_connections(settings, SERVICE_NAME, stop, stack)
    nc, db, pool = connections.nc, connections.db, connections.pool

    elector = start_elector(stack, db, settings, ROLE)

    serve_health(
        stack, SERVICE_NAME, dependency_checks(nc=nc, db=db, pool=pool), settings.health_port
    )

    cycle = AuditCycle(
        db=db,
        pool=pool,
        publisher=NatsPublisher(nc),
        settings=settings,
        verify_leadership=elector.verify,
        pod_id=settings.pod_id,
    )
    log.info(
        "auditor_started",
        pairs=settings.supported_pairs,
        timeframes=settings.audit_timeframes,
        interval=settings.audit_interval,
    )
    datasets = [
        collection_name(DatasetKind.CANDLES, symbol, timeframe)
        for symbol in settings.supported_pairs
        for timeframe in settings.audit_timeframes
    ]

    async def refresh_counts() -> None:
        await refresh_record_counts(
            db,
            pool,
            datasets,
            concurrency=settings.audit_concurrency,
            verify_leadership=elector.verify,
        )

    retention = RetentionJob(
        db=db,
        pool=pool,
        horizons=settings.retention_horizons(),
        batch_size=settings.retention_batch_size,
        max_batches=settings.retention_max_batches,
        pause_ratio=settings.retention_pause_ratio,
        verify_leadership=elector.verify,
        pod_id=settings.pod_id,
        sleep=lambda seconds: _pause_unless_stopping(stop, seconds),
    )
    if once:
        code = await _schedule(
            cycle, elector, settings, stop, once=True, refresh_counts=refresh_counts
        )
        if code == 0 and settings.retention_enabled and not stop.is_set():
            code = 0 if await _retain(retention) else 1
        return code
    async with asyncio.TaskGroup() as tasks:
        if settings.retention_enabled:
            tasks.create_task(_retention_loop(retention, elector, settings, stop))
        audit = tasks.create_task(
            _schedule(cycle, elector, settings, stop, once=False, refresh_counts=refresh_counts)
        )
    return audit.result()


async def _retain(job: RetentionJob) -> bool:
    """One retention run; ``False`` (logged) when it did not complete its work."""
    try:
        report = await job.run()
    except LostLeadership as exc:
        log.warning("retention_aborted", reason="leadership lost", error=str(exc))
        return False
    except Exception:
        log.exception("retention_failed")
        return False
    return report.status in ("completed", "partial")


async def _pause_unless_stopping(stop: asyncio.Event, seconds: float) -> None:
    """Retention's pause between queries: cut short on shutdown, so a run in progress ends
    at full speed instead of holding the stop up."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _retention_loop(
    job: RetentionJob, elector: LeaderElector, settings: AuditorSettings, stop: asyncio.Event
) -> None:
    """Run retention every RETENTION_INTERVAL while leader (beside the audit cycles)."""
    poll = min(1.0, settings.leader_election_heartbeat_interval, settings.retention_interval)
    while not stop.is_set():
        wait = poll
        if elector.is_leader:
            started = time.monotonic()
            with structlog.contextvars.bound_contextvars(role="LEADER", term=elector.term):
                await _retain(job)
            wait = max(0.0, settings.retention_interval - (time.monotonic() - started))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)


async def _schedule(
    cycle: AuditCycle,
    elector: LeaderElector,
    settings: AuditorSettings,
    stop: asyncio.Event,
    *,
    once: bool,
    refresh_counts: Callable[[], Awaitable[object]],
) -> int:
    """Run a cycle every AUDIT_INTERVAL while leader (and, when due, the record-count
    refresh after it); followers wait (and say so)."""
    # Leadership is a local check (no I/O): poll it often so a new leader starts at once.
    poll = min(1.0, settings.leader_election_heartbeat_interval, settings.audit_interval)
    last_follower_log = 0.0
    counted_at: float | None = None
    while not stop.is_set():
        if elector.is_leader:
            started = time.monotonic()
            with structlog.contextvars.bound_contextvars(role="LEADER", term=elector.term):
                try:
                    record = await cycle.run()
                    log.info(
                        "audit_cycle_completed",
                        **{
                            k: record[k]
                            for k in (
                                "duration_seconds",
                                "datasets_audited",
                                "gaps",
                                "duplicates",
                                "errors",
                            )
                        },
                    )
                    due = settings.audit_count_refresh_seconds
                    if counted_at is None or time.monotonic() - counted_at >= due:
                        await refresh_counts()
                        counted_at = time.monotonic()
                        log.info("record_counts_refreshed")
                    if once:
                        return 0
                except LostLeadership as exc:
                    log.warning("audit_cycle_aborted", reason="leadership lost", error=str(exc))
                except Exception:
                    log.exception("audit_cycle_failed")
                    if once:
                        return 1
            wait = max(0.0, settings.audit_interval - (time.monotonic() - started))
        else:
            if time.monotonic() - last_follower_log >= settings.audit_interval:
                with structlog.contextvars.bound_contextvars(role="FOLLOWER"):
                    log.info("audit_cycle_skipped", reason="not the leader")
                last_follower_log = time.monotonic()
            wait = poll
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    return 0
