"""Every read of an audit cycle and of the count refresh is bounded, asserted on the commands
sent (pymongo command monitoring on real FerretDB), not on timings: a read that walks a
whole series collection fails here as it would cost a collection scan on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from petrosa_auditor.catalog_refresh import refresh_record_counts
from petrosa_auditor.cycle import AuditCycle
from petrosa_auditor.series_audit import AGG_AUDIT_MAX_TRADES, Window, audit_agg_ids
from petrosa_auditor.settings import AuditorSettings
from petrosa_common.leases import LeaderElector
from petrosa_common.postgres import PgPool
from petrosa_common.time import to_epoch_ms
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.market_data import klines, store
from petrosa_devtools.mongo_reads import one_metadata_count, recording_database
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration
Document = dict[str, Any]
NOW = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)  # 30 s into the candle after the seeded ones
LOOKBACK = timedelta(hours=3)
AGG_LOOKBACK = timedelta(minutes=30)


class Silent:
    """A publisher that drops events (this test looks at reads only)."""

    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        return None


def agg_trade(agg_id: int, at: datetime) -> Document:
    return {
        "_id": agg_id,
        "symbol": "BTCUSDT",
        "agg_trade_id": agg_id,
        "price": 1.0,
        "quantity": 1.0,
        "timestamp": at,
        "ingested_at": at,
    }


async def test_a_cycle_reads_each_series_over_its_window_only(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, infra_urls: InfraUrls
) -> None:
    # History far beyond the windows: a cycle must not read it.
    await store(mongo_db, klines("BTCUSDT", "1m", 600, seed=1))
    await store(mongo_db, klines("BTCUSDT", "1h", 200, seed=2))
    await mongo_db["agg_trades_BTCUSDT"].insert_many(
        [agg_trade(i, NOW - timedelta(seconds=5 * i)) for i in range(1, 1000)]
    )
    settings = AuditorSettings(
        supported_pairs=["BTCUSDT"],
        audit_timeframes=["1m", "1h"],
        audit_lookback=LOOKBACK.total_seconds(),
        audit_agg_trades_lookback=AGG_LOOKBACK.total_seconds(),
        enable_leader_election=False,
    )
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        cycle = AuditCycle(
            db=db,
            pool=pg_pool,
            publisher=Silent(),
            settings=settings,
            verify_leadership=LeaderElector(db, role="auditor", pod_id="t", enabled=False).verify,
            pod_id="t",
        )
        record = await cycle.run(now=NOW)

    assert record["errors"] == 0
    series = reads.of("candles_", "agg_trades_")
    assert sorted(r.collection for r in series) == [
        "agg_trades_BTCUSDT",
        "candles_BTCUSDT_1h",
        "candles_BTCUSDT_1m",
    ]
    assert reads.unbounded("candles_", "agg_trades_", max_span=LOOKBACK) == []
    candle_reads = reads.of("candles_")
    assert {r.time_span() for r in candle_reads} == {LOOKBACK}
    (agg,) = reads.of("agg_trades_")
    assert agg.time_span() == AGG_LOOKBACK
    assert agg.sort == ("timestamp",)  # newest first on the timestamp index
    assert agg.raw["sort"] == {"timestamp": -1}
    assert agg.limit == AGG_AUDIT_MAX_TRADES + 1


async def test_the_agg_id_audit_reads_the_newest_trades_up_to_its_cap(
    mongo_db: AsyncDatabase[Document], infra_urls: InfraUrls
) -> None:
    base = NOW - timedelta(minutes=20)

    def at(agg_id: int) -> datetime:
        return base + timedelta(seconds=agg_id)

    # Ids 1..200 one second apart, except 98, 99 and 100 in one millisecond (the cut falls
    # inside it); holes at 40..44 (older than the newest 100 trades) and at 150.
    ids = [i for i in range(1, 201) if not (40 <= i <= 44 or i == 150)]
    stamps = {i: at(100) if 98 <= i <= 100 else at(i) for i in ids}
    await mongo_db["agg_trades_BTCUSDT"].insert_many([agg_trade(i, stamps[i]) for i in ids])
    window = Window(to_epoch_ms(base), to_epoch_ms(NOW))

    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        capped = await audit_agg_ids(db, symbol="BTCUSDT", window=window, max_trades=100)
        whole = await audit_agg_ids(db, symbol="BTCUSDT", window=window)

    # The newest 100 trades hold ids 101..200 but 150; the 101st is in the 100-second
    # millisecond, which is dropped whole, so the audit covers (at(100), end) exactly.
    assert capped.window == Window(to_epoch_ms(at(100)) + 1, window.end_ms)
    assert capped.records_in_window == 99
    assert [(g.start_ms, g.end_ms, g.missing_candles) for g in capped.gaps] == [
        (to_epoch_ms(at(149)), to_epoch_ms(at(151)), 1)
    ]
    assert capped.first_ms == to_epoch_ms(at(101))
    # Under the default cap the whole window is read: both holes.
    assert whole.window == window
    assert [g.missing_candles for g in whole.gaps] == [5, 1]
    assert [read.limit for read in reads.of("agg_trades_")] == [101, AGG_AUDIT_MAX_TRADES + 1]
    assert reads.unbounded("agg_trades_", max_span=NOW - base) == []


async def test_the_count_refresh_asks_for_metadata_counts_only(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, infra_urls: InfraUrls
) -> None:
    await store(mongo_db, klines("BTCUSDT", "1m", 50, seed=3))
    await store(mongo_db, klines("ETHUSDT", "1m", 20, seed=4))
    datasets = ["candles_BTCUSDT_1m", "candles_ETHUSDT_1m"]
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        counts = await refresh_record_counts(
            db,
            pg_pool,
            datasets,
            concurrency=2,
            verify_leadership=LeaderElector(db, role="auditor", pod_id="t", enabled=False).verify,
        )
    assert counts == {"candles_BTCUSDT_1m": 50, "candles_ETHUSDT_1m": 20}
    # One metadata count per dataset (O(1) on MongoDB), never an aggregation
    # (count_documents) over the documents.
    for name in datasets:
        assert one_metadata_count(reads.of(name)), reads.all
    assert {read.collection for read in reads.all} == set(datasets)
