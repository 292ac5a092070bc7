"""petrosa-backfiller wiring: connections, the job runner, request handlers, shutdown."""

from __future__ import annotations

import asyncio
import contextlib

from petrosa_common.logging import get_logger
from petrosa_common.runtime import (
    StartupAborted,
    dependency_checks,
    open_connections,
    serve_health,
    stop_on_signals,
)

from petrosa_backfiller.binance import BinanceClient
from petrosa_backfiller.metrics import record_binance_response
from petrosa_backfiller.nats_api import event_publisher, serve
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_backfiller.worker import JobRunner

log = get_logger(__name__)
SERVICE_NAME = "petrosa-backfiller"


async def run(settings: BackfillerSettings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` (or SIGTERM/SIGINT); running jobs go back to the queue."""
    stop = stop_on_signals(stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            connections = await open_connections(settings, SERVICE_NAME, stop, stack)
            nc, db, pool = connections.nc, connections.db, connections.pool
            client = settings.binance_client(on_response=record_binance_response)
            stack.push_async_callback(client.aclose)
            await serve(nc, pool)  # subscribed before readiness can answer 200
            serve_health(
                stack,
                SERVICE_NAME,
                dependency_checks(nc=nc, db=db, pool=pool),
                settings.health_port,
            )
            await _align_minute_window(client)
            runner = JobRunner(
                pool=pool,
                db=db,
                client=client,
                worker_id=settings.pod_id,
                lease_seconds=settings.backfill_claim_lease_seconds,
                poll_seconds=settings.backfill_poll_seconds,
                backoff=settings.job_backoff(),
                on_event=event_publisher(nc),
            )
            log.info(
                "backfiller_started",
                base_url=settings.binance_fapi_base_url,
                weight_budget=settings.binance_weight_budget,
                funding_rate_budget_5m=settings.binance_funding_rate_budget_5m,
                klines_limit=settings.binance_klines_limit,
                workers=settings.max_concurrent_backfill_jobs,
            )
            await runner.run(stop, concurrency=settings.max_concurrent_backfill_jobs)
    except StartupAborted as aborted:
        log.info("backfiller_stopped_during_startup", waiting_for=str(aborted))
        return
    log.info("backfiller_stopped")


async def _align_minute_window(client: BinanceClient) -> None:
    """Align the weight budget's minute on Binance's clock (best effort: a clock skew only
    makes the budget a little conservative, and Binance may be unreachable right now)."""
    try:
        offset = await client.sync_server_time()
    except Exception as exc:
        log.warning("binance_time_sync_failed", error=str(exc))
        return
    log.info("binance_time_synced", offset_seconds=round(offset, 3))
