"""PostgreSQL side of an audit cycle: known gaps, health history, audit log, catalog, cycles.

Everything a cycle learned is written in ONE transaction at its end, so a cycle that is
interrupted (or loses leadership) leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from petrosa_common.catalog import dataset_tags
from petrosa_common.postgres import PgPool
from petrosa_common.time import from_epoch_ms
from petrosa_common.timeframes import timeframe_seconds
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from petrosa_auditor.gap_detector import Gap


@dataclass(frozen=True, slots=True)
class KnownGap:
    """An open gap recorded by an earlier cycle."""

    id: int
    dataset_id: str
    gap: Gap
    backfill_requested_at: datetime | None


async def open_gaps(pool: PgPool) -> dict[str, list[KnownGap]]:
    """Every open gap, by dataset."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, dataset_id, gap_start, gap_end, duration_seconds, missing_candles, kind,"
            " severity, backfill_requested_at FROM audit_gaps WHERE status = 'open'"
        )
        rows = await cursor.fetchall()
    known: dict[str, list[KnownGap]] = {}
    for row in rows:
        gap = Gap(
            start_ms=int(row["gap_start"].timestamp() * 1000),
            end_ms=int(row["gap_end"].timestamp() * 1000),
            duration_seconds=row["duration_seconds"],
            missing_candles=row["missing_candles"],
            kind=row["kind"],
            severity=row["severity"],
        )
        known.setdefault(row["dataset_id"], []).append(
            KnownGap(row["id"], row["dataset_id"], gap, row["backfill_requested_at"])
        )
    return known


async def insert_gap(
    conn: AsyncConnection[DictRow], dataset_id: str, symbol: str, timeframe: str, gap: Gap
) -> int:
    """Record a newly found gap; returns its id."""
    cursor = await conn.execute(
        "INSERT INTO audit_gaps (dataset_id, symbol, timeframe, gap_start, gap_end,"
        " duration_seconds, missing_candles, kind, severity) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            dataset_id,
            symbol,
            timeframe,
            from_epoch_ms(gap.start_ms),
            from_epoch_ms(gap.end_ms),
            gap.duration_seconds,
            gap.missing_candles,
            gap.kind,
            gap.severity,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row["id"])


async def update_gap(conn: AsyncConnection[DictRow], gap_id: int, gap: Gap) -> None:
    """A known gap seen again (possibly with new bounds): refresh it, do not log it again."""
    await conn.execute(
        "UPDATE audit_gaps SET gap_start = %s, gap_end = %s, duration_seconds = %s,"
        " missing_candles = %s, kind = %s, severity = %s, last_seen = now() WHERE id = %s",
        (
            from_epoch_ms(gap.start_ms),
            from_epoch_ms(gap.end_ms),
            gap.duration_seconds,
            gap.missing_candles,
            gap.kind,
            gap.severity,
            gap_id,
        ),
    )


async def resolve_gaps(conn: AsyncConnection[DictRow], gap_ids: list[int]) -> None:
    """Mark filled gaps resolved."""
    if gap_ids:
        await conn.execute(
            "UPDATE audit_gaps SET status = 'resolved', resolved_at = now() WHERE id = ANY(%s)",
            (gap_ids,),
        )


async def mark_backfill_requested(conn: AsyncConnection[DictRow], gap_ids: list[int]) -> None:
    """Remember that a backfill was requested for these gaps."""
    if gap_ids:
        await conn.execute(
            "UPDATE audit_gaps SET backfill_requested_at = now() WHERE id = ANY(%s)", (gap_ids,)
        )


async def add_logs(conn: AsyncConnection[DictRow], entries: list[dict[str, Any]]) -> None:
    """Append audit log entries (dataset, check type, severity, message, details)."""
    if not entries:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO audit_logs (dataset_id, symbol, timeframe, check_type, severity,"
            " message, details) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    e["dataset_id"],
                    e["symbol"],
                    e["timeframe"],
                    e["check_type"],
                    e["severity"],
                    e["message"],
                    Jsonb(e.get("details", {})),
                )
                for e in entries
            ],
        )


_HEALTH_DATASET, _HEALTH_LEVEL = 0, 7  # positions in a health_metrics row (below)


async def add_health(conn: AsyncConnection[DictRow], rows: list[tuple[Any, ...]]) -> None:
    """Append health metrics rows (history for trending) and keep each catalogued dataset's
    ``health_level`` equal to its latest level."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO health_metrics (dataset_id, symbol, timeframe, completeness, freshness,"
            " consistency, quality, level, gaps, duplicates, record_count, details)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        await cur.executemany(
            "UPDATE datasets SET health_level = %s, updated_at = now()"
            " WHERE id = %s AND health_level IS DISTINCT FROM %s",
            [(row[_HEALTH_LEVEL], row[_HEALTH_DATASET], row[_HEALTH_LEVEL]) for row in rows],
        )


async def update_datasets(conn: AsyncConnection[DictRow], rows: list[tuple[Any, ...]]) -> None:
    """Catalog rows ``(id, symbol, timeframe, collection, first, last)``: the earliest and
    latest timestamps seen and the audit time (record counts come from the count job). A
    candle series not catalogued yet is added with the writers' frequency and kind tag."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO datasets (id, kind, symbol, timeframe, storage, collection,"
            " first_timestamp, last_timestamp, last_audited_at, update_frequency_seconds, tags)"
            " VALUES (%s, 'candles', %s, %s, 'mongodb', %s, %s, %s, now(), %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET"
            " first_timestamp = LEAST(datasets.first_timestamp, EXCLUDED.first_timestamp),"
            " last_timestamp = GREATEST(datasets.last_timestamp, EXCLUDED.last_timestamp),"
            " last_audited_at = now()",
            [(*row, float(timeframe_seconds(row[2])), dataset_tags("candles")) for row in rows],
        )
    # A dataset catalogued just now missed add_health's update: take its latest level.
    await conn.execute(
        "UPDATE datasets d SET health_level = h.level, updated_at = now() FROM ("
        " SELECT DISTINCT ON (dataset_id) dataset_id, level FROM health_metrics"
        " WHERE dataset_id = ANY(%s) ORDER BY dataset_id, timestamp DESC, id DESC) h"
        " WHERE d.id = h.dataset_id AND d.health_level IS DISTINCT FROM h.level",
        ([row[0] for row in rows],),
    )


async def add_cycle(conn: AsyncConnection[DictRow], record: dict[str, Any]) -> int:
    """Record the cycle (served by /health/audit-status)."""
    cursor = await conn.execute(
        "INSERT INTO audit_cycles (started_at, finished_at, duration_seconds, datasets_audited,"
        " gaps, duplicates, errors, leader_term, pod_id, details)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            record["started_at"],
            record["finished_at"],
            record["duration_seconds"],
            record["datasets_audited"],
            record["gaps"],
            record["duplicates"],
            record["errors"],
            record["leader_term"],
            record["pod_id"],
            Jsonb(record["details"]),
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row["id"])
