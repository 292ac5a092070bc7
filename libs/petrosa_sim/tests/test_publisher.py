"""publish() against a real nats-server."""

from __future__ import annotations

import asyncio
import io
import time

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from petrosa_common.nats import sync_with_server
from petrosa_sim import FaultConfig, Frame, FrameGenerator, publish

START_MS = 1_700_000_000_000


async def _collect(url: str, subject: str) -> tuple[Client, list[bytes]]:
    client = await nats.connect(url)
    received: list[bytes] = []

    async def on_message(message: Msg) -> None:
        received.append(message.data)

    await client.subscribe(subject, cb=on_message)
    await sync_with_server(client)
    return client, received


async def _wait_for(received: list[bytes], count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def test_publish_delivers_every_frame_in_order(sim_nats_url: str) -> None:
    subject = "sim.test.count"
    client, received = await _collect(sim_nats_url, subject)
    faults = FaultConfig(duplicate_rate=0.05, malformed_rate=0.05)
    frames = FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=1, start_ms=START_MS, faults=faults)
    sent = frames.take(200)
    try:
        stats = await publish(sim_nats_url, subject, sent, count=200)
        await _wait_for(received, 200)
    finally:
        await client.close()
    assert len(received) == 200
    assert received == [f.payload for f in sent]
    assert stats.published == 200
    assert sum(stats.by_kind.values()) == 200
    assert stats.duplicates == sum(f.duplicate for f in sent)
    assert stats.malformed == sum(f.malformed for f in sent)
    assert stats.bytes == sum(len(f.payload) for f in sent)
    assert stats.as_dict()["messages_published"] == 200


async def test_publish_stops_at_count_on_an_endless_generator(sim_nats_url: str) -> None:
    subject = "sim.test.endless"
    client, received = await _collect(sim_nats_url, subject)
    generator = FrameGenerator(["SOLUSDT"], seed=3, start_ms=START_MS)
    try:
        stats = await publish(sim_nats_url, subject, generator, count=5_000)
        await _wait_for(received, 5_000)
        await asyncio.sleep(0.1)
    finally:
        await client.close()
    assert stats.published == len(received) == 5_000


async def test_publish_keeps_to_the_rate(sim_nats_url: str) -> None:
    generator = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS)
    stats = await publish(sim_nats_url, "sim.test.rate", generator, rate=400, count=200)
    assert stats.published == 200
    assert 0.4 < stats.elapsed < 1.5  # 200 messages at 400/s take half a second


async def test_publish_stops_after_duration(sim_nats_url: str) -> None:
    generator = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS)
    stats = await publish(sim_nats_url, "sim.test.duration", generator, rate=200, duration=0.5)
    assert 80 <= stats.published <= 120
    assert stats.elapsed < 1.5


async def test_publish_stops_when_asked(sim_nats_url: str) -> None:
    generator = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    stats = await publish(sim_nats_url, "sim.test.stop", generator, rate=1_000, stop=stop)
    assert 150 <= stats.published <= 600


async def test_publish_ends_with_a_finite_generator(sim_nats_url: str) -> None:
    frames: list[Frame] = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS).take(10)
    stats = await publish(sim_nats_url, "sim.test.finite", frames)
    assert stats.published == 10
    assert stats.first_time_ms == frames[0].time_ms
    assert stats.last_time_ms == frames[-1].time_ms


async def test_publish_reports_progress_when_asked(sim_nats_url: str) -> None:
    generator = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS)
    out = io.StringIO()
    await publish(
        sim_nats_url,
        "sim.test.progress",
        generator,
        rate=500,
        duration=1.3,
        progress=True,
        progress_stream=out,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("petrosa-sim: ") for line in lines)


async def test_publish_refuses_a_non_positive_rate(sim_nats_url: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        await publish(sim_nats_url, "sim.test.bad", [], rate=0)
