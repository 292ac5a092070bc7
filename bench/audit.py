"""Audit benchmark: one full cycle over 8 symbols x 6 timeframes x 24 h of candles.

Usage: ``uv run python -m bench.audit`` (needs ``make infra-up``). Seeds 14,840 candles
(1m: 1,440 per symbol) with a few gaps and duplicates, then times complete audit cycles —
reading timestamps, gap and duplicate detection, health scores, and the PostgreSQL writes
(health history, known gaps, audit log, catalog, cycle record) — as the leader would run them.
The auditor design expects 30-60 s per cycle; the goal here is < 2 s. Prints a table and writes
``bench/results/audit.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from petrosa_auditor.catalog_refresh import refresh_record_counts
from petrosa_auditor.cycle import AuditCycle
from petrosa_auditor.service import NatsPublisher
from petrosa_auditor.settings import AuditorSettings
from petrosa_common.documents import event_writes, to_document
from petrosa_common.events import Kline
from petrosa_common.leases import LeaderElector
from petrosa_common.postgres import apply_migrations, create_pg_pool
from petrosa_devtools import infra
from pymongo import ASCENDING

from bench.scratch import scratch_databases

SYMBOLS = [f"{name}USDT" for name in ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "AVAX")]
TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
NOW = datetime(2024, 6, 2, 0, 0, 20, tzinfo=UTC)
END = datetime(2024, 6, 2, tzinfo=UTC)


def candles(symbol: str, timeframe: str) -> list[dict[str, Any]]:
    seconds = TIMEFRAMES[timeframe]
    count = 86_400 // seconds
    docs = []
    for i in range(count):
        if timeframe == "1m" and symbol == "BTCUSDT" and 600 <= i < 630:
            continue  # a 30-minute gap
        opened = END - timedelta(seconds=seconds * (count - i))
        open_ms = int(opened.timestamp() * 1000)
        kline = Kline(
            symbol,
            timeframe,
            opened,
            opened + timedelta(seconds=seconds - 1),
            1.0,
            2.0,
            0.5,
            1.5,
            10.0,
            15.0,
            3,
            5.0,
            7.5,
            True,
            open_ms + seconds * 1000,
            open_ms,
        )
        docs.append(to_document(event_writes(kline)[0], opened + timedelta(seconds=seconds)))
    return docs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench/results/audit.json"))
    args = parser.parse_args()
    urls = infra.read_env() or infra.configured_urls()
    async with scratch_databases(urls, f"bench_audit_{uuid.uuid4().hex[:8]}") as scratch:
        db = scratch.mongo[scratch.name]
        pool = await create_pg_pool(scratch.postgres_url)
        nc = await nats.connect(urls.nats_url)
        try:
            await apply_migrations(pool)
            seeded = 0
            for symbol in SYMBOLS:
                for timeframe in TIMEFRAMES:
                    docs = candles(symbol, timeframe)
                    collection = db[f"candles_{symbol}_{timeframe}"]
                    await collection.insert_many(docs)
                    await collection.create_index([("timestamp", ASCENDING)])
                    seeded += len(docs)
            await db["candles_ETHUSDT_1m"].insert_one(
                {**candles("ETHUSDT", "1m")[100], "_id": "legacy-copy"}
            )
            settings = AuditorSettings(
                supported_pairs=SYMBOLS,
                audit_timeframes=list(TIMEFRAMES),
                audit_lookback=86_400,
                enable_leader_election=False,
            )
            elector = LeaderElector(db, role="auditor", pod_id="bench", enabled=False)
            cycle = AuditCycle(
                db=db,
                pool=pool,
                publisher=NatsPublisher(nc),
                settings=settings,
                verify_leadership=elector.verify,
                pod_id="bench",
            )
            durations: list[float] = []
            records = []
            for i in range(args.cycles):
                started = time.perf_counter()
                records.append(await cycle.run(now=NOW + timedelta(seconds=i)))
                durations.append(time.perf_counter() - started)
            started = time.perf_counter()
            await refresh_record_counts(
                db,
                pool,
                [f"candles_{s}_{tf}" for s in SYMBOLS for tf in TIMEFRAMES],
                concurrency=settings.audit_concurrency,
                verify_leadership=elector.verify,
            )
            count_seconds = time.perf_counter() - started
        finally:
            await nc.close()
            await pool.close()
    first = records[0]
    result = {
        "benchmark": "audit",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "series": len(SYMBOLS) * len(TIMEFRAMES),
        "candles": seeded,
        "first_cycle_seconds": durations[0],
        "record_count_refresh_seconds": count_seconds,
        "record_count_refresh_note": "separate leader job after a cycle, every "
        "AUDIT_COUNT_REFRESH_SECONDS; O(1) on MongoDB, a full scan on FerretDB",
        "cycle_seconds": durations,
        "found": {
            "gaps": first["gaps"],
            "duplicates": first["duplicates"],
            "datasets_audited": first["datasets_audited"],
            "errors": first["errors"],
        },
        "goal_seconds": 2.0,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"series        {result['series']} ({len(SYMBOLS)} symbols x {len(TIMEFRAMES)} timeframes)"
    )
    print(f"candles       {seeded} (24 h; 1m: 1,440 per symbol)")
    print(
        f"found         {first['gaps']} gaps, {first['duplicates']} duplicates, "
        f"{first['errors']} errors"
    )
    print("cycle seconds " + ", ".join(f"{d:.2f}" for d in durations) + "  (goal < 2)")
    print(
        f"count refresh {count_seconds:.2f} s (separate leader job, every "
        "AUDIT_COUNT_REFRESH_SECONDS: 48 total record counts; a full scan on FerretDB, "
        "O(1) on MongoDB)"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
