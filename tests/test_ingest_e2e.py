"""End to end: the ingestor process against real NATS JetStream, FerretDB and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import re
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from petrosa_common.events import EventType
from petrosa_devtools import infra
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.streams import publish
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.hostile import hostile_frames
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
    wait_drained,
)

pytestmark = pytest.mark.e2e
START_MS = 1_704_067_200_000


@pytest.fixture
async def stream_cleanup(nats_url: str, subject_prefix: str) -> AsyncIterator[None]:
    yield
    await delete_stream(nats_url, subject_prefix.upper())


async def test_random_kill_9s_lose_nothing_and_duplicate_nothing_not_even_dead_letters(
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
        faults=FaultConfig(duplicate_rate=0.02, malformed_rate=0.02),
    ).take(36_000)
    expected = expected_documents(frames)
    malformed = sorted(frame.payload for frame in frames if frame.malformed)
    total = len(frames)
    stream = subject_prefix.upper()
    service = ingestor_process(
        nats_url=infra_urls.nats_url,
        mongodb_url=infra_urls.mongodb_url,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
        # A message in flight at several kills in a row is redelivered each time; this test
        # is about kills, not about giving up on a message (see the max-deliveries test).
        INGEST_MAX_DELIVER="100",
    )
    rng = random.Random(20261202)
    parts = 12
    interrupted = 0
    for part in range(parts):
        chunk = frames[part * total // parts : (part + 1) * total // parts]
        service.start()
        service.wait_ready()  # the stream exists from the first start on
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", (f.payload for f in chunk))
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        service.kill9()
        _, pending, ack_pending = await consumer_state(infra_urls.nats_url, stream)
        interrupted += pending + ack_pending > 0
    assert interrupted >= 10, f"only {interrupted} of {parts} kills interrupted any work"
    print(f"kill -9: {parts} kills, {interrupted} with work in flight or pending")  # pytest -s

    service.start()
    try:
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
    letters = await mongo_db["dead_letters"].find({}, {"payload": 1}).to_list()
    assert sorted(_raw(letter["payload"]) for letter in letters) == malformed


def _raw(payload: str | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else payload.encode()


async def test_hostile_corpus_never_stops_ingestion_and_only_valid_frames_are_stored(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[Document],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
    stream_cleanup: None,
) -> None:
    symbols = ["BTCUSDT", "ETHUSDT"]
    valid = FrameGenerator(symbols, seed=23, start_ms=START_MS).take(6000)
    corpus = list(hostile_frames(valid))
    # Every hostile case several times, spread through the valid stream.
    hostile = [case for _ in range(5) for case in corpus]
    random.Random(5).shuffle(hostile)
    payloads: list[bytes] = [frame.payload for frame in valid]
    for offset, case in enumerate(hostile):
        payloads.insert((offset * 37) % len(payloads), case.payload)
    stream = subject_prefix.upper()
    service = ingestor_process(
        nats_url=infra_urls.nats_url,
        mongodb_url=infra_urls.mongodb_url,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
        INGEST_SYMBOLS=",".join(symbols),
    )
    service.start()
    try:
        service.wait_ready()
        started = time.monotonic()
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", payloads)
        await wait_drained(infra_urls.nats_url, stream, len(payloads))
        drained_in = time.monotonic() - started
        assert service.running, service.log_tail()
        base = f"http://127.0.0.1:{service.env['HEALTH_PORT']}"
        liveness = f"{base}/health/liveness"
        with urllib.request.urlopen(liveness, timeout=5) as response:  # noqa: ASYNC210, S310
            assert orjson.loads(response.read())["status"] == "ok"
        metrics_url = f"http://127.0.0.1:{service.env['METRICS_PORT']}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=5) as response:  # noqa: ASYNC210
            metrics = response.read().decode()
    finally:
        exit_code = service.stop()
    assert exit_code == 0, service.log_tail()
    assert "Traceback" not in service.log_tail(1_000_000)

    assert await stored(mongo_db) == as_lists(expected_documents(valid))
    letters = await mongo_db["dead_letters"].find({}).to_list()
    assert sorted((_raw(doc["payload"]), doc["reason"]) for doc in letters) == sorted(
        (case.payload, case.reason) for case in hostile
    )
    labels = set(re.findall(r'data_manager_messages_received_total\{event_type="([^"]*)"', metrics))
    assert labels <= {*(kind.value for kind in EventType), "unknown"}, labels
    print(  # the figures quoted in the closing note (pytest -s)
        f"hostile corpus: {len(payloads)} frames sent ({len(valid)} valid, {len(hostile)} hostile"
        f" of {len(corpus)} cases), {sum(len(v) for v in expected_documents(valid).values())}"
        f" documents stored, {len(letters)} dead letters, 0 crashes, drained in {drained_in:.1f} s"
    )


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
