"""End to end: simulator frames with injected gaps -> ingestor process -> MongoDB; legacy
duplicate copies; then one leader-elected audit cycle in a real auditor process finds exactly
those gaps and duplicates, scores drop accordingly, and auto-backfill requests are published."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nats
import orjson
import psycopg
import pytest
from bson import ObjectId
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_devtools.streams import publish
from petrosa_sim.faults import FaultConfig, GapWindow
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.kinds import KLINE
from pymongo.asynchronous.database import AsyncDatabase

from .ingest_support import delete_stream, ingestor_process, wait_drained

pytestmark = pytest.mark.e2e
MINUTE = 60_000


async def test_auditor_finds_exactly_the_injected_gaps_and_duplicates(
    infra_urls: InfraUrls,
    mongo_db: AsyncDatabase[dict[str, Any]],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
) -> None:
    now_ms = int(time.time() * 1000)
    minute_now = now_ms - now_ms % MINUTE
    start_ms = minute_now - 130 * MINUTE  # data begins before the audited 2 h window
    gap_a = GapWindow("BTCUSDT", "1m", minute_now - 100 * MINUTE, minute_now - 85 * MINUTE)
    gap_b = GapWindow("BTCUSDT", "1m", minute_now - 40 * MINUTE, minute_now - 30 * MINUTE)
    generator = FrameGenerator(
        ["BTCUSDT"],
        seed=8,
        start_ms=start_ms,
        intervals=("1m",),
        kinds={KLINE},
        faults=FaultConfig(gaps=(gap_a, gap_b), partial_book_rate=0.0),
    )
    frames = []
    while generator.now_ms < now_ms:
        frames.append(generator.next_frame())
    assert {(s, i, o) for s, i, o in generator.suppressed_candles} == {
        ("BTCUSDT", "1m", o)
        for window in (gap_a, gap_b)
        for o in range(window.start_ms, window.end_ms, MINUTE)
    }

    ingestor = ingestor_process(
        nats_url=infra_urls.nats_url,
        mongodb_url=infra_urls.mongodb_url,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )
    ingestor.start()
    try:
        ingestor.wait_ready()
        await publish(infra_urls.nats_url, f"{subject_prefix}.data", (f.payload for f in frames))
        await wait_drained(infra_urls.nats_url, subject_prefix.upper(), len(frames))
    finally:
        ingestor.stop()
        await delete_stream(infra_urls.nats_url, subject_prefix.upper())

    # A legacy writer stored two extra copies of one candle (other _id, same open time).
    candles = mongo_db["candles_BTCUSDT_1m"]
    original = await candles.find_one({}, sort=[("timestamp", 1)], skip=20)
    assert original is not None
    await candles.insert_many([{**original, "_id": ObjectId()}, {**original, "_id": ObjectId()}])

    nc = await nats.connect(infra_urls.nats_url)
    requests: list[dict[str, Any]] = []
    gap_events: list[dict[str, Any]] = []

    async def on_request(message: Any) -> None:
        requests.append(orjson.loads(message.data))

    async def on_gap(message: Any) -> None:
        gap_events.append(orjson.loads(message.data))

    await nc.subscribe("data_manager.backfill.request", cb=on_request)
    await nc.subscribe("data_manager.audit.gap", cb=on_gap)
    auditor = ServiceProcess(
        [*ServiceProcess.python_module("petrosa_auditor", {}, tmp_path / "x").command, "--once"],
        {
            "NATS_URL": infra_urls.nats_url,
            "MONGODB_URL": infra_urls.mongodb_url,
            "MONGODB_DATABASE": mongo_db.name,
            "POSTGRES_URL": postgres_url,
            "SUPPORTED_PAIRS": "BTCUSDT",
            "AUDIT_TIMEFRAMES": "1m",
            "AUDIT_LOOKBACK": "7200",
            "MIN_GAP_SIZE_SECONDS": "180",
            "ENABLE_AUTO_BACKFILL": "true",
            "MIN_AUTO_BACKFILL_GAP": "600",
            "MAX_AUTO_BACKFILL_JOBS": "5",
            "LEADER_ELECTION_TIMEOUT": "3",
            "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.5",
            "HEALTH_PORT": str(free_port()),
            "METRICS_PORT": "0",
            "POD_ID": "auditor-e2e",
        },
        tmp_path / "auditor.log",
    )
    auditor.start()
    assert auditor.process is not None
    exit_code = await asyncio.to_thread(auditor.process.wait, 90)
    await nc.flush()
    await asyncio.sleep(0.5)
    await nc.close()
    log = auditor.log_tail(50_000)
    assert exit_code == 0, log
    assert '"role":"LEADER"' in log

    with psycopg.connect(postgres_url) as conn:
        gaps = conn.execute(
            "SELECT gap_start, gap_end, missing_candles FROM audit_gaps ORDER BY gap_start"
        ).fetchall()
        health = conn.execute(
            "SELECT completeness, consistency, gaps, duplicates, level FROM health_metrics"
        ).fetchone()
        cycle = conn.execute("SELECT leader_term, pod_id, gaps FROM audit_cycles").fetchone()
    got = [(int(a.timestamp() * 1000), int(b.timestamp() * 1000), n) for a, b, n in gaps]
    assert got == [
        (gap_a.start_ms, gap_a.end_ms, 15),
        (gap_b.start_ms, gap_b.end_ms, 10),
    ]
    assert health is not None
    completeness, consistency, gap_count, duplicates, level = health
    assert (gap_count, duplicates) == (2, 2)
    assert consistency == 100 - 2 * 10 - 2 * 5
    assert completeness == pytest.approx((120 - 25) / 120 * 100, abs=1.0)
    assert level != "healthy"
    assert cycle is not None
    assert cycle[0] >= 1
    assert cycle[1] == "auditor-e2e"
    assert sorted((r["start"], r["end"]) for r in requests) == sorted(
        (_iso(w.start_ms), _iso(w.end_ms)) for w in (gap_a, gap_b)
    )
    assert all(r["requested_by"] == "auditor" for r in requests)
    assert len(gap_events) == 2


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
