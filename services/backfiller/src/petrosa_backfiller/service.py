"""petrosa-backfiller wiring: connections, the job runner, request handlers, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from nats.aio.client import Client as NatsClient
from petrosa_common.logging import get_logger
from petrosa_common.metrics import NATS_CONNECTION_STATUS
from petrosa_common.mongo import create_mongo_client
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_common.runtime import (
    StartupAborted,
    dependency_checks,
    retry_until_ready,
    serve_health,
)

from petrosa_backfiller.binance import BinanceClient
from petrosa_backfiller.nats_api import event_publisher, serve
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_backfiller.worker import JobRunner

log = get_logger(__name__)
SERVICE_NAME = "petrosa-backfiller"


async def run(settings: BackfillerSettings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` (or SIGTERM/SIGINT); running jobs go back to the queue."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            nc: NatsClient = await retry_until_ready(
                lambda: connect_nats(
                    settings.nats_url,
                    name=SERVICE_NAME,
                    on_state=lambda up: NATS_CONNECTION_STATUS.set(int(up)),
                ),
                "nats",
                stop,
            )
            stack.push_async_callback(nc.drain)
            mongo = create_mongo_client(settings.mongodb_url, app_name=SERVICE_NAME)
            stack.push_async_callback(mongo.close)
            db = mongo[settings.mongodb_database]
            await retry_until_ready(lambda: db.command("ping"), "mongodb", stop)
            pool: PgPool = await retry_until_ready(
                lambda: create_pg_pool(
                    settings.postgres_url,
                    min_size=settings.postgres_pool_min_size,
                    max_size=settings.postgres_pool_max_size,
                ),
                "postgres",
                stop,
            )
            stack.push_async_callback(pool.close)
            await retry_until_ready(lambda: apply_migrations(pool), "postgres migrations", stop)
            client = BinanceClient(
                settings.binance_fapi_base_url,
                api_key=settings.binance_api_key,
                weight_budget=settings.binance_weight_budget,
            )
            stack.push_async_callback(client.aclose)
            serve_health(
                stack,
                SERVICE_NAME,
                dependency_checks(nc=nc, db=db, pool=pool),
                settings.health_port,
            )
            await serve(nc, pool)
            runner = JobRunner(
                pool=pool,
                db=db,
                client=client,
                worker_id=settings.pod_id,
                lease_seconds=settings.backfill_claim_lease_seconds,
                poll_seconds=settings.backfill_poll_seconds,
                on_event=event_publisher(nc),
            )
            log.info(
                "backfiller_started",
                base_url=settings.binance_fapi_base_url,
                weight_budget=settings.binance_weight_budget,
                workers=settings.max_concurrent_backfill_jobs,
            )
            await runner.run(stop, concurrency=settings.max_concurrent_backfill_jobs)
    except StartupAborted as aborted:
        log.info("backfiller_stopped_during_startup", waiting_for=str(aborted))
        return
    log.info("backfiller_stopped")
