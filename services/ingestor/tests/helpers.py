"""Helpers shared by ingestor tests: publishing frames and reading back what was stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import nats
from nats.js.errors import NotFoundError
from petrosa_devtools.streams import natural_key
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, object]


async def wait_stream_count(nats_url: str, stream: str, count: int, timeout: float = 30) -> None:
    """Wait until the JetStream stream holds ``count`` messages."""
    client = await nats.connect(nats_url)
    js = client.jetstream()
    deadline = time.monotonic() + timeout
    try:
        while True:
            info = await js.stream_info(stream)
            if info.state.messages >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"stream {stream} has {info.state.messages} of {count}")
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def wait_consumer_drained(
    nats_url: str, stream: str, durable: str = "data-manager-ingestor", timeout: float = 120
) -> None:
    """Wait until the durable consumer has delivered and seen acknowledged every message."""
    client = await nats.connect(nats_url)
    js = client.jetstream()
    deadline = time.monotonic() + timeout
    last = None
    try:
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(stream, durable)
            except NotFoundError:
                await asyncio.sleep(0.2)
                continue
            last = (info.num_pending, info.num_ack_pending)
            if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"consumer not drained after {timeout} s (pending, ack_pending)={last}"
        )
    finally:
        await client.close()


async def stored_keys(
    db: AsyncDatabase[Document], collections: Iterable[str]
) -> dict[str, list[int]]:
    """Natural keys of every document in ``collections`` (a list: duplicates would show)."""
    stored: dict[str, list[int]] = {}
    for name in collections:
        ids = [doc["_id"] async for doc in db[name].find({}, {"_id": 1})]
        stored[name] = sorted(natural_key(doc_id) for doc_id in ids)
    return stored


async def series_collections(db: AsyncDatabase[Document]) -> set[str]:
    """Every market-series collection in ``db`` (not the coordination ones)."""
    return {name for name in await db.list_collection_names() if name != "dead_letters"}
