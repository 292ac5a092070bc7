"""The dataset catalog in PostgreSQL: which series exist and where their data came from.

Who keeps which column of ``datasets`` true (see docs/catalog.md):

* the writers (ingestor, backfiller, analytics) register a dataset on its first write with
  its kind, symbol, timeframe, storage and collection, its update frequency (a candle
  series' timeframe; analytics: the cycle interval; ``NULL`` for event streams, which change
  as events arrive) and its tags (``kind:<kind>``, ``source:<websocket|backfill|analytics>``;
  a second writer adds its source tag);
* the schema registry names the registered schema (:func:`set_dataset_schema`);
* the auditor writes the health level, the time bounds and the record count.

Lineage edges ``source -> process -> target`` are recorded once and touched (``last_seen``)
every time a writer records them again; ``created_at`` is when they were first seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from petrosa_common.naming import DatasetKind, parse_collection_name
from petrosa_common.postgres import PgPool
from petrosa_common.timeframes import timeframe_seconds


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``process`` moves data from ``source`` (a dataset id or an external source such as
    ``nats:<subject>``) into dataset ``target``; ``details`` are merged into the stored ones."""

    source: str
    process: str
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)


def dataset_tags(kind: str, source: str | None = None) -> list[str]:
    """The tags a writer gives a dataset: its kind and (when known) the source writing it."""
    tags = [f"kind:{kind}"]
    if source is not None:
        tags.append(f"source:{source}")
    return tags


# Insert, or merge the tags and fill a missing frequency; ``updated_at`` moves only when
# something changed (registration is repeated after every restart).
_UPSERT_DATASET = (
    "INSERT INTO datasets (id, kind, symbol, timeframe, storage, collection,"
    " update_frequency_seconds, tags) VALUES (%s, %s, %s, %s, 'mongodb', %s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET"
    " tags = ARRAY(SELECT DISTINCT t FROM unnest(datasets.tags || EXCLUDED.tags) t ORDER BY t),"
    " update_frequency_seconds = COALESCE(datasets.update_frequency_seconds,"
    " EXCLUDED.update_frequency_seconds), updated_at = now()"
    " WHERE NOT datasets.tags @> EXCLUDED.tags OR (datasets.update_frequency_seconds IS NULL"
    " AND EXCLUDED.update_frequency_seconds IS NOT NULL)"
)


async def register_datasets(
    pool: PgPool, collections: Iterable[str], *, source: str | None = None
) -> None:
    """Record market-series collections in ``datasets`` (kind, symbol, timeframe, update
    frequency, tags); for those already there only a new ``source`` tag is added."""
    rows = []
    for collection in collections:
        series = parse_collection_name(collection)
        if series is None:
            raise ValueError(f"{collection!r} is not a market series collection")
        frequency = (
            float(timeframe_seconds(series.timeframe))
            if series.kind is DatasetKind.CANDLES and series.timeframe is not None
            else None
        )
        kind, tags = series.kind.value, dataset_tags(series.kind.value, source)
        rows.append(
            (collection, kind, series.symbol, series.timeframe, collection, frequency, tags)
        )
    if not rows:
        return
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(_UPSERT_DATASET, rows)


async def register_derived_dataset(
    pool: PgPool,
    *,
    dataset_id: str,
    kind: str,
    collection: str,
    update_frequency_seconds: float | None = None,
    tags: Sequence[str] = (),
) -> None:
    """Record a dataset computed from others (e.g. an analytics result family)."""
    async with pool.connection() as conn:
        await conn.execute(
            _UPSERT_DATASET,
            (
                dataset_id,
                kind,
                None,
                None,
                collection,
                update_frequency_seconds,
                sorted({f"kind:{kind}", *tags}),
            ),
        )


_UPSERT_EDGE = (
    "INSERT INTO lineage_edges (source, process, target, details) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (source, process, target) DO UPDATE SET last_seen = now(),"
    " details = lineage_edges.details || EXCLUDED.details"
)


async def record_lineage_edges(pool: PgPool, edges: Sequence[LineageEdge]) -> None:
    """Record edges (first time) or touch them (``last_seen``, details merged), in one go."""
    if not edges:
        return
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            _UPSERT_EDGE,
            [(e.source, e.process, e.target, Jsonb(dict(e.details))) for e in edges],
        )


async def record_lineage(
    pool: PgPool, *, source: str, process: str, target: str, details: dict[str, Any] | None = None
) -> None:
    """Record that ``process`` moves data from ``source`` into dataset ``target``."""
    await record_lineage_edges(pool, [LineageEdge(source, process, target, details or {})])


async def set_dataset_schema(pool: PgPool, dataset_id: str, *, name: str, version: int) -> bool:
    """Name the registered schema (``schemas`` entry ``name`` at ``version``) of a dataset;
    ``False`` when the dataset is not catalogued."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "UPDATE datasets SET schema_name = %s, schema_version = %s, updated_at = now()"
            " WHERE id = %s",
            (name, version, dataset_id),
        )
        return cursor.rowcount > 0
