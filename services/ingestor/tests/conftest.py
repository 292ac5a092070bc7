"""Fixtures for ingestor tests: settings bound to this test's database, subject and stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
import pytest
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import free_port
from petrosa_ingestor.service import run
from petrosa_ingestor.settings import IngestorSettings

SettingsFactory = Callable[..., IngestorSettings]


@pytest.fixture
async def _delete_test_stream(nats_url: str, subject_prefix: str) -> AsyncIterator[None]:
    """JetStream reserves each stream's byte limit: give the room back after the test."""
    yield
    client = await nats.connect(nats_url)
    with contextlib.suppress(Exception):
        await client.jetstream().delete_stream(subject_prefix.upper())
    await client.close()


@pytest.fixture
def make_settings(
    _delete_test_stream: None,
    infra_urls: InfraUrls,
    mongo_db_name: str,
    postgres_url: str,
    subject_prefix: str,
) -> SettingsFactory:
    """Ingestor settings isolated to this test; keyword arguments override fields."""

    def make(**overrides: Any) -> IngestorSettings:
        values: dict[str, Any] = {
            "nats_url": infra_urls.nats_url,
            "mongodb_url": infra_urls.mongodb_url,
            "mongodb_database": mongo_db_name,
            "postgres_url": postgres_url,
            "nats_consumer_subject": f"{subject_prefix}.data",
            "nats_stream_name": subject_prefix.upper(),
            "nats_stream_max_bytes": 64 * 1024**2,
            "metrics_port": 0,
            "health_port": free_port(),
            "ingest_batch_size": 500,
            "ingest_fetch_timeout": 0.2,
            "ingest_ack_wait_seconds": 5,
            "ingest_retry_initial_backoff": 0.1,
            "ingest_retry_max_backoff": 1.0,
            **overrides,
        }
        return IngestorSettings(**values)

    return make


@asynccontextmanager
async def running_ingestor(settings: IngestorSettings) -> AsyncIterator[asyncio.Task[None]]:
    """Run the ingestor in this event loop; stop it gracefully on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
