"""API benchmark: /data/candles?limit=1000 through the gateway vs the raw driver.

Usage: ``uv run python -m bench.api [--requests 300] [--concurrency 8]`` (needs
``make infra-up``). Prints a table and writes ``bench/results/api.json``.

Both sides do the same work for one request: count the matching candles (pagination total),
read the newest 1,000 with a projection, and serialise them to JSON. The raw side does it with
pymongo + orjson in this process; the gateway side is a real ``petrosa-gateway`` process (uvicorn)
answering HTTP requests from this process. Same data, same server, same concurrency, same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from petrosa_common.documents import event_writes, to_document
from petrosa_common.events import Kline
from petrosa_devtools import infra
from petrosa_devtools.processes import ServiceProcess, free_port
from pymongo import DESCENDING, AsyncMongoClient

Document = dict[str, Any]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trades_count")


async def seed(db: Any, count: int) -> None:
    """``count`` closed 1m candles of BTCUSDT, as the ingestor stores them."""
    docs = []
    for i in range(count):
        open_ms = int((T0 + timedelta(minutes=i)).timestamp() * 1000)
        kline = Kline(
            "BTCUSDT",
            "1m",
            T0 + timedelta(minutes=i),
            T0 + timedelta(minutes=i, seconds=59),
            100.0 + i,
            101.0 + i,
            99.0 + i,
            100.5 + i,
            12.5,
            1250.0,
            42,
            6.0,
            600.0,
            True,
            open_ms + 60_000,
            open_ms,
        )
        docs.extend(to_document(op, T0) for op in event_writes(kline))
    await db["candles_BTCUSDT_1m"].insert_many(docs)


def summarise(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "requests_per_second": len(ordered) / seconds,
    }


async def run_load(one: Any, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            started = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarise(latencies, time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--candles", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=Path("bench/results/api.json"))
    args = parser.parse_args()
    urls = infra.read_env() or infra.configured_urls()
    db_name = f"bench_api_{os.getpid()}"
    client: AsyncMongoClient[Document] = AsyncMongoClient(urls.mongodb_url, tz_aware=True)
    db = client[db_name]
    await seed(db, args.candles)
    collection = db["candles_BTCUSDT_1m"]
    projection = {"_id": 0, "timestamp": 1, **dict.fromkeys(FIELDS, 1)}

    async def raw_once() -> None:
        total = await collection.count_documents({})
        docs = (
            await collection.find({}, projection)
            .sort("timestamp", DESCENDING)
            .limit(1000)
            .to_list()
        )
        data = [{"timestamp": d["timestamp"], **{f: d.get(f) for f in FIELDS}} for d in docs]
        body = orjson.dumps(
            {"pair": "BTCUSDT", "period": "1m", "data": data, "pagination": {"total": total}},
            option=orjson.OPT_UTC_Z,
        )
        assert len(data) == 1000
        assert body

    port = free_port()
    folder = tempfile.mkdtemp()
    gateway = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            **urls.as_env(),
            "MONGODB_DATABASE": db_name,
            "API_PORT": str(port),
            "METRICS_PORT": "0",
            "NATS_QUERY_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        },
        Path(folder) / "gateway.log",
    )
    gateway.start()
    url = f"http://127.0.0.1:{port}/data/candles"
    params = {"pair": "BTCUSDT", "period": "1m", "limit": 1000}
    try:
        gateway.wait_until(lambda: _answers(f"http://127.0.0.1:{port}/health/liveness"))
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:

            async def gateway_once() -> None:
                response = await http.get(url, params=params)
                assert response.status_code == 200
                assert len(orjson.loads(response.content)["data"]) == 1000

            for _ in range(10):  # warm both paths
                await raw_once()
                await gateway_once()
            raw = await run_load(raw_once, args.requests, args.concurrency)
            api = await run_load(gateway_once, args.requests, args.concurrency)
    finally:
        gateway.stop()
        await client.drop_database(db_name)
        await client.close()
    ratio = api["p50_ms"] / raw["p50_ms"]
    result = {
        "benchmark": "api",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "endpoint": "/data/candles?pair=BTCUSDT&period=1m&limit=1000",
        "concurrency": args.concurrency,
        "raw_driver": raw,
        "gateway": api,
        "ratio_gateway_p50_over_raw_p50": ratio,
        "ratio_raw_rps_over_gateway_rps": raw["requests_per_second"] / api["requests_per_second"],
        "goal": "gateway time <= 1.3 x raw",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"endpoint      {result['endpoint']}  (concurrency {args.concurrency})")
    for label, figures in (("raw driver", raw), ("gateway", api)):
        print(
            f"{label:<13} p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms  "
            f"{figures['requests_per_second']:7.1f} req/s"
        )
    print(f"ratio         gateway p50 / raw p50 = {ratio:.2f} (goal <= 1.3)")
    print(f"wrote {args.output}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    asyncio.run(main())
