"""Audit cycles against real FerretDB, PostgreSQL and NATS: exact gaps, duplicates, scores,
known-gap tracking, duplicate removal and auto-backfill requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import orjson
import pytest
from bson import ObjectId
from petrosa_auditor.catalog_refresh import refresh_record_counts
from petrosa_auditor.cycle import AuditCycle
from petrosa_auditor.service import NatsPublisher
from petrosa_auditor.settings import AuditorSettings
from petrosa_common.documents import event_writes, to_document
from petrosa_common.events import Kline
from petrosa_common.leases import LeaderElector
from petrosa_common.nats import sync_with_server
from petrosa_common.postgres import PgPool
from petrosa_devtools.infra import InfraUrls
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration
NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)  # 30 s into the 12:00 candle
Document = dict[str, Any]


def candle(symbol: str, interval: str, opened: datetime) -> Document:
    seconds = {"1m": 60, "1h": 3600}[interval]
    open_ms = int(opened.timestamp() * 1000)
    kline = Kline(
        symbol,
        interval,
        opened,
        opened + timedelta(seconds=seconds - 0.001),
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
    return to_document(event_writes(kline)[0], opened + timedelta(seconds=seconds))


async def store(
    db: AsyncDatabase[Document], symbol: str, interval: str, opens: list[datetime]
) -> None:
    await db[f"candles_{symbol}_{interval}"].insert_many(
        [candle(symbol, interval, t) for t in opens]
    )


def minutes(start: datetime, count: int, *, skip: Collection[int] = ()) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(count) if i not in skip]


class Events:
    def __init__(self) -> None:
        self.by_subject: dict[str, list[dict[str, Any]]] = {}

    def of(self, subject: str) -> list[dict[str, Any]]:
        return self.by_subject.get(subject, [])


@pytest.fixture
async def events(own_nats_infra: InfraUrls) -> AsyncIterator[tuple[Events, Any]]:
    # A NATS server of its own: a `make dev` auditor on the shared one publishes these subjects.
    nc = await nats.connect(own_nats_infra.nats_url)
    seen = Events()

    async def on_message(msg: Any) -> None:
        seen.by_subject.setdefault(msg.subject, []).append(orjson.loads(msg.data))

    await nc.subscribe("data_manager.>", cb=on_message)
    yield seen, nc
    await nc.close()


def make_cycle(
    db: AsyncDatabase[Document], pg_pool: PgPool, nc: Any, **overrides: Any
) -> AuditCycle:
    settings = AuditorSettings(
        supported_pairs=["BTCUSDT"],
        audit_timeframes=["1m", "1h"],
        audit_lookback=3 * 3600,
        enable_leader_election=False,
        **overrides,
    )
    elector = LeaderElector(db, role="auditor", pod_id="test", enabled=False)
    return AuditCycle(
        db=db,
        pool=pg_pool,
        publisher=NatsPublisher(nc),
        settings=settings,
        verify_leadership=elector.verify,
        pod_id="test",
    )


async def rows(pg_pool: PgPool, sql: str) -> list[dict[str, Any]]:
    async with pg_pool.connection() as conn:
        return await (await conn.execute(sql)).fetchall()


async def settle(nc: Any) -> None:
    await sync_with_server(nc)
    await asyncio.sleep(0.3)


async def test_cycle_finds_exact_gaps_scores_and_tracks_them_across_cycles(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, events: tuple[Events, Any]
) -> None:
    seen, nc = events
    window_start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # 3 h ending at 12:00
    # 1m: 180 candles minus 10:00-10:09 (10 missing) and 11:30-11:32 (3 missing).
    missing = set(range(60, 70)) | set(range(150, 153))
    await store(mongo_db, "BTCUSDT", "1m", minutes(window_start, 180, skip=missing))
    # 1h: 09:00 and 11:00 present, 10:00 missing (60 min: a gap).
    await store(mongo_db, "BTCUSDT", "1h", [window_start, window_start + timedelta(hours=2)])
    cycle = make_cycle(mongo_db, pg_pool, nc)

    record = await cycle.run(now=NOW)
    assert (record["datasets_audited"], record["gaps"], record["errors"]) == (2, 3, 0)
    gaps = await rows(
        pg_pool,
        "SELECT dataset_id, gap_start, gap_end, missing_candles, severity,"
        " status FROM audit_gaps ORDER BY dataset_id, gap_start",
    )
    at = lambda h, m: datetime(2024, 3, 1, h, m, tzinfo=UTC)  # noqa: E731
    assert [
        (
            g["dataset_id"],
            g["gap_start"],
            g["gap_end"],
            g["missing_candles"],
            g["severity"],
            g["status"],
        )
        for g in gaps
    ] == [
        ("candles_BTCUSDT_1h", at(10, 0), at(11, 0), 1, "high", "open"),
        ("candles_BTCUSDT_1m", at(10, 0), at(10, 10), 10, "medium", "open"),
        ("candles_BTCUSDT_1m", at(11, 30), at(11, 33), 3, "low", "open"),
    ]
    health = {r["dataset_id"]: r for r in await rows(pg_pool, "SELECT * FROM health_metrics")}
    one_minute = health["candles_BTCUSDT_1m"]
    assert one_minute["completeness"] == pytest.approx(167 / 180 * 100)
    assert one_minute["consistency"] == 80.0  # 2 gaps
    assert one_minute["freshness"] == pytest.approx(100 - 30 / 300 * 100)  # closed 30 s ago
    datasets = {r["id"]: r for r in await rows(pg_pool, "SELECT * FROM datasets")}
    assert datasets["candles_BTCUSDT_1m"]["last_timestamp"] == at(11, 59)
    assert datasets["candles_BTCUSDT_1m"]["record_count"] is None  # the catalog job counts
    for dataset_id, row in datasets.items():  # the catalog holds each dataset's latest level
        assert row["health_level"] == health[dataset_id]["level"]
    assert datasets["candles_BTCUSDT_1m"]["update_frequency_seconds"] == 60
    assert datasets["candles_BTCUSDT_1m"]["tags"] == ["kind:candles"]
    counts = await refresh_record_counts(
        mongo_db,
        pg_pool,
        ["candles_BTCUSDT_1m", "candles_BTCUSDT_1h"],
        concurrency=2,
        verify_leadership=LeaderElector(mongo_db, role="auditor", pod_id="t", enabled=False).verify,
    )
    assert counts == {"candles_BTCUSDT_1m": 167, "candles_BTCUSDT_1h": 2}
    datasets = {r["id"]: r for r in await rows(pg_pool, "SELECT * FROM datasets")}
    assert datasets["candles_BTCUSDT_1m"]["record_count"] == 167
    assert datasets["candles_BTCUSDT_1m"]["counted_at"] is not None
    await settle(nc)
    assert len(seen.of("data_manager.audit.gap")) == 3
    assert seen.of("data_manager.audit.cycle")[-1]["gaps"] == 3

    # Second cycle: the same gaps are updated, not logged again.
    await cycle.run(now=NOW + timedelta(seconds=5))
    gap_logs = await rows(pg_pool, "SELECT * FROM audit_logs WHERE check_type = 'gap'")
    assert len(gap_logs) == 3
    assert len(await rows(pg_pool, "SELECT * FROM audit_gaps")) == 3

    # Fill the 11:30 gap: the next cycle marks it resolved.
    await store(mongo_db, "BTCUSDT", "1m", [at(11, 30), at(11, 31), at(11, 32)])
    await cycle.run(now=NOW + timedelta(seconds=10))
    statuses = await rows(
        pg_pool,
        "SELECT gap_start, status FROM audit_gaps"
        " WHERE dataset_id = 'candles_BTCUSDT_1m' ORDER BY gap_start",
    )
    assert [(r["gap_start"], r["status"]) for r in statuses] == [
        (at(10, 0), "open"),
        (at(11, 30), "resolved"),
    ]
    await settle(nc)
    assert [e["status"] for e in seen.of("data_manager.audit.gap")][-1] == "resolved"


async def test_duplicates_are_detected_and_removed_keeping_the_newest(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, events: tuple[Events, Any]
) -> None:
    _, nc = events
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    await store(mongo_db, "BTCUSDT", "1m", minutes(start, 180))
    # Two extra copies of 10:00 written by another writer (other _id, later ingestion).
    copy = candle("BTCUSDT", "1m", datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    newer = {**copy, "_id": ObjectId(), "ingested_at": NOW, "close": 9.9}
    newest = {**copy, "_id": ObjectId(), "ingested_at": NOW + timedelta(seconds=1), "close": 8.8}
    await mongo_db["candles_BTCUSDT_1m"].insert_many([newer, newest])

    detect = await make_cycle(mongo_db, pg_pool, nc).run(now=NOW)
    assert detect["duplicates"] == 2
    assert await mongo_db["candles_BTCUSDT_1m"].count_documents({}) == 182

    remove = make_cycle(mongo_db, pg_pool, nc, enable_duplicate_removal=True)
    record = await remove.run(now=NOW)
    assert record["details"]["duplicates_removed"] == 2
    left = (
        await mongo_db["candles_BTCUSDT_1m"]
        .find({"timestamp": datetime(2024, 3, 1, 10, 0, tzinfo=UTC)})
        .to_list()
    )
    assert [(d["_id"], d["close"]) for d in left] == [(newest["_id"], 8.8)]
    removal_logs = await rows(
        pg_pool, "SELECT details FROM audit_logs WHERE check_type = 'duplicate_removal'"
    )
    assert sorted(removal_logs[0]["details"]["removed_ids"]) == sorted(
        [
            str(newer["_id"]),
            "BTCUSDT_" + str(int(datetime(2024, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)),
        ]
    )


async def test_auto_backfill_requests_big_gaps_once_within_the_job_limit(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, events: tuple[Events, Any]
) -> None:
    seen, nc = events
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    # Three gaps of 30, 20 and 5 minutes in the 1m series.
    missing = set(range(10, 40)) | set(range(60, 80)) | set(range(100, 105))
    await store(
        mongo_db,
        "BTCUSDT",
        "1m",
        [t for i, t in enumerate(minutes(start, 180)) if i not in missing],
    )
    await store(mongo_db, "BTCUSDT", "1h", [start + timedelta(hours=h) for h in range(3)])
    cycle = make_cycle(
        mongo_db,
        pg_pool,
        nc,
        enable_auto_backfill=True,
        min_auto_backfill_gap=600,
        max_auto_backfill_jobs=1,
    )
    await cycle.run(now=NOW)
    await cycle.run(now=NOW + timedelta(seconds=5))  # first still pending: no second request
    await settle(nc)
    requests = seen.of("data_manager.backfill.request")
    assert len(requests) == 1
    assert isinstance(requests[0]["details"].pop("gap_id"), int)
    assert requests[0] == {
        "symbol": "BTCUSDT",
        "data_type": "candles",
        "timeframe": "1m",
        "start": "2024-03-01T09:10:00Z",
        "end": "2024-03-01T09:40:00Z",
        "priority": 2,
        "requested_by": "auditor",
        "details": {"severity": "medium"},
    }
    # Once it is filled, the next biggest gap gets its request.
    await store(mongo_db, "BTCUSDT", "1m", [start + timedelta(minutes=i) for i in range(10, 40)])
    await cycle.run(now=NOW + timedelta(seconds=10))
    await settle(nc)
    assert [(r["start"], r["end"]) for r in seen.of("data_manager.backfill.request")] == [
        ("2024-03-01T09:10:00Z", "2024-03-01T09:40:00Z"),
        ("2024-03-01T10:00:00Z", "2024-03-01T10:20:00Z"),
    ]


async def test_holes_in_the_agg_trade_id_sequence_are_found(
    mongo_db: AsyncDatabase[Document], pg_pool: PgPool, events: tuple[Events, Any]
) -> None:
    _, nc = events
    base = NOW - timedelta(minutes=30)
    ids = [i for i in range(1000, 1200) if not (1050 <= i < 1060 or i == 1150)]
    await mongo_db["agg_trades_BTCUSDT"].insert_many(
        [
            {
                "_id": i,
                "symbol": "BTCUSDT",
                "agg_trade_id": i,
                "price": 1.0,
                "quantity": 1.0,
                "timestamp": base + timedelta(seconds=i - 1000),
                "ingested_at": base,
            }
            for i in ids
        ]
    )
    record = await make_cycle(mongo_db, pg_pool, nc).run(now=NOW)
    assert record["errors"] == 0
    holes = await rows(
        pg_pool,
        "SELECT gap_start, gap_end, missing_candles, timeframe"
        " FROM audit_gaps WHERE dataset_id = 'agg_trades_BTCUSDT'"
        " ORDER BY gap_start",
    )
    assert [
        (h["gap_start"], h["gap_end"], h["missing_candles"], h["timeframe"]) for h in holes
    ] == [
        (base + timedelta(seconds=49), base + timedelta(seconds=60), 10, "aggTrade"),
        (base + timedelta(seconds=149), base + timedelta(seconds=151), 1, "aggTrade"),
    ]
