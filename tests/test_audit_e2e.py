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
from petrosa_common.nats import sync_with_server
from petrosa_devtools.infra import InfraUrls
from pymongo.asynchronous.database import AsyncDatabase

from .audit_support import gapped_kline_frames, run_auditor_once
from .ingest_support import ingest_all

pytestmark = pytest.mark.e2e
MINUTE = 60_000


async def test_auditor_finds_exactly_the_injected_gaps_and_duplicates(
    own_nats_infra: InfraUrls,
    mongo_db: AsyncDatabase[dict[str, Any]],
    postgres_url: str,
    subject_prefix: str,
    tmp_path: Path,
) -> None:
    frames, gap_a, gap_b = gapped_kline_frames(int(time.time() * 1000))
    await ingest_all(
        (f.payload for f in frames),
        len(frames),
        infra=own_nats_infra,
        database=mongo_db.name,
        postgres_url=postgres_url,
        prefix=subject_prefix,
        log=tmp_path / "ingestor.log",
    )

    # A legacy writer stored two extra copies of one candle (other _id, same open time).
    candles = mongo_db["candles_BTCUSDT_1m"]
    original = await candles.find_one({}, sort=[("timestamp", 1)], skip=20)
    assert original is not None
    await candles.insert_many([{**original, "_id": ObjectId()}, {**original, "_id": ObjectId()}])

    nc = await nats.connect(own_nats_infra.nats_url)
    requests: list[dict[str, Any]] = []
    gap_events: list[dict[str, Any]] = []

    async def on_request(message: Any) -> None:
        requests.append(orjson.loads(message.data))

    async def on_gap(message: Any) -> None:
        gap_events.append(orjson.loads(message.data))

    await nc.subscribe("data_manager.backfill.request", cb=on_request)
    await nc.subscribe("data_manager.audit.gap", cb=on_gap)
    log = await run_auditor_once(
        own_nats_infra,
        database=mongo_db.name,
        postgres_url=postgres_url,
        log=tmp_path / "auditor.log",
        MAX_AUTO_BACKFILL_JOBS="5",
        POD_ID="auditor-e2e",
    )
    await sync_with_server(nc)
    await asyncio.sleep(0.5)
    await nc.close()
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
