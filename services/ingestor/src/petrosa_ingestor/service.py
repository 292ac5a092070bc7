"""petrosa-ingestor wiring: connections, start-up, the batch pipeline and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from nats.aio.client import Client as NatsClient
from petrosa_common.logging import get_logger
from petrosa_common.mongo import ensure_coordination_indexes
from petrosa_common.nats import StreamSpec, ensure_pull_consumer, ensure_stream
from petrosa_common.runtime import (
    StartupAborted,
    dependency_checks,
    open_connections,
    retry_until_ready,
    serve_health,
    stop_on_signals,
)

from petrosa_ingestor.backoff import Backoff
from petrosa_ingestor.pipeline import run_pipeline
from petrosa_ingestor.processor import BatchProcessor, Incoming
from petrosa_ingestor.registry import DatasetRegistry
from petrosa_ingestor.settings import IngestorSettings
from petrosa_ingestor.sources import CoreSource, jetstream_batches, poll_consumer_lag
from petrosa_ingestor.writer import MongoWriter

log = get_logger(__name__)

SERVICE_NAME = "petrosa-ingestor"


async def run(settings: IngestorSettings, stop: asyncio.Event | None = None) -> None:
    """Run the ingestor until ``stop`` is set (or SIGTERM/SIGINT), then drain and exit."""
    stop = stop_on_signals(stop)
    try:
        async with contextlib.AsyncExitStack() as resources:
            await _run(settings, stop, resources)
    except StartupAborted as aborted:
        log.info("ingestor_stopped_during_startup", waiting_for=str(aborted))
        return
    log.info("ingestor_stopped")


async def _run(
    settings: IngestorSettings, stop: asyncio.Event, resources: contextlib.AsyncExitStack
) -> None:
    connections = await open_connections(settings, SERVICE_NAME, stop, resources)
    nc, db, pool = connections.nc, connections.db, connections.pool
    await retry_until_ready(lambda: ensure_coordination_indexes(db), "mongodb indexes", stop)

    consuming = asyncio.Event()

    async def check_consumer() -> None:
        if not consuming.is_set():
            raise RuntimeError("stream and consumer not set up yet")

    checks = {**dependency_checks(nc=nc, db=db, pool=pool), "consumer": check_consumer}
    failures: list[str] = []
    serve_health(
        resources,
        SERVICE_NAME,
        checks,
        settings.health_port,
        failure=lambda: failures[0] if failures else None,
    )

    writer = MongoWriter(db)
    registry = DatasetRegistry(pool, source_subject=settings.nats_consumer_subject)
    processor = BatchProcessor(
        writer,
        registry,
        Backoff(settings.ingest_retry_initial_backoff, settings.ingest_retry_max_backoff),
        limits=settings.frame_limits(),
        max_deliveries=settings.ingest_max_deliver,
    )
    batches: AsyncIterator[Sequence[Incoming]]
    if settings.ingest_mode == "jetstream":
        batches = await _jetstream_source(settings, nc, stop, resources)
    else:
        source = CoreSource(
            nc,
            subject=settings.nats_consumer_subject,
            queue=settings.nats_queue_group,
            batch_size=settings.ingest_batch_size,
            linger=settings.ingest_fetch_timeout,
        )
        await retry_until_ready(source.subscribe, "nats subscription", stop)
        batches = source.batches(stop)
    consuming.set()
    log.info(
        "ingestor_started",
        mode=settings.ingest_mode,
        subject=settings.nats_consumer_subject,
        database=settings.mongodb_database,
    )
    try:
        await run_pipeline(
            batches,
            processor,
            workers=settings.ingest_max_inflight_batches,
            keep_alive_every=settings.ingest_ack_wait_seconds / 3,
            stop=stop,
            on_death=failures.append,
        )
    finally:
        stop.set()


async def _jetstream_source(
    settings: IngestorSettings,
    nc: NatsClient,
    stop: asyncio.Event,
    resources: contextlib.AsyncExitStack,
) -> AsyncIterator[Sequence[Incoming]]:
    """Ensure the stream and durable consumer, start the lag poller, return the batches."""
    js = nc.jetstream()
    spec = StreamSpec(
        name=settings.nats_stream_name,
        subjects=[settings.nats_consumer_subject],
        max_age_seconds=settings.nats_stream_max_age_seconds,
        max_bytes=settings.nats_stream_max_bytes,
    )
    await retry_until_ready(lambda: ensure_stream(js, spec), "jetstream stream", stop)
    await retry_until_ready(
        lambda: ensure_pull_consumer(
            js,
            stream=settings.nats_stream_name,
            durable=settings.nats_durable_name,
            filter_subject=settings.nats_consumer_subject,
            ack_wait_seconds=settings.ingest_ack_wait_seconds,
            max_ack_pending=settings.ingest_batch_size * (settings.ingest_max_inflight_batches + 2),
        ),
        "jetstream consumer",
        stop,
    )
    lag = asyncio.create_task(
        poll_consumer_lag(
            js,
            stream=settings.nats_stream_name,
            durable=settings.nats_durable_name,
            interval=settings.ingest_lag_poll_interval,
            stop=stop,
        )
    )
    resources.callback(lag.cancel)
    return jetstream_batches(
        js,
        stream=settings.nats_stream_name,
        durable=settings.nats_durable_name,
        subject=settings.nats_consumer_subject,
        batch_size=settings.ingest_batch_size,
        fetch_timeout=settings.ingest_fetch_timeout,
        stop=stop,
    )
