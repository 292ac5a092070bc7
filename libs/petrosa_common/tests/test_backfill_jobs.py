"""Backfill job store against a real PostgreSQL: chunking, merging, the queue, checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from petrosa_common.backfill_jobs import (
    BackfillRequest,
    JobBackoff,
    JobStatus,
    cancel_job,
    checkpoint,
    chunk_plan,
    claim_next,
    create_job,
    finish_job,
    get_job,
    list_jobs,
    release_job,
)
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from pydantic import ValidationError

JAN = datetime(2024, 1, 1, tzinfo=UTC)


def request(**overrides: object) -> BackfillRequest:
    values: dict[str, object] = {
        "symbol": "btcusdt",
        "data_type": "candles",
        "timeframe": "1m",
        "start": JAN,
        "end": JAN + timedelta(days=30),
        **overrides,
    }
    return BackfillRequest(**values)  # type: ignore[arg-type]


def test_chunks_are_aligned_and_one_request_each() -> None:
    plan = chunk_plan("candles", "1m", JAN + timedelta(seconds=30), JAN + timedelta(days=30))
    assert plan.start == JAN  # aligned down to the minute
    assert plan.total == 29  # 43,200 candles / 1,500 per request
    assert plan.chunk(0) == (JAN, JAN + timedelta(minutes=1500))
    assert plan.chunk(28)[1] == JAN + timedelta(days=30)
    funding = chunk_plan("funding", None, JAN, JAN + timedelta(days=30))
    assert funding.total == 1
    agg = chunk_plan("agg_trades", None, JAN, JAN + timedelta(hours=5, minutes=1))
    assert (agg.total, agg.span) == (6, timedelta(hours=1))


@pytest.mark.parametrize(
    "overrides",
    [
        {"symbol": "BTC-USDT"},
        {"timeframe": None},
        {"timeframe": "7m"},
        {"data_type": "funding", "timeframe": "1h"},
        {"end": JAN},
        {"priority": 11},
    ],
)
def test_bad_requests_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        request(**overrides)


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[PgPool]:
    pg = await create_pg_pool(postgres_url)
    await apply_migrations(pg)
    yield pg
    await pg.close()


@pytest.mark.integration
async def test_overlapping_requests_reuse_or_widen_the_active_job(pool: PgPool) -> None:
    job, created = await create_job(pool, request(end=JAN + timedelta(days=10)))
    assert created
    assert (job["symbol"], job["status"], job["chunks_total"]) == ("BTCUSDT", "pending", 10)
    inside, created = await create_job(
        pool, request(start=JAN + timedelta(days=1), end=JAN + timedelta(days=2))
    )
    assert not created
    assert inside["id"] == job["id"]
    wider, created = await create_job(pool, request(end=JAN + timedelta(days=30), priority=5))
    assert not created
    assert wider["id"] == job["id"]
    assert (wider["end_time"], wider["chunks_total"], wider["priority"]) == (
        JAN + timedelta(days=30),
        29,
        5,
    )
    other, created = await create_job(pool, request(timeframe="1h"))
    assert created
    assert other["id"] != job["id"]
    jobs, total = await list_jobs(pool, status="pending", symbol="btcusdt", limit=1, offset=0)
    assert total == 2
    assert len(jobs) == 1


@pytest.mark.integration
async def test_concurrent_identical_requests_create_one_job(pool: PgPool) -> None:
    results = await asyncio.gather(*(create_job(pool, request()) for _ in range(5)))
    assert len({job["id"] for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


@pytest.mark.integration
async def test_queue_by_priority_checkpoints_cancel_and_resume(pool: PgPool) -> None:
    low, _ = await create_job(pool, request(symbol="ETHUSDT"))
    high, _ = await create_job(pool, request(symbol="SOLUSDT", priority=9))
    claimed = await claim_next(pool, worker="w1", lease_seconds=60)
    assert claimed is not None
    assert claimed["id"] == high["id"]
    assert claimed["status"] == "running"
    status = await checkpoint(
        pool, high["id"], worker="w1", chunks_done=3, fetched=4500, written=4500, lease_seconds=60
    )
    assert status == "running"
    job = await get_job(pool, high["id"])
    assert job is not None
    assert (job["chunks_done"], job["records_written"], job["progress"]) == (3, 4500, 10.34)

    # A worker that died: its claim expires and another worker resumes after chunk 3.
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE backfill_jobs SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
            (high["id"],),
        )
    resumed = await claim_next(pool, worker="w2", lease_seconds=60)
    assert resumed is not None
    assert (resumed["id"], resumed["chunks_done"], resumed["claimed_by"]) == (high["id"], 3, "w2")
    assert (
        await checkpoint(
            pool, high["id"], worker="w1", chunks_done=4, fetched=1, written=1, lease_seconds=60
        )
        == "running"
    )  # w1 no longer holds it: unchanged
    job = await get_job(pool, high["id"])
    assert job is not None
    assert job["chunks_done"] == 3

    cancelled = await cancel_job(pool, low["id"])
    assert cancelled is not None
    assert cancelled["status"] == "cancelled"
    assert await claim_next(pool, worker="w3", lease_seconds=60) is None
    await cancel_job(pool, high["id"])
    assert (
        await checkpoint(
            pool, high["id"], worker="w2", chunks_done=4, fetched=0, written=0, lease_seconds=60
        )
        == "cancelled"
    )
    assert await finish_job(pool, high["id"], worker="w2", status=JobStatus.COMPLETED) is None


@pytest.mark.integration
async def test_finished_jobs_record_outcome(pool: PgPool) -> None:
    job, _ = await create_job(pool, request())
    await claim_next(pool, worker="w", lease_seconds=60)
    failed = await finish_job(
        pool, job["id"], worker="w", status=JobStatus.FAILED, error="Invalid symbol."
    )
    assert failed is not None
    assert (failed["status"], failed["error"]) == ("failed", "Invalid symbol.")
    _again, created = await create_job(pool, request())
    assert created  # a failed job is not active: a new request makes a new job


@pytest.mark.integration
async def test_claiming_a_given_job_skips_more_urgent_ones(pool: PgPool) -> None:
    mine, _ = await create_job(pool, request(symbol="ETHUSDT"))
    await create_job(pool, request(symbol="SOLUSDT", priority=9))
    claimed = await claim_next(pool, worker="cli", lease_seconds=60, job_id=mine["id"])
    assert claimed is not None
    assert (claimed["id"], claimed["claimed_by"]) == (mine["id"], "cli")
    # Held by a live claim: not runnable for anyone else, even by id.
    assert await claim_next(pool, worker="other", lease_seconds=60, job_id=mine["id"]) is None
    assert await claim_next(pool, worker="other", lease_seconds=60, job_id=10_000) is None


def test_retry_back_off_doubles_up_to_its_ceiling() -> None:
    policy = JobBackoff(initial_seconds=5, max_seconds=60)
    assert [policy.delay(n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay(10_000) == 60  # no overflow after days of failures


async def _age_retry(pool: PgPool, job_id: int) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE backfill_jobs SET retry_at = now() - interval '1 s' WHERE id = %s", (job_id,)
        )


@pytest.mark.integration
async def test_a_job_given_back_after_a_failure_waits_its_back_off(pool: PgPool) -> None:
    job, _ = await create_job(pool, request())
    await claim_next(pool, worker="w1", lease_seconds=60)
    await release_job(pool, job["id"], worker="w1", reason="Binance unavailable", retry_in=30)
    waiting = await get_job(pool, job["id"])
    assert waiting is not None
    assert (waiting["status"], waiting["attempts"], waiting["error"]) == (
        "pending",
        1,
        "Binance unavailable",
    )
    assert waiting["retry_at"] > datetime.now(UTC) + timedelta(seconds=25)
    assert await claim_next(pool, worker="w2", lease_seconds=60) is None
    assert await claim_next(pool, worker="w2", lease_seconds=60, job_id=job["id"]) is None

    await _age_retry(pool, job["id"])
    again = await claim_next(pool, worker="w2", lease_seconds=60)
    assert again is not None
    assert (again["id"], again["attempts"]) == (job["id"], 1)
    await release_job(pool, job["id"], worker="w2", reason="still down", retry_in=60)
    await _age_retry(pool, job["id"])
    third = await claim_next(pool, worker="w3", lease_seconds=60)
    assert third is not None
    assert third["attempts"] == 2  # consecutive failures: the caller's back-off grows
    await checkpoint(
        pool, job["id"], worker="w3", chunks_done=1, fetched=1500, written=1500, lease_seconds=60
    )
    progressed = await get_job(pool, job["id"])
    assert progressed is not None
    assert progressed["attempts"] == 0  # progress resets the count


@pytest.mark.integration
async def test_a_job_given_back_at_shutdown_is_claimable_at_once(pool: PgPool) -> None:
    job, _ = await create_job(pool, request())
    await claim_next(pool, worker="w1", lease_seconds=60)
    await release_job(pool, job["id"], worker="w1", reason="shutdown")
    resumed = await claim_next(pool, worker="w2", lease_seconds=60)
    assert resumed is not None
    assert (resumed["id"], resumed["attempts"], resumed["retry_at"]) == (job["id"], 0, None)
