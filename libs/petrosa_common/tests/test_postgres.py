"""Migrations against a real PostgreSQL: idempotent, and safe when services start together."""

from __future__ import annotations

import asyncio

import pytest
from petrosa_common.catalog import record_lineage, register_datasets
from petrosa_common.postgres import apply_migrations, create_pg_pool, migration_files

pytestmark = pytest.mark.integration


async def test_concurrent_start_ups_apply_each_migration_once(postgres_url: str) -> None:
    pools = [await create_pg_pool(postgres_url, min_size=1, max_size=2) for _ in range(3)]
    try:
        results = await asyncio.gather(*(apply_migrations(pool) for pool in pools))
        names = [name for name, _ in migration_files()]
        assert sorted(name for applied in results for name in applied) == names
        assert await apply_migrations(pools[0]) == []
        async with pools[0].connection() as conn:
            cursor = await conn.execute("SELECT name FROM schema_migrations ORDER BY name")
            assert [row["name"] for row in await cursor.fetchall()] == names
    finally:
        for pool in pools:
            await pool.close()


async def test_catalog_registration_is_idempotent(postgres_url: str) -> None:
    pool = await create_pg_pool(postgres_url)
    try:
        await apply_migrations(pool)
        for _ in range(2):
            await register_datasets(pool, ["candles_BTCUSDT_1m", "trades_ETHUSDT"])
            await record_lineage(pool, source="nats:x", process="ingestor", target="trades_ETHUSDT")
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, kind, symbol, timeframe FROM datasets ORDER BY id"
            )
            rows = [tuple(row.values()) for row in await cursor.fetchall()]
            edges = await (await conn.execute("SELECT count(*) AS n FROM lineage_edges")).fetchone()
        assert rows == [
            ("candles_BTCUSDT_1m", "candles", "BTCUSDT", "1m"),
            ("trades_ETHUSDT", "trades", "ETHUSDT", None),
        ]
        assert edges is not None
        assert edges["n"] == 1
        with pytest.raises(ValueError, match="not a market series"):
            await register_datasets(pool, ["dead_letters"])
    finally:
        await pool.close()
