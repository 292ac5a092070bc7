"""Ingest benchmark: end-to-end rate vs the raw database rate, and CPU cost per message.

Usage: ``uv run python -m bench.ingest [--messages 40000] [--batch-size 1000]``
(needs the local infrastructure: ``make infra-up``). Prints a table and writes
``bench/results/ingest.json``.

* raw: the documents the ingestor would write for this stream, written straight through
  the driver (unordered bulk insert per collection, then the conditional updates of candles
  and funding that already existed), batch by batch, collections concurrently — the best the
  database can do for this data.
* end to end: publish the same frames to NATS and time until the ingestor process (a real
  ``petrosa-ingestor``, JetStream pull consumer) has acknowledged the last one, which it
  does only after storing it.
* CPU: parse + validate + route + build documents on one core, no database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from petrosa_common.documents import DUPLICATE_KEY_ERROR, newer_update, to_document
from petrosa_devtools import infra
from petrosa_devtools.streams import publish
from petrosa_ingestor.router import route_batch
from petrosa_ingestor.settings import IngestorSettings
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from tests.ingest_support import delete_stream, ingestor_process, wait_drained

Document = dict[str, object]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
START_MS = 1_704_067_200_000


def make_stream(count: int) -> list[bytes]:
    """The fixed mixed stream (seeded: identical on every run)."""
    generator = FrameGenerator(
        SYMBOLS, seed=42, start_ms=START_MS, faults=FaultConfig(duplicate_rate=0.01)
    )
    return [frame.payload for frame in generator.take(count)]


def cpu_rate(payloads: list[bytes], batch_size: int, repeats: int = 3) -> dict[str, float]:
    """Messages per CPU second for parse+validate+route, and with document building too."""
    batches = [payloads[i : i + batch_size] for i in range(0, len(payloads), batch_size)]
    now = datetime.now(UTC)
    best_route = best_full = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        routed = [route_batch(batch) for batch in batches]
        route_seconds = time.process_time() - started
        for batch in routed:
            for ops in batch.ops_by_collection.values():
                for op in ops.values():
                    to_document(op, now)
        best_route = min(best_route, route_seconds)
        best_full = min(best_full, time.process_time() - started)
    return {
        "route_msgs_per_cpu_second": len(payloads) / best_route,
        "route_and_documents_msgs_per_cpu_second": len(payloads) / best_full,
        "cpu_microseconds_per_message": best_full / len(payloads) * 1e6,
    }


async def raw_write(mongodb_url: str, payloads: list[bytes], batch_size: int) -> dict[str, float]:
    """Write the ingestor's documents for ``payloads`` straight through the driver."""
    now = datetime.now(UTC)
    prepared = []
    for i in range(0, len(payloads), batch_size):
        routed = route_batch(payloads[i : i + batch_size])
        prepared.append(
            {
                name: [(op, to_document(op, now)) for op in ops.values()]
                for name, ops in routed.ops_by_collection.items()
            }
        )
    documents = sum(len(ops) for batch in prepared for ops in batch.values())
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db_name = f"bench_raw_{os.getpid()}"
    db = client[db_name]

    async def write(name: str, pairs: list[tuple[object, Document]]) -> None:
        try:
            await db[name].insert_many([doc for _, doc in pairs], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details["writeErrors"]:
                assert error["code"] == DUPLICATE_KEY_ERROR, error
                op, doc = pairs[error["index"]]
                if op.version is not None:  # type: ignore[attr-defined]
                    query, update = newer_update(op, doc)  # type: ignore[arg-type]
                    await db[name].update_one(query, update)

    try:
        started = time.perf_counter()
        for batch in prepared:
            await asyncio.gather(*(write(name, pairs) for name, pairs in batch.items()))
        seconds = time.perf_counter() - started
    finally:
        await client.drop_database(db_name)
        await client.close()
    return {
        "seconds": seconds,
        "documents": documents,
        "msgs_per_second": len(payloads) / seconds,
        "documents_per_second": documents / seconds,
    }


async def end_to_end(
    urls: infra.InfraUrls, payloads: list[bytes], batch_size: int, inflight: int
) -> dict[str, float]:
    """Publish to NATS and time until the ingestor process has stored and acknowledged all."""
    prefix = f"bench{os.getpid()}"
    db_name = f"bench_e2e_{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        service = ingestor_process(
            nats_url=urls.nats_url,
            mongodb_url=urls.mongodb_url,
            database=db_name,
            postgres_url=urls.postgres_url,
            prefix=prefix,
            log=Path(folder) / "ingestor.log",
            INGEST_BATCH_SIZE=str(batch_size),
            INGEST_MAX_INFLIGHT_BATCHES=str(inflight),
            INGEST_ACK_WAIT_SECONDS="30",
            LOG_LEVEL="WARNING",
        )
        service.start()
        client: AsyncMongoClient[Document] = AsyncMongoClient(urls.mongodb_url)
        try:
            service.wait_ready()
            started = time.perf_counter()
            await publish(urls.nats_url, f"{prefix}.data", payloads)
            published = time.perf_counter() - started
            await wait_drained(urls.nats_url, prefix.upper(), len(payloads), timeout=900)
            seconds = time.perf_counter() - started
        finally:
            service.stop()
            await delete_stream(urls.nats_url, prefix.upper())
            await client.drop_database(db_name)
            await client.close()
    return {
        "seconds": seconds,
        "publish_seconds": published,
        "msgs_per_second": len(payloads) / seconds,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    default_inflight = IngestorSettings.model_fields["ingest_max_inflight_batches"].default
    parser.add_argument(
        "--inflight", type=int, default=default_inflight, help="INGEST_MAX_INFLIGHT_BATCHES"
    )
    parser.add_argument("--output", type=Path, default=Path("bench/results/ingest.json"))
    args = parser.parse_args()

    urls = infra.read_env() or infra.configured_urls()
    payloads = make_stream(args.messages)
    cpu = cpu_rate(payloads, args.batch_size)
    raw = await raw_write(urls.mongodb_url, payloads, args.batch_size)
    e2e = await end_to_end(urls, payloads, args.batch_size, args.inflight)
    ratio = e2e["msgs_per_second"] / raw["msgs_per_second"]
    result = {
        "benchmark": "ingest",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "mongodb_url": urls.mongodb_url,
        "messages": args.messages,
        "batch_size": args.batch_size,
        "inflight_batches": args.inflight,
        "cpu": cpu,
        "raw_database": raw,
        "end_to_end": e2e,
        "ratio_end_to_end_over_raw": ratio,
        "goals": {"ratio": 0.8, "cpu_msgs_per_second": 50_000},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"messages                      {args.messages} ({raw['documents']} distinct documents)")
    print(f"CPU parse+validate+route      {cpu['route_msgs_per_cpu_second']:,.0f} msg/s (one core)")
    print(
        f"CPU ... + build documents     {cpu['route_and_documents_msgs_per_cpu_second']:,.0f} msg/s"
        f" ({cpu['cpu_microseconds_per_message']:.1f} us/msg)"
    )
    for label, figures in (("raw database write", raw), ("end to end (publish->stored)", e2e)):
        rate, seconds = figures["msgs_per_second"], figures["seconds"]
        print(f"{label:<29} {rate:,.0f} msg/s ({seconds:.2f} s)")
    print(f"ratio end-to-end / raw        {ratio:.2f} (goal >= 0.8)")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
