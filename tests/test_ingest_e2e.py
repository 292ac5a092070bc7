"""End to end: the ingestor process against real NATS JetStream, FerretDB and PostgreSQL."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from petrosa_devtools import infra
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.streams import publish
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.truth import expected_documents
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .ingest_support import (
    Document,
    as_lists,
    consumer_state,
    delete_stream,
    ingestor_process,
    stored,
    wait_acked,
    wait_drained,
)

pytestmark = pytest.mark.e2e
START_MS = 1_704_067_200_000


@pytest.fixture
async def stream_cleanup(nats_url: str, subject_prefix: str) -> AsyncIterator[None]:
    yield
    await delete_stream(nats_url, subject_prefix.upper())


async def test_kill_9_half_way_then_restart_stores_every_event_exactly_once(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[Document],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
    stream_cleanup: None,
) -> None:
    frames = FrameGenerator(
        ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        seed=11,
        start_ms=START_MS,
        faults=FaultConfig(duplicate_rate=0.02),
    ).take(24_000)
    expected = expected_documents(frames)
    total = len(frames)
    stream = subject_prefix.upper()
    service = ingestor_process(
        nats_url=infra_urls.nats_url,
        mongodb_url=infra_urls.mongodb_url,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    service.start()
    try:
        service.wait_ready()
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", (f.payload for f in frames))
        await wait_acked(infra_urls.nats_url, stream, total // 2)
        service.kill9()
        acked_at_kill, _, _ = await consumer_state(infra_urls.nats_url, stream)
        assert acked_at_kill < total, "the kill came too late to interrupt anything"

        service.start()
        service.wait_ready()
        await wait_drained(infra_urls.nats_url, stream, total)
        metrics_url = f"http://127.0.0.1:{service.env['METRICS_PORT']}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=5) as response:  # noqa: ASYNC210
            metrics = response.read().decode()
        assert "data_manager_messages_processed_total" in metrics
        assert "data_manager_consumer_pending_messages" in metrics
    finally:
        exit_code = service.stop()
    assert exit_code == 0, service.log_tail()
    assert await stored(mongo_db) == as_lists(expected)


async def test_mongodb_outage_delays_ingestion_but_loses_nothing(
    infra_urls: InfraUrls,
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
    stream_cleanup: None,
) -> None:
    # A MongoDB-wire server of this test's own, so it can be stopped and started again.
    port = free_port()
    mongodb_url = f"mongodb://127.0.0.1:{port}"
    mongo_server = ServiceProcess(
        [
            str(infra.ferretdb_binary()),
            "--listen-addr",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path / "ferretdb"),
        ],
        {},
        tmp_path / "ferretdb.log",
    )

    def start_mongo() -> None:
        mongo_server.start()
        mongo_server.wait_until(lambda: infra.mongo_answers(mongodb_url))

    start_mongo()
    generator = FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=21, start_ms=START_MS)
    before, during = generator.take(4000), generator.take(4000)
    stream = subject_prefix.upper()
    service = ingestor_process(
        nats_url=infra_urls.nats_url,
        mongodb_url=mongodb_url,
        database="outage",
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongodb_url, tz_aware=True)
    service.start()
    try:
        service.wait_ready()
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", (f.payload for f in before))
        await wait_drained(infra_urls.nats_url, stream, len(before))

        mongo_server.kill9()
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", (f.payload for f in during))
        await asyncio.sleep(4)
        acked, _, _ = await consumer_state(infra_urls.nats_url, stream)
        assert acked < len(before) + len(during), "nothing waited for the database"
        assert service.running, service.log_tail()

        start_mongo()
        await wait_drained(infra_urls.nats_url, stream, len(before) + len(during))
        assert service.running
        assert await stored(client["outage"]) == as_lists(expected_documents([*before, *during]))
    finally:
        service.stop()
        await client.close()
        if mongo_server.running:
            mongo_server.stop()
    assert "batch_retry_scheduled" in service.log_tail(200_000)
