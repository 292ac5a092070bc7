"""The analytics service on real NATS, PostgreSQL and a MongoDB-wire server (in process)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import orjson
import psycopg
import pytest
from petrosa_analytics.cycle import AnalyticsCycle
from petrosa_analytics.service import run
from petrosa_analytics.settings import AnalyticsSettings
from petrosa_common.analytics import (
    ANALYTICS_HISTORY_COLLECTION,
    ANALYTICS_LATEST_COLLECTION,
    MetricFamily,
    result_id,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import ANALYTICS_COMPUTE_SUBJECT, ANALYTICS_UPDATED_SUBJECT
from petrosa_common.postgres import PgPool
from petrosa_common.timeframes import timeframe_ms
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.market_data import END_MS, book, klines, store
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration
PAIRS = ["BTCUSDT", "ETHUSDT"]
WINDOWS = "volatility=30,volume=24,trend=20,deviation=20,seasonality=48,correlation=60"
SettingsFactory = Callable[..., AnalyticsSettings]


@pytest.fixture
def make_settings(
    infra_urls: InfraUrls, mongo_db: AsyncDatabase[Document], postgres_url: str
) -> SettingsFactory:
    def make(**overrides: Any) -> AnalyticsSettings:
        values: dict[str, Any] = {
            "nats_url": infra_urls.nats_url,
            "mongodb_url": infra_urls.mongodb_url,
            "mongodb_database": mongo_db.name,
            "postgres_url": postgres_url,
            "supported_pairs": ",".join(PAIRS),
            "analytics_timeframes": "1h",
            "analytics_windows": WINDOWS,
            "analytics_warmup_bars": 100,
            "metrics_port": 0,
            "health_port": 0,
            "leader_election_heartbeat_interval": 0.5,
            "leader_election_timeout": 3,
            **overrides,
        }
        return AnalyticsSettings(**values)

    return make


async def seed(db: AsyncDatabase[Document], bars: int = 300) -> None:
    for seed, symbol in enumerate(PAIRS):
        await store(db, klines(symbol, "1h", bars, seed=seed))
        await store(db, [book(symbol, 100.0 + seed)])


async def test_once_computes_every_family_of_every_series_as_leader(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], postgres_url: str
) -> None:
    await seed(mongo_db)
    settings = make_settings()
    client = await nats.connect(settings.nats_url)
    events: list[dict[str, Any]] = []

    async def on_event(msg: Any) -> None:
        events.append(orjson.loads(msg.data))

    await client.subscribe(ANALYTICS_UPDATED_SUBJECT, cb=on_event)
    await client.flush()
    try:
        assert await asyncio.wait_for(run(settings, once=True), 60) == 0
        await client.flush()
        await asyncio.sleep(0.2)
    finally:
        await client.close()

    latest = {doc["_id"]: doc async for doc in mongo_db[ANALYTICS_LATEST_COLLECTION].find({})}
    windows = {"volatility": 30, "volume": 24, "trend": 20, "deviation": 20, "seasonality": 48}
    expected = {
        result_id(MetricFamily(family), symbol, "1h", window)
        for symbol in PAIRS
        for family, window in {**windows, "regime": 30}.items()
    }
    expected |= {result_id(MetricFamily.SPREAD, symbol, None, 0) for symbol in PAIRS}
    expected.add(result_id(MetricFamily.CORRELATION, "BTCUSDT,ETHUSDT", "1h", 60))
    assert set(latest) == expected
    last_open = datetime.fromtimestamp((END_MS - timeframe_ms("1h")) / 1000, UTC)
    volatility = latest[result_id(MetricFamily.VOLATILITY, "BTCUSDT", "1h", 30)]
    assert volatility["input_range"]["last_open"] == last_open
    assert volatility["input_range"]["bars"] == 30
    assert volatility["data_completeness"] == 1.0
    assert volatility["term"] >= 1
    assert volatility["source"] == "candles_BTCUSDT_1h"
    assert volatility["values"]["annualized"] > 0
    regime = latest[result_id(MetricFamily.REGIME, "BTCUSDT", "1h", 30)]["values"]
    assert regime["volatility_level"] in {"low", "medium", "high"}
    assert 0 <= regime["confidence"] <= 1
    assert await mongo_db[ANALYTICS_HISTORY_COLLECTION].count_documents({}) == len(expected)

    assert len(events) == 1
    assert events[0]["results"] == len(expected)
    assert sorted(events[0]["keys"]) == sorted(expected)
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("SELECT id FROM datasets WHERE kind = 'analytics'")
        datasets = {row[0] for row in await cursor.fetchall()}
        cursor = await conn.execute("SELECT source, target FROM lineage_edges")
        edges = set(await cursor.fetchall())
    assert datasets == {f"analytics_{family.value}" for family in MetricFamily}
    assert ("candles_BTCUSDT_1h", "analytics_volatility") in edges
    assert ("depth_ETHUSDT", "analytics_spread") in edges


async def test_a_later_cycle_reads_only_the_new_bars(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    await seed(mongo_db)
    settings = make_settings(enable_leader_election=False)
    cycle = _cycle(mongo_db, settings, pg_pool)
    first = await cycle.run()
    # One new closed bar per series, then a cycle.
    for index, symbol in enumerate(PAIRS):
        later = klines(symbol, "1h", 301, seed=index, end_ms=END_MS + timeframe_ms("1h"))
        await store(mongo_db, later[-1:])
    second = await cycle.run()
    assert first.candles_read == 2 * settings.bars_to_keep("1h") == 2 * (60 + 100 + 50)
    assert second.candles_read == 2
    latest = await mongo_db[ANALYTICS_LATEST_COLLECTION].find_one(
        {"_id": result_id(MetricFamily.VOLATILITY, "ETHUSDT", "1h", 30)}
    )
    assert latest is not None
    assert latest["input_range"]["last_open"] == datetime.fromtimestamp(END_MS / 1000, UTC)


async def test_a_series_that_cannot_be_computed_is_counted_and_the_others_go_on(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    await store(mongo_db, klines("BTCUSDT", "1h", 300, seed=1))
    await store(mongo_db, klines("ETHUSDT", "1h", 10, seed=2))  # too few for any window
    settings = make_settings(enable_leader_election=False)
    report = await _cycle(mongo_db, settings, pg_pool).run()
    ids = {doc["_id"] async for doc in mongo_db[ANALYTICS_LATEST_COLLECTION].find({}, {"_id": 1})}
    assert result_id(MetricFamily.VOLATILITY, "BTCUSDT", "1h", 30) in ids
    assert result_id(MetricFamily.VOLATILITY, "ETHUSDT", "1h", 30) not in ids
    assert report.failures >= 4  # ETHUSDT's families, and both books are missing


async def test_open_candles_are_never_inputs(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document], pg_pool: PgPool
) -> None:
    await seed(mongo_db)
    forming = klines("BTCUSDT", "1h", 301, seed=0, end_ms=END_MS + timeframe_ms("1h"))[-1]
    forming.is_closed = False
    await store(mongo_db, [forming])
    settings = make_settings(enable_leader_election=False)
    await _cycle(mongo_db, settings, pg_pool).run()
    latest = await mongo_db[ANALYTICS_LATEST_COLLECTION].find_one(
        {"_id": result_id(MetricFamily.TREND, "BTCUSDT", "1h", 20)}
    )
    assert latest is not None
    last_closed = datetime.fromtimestamp((END_MS - timeframe_ms("1h")) / 1000, UTC)
    assert latest["input_range"]["last_open"] == last_closed


async def test_on_demand_windows_are_answered_over_nats_by_any_replica(
    make_settings: SettingsFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    await seed(mongo_db)
    settings = make_settings(analytics_interval=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    client = await nats.connect(settings.nats_url)
    try:
        reply = await _request(
            client, {"metric": "volatility", "pair": "btcusdt", "period": "1h", "window": "50"}
        )
        assert reply["result"]["window"] == 50
        assert reply["result"]["symbol"] == "BTCUSDT"
        assert reply["result"]["term"] == 0
        assert reply["result"]["values"]["annualized"] > 0
        duration = await _request(
            client, {"metric": "trend", "pair": "ETHUSDT", "period": "1h", "window": "2d"}
        )
        assert duration["result"]["window"] == 48
        matrix = await _request(
            client, {"metric": "correlation", "pairs": PAIRS, "period": "1h", "window": "100"}
        )
        assert set(matrix["result"]["values"]["correlation_matrix"]) == set(PAIRS)
        bad = await _request(client, {"metric": "volatility", "pair": "BTCUSDT", "period": "7m"})
        assert bad["error"] == "invalid_request"
        few = await _request(
            client, {"metric": "volatility", "pair": "BTCUSDT", "period": "1h", "window": "5000"}
        )
        assert few["error"] == "insufficient_data"
        junk = await client.request(ANALYTICS_COMPUTE_SUBJECT, b"{not json", timeout=10)
        assert orjson.loads(junk.data)["error"] == "invalid_request"
    finally:
        await client.close()
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


def test_help_prints_usage_and_connects_to_nothing() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "petrosa_analytics", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"NATS_URL": "nats://127.0.0.1:1", "MONGODB_URL": "mongodb://127.0.0.1:1"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "--once" in completed.stdout
    assert "usage: petrosa-analytics" in completed.stdout


async def _request(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    # The first requests may come before the service has subscribed.
    for _ in range(300):
        try:
            reply = await client.request(ANALYTICS_COMPUTE_SUBJECT, orjson.dumps(body), timeout=30)
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.1)
            continue
        return dict(orjson.loads(reply.data))
    raise AssertionError("the analytics service never answered")


def _cycle(
    db: AsyncDatabase[Document], settings: AnalyticsSettings, pool: PgPool
) -> AnalyticsCycle:
    async def verify() -> int:
        return 7

    async def publish(subject: str, payload: dict[str, Any]) -> None:
        return None

    return AnalyticsCycle(db=db, pool=pool, settings=settings, verify=verify, publish=publish)
