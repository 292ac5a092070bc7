"""The ingestor against real NATS JetStream, FerretDB and PostgreSQL (in-process service)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import nats
import orjson
import psycopg
import pytest
from petrosa_devtools.streams import publish
from petrosa_ingestor.pipeline import WorkerDied
from petrosa_ingestor.processor import BatchProcessor
from petrosa_ingestor.service import run
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.truth import expected_documents
from pymongo.asynchronous.database import AsyncDatabase
from structlog.testing import capture_logs

from .conftest import SettingsFactory, running_ingestor
from .helpers import (
    Document,
    series_collections,
    stored_keys,
    wait_consumer_drained,
    wait_stream_count,
)

pytestmark = pytest.mark.integration
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def clean_frames(count: int, seed: int = 1) -> list[bytes]:
    generator = FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=seed, start_ms=START_MS)
    return [frame.payload for frame in generator.take(count)]


async def test_same_messages_published_twice_store_no_duplicates(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], nats_url: str
) -> None:
    generator = FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=7, start_ms=START_MS)
    frames = generator.take(3000)
    expected = expected_documents(frames)
    settings = make_settings()
    async with running_ingestor(settings):
        payloads = [frame.payload for frame in frames]
        await publish(nats_url, settings.nats_consumer_subject, payloads)
        await publish(nats_url, settings.nats_consumer_subject, payloads)
        await wait_stream_count(nats_url, settings.nats_stream_name, 6000)
        await wait_consumer_drained(nats_url, settings.nats_stream_name)
    stored = await stored_keys(mongo_db, expected)
    assert {name: sorted(keys) for name, keys in expected.items()} == stored
    assert await series_collections(mongo_db) == set(expected)


async def test_malformed_messages_are_dead_lettered_and_ingestion_goes_on(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], nats_url: str
) -> None:
    generator = FrameGenerator(
        ["BTCUSDT"], seed=3, start_ms=START_MS, faults=FaultConfig(malformed_rate=0.05)
    )
    frames = generator.take(2000)
    malformed = [frame for frame in frames if frame.malformed]
    assert len(malformed) > 40
    settings = make_settings()
    async with running_ingestor(settings) as task:
        await publish(nats_url, settings.nats_consumer_subject, [f.payload for f in frames])
        await wait_consumer_drained(nats_url, settings.nats_stream_name)
        assert not task.done()
        # Still running: a later, valid stream is stored too.
        later = FrameGenerator(["SOLUSDT"], seed=4, start_ms=START_MS).take(300)
        await publish(nats_url, settings.nats_consumer_subject, [f.payload for f in later])
        await wait_stream_count(nats_url, settings.nats_stream_name, 2300)
        await wait_consumer_drained(nats_url, settings.nats_stream_name)
        liveness = f"http://127.0.0.1:{settings.health_port}/health/liveness"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(liveness, timeout=5).read())
        assert orjson.loads(body)["status"] == "ok"

    letters = await mongo_db["dead_letters"].find({}).to_list()
    assert sorted(letter["payload"] for letter in letters) == sorted(
        frame.payload.decode() for frame in malformed
    )
    assert all(letter["reason"] and letter["detail"] for letter in letters)
    expected = expected_documents([*frames, *later])
    stored = await stored_keys(mongo_db, expected)
    assert {name: sorted(keys) for name, keys in expected.items()} == stored


async def test_new_collections_are_registered_in_the_catalog(
    make_settings: SettingsFactory,
    nats_url: str,
    postgres_url: str,
    mongo_db: AsyncDatabase[Document],
) -> None:
    frames = FrameGenerator(["BTCUSDT"], seed=5, start_ms=START_MS).take(1500)
    expected = expected_documents(frames)
    settings = make_settings()
    async with running_ingestor(settings):
        await publish(nats_url, settings.nats_consumer_subject, [f.payload for f in frames])
        await wait_consumer_drained(nats_url, settings.nats_stream_name)
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("SELECT id, kind, symbol, timeframe, storage FROM datasets")
        rows = await cursor.fetchall()
    assert {row[0] for row in rows} == set(expected)
    candles = [row for row in rows if row[1] == "candles"]
    assert candles
    assert all(row[2] == "BTCUSDT" and row[3] and row[4] == "mongodb" for row in candles)
    indexes = await mongo_db["candles_BTCUSDT_1m"].index_information()
    assert "timestamp_1" in indexes


async def test_core_mode_stores_messages_through_a_queue_group(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], nats_url: str
) -> None:
    frames = FrameGenerator(["ETHUSDT"], seed=9, start_ms=START_MS).take(1000)
    expected = expected_documents(frames)
    settings = make_settings(ingest_mode="core")
    async with running_ingestor(settings):
        await publish(nats_url, settings.nats_consumer_subject, [f.payload for f in frames])
        total = sum(len(keys) for keys in expected.values())
        for _ in range(100):
            stored = await stored_keys(mongo_db, expected)
            if sum(len(keys) for keys in stored.values()) >= total:
                break
            await asyncio.sleep(0.2)
    stored = await stored_keys(mongo_db, expected)
    assert {name: sorted(keys) for name, keys in expected.items()} == stored


async def test_not_ready_until_consuming_and_stops_cleanly_during_startup(
    make_settings: SettingsFactory, nats_url: str, subject_prefix: str
) -> None:
    settings = make_settings()
    # Another stream already owns the subject, so the ingestor's stream can never be created.
    client = await nats.connect(nats_url)
    js = client.jetstream()
    other = f"OTHER_{subject_prefix.upper()}"
    await js.add_stream(name=other, subjects=[settings.nats_consumer_subject], max_bytes=1024**2)
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings, stop))
        url = f"http://127.0.0.1:{settings.health_port}/health/readiness"
        readiness = None
        for _ in range(50):
            await asyncio.sleep(0.2)
            readiness = await asyncio.to_thread(_get, url)
            if readiness is not None:
                break
        assert readiness is not None, "the health server never answered"
        status, body = readiness
        assert status == 503
        assert body["status"] == "unhealthy"
        assert body["components"]["consumer"]["status"] == "error"
        assert body["components"]["mongodb"]["status"] == "ok"
        stop.set()
        await asyncio.wait_for(task, 15)  # returns, no exception
    finally:
        await js.delete_stream(other)
        await client.close()


def _get(url: str) -> tuple[int, dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())
    except OSError:
        return None


async def test_a_message_delivered_too_often_is_dead_lettered_unread_and_terminated(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], nats_url: str
) -> None:
    settings = make_settings(ingest_max_deliver=3)
    frame = FrameGenerator(["BTCUSDT"], seed=12, start_ms=START_MS).take(1)[0]
    async with running_ingestor(settings):
        pass  # creates the stream and the durable consumer
    await publish(nats_url, settings.nats_consumer_subject, [frame.payload])
    # Three deliveries that never settle, as three crashed ingestors would leave it.
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        subscription = await js.pull_subscribe(
            settings.nats_consumer_subject,
            durable=settings.nats_durable_name,
            stream=settings.nats_stream_name,
        )
        for delivery in range(1, 4):
            (message,) = await subscription.fetch(1, timeout=10)
            assert message.metadata.num_delivered == delivery
            await message.nak()
    finally:
        await client.close()

    async with running_ingestor(settings):
        await wait_consumer_drained(nats_url, settings.nats_stream_name)
    letters = await mongo_db["dead_letters"].find({}).to_list()
    assert [(letter["reason"], letter["delivery_count"]) for letter in letters] == [
        ("max_deliveries", 4)
    ]
    assert letters[0]["payload"] == frame.payload.decode()
    assert await series_collections(mongo_db) == set()  # never parsed, never stored


async def test_a_dying_worker_stops_the_ingestor_at_once_with_its_traceback(
    make_settings: SettingsFactory,
    nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(self: BatchProcessor, messages: object) -> int:
        raise RuntimeError("a bug in the batch path")

    settings = make_settings()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    readiness = f"http://127.0.0.1:{settings.health_port}/health/readiness"
    while (answer := await asyncio.to_thread(_get, readiness)) is None or answer[0] != 200:
        assert not task.done()
        await asyncio.sleep(0.1)
    monkeypatch.setattr(BatchProcessor, "process", broken)
    frames = FrameGenerator(["BTCUSDT"], seed=13, start_ms=START_MS).take(10)
    with capture_logs() as logs:
        await publish(nats_url, settings.nats_consumer_subject, [f.payload for f in frames])
        started = asyncio.get_running_loop().time()
        with pytest.raises(WorkerDied, match="a bug in the batch path"):
            await asyncio.wait_for(task, 15)
    assert asyncio.get_running_loop().time() - started < 10
    deaths = [entry for entry in logs if entry["event"] == "ingest_worker_died"]
    assert deaths
    assert deaths[0]["exc_info"]
