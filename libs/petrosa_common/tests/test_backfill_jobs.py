"""Backfill job store against a real PostgreSQL: chunking, merging, the queue, checkpoints."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from petrosa_common.backfill_jobs import (
    BackfillJob,
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
    renew_claim,
    submit,
    uncovered,
)
from petrosa_common.postgres import PgPool
from pydantic import ValidationError

JAN = datetime(2024, 1, 1, tzinfo=UTC)
HOURS_2 = timedelta(hours=2)
DAY = timedelta(days=1)


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
        {"start": datetime.now(UTC) + timedelta(hours=1), "end": datetime.now(UTC) + HOURS_2},
    ],
)
def test_bad_requests_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        request(**overrides)


def test_an_end_in_the_future_is_cut_at_the_present() -> None:
    before = datetime.now(UTC)
    cut = request(start=before - DAY, end=before + DAY)
    assert before <= cut.end <= datetime.now(UTC)


def test_weekly_chunks_open_on_mondays() -> None:
    friday = datetime(2024, 1, 5, 12, tzinfo=UTC)
    plan = chunk_plan("candles", "1w", friday, friday + timedelta(days=10))
    # The week containing the start (opened Monday 1 January) is included, as for every
    # other timeframe; the epoch's grid would have started on Thursday 4 January.
    assert plan.start == JAN
    assert plan.end == JAN + timedelta(weeks=3)


def test_uncovered_parts_of_a_range() -> None:
    def at(day: int) -> datetime:
        return JAN + day * DAY

    assert uncovered(at(0), at(10), []) == [(at(0), at(10))]
    assert uncovered(at(0), at(10), [(at(2), at(4)), (at(3), at(6))]) == [
        (at(0), at(2)),
        (at(6), at(10)),
    ]
    assert uncovered(at(2), at(5), [(at(0), at(3)), (at(4), at(9))]) == [(at(3), at(4))]
    assert uncovered(at(2), at(5), [(at(0), at(9))]) == []


@pytest.mark.integration
async def test_overlapping_requests_reuse_or_widen_the_active_job(pg_pool: PgPool) -> None:
    job, created = await create_job(pg_pool, request(end=JAN + timedelta(days=10)))
    assert created
    assert (job.symbol, job.status, job.chunks_total) == ("BTCUSDT", "pending", 10)
    inside, created = await create_job(
        pg_pool, request(start=JAN + timedelta(days=1), end=JAN + timedelta(days=2))
    )
    assert not created
    assert inside.id == job.id
    wider, created = await create_job(pg_pool, request(end=JAN + timedelta(days=30), priority=5))
    assert not created
    assert wider.id == job.id
    assert (wider.end_time, wider.chunks_total, wider.priority) == (
        JAN + timedelta(days=30),
        29,
        5,
    )
    other, created = await create_job(pg_pool, request(timeframe="1h"))
    assert created
    assert other.id != job.id
    jobs, total = await list_jobs(pg_pool, status="pending", symbol="btcusdt", limit=1, offset=0)
    assert total == 2
    assert len(jobs) == 1


@pytest.mark.integration
async def test_concurrent_identical_requests_create_one_job(pg_pool: PgPool) -> None:
    results = await asyncio.gather(*(create_job(pg_pool, request()) for _ in range(5)))
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


@pytest.mark.integration
async def test_queue_by_priority_checkpoints_cancel_and_resume(pg_pool: PgPool) -> None:
    low, _ = await create_job(pg_pool, request(symbol="ETHUSDT"))
    high, _ = await create_job(pg_pool, request(symbol="SOLUSDT", priority=9))
    claimed = await claim_next(pg_pool, worker="w1", lease_seconds=60)
    assert claimed is not None
    assert claimed.id == high.id
    assert claimed.status == "running"
    status = await checkpoint(
        pg_pool,
        high.id,
        worker="w1",
        chunks_done=3,
        fetched=4500,
        written=4500,
        lease_seconds=60,
    )
    assert status == "running"
    job = await get_job(pg_pool, high.id)
    assert job is not None
    assert (job.chunks_done, job.records_written, job.progress) == (3, 4500, 10.34)

    # A worker that died: its claim expires and another worker resumes after chunk 3.
    async with pg_pool.connection() as conn:
        await conn.execute(
            "UPDATE backfill_jobs SET lease_expires_at = now() - interval '1 s' WHERE id = %s",
            (high.id,),
        )
    resumed = await claim_next(pg_pool, worker="w2", lease_seconds=60)
    assert resumed is not None
    assert (resumed.id, resumed.chunks_done) == (high.id, 3)
    assert await claimed_by(pg_pool, high.id) == "w2"
    assert (
        await checkpoint(
            pg_pool, high.id, worker="w1", chunks_done=4, fetched=1, written=1, lease_seconds=60
        )
        is None
    )  # w1 no longer holds it: told so, and nothing changed
    job = await get_job(pg_pool, high.id)
    assert job is not None
    assert job.chunks_done == 3

    cancelled = await cancel_job(pg_pool, low.id)
    assert cancelled is not None
    assert (cancelled[0].status, cancelled[1]) == ("cancelled", True)
    again = await cancel_job(pg_pool, low.id)
    assert again is not None
    assert (again[0].status, again[1]) == ("cancelled", False)  # already ended: unchanged
    assert await cancel_job(pg_pool, 987_654) is None
    assert await claim_next(pg_pool, worker="w3", lease_seconds=60) is None
    await cancel_job(pg_pool, high.id)
    assert (
        await checkpoint(
            pg_pool, high.id, worker="w2", chunks_done=4, fetched=0, written=0, lease_seconds=60
        )
        == "cancelled"
    )
    assert await finish_job(pg_pool, high.id, worker="w2", status=JobStatus.COMPLETED) is None


@pytest.mark.integration
async def test_finished_jobs_record_outcome(pg_pool: PgPool) -> None:
    job, _ = await create_job(pg_pool, request())
    await claim_next(pg_pool, worker="w", lease_seconds=60)
    failed = await finish_job(
        pg_pool, job.id, worker="w", status=JobStatus.FAILED, error="Invalid symbol."
    )
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "Invalid symbol.")
    _again, created = await create_job(pg_pool, request())
    assert created  # a failed job is not active: a new request makes a new job


@pytest.mark.integration
async def test_claiming_a_given_job_skips_more_urgent_ones(pg_pool: PgPool) -> None:
    mine, _ = await create_job(pg_pool, request(symbol="ETHUSDT"))
    await create_job(pg_pool, request(symbol="SOLUSDT", priority=9))
    claimed = await claim_next(pg_pool, worker="cli", lease_seconds=60, job_id=mine.id)
    assert claimed is not None
    assert claimed.id == mine.id
    assert await claimed_by(pg_pool, mine.id) == "cli"
    # Held by a live claim: not runnable for anyone else, even by id.
    assert await claim_next(pg_pool, worker="other", lease_seconds=60, job_id=mine.id) is None
    assert await claim_next(pg_pool, worker="other", lease_seconds=60, job_id=10_000) is None


def test_retry_back_off_doubles_up_to_its_ceiling() -> None:
    policy = JobBackoff(initial_seconds=5, max_seconds=60)
    assert [policy.delay(n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay(10_000) == 60  # no overflow after days of failures


async def _age_retry(pg_pool: PgPool, job_id: int) -> None:
    async with pg_pool.connection() as conn:
        await conn.execute(
            "UPDATE backfill_jobs SET retry_at = now() - interval '1 s' WHERE id = %s", (job_id,)
        )


@pytest.mark.integration
async def test_a_job_given_back_after_a_failure_waits_its_back_off(pg_pool: PgPool) -> None:
    job, _ = await create_job(pg_pool, request())
    await claim_next(pg_pool, worker="w1", lease_seconds=60)
    await release_job(pg_pool, job.id, worker="w1", reason="Binance unavailable", retry_in=30)
    waiting = await get_job(pg_pool, job.id)
    assert waiting is not None
    assert (waiting.status, waiting.attempts, waiting.error) == (
        "pending",
        1,
        "Binance unavailable",
    )
    assert waiting.retry_at > datetime.now(UTC) + timedelta(seconds=25)
    assert await claim_next(pg_pool, worker="w2", lease_seconds=60) is None
    assert await claim_next(pg_pool, worker="w2", lease_seconds=60, job_id=job.id) is None

    await _age_retry(pg_pool, job.id)
    again = await claim_next(pg_pool, worker="w2", lease_seconds=60)
    assert again is not None
    assert (again.id, again.attempts) == (job.id, 1)
    await release_job(pg_pool, job.id, worker="w2", reason="still down", retry_in=60)
    await _age_retry(pg_pool, job.id)
    third = await claim_next(pg_pool, worker="w3", lease_seconds=60)
    assert third is not None
    assert third.attempts == 2  # consecutive failures: the caller's back-off grows
    await checkpoint(
        pg_pool, job.id, worker="w3", chunks_done=1, fetched=1500, written=1500, lease_seconds=60
    )
    progressed = await get_job(pg_pool, job.id)
    assert progressed is not None
    assert progressed.attempts == 0  # progress resets the count


@pytest.mark.integration
async def test_a_job_given_back_at_shutdown_is_claimable_at_once(pg_pool: PgPool) -> None:
    job, _ = await create_job(pg_pool, request())
    await claim_next(pg_pool, worker="w1", lease_seconds=60)
    await release_job(pg_pool, job.id, worker="w1", reason="shutdown")
    resumed = await claim_next(pg_pool, worker="w2", lease_seconds=60)
    assert resumed is not None
    assert (resumed.id, resumed.attempts, resumed.retry_at) == (job.id, 0, None)


@pytest.mark.integration
async def test_a_started_job_is_not_widened_its_missing_parts_get_jobs_of_their_own(
    pg_pool: PgPool,
) -> None:
    # A pending job that already did chunks (given back at shutdown or after a failure):
    # moving its start would shift its chunk grid under its checkpoint.
    job, _ = await create_job(pg_pool, request(start=JAN + 10 * DAY, end=JAN + 20 * DAY))
    await claim_next(pg_pool, worker="w1", lease_seconds=60)
    await checkpoint(
        pg_pool, job.id, worker="w1", chunks_done=5, fetched=7500, written=7500, lease_seconds=60
    )
    await release_job(pg_pool, job.id, worker="w1", reason="shutdown")

    wide = request(start=JAN, end=JAN + 25 * DAY)
    submission = await submit(pg_pool, wide)
    first = submission.job
    assert [(j.start_time, j.end_time) for j in submission.created] == [
        (JAN, JAN + 10 * DAY),
        (JAN + 20 * DAY, JAN + 25 * DAY),
    ]
    assert first.id == submission.created[0].id
    kept = await get_job(pg_pool, job.id)
    assert kept is not None
    assert (kept.start_time, kept.end_time, kept.chunks_done) == (
        JAN + 10 * DAY,
        JAN + 20 * DAY,
        5,
    )
    assert [(j.start_time, j.end_time) for j in submission.jobs] == [
        (JAN, JAN + 10 * DAY),
        (JAN + 10 * DAY, JAN + 20 * DAY),
        (JAN + 20 * DAY, JAN + 25 * DAY),
    ]
    assert submission.jobs[1].id == job.id
    # Asked again: everything is covered, nothing new.
    again = await submit(pg_pool, wide)
    assert (again.created, again.job.id) == ([], first.id)
    assert [j.id for j in again.jobs] == [j.id for j in submission.jobs]


@pytest.mark.integration
async def test_a_request_overlapping_a_running_job_gets_jobs_for_the_rest(pg_pool: PgPool) -> None:
    running, _ = await create_job(pg_pool, request(start=JAN, end=JAN + DAY))
    await claim_next(pg_pool, worker="w1", lease_seconds=60)
    month = await submit(pg_pool, request(start=JAN, end=JAN + 31 * DAY))
    rest = month.job
    assert [j.id for j in month.created] == [rest.id]
    assert (rest.start_time, rest.end_time) == (JAN + DAY, JAN + 31 * DAY)
    assert [j.id for j in month.jobs] == [running.id, rest.id]


@pytest.mark.integration
async def test_a_lost_claim_is_reported_and_renewal_keeps_a_claim(pg_pool: PgPool) -> None:
    job, _ = await create_job(pg_pool, request())
    await claim_next(pg_pool, worker="w1", lease_seconds=1)
    assert await renew_claim(pg_pool, job.id, worker="w1", lease_seconds=60)
    async with pg_pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT lease_expires_at - now() AS left FROM backfill_jobs WHERE id = %s",
                (job.id,),
            )
        ).fetchone()
    assert row is not None
    assert row["left"] > timedelta(seconds=50)
    assert not await renew_claim(pg_pool, job.id, worker="w2", lease_seconds=60)
    await cancel_job(pg_pool, job.id)
    assert not await renew_claim(pg_pool, job.id, worker="w1", lease_seconds=60)


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:01:00+04:00", "9999-12-31T23:59:00-01:00", "1969-12-31T00:00:00Z"]
)
def test_dates_beyond_what_utc_holds_are_invalid_requests_not_crashes(start: str) -> None:
    body = {"symbol": "BTCUSDT", "timeframe": "1m", "start": start, "end": "2024-01-02T00:00:00Z"}
    with pytest.raises(ValidationError):
        BackfillRequest.model_validate(body)


async def test_a_stored_job_reads_as_a_typed_model_with_utc_times(pg_pool: PgPool) -> None:
    async with pg_pool.connection() as conn:  # the session's zone is what psycopg hands out
        await conn.execute("SET TIME ZONE 'Asia/Kolkata'")
        job, _ = await create_job(pg_pool, request(details={"gap_id": 3}))
        cursor = await conn.execute("SELECT * FROM backfill_jobs WHERE id = %s", (job.id,))
        row = await cursor.fetchone()
        await conn.execute("RESET TIME ZONE")
    assert row is not None
    assert row["start_time"].utcoffset() == timedelta(hours=5, minutes=30)
    read = BackfillJob.from_row(row)
    assert (read.status, read.data_type, read.requested_by) == (JobStatus.PENDING, "candles", "api")
    assert read.start_time == JAN
    assert read.start_time.tzinfo is UTC
    shown = read.model_dump(mode="json")
    assert set(shown) == set(row) - {"claimed_by", "lease_expires_at"}  # every column but the claim
    assert (shown["start_time"], shown["details"]) == ("2024-01-01T00:00:00Z", {"gap_id": 3})
    assert shown["created_at"].endswith("Z")


def test_a_row_missing_a_column_or_with_an_unknown_status_is_refused() -> None:
    at = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-3)))
    row: dict[str, Any] = {name: None for name in BackfillJob.model_fields}
    row |= {"id": 1, "symbol": "BTCUSDT", "data_type": "funding", "start_time": at}
    row |= {"end_time": at, "priority": 0, "status": "done", "progress": 0.0, "details": {}}
    row |= {"records_fetched": 0, "records_written": 0, "chunks_done": 0, "chunks_total": 1}
    row |= {"attempts": 0, "requested_by": "cli", "created_at": at, "updated_at": at}
    with pytest.raises(ValidationError, match="status"):
        BackfillJob.from_row(row)
    assert BackfillJob.from_row({**row, "status": "failed"}).end_time.hour == 3
    with pytest.raises(KeyError, match="attempts"):
        BackfillJob.from_row({k: v for k, v in row.items() if k != "attempts"})


async def claimed_by(pool: PgPool, job_id: int) -> str | None:
    """Who holds the job's claim: a column of the table that no API shows."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT claimed_by FROM backfill_jobs WHERE id = %(id)s", {"id": job_id}
        )
        row = await cursor.fetchone()
    return None if row is None else row["claimed_by"]
