"""End to end, the stack healing itself: a fresh stack whose data starts after the audit
lookback's start (the state of every new `make dev` run) — a live 1m kline feed into the
ingestor, the fake Binance, the backfiller, the gateway and a long-running auditor with
auto-backfill on, all as processes — reports the leading gap, requests its backfill, gets it
filled from the fake, and the next audit cycle reports the series healthy.

The stack has a NATS server of its own (``own_nats_infra``): the ``data_manager.*`` subjects are
fixed, so on the shared server a `make dev` backfiller (same queue group) could take this
auditor's request, and a `make dev` auditor's requests would reach this backfiller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import psycopg
import pytest
from petrosa_common.time import candle_open_ms, from_epoch_ms, now_ms, to_epoch_ms
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.procfile import read_procfile
from petrosa_sim.binance import expected_klines
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.kinds import KLINE
from pymongo.asynchronous.database import AsyncDatabase

from .backfill_support import backfiller_process, fake_binance_process
from .ingest_support import ingestor_process

pytestmark = pytest.mark.e2e
MINUTE = 60_000
SYMBOL = "BTCUSDT"
LOOKBACK_MINUTES = 60
FEED_MINUTES = 10
"""How long the live feed has been running when the auditor starts (its backlog)."""
Document = dict[str, Any]


@contextlib.asynccontextmanager
async def live_klines(nats_url: str, subject: str, start_ms: int) -> AsyncIterator[None]:
    """Publish BTCUSDT 1m kline frames from ``start_ms`` on, the backlog at once, then in step
    with the wall clock (what the simulator does in `make dev`), until the block ends."""
    generator = FrameGenerator(
        [SYMBOL],
        seed=14,
        start_ms=start_ms,
        intervals=("1m",),
        kinds={KLINE},
        faults=FaultConfig(partial_book_rate=0.0),
    )
    client = await nats.connect(nats_url)
    stop = asyncio.Event()

    async def feed() -> None:
        while not stop.is_set():
            wall = now_ms()
            while generator.now_ms < wall:
                await client.publish(subject, generator.next_frame().payload)
            await client.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        stop.set()
        await task
        await client.close()


def rows(postgres_url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(postgres_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql).fetchall()


async def wait_for(
    what: str, check: Callable[[], Awaitable[bool]], timeout: float, *logs: ServiceProcess
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.5)
    tails = "\n".join(f"--- {p.module}\n{p.log_tail(3000)}" for p in logs)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")


def ms(moment: datetime) -> int:
    return to_epoch_ms(moment)


@pytest.mark.timeout(240)
async def test_a_fresh_stack_backfills_its_leading_gap_and_the_next_cycle_reports_healthy(
    own_nats_infra: InfraUrls,
    mongo_db: AsyncDatabase[Document],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
) -> None:
    feed_start = candle_open_ms(now_ms(), "1m") - FEED_MINUTES * MINUTE
    infra = own_nats_infra
    databases = {
        "NATS_URL": infra.nats_url,
        "MONGODB_URL": infra.mongodb_url,
        "MONGODB_DATABASE": mongo_db.name,
        "POSTGRES_URL": postgres_url,
    }
    api_port = free_port()
    gateway = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            **databases,
            "API_PORT": str(api_port),
            "API_DEV_MODE": "true",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        },
        tmp_path / "gateway.log",
    )
    ingestor = ingestor_process(
        nats_url=infra.nats_url,
        mongodb_url=infra.mongodb_url,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    # The auditor exactly as `make dev` runs it (Procfile.dev: auto-backfill on, its minimum
    # gap, retry and retention settings), on one series, a 1 h lookback and a faster cycle.
    auditor = ServiceProcess.python_module(
        "petrosa_auditor",
        {
            **read_procfile()["auditor"].env,
            **databases,
            "SUPPORTED_PAIRS": SYMBOL,
            "AUDIT_TIMEFRAMES": "1m",
            "AUDIT_LOOKBACK": str(LOOKBACK_MINUTES * 60),
            "AUDIT_INTERVAL": "3",
            "AUDIT_AGG_TRADES_LOOKBACK": "0",
            "LEADER_ELECTION_TIMEOUT": "3",
            "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.5",
            "HEALTH_PORT": str(free_port()),
            "METRICS_PORT": "0",
        },
        tmp_path / "auditor.log",
    )
    processes = [gateway, ingestor]
    nc = await nats.connect(infra.nats_url)
    published: dict[str, list[dict[str, Any]]] = {"request": [], "gap": []}

    async def record(message: Any) -> None:
        published[message.subject.rsplit(".", 1)[-1]].append(orjson.loads(message.data))

    await nc.subscribe("data_manager.backfill.request", cb=record)
    await nc.subscribe("data_manager.audit.gap", cb=record)
    candles = mongo_db[f"candles_{SYMBOL}_1m"]
    try:
        gateway.start()
        ingestor.start()
        fake, binance_url = fake_binance_process(tmp_path / "fake.log")
        processes.append(fake)
        backfiller = backfiller_process(
            infra,
            database=mongo_db.name,
            postgres_url=postgres_url,
            binance_url=binance_url,
            log=tmp_path / "backfiller.log",
        )
        processes.append(backfiller.start())
        ingestor.wait_ready(timeout=60)
        async with live_klines(infra.nats_url, f"{subject_prefix}.data", feed_start):

            async def backlog_stored() -> bool:
                count = await candles.count_documents({})
                return count > FEED_MINUTES

            await wait_for("the feed's backlog", backlog_stored, 60, ingestor)
            before_feed = {"timestamp": {"$lt": from_epoch_ms(feed_start)}}
            assert await candles.count_documents(before_feed) == 0
            backfiller.wait_ready(timeout=60)
            gateway.wait_until(lambda: _ok(f"http://127.0.0.1:{api_port}/health/readiness"), 60)
            processes.append(auditor.start())

            async def a_cycle_after_the_backfill() -> bool:
                return bool(
                    rows(
                        postgres_url,
                        "SELECT 1 FROM audit_cycles c JOIN backfill_jobs j"
                        " ON c.started_at > j.completed_at",
                    )
                )

            await wait_for(
                "a cycle after the backfill", a_cycle_after_the_backfill, 120, auditor, backfiller
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as client:
                summary = (await client.get("/health/summary")).json()
                health = await client.get("/health", params={"pair": SYMBOL, "period": "1m"})
                dataset = health.json()
        await asyncio.sleep(0.3)  # the auditor's events of the last cycle
    finally:
        await nc.close()
        for process in reversed(processes):
            if process.running:
                process.stop()

    # The first cycle found exactly one gap: the leading one, from the window's start to the
    # first candle of the feed, and asked the backfiller for it.
    cycles = rows(postgres_url, "SELECT * FROM audit_cycles ORDER BY started_at")
    first = cycles[0]
    window_start = candle_open_ms(ms(first["started_at"]), "1m") - LOOKBACK_MINUTES * MINUTE
    missing = (feed_start - window_start) // MINUTE
    assert first["gaps"] == 1
    assert first["details"]["new_gaps"] == 1
    assert first["details"]["backfills_requested"] == 1
    gaps = rows(postgres_url, "SELECT * FROM audit_gaps")
    assert len(gaps) == 1, gaps
    (gap,) = gaps
    assert (gap["kind"], gap["symbol"], gap["timeframe"]) == ("leading", SYMBOL, "1m")
    assert ms(gap["gap_end"]) == feed_start
    detected = rows(
        postgres_url, "SELECT details FROM audit_logs WHERE message LIKE 'gap detected%'"
    )
    assert [log["details"] for log in detected] == [
        {
            "start_ms": window_start,
            "end_ms": feed_start,
            "kind": "leading",
            "duration_seconds": missing * 60,
            "missing_candles": missing,
        }
    ]
    opened = [event for event in published["gap"] if event["status"] == "open"]
    assert [(e["kind"], e["start"], e["end"]) for e in opened] == [
        ("leading", _iso(window_start), _iso(feed_start))
    ]
    assert published["request"] == [
        {
            "symbol": SYMBOL,
            "data_type": "candles",
            "timeframe": "1m",
            "start": _iso(window_start),
            "end": _iso(feed_start),
            "priority": 2,
            "requested_by": "auditor",
            "details": {"gap_id": gap["id"], "severity": "medium"},
        }
    ]

    # One job, requested by the auditor for exactly that range, completed.
    jobs = rows(postgres_url, "SELECT * FROM backfill_jobs")
    assert len(jobs) == 1, jobs
    (job,) = jobs
    assert (job["requested_by"], job["status"], job["data_type"], job["timeframe"]) == (
        "auditor",
        "completed",
        "candles",
        "1m",
    )
    assert (ms(job["start_time"]), ms(job["end_time"])) == (window_start, feed_start)
    assert job["records_written"] == missing

    # The filled range holds exactly the fake's candles; the live ones were left alone.
    expected = expected_klines(SYMBOL, "1m", window_start, feed_start - 1)
    assert len(expected) == missing
    filled = [doc async for doc in candles.find({"source": "backfill"}).sort("timestamp", 1)]
    assert [
        (ms(d["timestamp"]), d["open"], d["high"], d["low"], d["close"], d["volume"])
        for d in filled
    ] == [
        (row[0], float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]))
        for row in expected
    ]
    live = await candles.count_documents({"timestamp": {"$gte": from_epoch_ms(feed_start)}})
    assert live == await candles.count_documents({"source": "websocket"})

    # The gap is resolved, and the first cycle after the backfill scored the series healthy.
    (gap,) = rows(postgres_url, "SELECT status, resolved_at FROM audit_gaps")
    assert gap["status"] == "resolved"
    (after,) = rows(
        postgres_url,
        "SELECT h.* FROM health_metrics h JOIN audit_cycles c"
        " ON h.timestamp BETWEEN c.started_at AND c.finished_at"
        f" WHERE c.started_at > '{job['completed_at'].isoformat()}'"
        " ORDER BY c.started_at LIMIT 1",
    )
    assert (after["level"], after["gaps"], after["completeness"]) == ("healthy", 0, 100.0)
    resolved = [event for event in published["gap"] if event["status"] == "resolved"]
    assert [(e["kind"], e["end"]) for e in resolved] == [("leading", _iso(feed_start))]

    # ...and the gateway says so.
    assert summary["levels"] == {"healthy": 1, "degraded": 0, "unhealthy": 0, "critical": 0}
    assert dataset["metrics"]["level"] == "healthy"


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _iso(epoch_ms: int) -> str:
    return from_epoch_ms(epoch_ms).strftime("%Y-%m-%dT%H:%M:%SZ")
