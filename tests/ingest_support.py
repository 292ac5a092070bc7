"""Support for ingest end-to-end tests: the ingestor as a process, NATS polling, read-back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

import nats
from nats.js.errors import NotFoundError
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.streams import natural_key, publish
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, object]
DURABLE = "data-manager-ingestor"


def ingestor_process(
    *,
    nats_url: str,
    mongodb_url: str,
    database: str,
    postgres_url: str,
    prefix: str,
    log: Path,
    **extra: str,
) -> ServiceProcess:
    """An ingestor process bound to this test's database, subject and stream."""
    env = {
        "NATS_URL": nats_url,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DATABASE": database,
        "POSTGRES_URL": postgres_url,
        "NATS_CONSUMER_SUBJECT": f"{prefix}.data",
        "NATS_STREAM_NAME": prefix.upper(),
        "NATS_STREAM_MAX_BYTES": str(256 * 1024**2),
        "HEALTH_PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "INGEST_BATCH_SIZE": "500",
        "INGEST_ACK_WAIT_SECONDS": "3",
        "INGEST_RETRY_INITIAL_BACKOFF": "0.1",
        "INGEST_RETRY_MAX_BACKOFF": "1",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    return ServiceProcess.python_module("petrosa_ingestor", env, log)


async def consumer_state(nats_url: str, stream: str) -> tuple[int, int, int]:
    """``(acknowledged floor, pending, ack pending)`` of the ingestor's durable consumer."""
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().consumer_info(stream, DURABLE)
        return info.ack_floor.stream_seq or 0, info.num_pending or 0, info.num_ack_pending or 0
    finally:
        await client.close()


async def wait_acked(nats_url: str, stream: str, at_least: int, timeout: float = 120) -> None:
    """Wait until the consumer's acknowledged floor reaches ``at_least``."""
    deadline = time.monotonic() + timeout
    state = (0, 0, 0)
    while time.monotonic() < deadline:
        try:
            state = await consumer_state(nats_url, stream)
        except NotFoundError:
            state = (0, 0, 0)
        if state[0] >= at_least:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"acked floor {state[0]} < {at_least} after {timeout} s: {state}")


async def wait_drained(nats_url: str, stream: str, total: int, timeout: float = 180) -> None:
    """Wait until all ``total`` stream messages are acknowledged and nothing is pending."""
    deadline = time.monotonic() + timeout
    state = (0, 0, 0)
    while time.monotonic() < deadline:
        state = await consumer_state(nats_url, stream)
        if state == (total, 0, 0):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"not drained after {timeout} s: (ack floor, pending, ack pending)={state}"
    )


async def stored(db: AsyncDatabase[Document]) -> dict[str, list[int]]:
    """Natural keys (sorted, repeats kept) of every market-series collection in ``db``."""
    result: dict[str, list[int]] = {}
    for name in await db.list_collection_names():
        if name == "dead_letters":
            continue
        ids = [doc["_id"] async for doc in db[name].find({}, {"_id": 1})]
        result[name] = sorted(natural_key(doc_id) for doc_id in ids)
    return result


def as_lists(expected: dict[str, set[int]]) -> dict[str, list[int]]:
    """Expected keys in the shape :func:`stored` returns."""
    return {name: sorted(keys) for name, keys in expected.items()}


async def delete_stream(nats_url: str, stream: str) -> None:
    """Give the stream's reserved storage back."""
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().delete_stream(stream)
    except NotFoundError:
        pass
    finally:
        await client.close()


async def ingest_all(
    payloads: Iterable[bytes],
    count: int,
    *,
    infra: InfraUrls,
    database: str,
    postgres_url: str,
    prefix: str,
    log: Path,
) -> None:
    """Publish ``count`` payloads to a fresh ingestor process, wait until every one is stored
    and acknowledged, stop the ingestor and delete its stream."""
    ingestor = ingestor_process(
        nats_url=infra.nats_url,
        mongodb_url=infra.mongodb_url,
        database=database,
        postgres_url=postgres_url,
        prefix=prefix,
        log=log,
    )
    ingestor.start()
    try:
        ingestor.wait_ready()
        await publish(infra.nats_url, f"{prefix}.data", payloads)
        await wait_drained(infra.nats_url, prefix.upper(), count)
    finally:
        ingestor.stop()
        await delete_stream(infra.nats_url, prefix.upper())
