"""The dataset catalog in PostgreSQL: which series exist and where their data came from."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from petrosa_common.naming import parse_collection_name
from petrosa_common.postgres import PgPool


async def register_datasets(pool: PgPool, collections: list[str]) -> None:
    """Record market-series collections in ``datasets`` (no-op for those already there)."""
    rows = []
    for collection in collections:
        series = parse_collection_name(collection)
        if series is None:
            raise ValueError(f"{collection!r} is not a market series collection")
        rows.append((collection, series.kind.value, series.symbol, series.timeframe, collection))
    if not rows:
        return
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO datasets (id, kind, symbol, timeframe, storage, collection)"
            " VALUES (%s, %s, %s, %s, 'mongodb', %s) ON CONFLICT (id) DO NOTHING",
            rows,
        )


async def record_lineage(
    pool: PgPool, *, source: str, process: str, target: str, details: dict[str, Any] | None = None
) -> None:
    """Record (once) that ``process`` moves data from ``source`` into dataset ``target``."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO lineage_edges (source, process, target, details)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (source, process, target) DO NOTHING",
            (source, process, target, Jsonb(details or {})),
        )


async def register_derived_dataset(
    pool: PgPool, *, dataset_id: str, kind: str, collection: str
) -> None:
    """Record (once) a dataset computed from others (e.g. an analytics result family)."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO datasets (id, kind, storage, collection) VALUES (%s, %s, 'mongodb', %s)"
            " ON CONFLICT (id) DO NOTHING",
            (dataset_id, kind, collection),
        )
