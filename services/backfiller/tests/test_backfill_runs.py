"""Backfill jobs end to end in-process: job store (real PostgreSQL) -> runner -> the fake
Binance (petrosa-sim, deterministic) -> real FerretDB."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from petrosa_backfiller.binance import BinanceClient, ManualClock, RetryPolicy
from petrosa_backfiller.worker import JobRunner
from petrosa_common.backfill_jobs import (
    BackfillJob,
    BackfillRequest,
    JobBackoff,
    create_job,
    get_job,
)
from petrosa_common.postgres import PgPool
from petrosa_sim.binance import (
    BinanceConfig,
    BinanceFaults,
    create_binance_app,
    expected_agg_trades,
    expected_funding_rates,
    expected_klines,
    expected_mark_price_klines,
)
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration
JAN = datetime(2024, 1, 1, tzinfo=UTC)
Document = dict[str, Any]


def client_for(faults: BinanceFaults | None = None, weight_limit: int = 2400) -> BinanceClient:
    app = create_binance_app(
        BinanceConfig(faults=faults or BinanceFaults(), weight_limit=weight_limit)
    )
    return BinanceClient(
        "http://fake-binance", transport=httpx.ASGITransport(app=app), weight_budget=2000
    )


async def queue(pg_pool: PgPool, symbol: str, timeframe: str, *, days: int) -> BackfillJob:
    """Queue a candle backfill of ``days`` from 1 January 2024; returns the job."""
    job, _ = await create_job(
        pg_pool,
        BackfillRequest(
            symbol=symbol, timeframe=timeframe, start=JAN, end=JAN + timedelta(days=days)
        ),
    )
    return job


async def wait_for(
    read: Callable[[], Awaitable[Any]],
    done: Callable[[Any], bool],
    work: asyncio.Task[None] | None = None,
    timeout: float = 60,
) -> Any:
    """Poll the job with ``read`` until ``done`` says so; fails if ``work`` (the worker loop)
    ends first or the time runs out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(current := await read()):
        assert work is None or not work.done(), "the worker loop ended"
        assert asyncio.get_running_loop().time() < deadline, current
        await asyncio.sleep(0.02)
    return current


def chunks_done(count: int) -> Callable[[Any], bool]:
    return lambda job: job is not None and job.chunks_done >= count


def completed(job: Any) -> bool:
    return job is not None and job.status == "completed"


@contextlib.asynccontextmanager
async def worker_loop(runner: JobRunner, concurrency: int) -> AsyncIterator[asyncio.Task[None]]:
    """``runner.run`` as a task for the block; stopped (after its chunk) and awaited at the end."""
    stop = asyncio.Event()
    work = asyncio.create_task(runner.run(stop, concurrency=concurrency))
    try:
        yield work
    finally:
        stop.set()
        await work


async def run_one(pg_pool: PgPool, db: AsyncDatabase[Document], client: BinanceClient) -> Any:
    runner = JobRunner(pool=pg_pool, db=db, client=client, worker_id="test")
    return await runner.run_next()


