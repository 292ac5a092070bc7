"""Schema validation benchmark: 10,000 candles through ``POST /api/v1/mongodb/{coll}`` with
``?schema=candle_v1&validate=true`` vs the plain insert, and the validator's throughput.

Usage: ``uv run python -m bench.schemas [--candles 10000] [--batch 1000] [--rounds 3]``
(needs ``make infra-up``). Prints a table and writes ``bench/results/schemas.json``.

One real ``petrosa-gateway`` process (uvicorn, dev mode) and the same candles for both sides;
each round writes them into a fresh collection per side, plain and validated alternating so
neither gets a warmer server; the median round counts. The throughput figures are
``validate_records`` (fast verdict + detailed errors for the invalid) and ``all_valid`` on
the same records in this process. Goal: validation adds at most 25 % to the insert time.
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
from petrosa_devtools import infra
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_gateway.registry.common_schemas import CANDLE
from petrosa_gateway.schemas import all_valid, validate_records
from pymongo import AsyncMongoClient

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def candles(count: int) -> list[dict[str, Any]]:
    """``count`` 1m BTCUSDT candles as a client sends them (ISO-8601 times)."""
    return [
        {
            "symbol": "BTCUSDT",
            "timeframe": "1m",
            "timestamp": (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "open": 100.0 + i % 50,
            "high": 101.0 + i % 50,
            "low": 99.0 + i % 50,
            "close": 100.5 + i % 50,
            "volume": 12.5,
            "quote_volume": 1250.0,
            "trades_count": 42,
            "is_closed": True,
            "source": "api",
        }
        for i in range(count)
    ]


async def insert_all(
    http: httpx.AsyncClient, url: str, records: list[dict[str, Any]], batch: int, params: Any
) -> float:
    """Seconds to insert ``records`` in batches of ``batch``, one request after another."""
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        response = await http.post(
            url, params=params, json={"data": records[start : start + batch]}
        )
        assert response.status_code == 201, response.text[:300]
    return time.perf_counter() - started


def throughput(records: list[dict[str, Any]]) -> dict[str, float]:
    """Records per second of validate_records and all_valid (best of 5, schema compiled)."""
    validate_records(CANDLE.schema, records[:1])
    figures = {}
    for label, run in (
        ("validate_records", lambda: validate_records(CANDLE.schema, records)),
        ("all_valid", lambda: all_valid(CANDLE.schema, records)),
    ):
        best = min(_timed(run) for _ in range(5))
        figures[f"{label}_records_per_second"] = round(len(records) / best)
    return figures


def _timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench/results/schemas.json"))
    args = parser.parse_args()
    urls = infra.read_env() or infra.configured_urls()
    db_name = f"bench_schemas_{os.getpid()}"
    records = candles(args.candles)
    port = free_port()
    gateway = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            **urls.as_env(),
            "MONGODB_DATABASE": db_name,
            "API_PORT": str(port),
            "METRICS_PORT": "0",
            "NATS_QUERY_ENABLED": "false",
            "API_DEV_MODE": "true",
            "LOG_LEVEL": "WARNING",
        },
        Path(tempfile.mkdtemp()) / "gateway.log",
    )
    base = f"http://127.0.0.1:{port}"
    plain: list[float] = []
    checked: list[float] = []
    gateway.start()
    try:
        gateway.wait_until(lambda: _answers(f"{base}/health/liveness"))
        async with httpx.AsyncClient(timeout=120) as http:
            boot = await http.post(f"{base}/schemas/bootstrap", json={"database": "mongodb"})
            assert boot.status_code == 200, boot.text
            params = {"schema": "candle_v1", "validate": "true"}
            await insert_all(
                http, f"{base}/api/v1/mongodb/candles_WARM_1m", records[:2000], args.batch, params
            )
            for n in range(args.rounds):
                plain.append(
                    await insert_all(
                        http, f"{base}/api/v1/mongodb/candles_P{n}_1m", records, args.batch, None
                    )
                )
                checked.append(
                    await insert_all(
                        http, f"{base}/api/v1/mongodb/candles_V{n}_1m", records, args.batch, params
                    )
                )
    finally:
        gateway.stop()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(urls.mongodb_url)
        await client.drop_database(db_name)
        await client.close()
    plain_s, checked_s = statistics.median(plain), statistics.median(checked)
    overhead = checked_s / plain_s - 1
    result = {
        "benchmark": "schemas",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "candles": args.candles,
        "batch": args.batch,
        "rounds": args.rounds,
        "plain_insert_seconds": [round(s, 3) for s in plain],
        "validated_insert_seconds": [round(s, 3) for s in checked],
        "validation_overhead": round(overhead, 4),
        "goal": "validation adds <= 25 % to the insert time",
        **throughput(records),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"candles       {args.candles} in batches of {args.batch}, median of {args.rounds} rounds"
    )
    print(f"plain insert  {plain_s:6.2f} s  ({args.candles / plain_s:8.0f} records/s)")
    print(f"validated     {checked_s:6.2f} s  ({args.candles / checked_s:8.0f} records/s)")
    print(f"overhead      {overhead * 100:+.1f} % (goal <= +25 %)")
    print(
        f"validator     validate_records {result['validate_records_records_per_second']:,}"
        f" records/s, all_valid {result['all_valid_records_per_second']:,} records/s"
    )
    print(f"wrote {args.output}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    asyncio.run(main())
