"""Fixtures for ingestor tests: settings bound to this test's database, subject and stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
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
    """Run the ingestor in this event loop, yielding once it is ready (stream, consumer or
    subscription in place); stop it gracefully on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        await _wait_ready(settings.health_port, task)
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _wait_ready(health_port: int, task: asyncio.Task[None], timeout: float = 60) -> None:
    url = f"http://127.0.0.1:{health_port}/health/readiness"
    async with httpx.AsyncClient(timeout=2) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if task.done():
                task.result()  # surfaces the start-up error
                raise AssertionError("the ingestor stopped before it was ready")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the ingestor was not ready after {timeout} s")