# The re-run reads back every chunk: slow on FerretDB (no _id index); over 600 s once on a
# loaded 2-core machine.
@pytest.mark.timeout(900)
async def test_thirty_days_of_1m_candles_are_exactly_the_fakes_data_and_rerunning_adds_nothing(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    end = JAN + timedelta(days=30)
    request = BackfillRequest(symbol="BTCUSDT", timeframe="1m", start=JAN, end=end)
    job, _ = await create_job(pg_pool, request)
    async with client_for() as client:
        finished = await run_one(pg_pool, mongo_db, client)
    assert finished is not None
    assert (finished.status, finished.chunks_done, finished.chunks_total) == (
        "completed",
        29,
        29,
    )
    assert finished.records_written == 43_200
    assert finished.progress == 100

    expected = expected_klines(
        "BTCUSDT", "1m", int(JAN.timestamp() * 1000), int(end.timestamp() * 1000) - 1
    )
    assert len(expected) == 43_200
    stored = {doc["_id"]: doc async for doc in mongo_db["candles_BTCUSDT_1m"].find({})}
    assert len(stored) == 43_200
    for row in expected:
        doc = stored[f"BTCUSDT_{row[0]}"]
        assert (doc["open"], doc["high"], doc["low"], doc["close"], doc["volume"]) == (
            float(row[1]),
            float(row[2]),
            float(row[3]),
            float(row[4]),
            float(row[5]),
        )
        assert (doc["quote_volume"], doc["trades_count"], doc["is_closed"], doc["source"]) == (
            float(row[7]),
            int(row[8]),
            True,
            "backfill",
        )

    _again, created = await create_job(pg_pool, request)
    assert created  # the first job is completed, not active
    async with client_for() as client:
        rerun = await run_one(pg_pool, mongo_db, client)
    assert rerun is not None
    assert (rerun.status, rerun.records_fetched, rerun.records_written) == (
        "completed",
        43_200,
        0,
    )
    after = {doc["_id"]: doc async for doc in mongo_db["candles_BTCUSDT_1m"].find({})}
    assert after == stored

    async with pg_pool.connection() as conn:
        dataset = await (
            await conn.execute(
                "SELECT kind, symbol, timeframe FROM datasets WHERE id = 'candles_BTCUSDT_1m'"
            )
        ).fetchone()
        edges = await (
            await conn.execute(
                "SELECT source, process FROM lineage_edges WHERE target = 'candles_BTCUSDT_1m'"
                " ORDER BY id"
            )
        ).fetchall()
    assert dataset == {"kind": "candles", "symbol": "BTCUSDT", "timeframe": "1m"}
    assert edges[0] == {
        "source": "binance-rest:/fapi/v1/klines",
        "process": f"backfiller job {job.id}",
    }


async def test_funding_mark_price_and_agg_trade_jobs_store_exactly_the_fakes_rows(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    start, end = JAN + timedelta(days=3), JAN + timedelta(days=13)
    trades_end = start + timedelta(hours=2, minutes=30)  # three chunks, the last partial
    requests = [
        BackfillRequest(symbol="BTCUSDT", data_type="funding", start=start, end=end),
        BackfillRequest(
            symbol="BTCUSDT", data_type="mark_price", timeframe="1h", start=start, end=end
        ),
        BackfillRequest(symbol="ETHUSDT", data_type="agg_trades", start=start, end=trades_end),
    ]
    for request in requests:
        await create_job(pg_pool, request)
    async with client_for() as client:
        finished = [await run_one(pg_pool, mongo_db, client) for _ in requests]
    assert [(job.data_type, job.status) for job in finished] == [
        ("funding", "completed"),
        ("mark_price", "completed"),
        ("agg_trades", "completed"),
    ]
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    fundings = expected_funding_rates("BTCUSDT", start_ms, end_ms - 1)
    assert len(fundings) == 30  # every 8 h
    stored = {doc["_id"]: doc async for doc in mongo_db["funding_rates_BTCUSDT"].find({})}
    assert set(stored) == {f"BTCUSDT_{row['fundingTime']}" for row in fundings}
    for row in fundings:
        doc = stored[f"BTCUSDT_{row['fundingTime']}"]
        assert (doc["funding_rate"], doc["is_closed"], doc["event_time_ms"]) == (
            float(row["fundingRate"]),
            True,
            row["fundingTime"],
        )

    marks = expected_mark_price_klines("BTCUSDT", "1h", start_ms, end_ms - 1)
    assert len(marks) == 240
    stored = {doc["_id"]: doc async for doc in mongo_db["mark_prices_BTCUSDT"].find({})}
    assert set(stored) == {f"BTCUSDT_{row[0]}" for row in marks}
    for row in marks:
        doc = stored[f"BTCUSDT_{row[0]}"]
        assert (doc["open"], doc["high"], doc["low"], doc["mark_price"]) == (
            float(row[1]),
            float(row[2]),
            float(row[3]),
            float(row[4]),
        )

    trades = expected_agg_trades("ETHUSDT", start_ms, int(trades_end.timestamp() * 1000) - 1)
    assert len(trades) > 100
    stored = {doc["_id"]: doc async for doc in mongo_db["agg_trades_ETHUSDT"].find({})}
    assert set(stored) == {row["a"] for row in trades}
    assert finished[2].records_written == len(trades)
    for row in trades[:: max(1, len(trades) // 50)]:
        doc = stored[row["a"]]
        assert (doc["price"], doc["quantity"], doc["first_trade_id"], doc["last_trade_id"]) == (
            float(row["p"]),
            float(row["q"]),
            row["f"],
            row["l"],
        )


async def test_a_bad_symbol_fails_the_job_with_binances_message(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    await queue(pg_pool, "NOPEUSDT", "1h", days=1)
    async with client_for() as client:
        failed = await run_one(pg_pool, mongo_db, client)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error == "Binance: Invalid symbol."


async def test_5xx_and_429_injection_still_completes(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    job = await queue(pg_pool, "ETHUSDT", "1m", days=5)
    faults = BinanceFaults(status_5xx_every=2, status_429_every=3, retry_after_seconds=1)
    async with client_for(faults) as client:
        finished = await run_one(pg_pool, mongo_db, client)
        counters = client.stats().counters
    assert finished is not None
    assert finished.status == "completed"
    assert await mongo_db["candles_ETHUSDT_1m"].count_documents({}) == 5 * 1440
    assert counters.server_errors >= 1
    assert counters.rate_limited >= 1
    done = await get_job(pg_pool, job.id)
    assert done is not None
    assert done.records_written == 5 * 1440


async def test_429_418_and_5xx_injection_completes_within_the_budget_honouring_retry_after(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    # Virtual time shared by the client (its waits return at once, time advanced) and the
    # fake (its minute windows, bans and request log): minutes of rate limiting in seconds.
    clock = ManualClock(start=JAN.timestamp() + 40 * 86_400)
    faults = BinanceFaults(
        status_418_once=True,
        ban_seconds=45,
        status_429_every=7,
        retry_after_seconds=20,
        status_5xx_every=5,
    )
    app = create_binance_app(
        BinanceConfig(faults=faults, weight_limit=2400, clock=lambda: int(clock.time() * 1000))
    )
    fake = app.state.fake
    budget = 60  # 6 requests of 1,500 candles (weight 10) a minute
    await queue(pg_pool, "BTCUSDT", "1m", days=30)
    client = BinanceClient(
        "http://fake-binance",
        transport=httpx.ASGITransport(app=app),
        weight_budget=budget,
        clock=clock,
    )
    async with client:
        finished = await run_one(pg_pool, mongo_db, client)
        minutes = client.stats().minutes
    assert finished is not None
    assert (finished.status, finished.records_written) == ("completed", 43_200)
    assert await mongo_db["candles_BTCUSDT_1m"].count_documents({}) == 43_200

    stats = fake.stats.as_dict(fake.limiter)
    assert stats["injected"] == {"418": 1, "429": stats["status_429"], "5xx": stats["status_5xx"]}
    assert stats["status_429"] >= 3  # only injected ones: the budget was never exceeded
    assert stats["status_5xx"] >= 5
    # Never above the budget, in the fake's minutes and in the client's own accounting.
    assert max(minute["weight"] for minute in stats["weight_per_minute"]) <= budget
    assert max(minute.weight_sent for minute in minutes) <= budget
    # Retry-After honoured: no request arrived before a 429's pause or the 418 ban ended.
    log = list(fake.stats.log)
    for index, entry in enumerate(log):
        pause_ms = {429: 20_000, 418: 45_000}.get(entry.status)
        if pause_ms is not None and index + 1 < len(log):
            assert log[index + 1].at_ms >= entry.at_ms + pause_ms, (entry, log[index + 1])


async def test_binance_down_gives_the_job_back_with_a_back_off_instead_of_spinning(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    job = await queue(pg_pool, "BNBUSDT", "1m", days=1)
    app = create_binance_app(BinanceConfig(faults=BinanceFaults(status_5xx_every=1)))
    fake = app.state.fake
    client = BinanceClient(
        "http://fake-binance",
        transport=httpx.ASGITransport(app=app),
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01),
    )
    runner = JobRunner(
        pool=pg_pool,
        db=mongo_db,
        client=client,
        worker_id="test",
        poll_seconds=0.05,
        backoff=JobBackoff(initial_seconds=30, max_seconds=300),
    )
    async with client:
        async with worker_loop(runner, concurrency=2):
            await asyncio.sleep(1.5)  # ~30 idle polls: a spinning worker would re-fetch each time
        waiting = await get_job(pg_pool, job.id)
        assert waiting is not None
        assert fake.stats.requests == 2  # one attempt of the job: two tries of its first chunk
        assert (waiting.status, waiting.attempts, waiting.chunks_done) == ("pending", 1, 0)
        assert waiting.error.startswith("retrying after:")
        assert waiting.retry_at > datetime.now(UTC) + timedelta(seconds=25)

        # Binance is back and the back-off has passed: the job resumes and completes.
        fake.faults = BinanceFaults()
        async with pg_pool.connection() as conn:
            await conn.execute("UPDATE backfill_jobs SET retry_at = now() WHERE id = %s", (job.id,))
        finished = await runner.run_next()
    assert finished is not None
    assert (finished.status, finished.attempts) == ("completed", 0)
    assert await mongo_db["candles_BNBUSDT_1m"].count_documents({}) == 1440


async def test_a_worker_whose_claim_was_taken_over_stops_without_announcing_anything(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    job = await queue(pg_pool, "ETHUSDT", "1m", days=5)
    events: list[tuple[str, int]] = []

    async def on_event(event_job: BackfillJob) -> None:
        events.append((event_job.status, event_job.id))

    async with client_for(BinanceFaults(latency_ms=200)) as client:
        runner = JobRunner(
            pool=pg_pool, db=mongo_db, client=client, worker_id="slow", on_event=on_event
        )
        work = asyncio.create_task(runner.run_next())
        await wait_for(lambda: get_job(pg_pool, job.id), chunks_done(1))
        # Its claim expired (say the process stalled) and another backfiller took over.
        async with pg_pool.connection() as conn:
            await conn.execute(
                "UPDATE backfill_jobs SET claimed_by = 'other/1' WHERE id = %s", (job.id,)
            )
        await asyncio.wait_for(work, 30)
        sent = client.stats().counters.requests
    after = await get_job(pg_pool, job.id)
    assert after is not None
    assert after.status == "running"
    assert await claimed_by(pg_pool, job.id) == "other/1"  # theirs now
    assert after.chunks_done <= 2  # at most the chunk in flight was checkpointed
    assert sent <= 3  # it stopped fetching at the first checkpoint it could not make
    assert events == [("running", job.id)]  # no made-up "completed"


async def test_a_chunk_longer_than_the_claim_lease_keeps_its_claim(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    # 2 chunks, each answered after 1.5 s: three times the 0.5 s claim lease.
    job = await queue(pg_pool, "XRPUSDT", "1m", days=2)
    async with client_for(BinanceFaults(latency_ms=1500)) as client:
        runner = JobRunner(
            pool=pg_pool,
            db=mongo_db,
            client=client,
            worker_id="test",
            lease_seconds=0.5,
            poll_seconds=0.05,
        )
        async with worker_loop(runner, concurrency=2) as work:
            # Without renewal the two workers take the job from each other forever.
            current = await wait_for(lambda: get_job(pg_pool, job.id), completed, work, timeout=30)
        sent = client.stats().counters.requests
    # The idle sibling never took the job over: every chunk was fetched exactly once.
    assert sent == 2
    assert current.records_written == 2 * 1440
    assert str(await claimed_by(pg_pool, job.id)).startswith("test/")


async def test_a_response_binance_would_never_send_fails_the_job_instead_of_looping(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document]
) -> None:
    job = await queue(pg_pool, "BTCUSDT", "1h", days=1)

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[["not", "a", "kline"]])

    client = BinanceClient("http://fake-binance", transport=httpx.MockTransport(garbage))
    async with client:
        failed = await run_one(pg_pool, mongo_db, client)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error.startswith("Binance answered unexpectedly")
    stored = await get_job(pg_pool, job.id)
    assert stored is not None
    assert stored.status == "failed"
    assert await claimed_by(pg_pool, stored.id) == "test"


async def test_postgresql_connections_killed_mid_job_do_not_stop_the_worker(
    pg_pool: PgPool, mongo_db: AsyncDatabase[Document], postgres_url: str
) -> None:
    job = await queue(pg_pool, "SOLUSDT", "1m", days=4)
    faults = BinanceFaults(latency_ms=300)
    async with client_for(faults) as client:
        runner = JobRunner(
            pool=pg_pool,
            db=mongo_db,
            client=client,
            worker_id="test",
            lease_seconds=1,
            poll_seconds=0.1,
        )
        async with worker_loop(runner, concurrency=1) as work:
            await wait_for(lambda: get_job(pg_pool, job.id), chunks_done(1), work)
            # Every connection of the worker's pg_pool dies (a PostgreSQL restart, a failover).
            async with await psycopg.AsyncConnection.connect(
                postgres_url, autocommit=True
            ) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            current = await wait_for(lambda: read_job(postgres_url, job.id), completed, work)
    assert await mongo_db["candles_SOLUSDT_1m"].count_documents({}) == 4 * 1440
    # The chunk written before its checkpoint failed is written again (nothing new) after the
    # resume, so the job's count of new documents may miss that chunk, never count it twice.
    assert 4 * 1440 - 1500 <= current.records_written <= 4 * 1440


async def read_job(postgres_url: str, job_id: int) -> BackfillJob:
    """The job over a connection of its own (the test's pg_pool may be the one killed)."""
    async with await psycopg.AsyncConnection.connect(
        postgres_url, row_factory=psycopg.rows.dict_row
    ) as conn:
        row = await (
            await conn.execute("SELECT * FROM backfill_jobs WHERE id = %s", (job_id,))
        ).fetchone()
    assert row is not None
    return BackfillJob.from_row(row)


async def claimed_by(pool: PgPool, job_id: int) -> str | None:
    """Who holds the job's claim: a column of the table that no API shows."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT claimed_by FROM backfill_jobs WHERE id = %(id)s", {"id": job_id}
        )
        row = await cursor.fetchone()
    return None if row is None else row["claimed_by"]
