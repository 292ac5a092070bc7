"""Backfill benchmark: 30 days of 1m klines for 4 symbols from the fake Binance (a real HTTP
server process) into FerretDB, through the job queue in PostgreSQL and the job runner.

Usage: ``uv run python -m bench.backfill`` (needs ``make infra-up``). Two phases:

* **throughput**: the issue's workload against a fake with Binance's 2,400/min weight limit and
  the default budget (``BINANCE_WEIGHT_BUDGET`` 2,000): wall time, requests, weight per minute,
  429s, candles written per second.
* **budget-bound**: the 30-day workload costs about 1,160 weight, less than one minute of a
  2,400/min limit, so the budget is never the bottleneck there. This phase gives the client a
  budget equal to the fake's limit (``--bound-budget``, default Binance's 2,400/min) and a
  workload long enough to span several minutes (``--bound-days``, default 180 days of the same
  4 symbols): the weight used in every full minute versus the budget (goal ≥ 90%) and 429s
  (goal 0: the budget is respected even at 100% of the server's limit).

``--klines-limit`` sets the candles per request (``BINANCE_KLINES_LIMIT``: 1,500 makes the
fewest requests, 499 costs the least weight per candle) and ``--latency-ms`` adds latency to
every fake response, to compare the two where the budget or the round trips bind.

Prints a table and writes ``bench/results/backfill.json`` (or ``--output``).
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

import httpx
from petrosa_backfiller.binance import BinanceClient
from petrosa_backfiller.worker import JobRunner
from petrosa_common.backfill_jobs import BackfillRequest, create_job, list_jobs
from petrosa_common.logging import configure_logging
from petrosa_common.postgres import apply_migrations, create_pg_pool
from petrosa_devtools import infra
from petrosa_devtools.processes import ServiceProcess, free_port

from bench.scratch import scratch_databases

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 30
FINAL = ("completed", "failed", "cancelled")


async def run_phase(
    urls: infra.InfraUrls,
    *,
    fake_limit: int,
    budget: int,
    days: int,
    workers: int,
    klines_limit: int,
    latency_ms: float,
    log_dir: Path,
) -> dict[str, Any]:
    """One backfill of the workload into fresh databases; returns its figures."""
    port = free_port()
    command = [sys.executable, "-m", "petrosa_sim", "binance", "--port", str(port)]
    fake = ServiceProcess(
        [*command, "--weight-limit", str(fake_limit), "--latency-ms", str(latency_ms)],
        {},
        log_dir / f"fake-{fake_limit}.log",
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    fake.wait_until(lambda: _answers(base_url), timeout=30)
    try:
        async with scratch_databases(urls, f"bench_backfill_{uuid.uuid4().hex[:8]}") as scratch:
            pool = await create_pg_pool(scratch.postgres_url)
            client = BinanceClient(base_url, weight_budget=budget, klines_limit=klines_limit)
            try:
                await apply_migrations(pool)
                await client.sync_server_time()
                for symbol in SYMBOLS:
                    await create_job(
                        pool,
                        BackfillRequest(
                            symbol=symbol,
                            timeframe="1m",
                            start=START,
                            end=START + timedelta(days=days),
                            requested_by="cli",
                        ),
                    )
                db = scratch.mongo[scratch.name]
                runner = JobRunner(pool=pool, db=db, client=client, worker_id="bench")
                stop = asyncio.Event()
                started = time.perf_counter()
                work = asyncio.create_task(runner.run(stop, concurrency=workers))
                while True:
                    jobs, _ = await list_jobs(pool, status=None, symbol=None, limit=100, offset=0)
                    if all(job.status in FINAL for job in jobs):
                        break
                    await asyncio.sleep(0.2)
                wall = time.perf_counter() - started
                stop.set()
                await work
                stored = sum(
                    [await db[f"candles_{symbol}_1m"].count_documents({}) for symbol in SYMBOLS]
                )
                async with httpx.AsyncClient() as http:
                    server = (await http.get(f"{base_url}/_fake/stats", timeout=10)).json()
            finally:
                await client.aclose()
                await pool.close()
    finally:
        fake.stop()
    stats = client.stats()
    minutes = [minute["weight"] for minute in server["weight_per_minute"]]
    full = minutes[1:-1]  # the first and last minutes are partial by construction
    written = sum(job.records_written for job in jobs)
    return {
        "workload": f"{days} days of 1m klines for {len(SYMBOLS)} symbols "
        f"({days * 1440 * len(SYMBOLS):,} candles)",
        "fake_weight_limit": fake_limit,
        "budget": budget,
        "workers": workers,
        "klines_limit": klines_limit,
        "fake_latency_ms": latency_ms,
        "jobs": sorted(job.status.value for job in jobs),
        "wall_seconds": wall,
        "requests": stats.counters.requests,
        "weight_sent": stats.counters.weight_sent,
        "status_429": server["status_429"],
        "status_418": server["status_418"],
        "weight_per_minute": minutes,
        "max_weight_per_minute": max(minutes, default=0),
        "full_minutes": len(full),
        "full_minute_usage_of_budget": [weight / budget for weight in full],
        "min_full_minute_usage": min(full) / budget if full else None,
        "candles_written": written,
        "candles_stored": stored,
        "candles_per_second": written / wall,
        "client_budget_wait_seconds": stats.budget_wait_seconds,
    }


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/fapi/v1/ping", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _print(title: str, phase: dict[str, Any]) -> None:
    usage = phase["full_minute_usage_of_budget"]
    print(
        f"== {title}: {phase['workload']}; fake limit {phase['fake_weight_limit']}/min, "
        f"budget {phase['budget']}/min; {phase['klines_limit']} candles/request, "
        f"latency {phase['fake_latency_ms']:g} ms"
    )
    print(f"jobs            {', '.join(phase['jobs'])} ({phase['workers']} workers)")
    print(f"wall time       {phase['wall_seconds']:.1f} s")
    print(f"requests        {phase['requests']} (weight {phase['weight_sent']})")
    print(f"weight / minute {phase['weight_per_minute']} (max {phase['max_weight_per_minute']})")
    if usage:
        print(
            "full minutes    "
            + ", ".join(f"{share:.0%}" for share in usage)
            + " of the budget (goal >= 90%)"
        )
    else:
        print("full minutes    none: the whole workload fit in less than a minute's budget")
    print(f"429 / 418       {phase['status_429']} / {phase['status_418']} (goal 0)")
    print(
        f"candles         {phase['candles_written']:,} written, {phase['candles_stored']:,} "
        f"stored, {phase['candles_per_second']:,.0f}/s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="jobs run at once (default 4)")
    parser.add_argument("--budget", type=int, default=2000, help="throughput phase budget")
    parser.add_argument(
        "--bound-budget", type=int, default=2400, help="budget-bound phase: budget = fake limit"
    )
    parser.add_argument(
        "--bound-days", type=int, default=180, help="budget-bound phase: days per symbol"
    )
    parser.add_argument("--skip-bound", action="store_true", help="throughput phase only")
    parser.add_argument(
        "--klines-limit", type=int, default=1500, help="candles per klines request (1..1500)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency the fake adds to every response"
    )
    parser.add_argument("--output", type=Path, default=Path("bench/results/backfill.json"))
    args = parser.parse_args()
    configure_logging("bench-backfill", "WARNING")
    urls = infra.read_env() or infra.configured_urls()
    log_dir = Path(".run/bench")
    phases = {
        "throughput": await run_phase(
            urls,
            fake_limit=2400,
            budget=args.budget,
            days=DAYS,
            workers=args.workers,
            klines_limit=args.klines_limit,
            latency_ms=args.latency_ms,
            log_dir=log_dir,
        )
    }
    _print("throughput", phases["throughput"])
    if not args.skip_bound:
        phases["budget_bound"] = await run_phase(
            urls,
            fake_limit=args.bound_budget,
            budget=args.bound_budget,
            days=args.bound_days,
            workers=args.workers,
            klines_limit=args.klines_limit,
            latency_ms=args.latency_ms,
            log_dir=log_dir,
        )
        _print("budget-bound", phases["budget_bound"])
    result = {
        "benchmark": "backfill",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "phases": phases,
        "goals": {"full_minute_usage": 0.9, "status_429": 0},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
