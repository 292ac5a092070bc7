"""Every read of an analytics cycle is bounded, asserted on the commands sent (pymongo command
monitoring on real FerretDB), not on timings: candles by ``keep`` bars on the ``timestamp``
index, books by a time range relative to the newest depth document."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from petrosa_analytics.books import BOOK_SNAPSHOT_LOOKBACK, latest_book
from petrosa_analytics.cycle import AnalyticsCycle
from petrosa_analytics.frames import CandleCache, read_latest
from petrosa_analytics.settings import AnalyticsSettings
from petrosa_common.events import Depth
from petrosa_common.mongo import Document
from petrosa_common.postgres import PgPool
from petrosa_common.time import from_epoch_ms
from petrosa_common.timeframes import timeframe_ms
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.market_data import END_MS, book, klines, store
from petrosa_devtools.mongo_reads import recording_database
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration
HOUR = timeframe_ms("1h")
MINUTE = 60_000


def diff(symbol: str, update_id: int, at_ms: int) -> Depth:
    """A depth diff (not a book) at ``at_ms``."""
    return dataclasses.replace(
        book(symbol, 100.0, update_id=update_id, at_ms=at_ms),
        first_update_id=update_id,
        is_snapshot=False,
    )


def make_cycle(db: AsyncDatabase[Document], pool: PgPool) -> tuple[AnalyticsCycle, int]:
    settings = AnalyticsSettings(
        supported_pairs="BTCUSDT",
        analytics_timeframes="1h",
        analytics_windows="volatility=30,volume=24,trend=20,deviation=20,seasonality=48,"
        "correlation=60",
        analytics_warmup_bars=20,
        enable_leader_election=False,
    )

    async def verify() -> int:
        return 1

    async def publish(subject: str, payload: dict[str, Any]) -> None:
        return None

    cycle = AnalyticsCycle(db=db, pool=pool, settings=settings, verify=verify, publish=publish)
    return cycle, settings.bars_to_keep("1h")


async def test_a_cycle_reads_at_most_keep_bars_and_a_bounded_book_range(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, infra_urls: InfraUrls
) -> None:
    await store(mongo_db, klines("BTCUSDT", "1h", 400, seed=1))
    # A book two hours before a stream of diffs: the diffs alone must not be walked.
    await store(mongo_db, [book("BTCUSDT", 100.0, update_id=1, at_ms=END_MS - 120 * MINUTE)])
    await store(
        mongo_db, [diff("BTCUSDT", 10 + i, END_MS - 90 * MINUTE + i * MINUTE) for i in range(90)]
    )
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        cycle, keep = make_cycle(db, pg_pool)
        first = await cycle.run()
        later = klines("BTCUSDT", "1h", 403, seed=1, end_ms=END_MS + 3 * HOUR)
        await store(mongo_db, later[-3:])
        second = await cycle.run()

    assert (first.candles_read, second.candles_read) == (keep, 3)
    assert (
        reads.unbounded("candles_", "depth_", max_span=BOOK_SNAPSHOT_LOOKBACK, max_limit=keep) == []
    )
    candle_reads = reads.of("candles_")
    assert [(r.sort, r.limit) for r in candle_reads] == [(("timestamp",), keep)] * 2
    depth_reads = reads.of("depth_")
    assert len(depth_reads) == 4  # per cycle: the newest depth time, then the bounded range
    assert [r.time_span() for r in depth_reads[1::2]] == [BOOK_SNAPSHOT_LOOKBACK] * 2


async def test_the_spread_book_is_the_newest_snapshot_within_the_lookback(
    mongo_db: AsyncDatabase[Document],
) -> None:
    assert await latest_book(mongo_db, "BTCUSDT") is None
    await store(mongo_db, [book("BTCUSDT", 100.0, update_id=1, at_ms=END_MS - 120 * MINUTE)])
    assert (await latest_book(mongo_db, "BTCUSDT") or {})["_id"] == 1  # the newest document
    await store(
        mongo_db, [diff("BTCUSDT", 10 + i, END_MS - 30 * MINUTE + i * MINUTE) for i in range(30)]
    )
    # The snapshot is 1 h 59 min older than the newest diff: not the current book.
    assert await latest_book(mongo_db, "BTCUSDT") is None
    assert (await latest_book(mongo_db, "BTCUSDT", lookback=timedelta(hours=2)) or {})["_id"] == 1
    await store(mongo_db, [book("BTCUSDT", 101.0, update_id=5, at_ms=END_MS - 40 * MINUTE)])
    await store(mongo_db, [book("BTCUSDT", 102.0, update_id=6, at_ms=END_MS - 35 * MINUTE)])
    found = await latest_book(mongo_db, "BTCUSDT")
    assert found is not None
    assert (found["_id"], found["timestamp"]) == (6, from_epoch_ms(END_MS - 35 * MINUTE))


async def test_a_top_up_after_a_long_pause_reads_keep_bars_at_most(
    mongo_db: AsyncDatabase[Document], infra_urls: InfraUrls
) -> None:
    await store(mongo_db, klines("BTCUSDT", "1h", 100, seed=2))
    keep = 30
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        cache = CandleCache(db, full_refresh_every=1_000)
        await cache.frame("BTCUSDT", "1h", keep)
        # 80 bars arrive before the next read (a long pause): only the newest 30 can stay.
        later = klines("BTCUSDT", "1h", 180, seed=2, end_ms=END_MS + 80 * HOUR)
        await store(mongo_db, later[-80:])
        before = cache.documents_read
        frame = await cache.frame("BTCUSDT", "1h", keep)
        assert cache.documents_read - before == keep
        assert frame.equals(await read_latest(db, "candles_BTCUSDT_1h", keep))
        # A top-up with one new bar reads that bar.
        await store(mongo_db, klines("BTCUSDT", "1h", 181, seed=2, end_ms=END_MS + 81 * HOUR)[-1:])
        before = cache.documents_read
        frame = await cache.frame("BTCUSDT", "1h", keep)
        assert cache.documents_read - before == 1
        assert frame.height == keep
        assert frame["open_time"][-1] == from_epoch_ms(END_MS + 80 * HOUR)
    assert [read.limit for read in reads.of("candles_")] == [keep] * 4
    assert reads.unbounded("candles_", max_limit=keep) == []


async def test_a_window_not_yet_full_is_read_whole_and_fills_with_backfilled_bars(
    mongo_db: AsyncDatabase[Document],
) -> None:
    history = klines("BTCUSDT", "1h", 40, seed=5)
    await store(mongo_db, history[-2:])  # a fresh run: only the live bars so far
    keep = 30
    cache = CandleCache(mongo_db, full_refresh_every=1_000)
    assert (await cache.frame("BTCUSDT", "1h", keep)).height == 2
    await store(mongo_db, history[:-2])  # the backfill of the history behind them lands
    frame = await cache.frame("BTCUSDT", "1h", keep)
    assert frame.height == keep
    assert frame.equals(await read_latest(mongo_db, "candles_BTCUSDT_1h", keep))
