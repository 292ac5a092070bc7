"""End to end: simulator frames -> ingestor -> petrosa-analytics -> gateway, as processes on
real NATS, PostgreSQL and a MongoDB-wire server; and the analytics lease between processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from petrosa_common.analytics import ANALYTICS_HISTORY_COLLECTION, ANALYTICS_LATEST_COLLECTION
from petrosa_common.leases import read_leases
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.market_data import klines, store
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_sim.faults import FaultConfig
from petrosa_sim.frames import FrameGenerator
from pymongo.asynchronous.database import AsyncDatabase

from .ingest_support import Document, ingest_all

pytestmark = pytest.mark.e2e
PAIRS = ["BTCUSDT", "ETHUSDT"]
START_MS = 1_704_067_200_000
LEASE, HEARTBEAT = 3.0, 0.5
WINDOWS = "volatility=20,volume=20,trend=20,deviation=20,seasonality=30,correlation=30"


def frames() -> list[bytes]:
    """About 45 minutes of 1m candles of two symbols, then book snapshots."""
    candles = FrameGenerator(
        PAIRS, seed=8, start_ms=START_MS, intervals=("1m",), kinds=("kline",)
    ).take(17_500)
    books = FrameGenerator(
        PAIRS,
        seed=9,
        start_ms=START_MS + 50 * 60_000,
        kinds=("depth",),
        faults=FaultConfig(partial_book_rate=1.0),
    ).take(40)
    return [frame.payload for frame in [*candles, *books]]


def analytics_env(infra_urls: InfraUrls, database: str, postgres_url: str) -> dict[str, str]:
    return {
        "NATS_URL": infra_urls.nats_url,
        "MONGODB_URL": infra_urls.mongodb_url,
        "MONGODB_DATABASE": database,
        "POSTGRES_URL": postgres_url,
        "SUPPORTED_PAIRS": ",".join(PAIRS),
        "ANALYTICS_TIMEFRAMES": "1m",
        "ANALYTICS_WINDOWS": WINDOWS,
        "ANALYTICS_WARMUP_BARS": "5",
        "ANALYTICS_CROSSOVER_FAST": "5",
        "ANALYTICS_CROSSOVER_SLOW": "10",
        "LEADER_ELECTION_TIMEOUT": str(LEASE),
        "LEADER_ELECTION_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "METRICS_PORT": "0",
        "HEALTH_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def gateway_url(
    infra_urls: InfraUrls, mongo_db: AsyncDatabase[Document], postgres_url: str, tmp_path: Path
) -> Iterator[str]:
    port = free_port()
    process = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            "NATS_URL": infra_urls.nats_url,
            "MONGODB_URL": infra_urls.mongodb_url,
            "MONGODB_DATABASE": mongo_db.name,
            "POSTGRES_URL": postgres_url,
            "SUPPORTED_PAIRS": ",".join(PAIRS),
            "API_PORT": str(port),
            "METRICS_PORT": "0",
            "API_DEV_MODE": "true",
            "LOG_LEVEL": "WARNING",
        },
        tmp_path / "gateway.log",
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until(lambda: _ok(f"{url}/health/readiness"), timeout=60)
        yield url
    finally:
        process.stop()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def test_ingested_frames_become_every_analysis_the_gateway_serves(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[Document],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
    gateway_url: str,
) -> None:
    payloads = frames()
    await ingest_all(
        payloads,
        len(payloads),
        infra=infra_urls,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    env = analytics_env(infra_urls, mongo_db.name, postgres_url)
    once = ServiceProcess(
        [sys.executable, "-m", "petrosa_analytics", "--once"], env, tmp_path / "once.log"
    )
    once.start()
    assert once.process is not None
    assert await asyncio.to_thread(once.process.wait, 120) == 0, once.log_tail()
    stored = await mongo_db[ANALYTICS_LATEST_COLLECTION].count_documents({})
    assert stored == 2 * 6 + 1 + 2, once.log_tail()  # 6 per series, correlation, 2 spreads

    responder = ServiceProcess.python_module(
        "petrosa_analytics", {**env, "ANALYTICS_INTERVAL": "3600"}, tmp_path / "analytics.log"
    )
    responder.start()
    try:
        responder.wait_ready(timeout=60)
        async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
            for family in ("volatility", "volume", "trend"):
                body = (await client.get(f"/analysis/{family}?pair=BTCUSDT&period=1m")).json()
                assert body["values"], body
                assert body["metadata"]["input_range"]["bars"] == 20
            volatility = (await client.get("/analysis/volatility?pair=ETHUSDT&period=1m")).json()
            assert volatility["values"][0]["annualized"] > 0
            for family in ("deviation", "seasonality", "regime"):
                body = (await client.get(f"/analysis/{family}?pair=ETHUSDT&period=1m")).json()
                assert body["data"], body
            regime = (await client.get("/analysis/regime?pair=BTCUSDT&period=1m")).json()
            assert regime["data"]["volatility_level"] in {"low", "medium", "high"}
            spread = (await client.get("/analysis/spread?pair=BTCUSDT")).json()
            assert spread["data"]["bid_ask_spread"] > 0
            matrix = (
                await client.get("/analysis/correlation?pairs=BTCUSDT,ETHUSDT&period=1m")
            ).json()
            assert matrix["correlation_matrix"]["BTCUSDT"]["BTCUSDT"] == pytest.approx(1.0)
            overview = (await client.get("/analysis/market-overview?period=1m")).json()
            assert overview["pairs_available"] == 2
            # A window nobody precomputed: petrosa-analytics computes it over NATS.
            on_demand = (
                await client.get("/analysis/trend?pair=BTCUSDT&period=1m&window=13")
            ).json()
            assert on_demand["values"][0]["sma"] > 0
            assert on_demand["metadata"]["on_demand"] is True
            assert on_demand["metadata"]["input_range"]["bars"] == 13
    finally:
        assert responder.stop() == 0, responder.log_tail()
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute(
            "SELECT source FROM lineage_edges WHERE target = 'analytics_volatility'"
        )
        sources = {row[0] for row in await cursor.fetchall()}
    assert sources == {"candles_BTCUSDT_1m", "candles_ETHUSDT_1m"}


def _terms_written(log: str) -> set[int]:
    terms = set()
    for line in log.splitlines():
        if '"analytics_cycle_completed"' in line:
            terms.add(int(json.loads(line)["term"]))
    return terms


async def test_one_of_three_computes_and_a_killed_leader_is_replaced_within_the_lease(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[Document],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    for seed, symbol in enumerate(PAIRS):
        await store(mongo_db, klines(symbol, "1m", 80, seed=seed))
    env = {**analytics_env(infra_urls, mongo_db.name, postgres_url), "ANALYTICS_INTERVAL": "1"}
    processes = {
        name: ServiceProcess.python_module(
            "petrosa_analytics",
            {**env, "POD_ID": name, "HEALTH_PORT": str(free_port())},
            tmp_path / f"{name}.log",
        ).start()
        for name in ("pod-a", "pod-b", "pod-c")
    }
    try:
        leader = await _wait_for_leader(mongo_db, timeout=30)
        await asyncio.sleep(3)  # a few cycles
        computing = {n for n, p in processes.items() if _terms_written(p.log_tail(10**7))}
        assert computing == {leader}

        processes[leader].kill9()
        killed_at = time.monotonic()
        successor = await _wait_for_leader(mongo_db, timeout=30, other_than=leader)
        took_over = time.monotonic() - killed_at
        assert took_over <= LEASE + HEARTBEAT + 1.0, took_over  # 1 s of scheduling slack
        deadline = time.monotonic() + 15
        while not _terms_written(processes[successor].log_tail(10**7)):
            assert time.monotonic() < deadline, processes[successor].log_tail()
            await asyncio.sleep(0.2)
    finally:
        for process in processes.values():
            if process.running:
                process.stop()
    written = {name: _terms_written(p.log_tail(10**7)) for name, p in processes.items()}
    assert written[leader]
    assert written[successor]
    # No term written by two pods. A third pod may hold a term too: stopping the successor
    # releases its lease, and the last pod running can take it over before it is stopped.
    for first, second in itertools.combinations(written.values(), 2):
        assert not first & second, written
    terms = {doc["term"] async for doc in mongo_db[ANALYTICS_HISTORY_COLLECTION].find({})}
    assert terms == set().union(*written.values())


async def _wait_for_leader(
    db: AsyncDatabase[Document], *, timeout: float, other_than: str | None = None
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for lease in await read_leases(db):
            now = datetime.now(UTC)
            if lease.role == "analytics" and not lease.expired(now) and lease.holder != other_than:
                return str(lease.holder)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no analytics leader (other than {other_than}) within {timeout} s")
