"""Retention against real FerretDB and PostgreSQL: only what is past the horizon goes, oldest
first; a crash mid-run is finished by the next run; a follower (or a leader that lost its
term) deletes nothing more."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from petrosa_auditor.retention import RetentionJob, Target, retention_targets
from petrosa_auditor.service import _pause_unless_stopping
from petrosa_common.leases import LeaderElector, LostLeadership
from petrosa_common.postgres import PgPool
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)
HORIZONS: dict[str, timedelta | None] = {
    "trades": FIVE_MINUTES,
    "depth": timedelta(minutes=1),
    "candles": None,
    "dead_letters": timedelta(hours=1),
    "analytics_history": timedelta(days=1),
}


def test_targets_are_the_collections_whose_kind_has_a_horizon() -> None:
    names = [
        "trades_BTCUSDT",
        "depth_ETHUSDT",
        "candles_BTCUSDT_1m",  # kept: no horizon
        "tickers_BTCUSDT",  # kept: kind absent
        "dead_letters",
        "analytics_history",
        "analytics_latest",  # never a target
        "leader_election",
        "trades_",  # not a series
    ]
    assert retention_targets(names, HORIZONS) == [
        Target("analytics_history", "analytics_history", "computed_at", timedelta(days=1)),
        Target("dead_letters", "dead_letters", "received_at", timedelta(hours=1)),
        Target("depth_ETHUSDT", "depth", "timestamp", timedelta(minutes=1)),
        Target("trades_BTCUSDT", "trades", "timestamp", FIVE_MINUTES),
    ]


def job(
    db: AsyncDatabase[Document],
    pool: PgPool,
    verify: Callable[[], Awaitable[int]],
    *,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> RetentionJob:
    return RetentionJob(
        db=db,
        pool=pool,
        horizons=HORIZONS,
        batch_size=batch_size,
        max_batches=max_batches,
        verify_leadership=verify,
        pod_id="test",
        clock=lambda: NOW,
    )


async def always_leader() -> int:
    return 7


async def trades(db: AsyncDatabase[Document], ages: list[timedelta]) -> None:
    """One trade per age (``_id`` = its age in milliseconds), inserted newest first so that
    the natural order is not the time order."""
    await db["trades_BTCUSDT"].insert_many(
        [{"_id": ms(age), "timestamp": NOW - age, "price": 1.0} for age in sorted(ages)]
    )


def ms(age: timedelta) -> int:
    return age // timedelta(milliseconds=1)


async def ids(db: AsyncDatabase[Document], collection: str) -> set[Any]:
    return {doc["_id"] async for doc in db[collection].find({}, {"_id": 1})}


async def rows(pool: PgPool, query: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return list(await (await conn.execute(query)).fetchall())


async def test_only_what_is_past_the_horizon_is_deleted_and_the_run_is_reported(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    # Ages from 10 minutes to 1 minute, and one exactly at the horizon (kept: strictly older
    # goes) and one a millisecond past it (deleted).
    ages = [timedelta(minutes=m) for m in range(1, 11)]
    ages.append(FIVE_MINUTES + timedelta(milliseconds=1))
    await trades(mongo_db, ages)
    await mongo_db["candles_BTCUSDT_1m"].insert_one({"_id": 1, "timestamp": NOW - 1000 * ages[0]})
    await mongo_db["dead_letters"].insert_many(
        [
            {"_id": "old", "received_at": NOW - timedelta(hours=2)},
            {"_id": "new", "received_at": NOW - timedelta(minutes=59)},
        ]
    )
    await mongo_db["analytics_history"].insert_many(
        [
            {"_id": "old", "computed_at": NOW - timedelta(days=2)},
            {"_id": "new", "computed_at": NOW - timedelta(hours=23)},
        ]
    )
    async with pg_pool.connection() as conn:
        await conn.execute(
            "INSERT INTO datasets (id, kind, symbol, collection)"
            " VALUES ('trades_BTCUSDT', 'trades', 'BTCUSDT', 'trades_BTCUSDT')"
        )

    report = await job(mongo_db, pg_pool, always_leader).run()

    assert (report.status, report.term, report.deleted) == ("completed", 7, 8)
    assert await ids(mongo_db, "trades_BTCUSDT") == {60_000, 120_000, 180_000, 240_000, 300_000}
    assert await ids(mongo_db, "candles_BTCUSDT_1m") == {1}
    assert await ids(mongo_db, "dead_letters") == {"new"}
    assert await ids(mongo_db, "analytics_history") == {"new"}
    [run] = await rows(pg_pool, "SELECT * FROM retention_runs")
    assert (run["status"], run["deleted"], run["leader_term"], run["pod_id"]) == (
        "completed",
        8,
        7,
        "test",
    )
    assert run["details"]["trades_BTCUSDT"] == {
        "kind": "trades",
        "cutoff": (NOW - FIVE_MINUTES).isoformat(),
        "deleted": 6,
        "complete": True,
    }
    [dataset] = await rows(
        pg_pool,
        "SELECT retention_seconds, retention_cutoff, retention_deleted_total FROM datasets",
    )
    assert dataset == {
        "retention_seconds": 300.0,
        "retention_cutoff": NOW - FIVE_MINUTES,
        "retention_deleted_total": 6,
    }

    again = await job(mongo_db, pg_pool, always_leader).run()
    assert (again.status, again.deleted) == ("completed", 0)
    [dataset] = await rows(pg_pool, "SELECT retention_deleted_total FROM datasets")
    assert dataset["retention_deleted_total"] == 6


class Crash(Exception):
    """Stands for the process dying (kill -9, OOM) at a chosen point."""


async def test_a_crash_mid_batch_is_finished_by_the_next_run(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    old = [FIVE_MINUTES + timedelta(seconds=s) for s in range(1, 101)]
    recent = [timedelta(seconds=s) for s in range(1, 21)]
    await trades(mongo_db, old + recent)
    calls = 0

    async def dies_in_the_third_batch() -> int:
        nonlocal calls
        calls += 1
        if calls == 4:  # the run's check, two batches deleted, the third one read
            raise Crash
        return 7

    with pytest.raises(Crash):
        await job(mongo_db, pg_pool, dies_in_the_third_batch, batch_size=10).run()
    # Exactly the 20 oldest went (oldest first); nothing recent was touched.
    left = await ids(mongo_db, "trades_BTCUSDT")
    assert left == {ms(age) for age in old[:80] + recent}
    assert await rows(pg_pool, "SELECT * FROM retention_runs") == []

    report = await job(mongo_db, pg_pool, always_leader, batch_size=10).run()
    assert (report.status, report.deleted) == ("completed", 80)
    assert await ids(mongo_db, "trades_BTCUSDT") == {ms(age) for age in recent}


async def test_a_backlog_beyond_the_batch_cap_is_partial_and_goes_on_next_run(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    await trades(mongo_db, [FIVE_MINUTES + timedelta(seconds=s) for s in range(1, 51)])

    first = await job(mongo_db, pg_pool, always_leader, batch_size=10, max_batches=3).run()
    assert (first.status, first.deleted) == ("partial", 30)
    assert await ids(mongo_db, "trades_BTCUSDT") == {
        ms(timedelta(seconds=s)) for s in range(301, 321)
    }

    second = await job(mongo_db, pg_pool, always_leader, batch_size=10, max_batches=3).run()
    assert (second.status, second.deleted) == ("completed", 20)
    statuses = await rows(pg_pool, "SELECT status FROM retention_runs ORDER BY id")
    assert [row["status"] for row in statuses] == ["partial", "completed"]


@pytest.mark.parametrize("ratio", [2.0, 0.0])
async def test_each_query_is_followed_by_a_pause_of_ratio_times_its_duration(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, ratio: float
) -> None:
    await trades(mongo_db, [FIVE_MINUTES + timedelta(seconds=s) for s in range(1, 26)])
    steps: list[str | float] = []
    ticks = itertools.count(step=0.25)  # every query "takes" 0.25 s: read before and after

    async def verify() -> int:
        steps.append("verify")
        return 7

    async def sleep(seconds: float) -> None:
        steps.append(seconds)

    report = await RetentionJob(
        db=mongo_db,
        pool=pg_pool,
        horizons=HORIZONS,
        batch_size=10,
        max_batches=100,
        verify_leadership=verify,
        pod_id="test",
        pause_ratio=ratio,
        clock=lambda: NOW,
        sleep=sleep,
        timer=lambda: next(ticks),
    ).run()

    assert (report.status, report.deleted) == ("completed", 25)
    if ratio == 0:
        assert steps == ["verify"] * 4  # the run's check, then one before each delete
        return
    pause = ratio * 0.25
    # Three batches (10, 10, 5): each read and each delete is followed by its pause, and the
    # lease is checked after the read's pause, right before the delete.
    assert steps == ["verify", *[pause, "verify", pause] * 3]


async def test_a_follower_deletes_nothing_and_a_deposed_leader_stops_at_once(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    await trades(mongo_db, [FIVE_MINUTES + timedelta(seconds=s) for s in range(1, 51)])
    leader = LeaderElector(mongo_db, role="auditor", pod_id="a", lease_seconds=30)
    follower = LeaderElector(mongo_db, role="auditor", pod_id="b", lease_seconds=30)
    assert await leader.try_acquire()
    assert not await follower.try_acquire()
    term = leader.term

    with pytest.raises(LostLeadership):
        await job(mongo_db, pg_pool, follower.verify, batch_size=10).run()
    assert len(await ids(mongo_db, "trades_BTCUSDT")) == 50
    assert await rows(pg_pool, "SELECT * FROM retention_runs") == []

    calls = 0

    async def steps_down_after_two_batches() -> int:
        nonlocal calls
        calls += 1
        if calls == 4:
            await leader.step_down()  # the lease is gone before the third delete
        return await leader.verify()

    with pytest.raises(LostLeadership):
        await job(mongo_db, pg_pool, steps_down_after_two_batches, batch_size=10).run()
    assert len(await ids(mongo_db, "trades_BTCUSDT")) == 30
    [run] = await rows(pg_pool, "SELECT status, deleted, leader_term FROM retention_runs")
    assert (run["status"], run["deleted"], run["leader_term"]) == ("aborted", 20, term)


async def test_a_pause_between_retention_queries_is_cut_short_by_shutdown() -> None:
    stop = asyncio.Event()
    waited = asyncio.create_task(_pause_unless_stopping(stop, 0.05))
    await asyncio.wait_for(waited, 5)  # without a stop, the pause ends on its own
    started = time.monotonic()
    pausing = asyncio.create_task(_pause_unless_stopping(stop, 60))
    await asyncio.sleep(0.05)
    assert not pausing.done()
    stop.set()
    await asyncio.wait_for(pausing, 5)
    assert time.monotonic() - started < 5
