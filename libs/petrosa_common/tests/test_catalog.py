"""The writers' catalog functions and the auditor's health level, on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from petrosa_common.catalog import (
    LineageEdge,
    record_lineage,
    record_lineage_edges,
    register_datasets,
    register_derived_dataset,
)
from petrosa_common.postgres import PgPool

pytestmark = pytest.mark.integration


async def row(pool: PgPool, dataset_id: str) -> dict[str, object]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT kind, tags, update_frequency_seconds, updated_at FROM datasets WHERE id = %s",
            (dataset_id,),
        )
        found = await cursor.fetchone()
    assert found is not None
    return found


async def test_second_writer_adds_its_source_tag_and_nothing_else(pg_pool: PgPool) -> None:
    await register_datasets(pg_pool, ["candles_BTCUSDT_4h", "depth_BTCUSDT"], source="websocket")
    first = await row(pg_pool, "candles_BTCUSDT_4h")
    assert first["tags"] == ["kind:candles", "source:websocket"]
    assert first["update_frequency_seconds"] == 4 * 3600
    assert (await row(pg_pool, "depth_BTCUSDT"))["update_frequency_seconds"] is None
    await register_datasets(pg_pool, ["candles_BTCUSDT_4h"], source="websocket")
    assert (await row(pg_pool, "candles_BTCUSDT_4h"))["updated_at"] == first["updated_at"]
    await register_datasets(pg_pool, ["candles_BTCUSDT_4h"], source="backfill")
    again = await row(pg_pool, "candles_BTCUSDT_4h")
    assert again["tags"] == ["kind:candles", "source:backfill", "source:websocket"]
    assert again["updated_at"] > first["updated_at"]  # type: ignore[operator]


async def test_derived_dataset_keeps_its_frequency_and_tags(pg_pool: PgPool) -> None:
    for _ in range(2):
        await register_derived_dataset(
            pg_pool,
            dataset_id="analytics_regime",
            kind="analytics",
            collection="analytics_latest",
            update_frequency_seconds=900,
            tags=["source:analytics"],
        )
    found = await row(pg_pool, "analytics_regime")
    assert found["tags"] == ["kind:analytics", "source:analytics"]
    assert found["update_frequency_seconds"] == 900


async def test_recording_an_edge_again_touches_it_and_merges_details(pg_pool: PgPool) -> None:
    await record_lineage(pg_pool, source="s", process="p", target="t", details={"a": 1})
    await asyncio.sleep(0.01)
    await record_lineage_edges(pg_pool, [LineageEdge("s", "p", "t", {"b": 2})])
    async with pg_pool.connection() as conn:
        cursor = await conn.execute("SELECT details, created_at, last_seen FROM lineage_edges")
        edges = await cursor.fetchall()
    assert len(edges) == 1
    assert edges[0]["details"] == {"a": 1, "b": 2}
    assert edges[0]["last_seen"] > edges[0]["created_at"]
