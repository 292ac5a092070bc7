"""Health of the service (databases, pools) and of the data (what the auditor writes)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from petrosa_common.leases import read_leases
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from petrosa_gateway.resources import Resources

HEALTH_LEVELS = ("healthy", "degraded", "unhealthy", "critical")


async def _timed(check: Any, timeout_seconds: float) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await asyncio.wait_for(check, timeout_seconds)
    return result, (time.perf_counter() - started) * 1000


async def mongo_state(resources: Resources, timeout_seconds: float = 3.0) -> dict[str, Any]:
    """MongoDB: connected?, ping latency, server version."""
    try:
        _, latency = await _timed(resources.mongo.admin.command("ping"), timeout_seconds)
        info = await asyncio.wait_for(resources.mongo.admin.command("buildInfo"), timeout_seconds)
    except Exception as exc:  # the state of a dependency is data here
        return {"status": "error", "connected": False, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": "ok",
        "connected": True,
        "latency_ms": round(latency, 3),
        "version": str(info.get("version", "unknown")),
        "database": resources.settings.mongodb_database,
    }


async def postgres_state(resources: Resources, timeout_seconds: float = 3.0) -> dict[str, Any]:
    """PostgreSQL: connected?, round-trip latency, server version."""

    async def query() -> str:
        async with resources.pg.connection(timeout=timeout_seconds) as conn:
            cursor = await conn.execute("SHOW server_version")
            row = await cursor.fetchone()
            return str(row["server_version"]) if row else "unknown"

    try:
        version, latency = await _timed(query(), timeout_seconds)
    except Exception as exc:
        return {"status": "error", "connected": False, "error": f"{type(exc).__name__}: {exc}"}
    state = {"connected": True, "latency_ms": round(latency, 3), "version": version}
    if not resources.postgres_ready.is_set():
        return {**state, "status": "error", "error": "schema migrations not applied yet"}
    return {**state, "status": "ok"}


async def nats_state(resources: Resources, timeout_seconds: float = 3.0) -> dict[str, Any]:
    """NATS: connected?, flush round-trip latency, server version."""
    nc = resources.nats
    if nc is None or not nc.is_connected:
        reason = resources.nats_error or "not connected"
        return {"status": "error", "connected": False, "error": reason}
    try:
        _, latency = await _timed(nc.flush(timeout=int(timeout_seconds)), timeout_seconds)
    except Exception as exc:
        return {"status": "error", "connected": False, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": "ok",
        "connected": True,
        "latency_ms": round(latency, 3),
        "version": nc.connected_server_version.__str__(),
    }


async def component_states(resources: Resources) -> dict[str, dict[str, Any]]:
    """Every dependency's state, checked concurrently."""
    checks = {"mongodb": mongo_state(resources), "postgres": postgres_state(resources)}
    if resources.settings.nats_query_enabled:
        checks["nats"] = nats_state(resources)
    results = await asyncio.gather(*checks.values())
    return dict(zip(checks, results, strict=True))


_LATEST_LEVELS = (
    # A skip scan: step from one dataset_id to the next, and take each one's newest row, both
    # on the (dataset_id, timestamp DESC) index. The cost grows with the datasets, not with
    # the history (a DISTINCT ON would read every row the auditor ever wrote).
    "WITH RECURSIVE ids AS ("
    " (SELECT dataset_id FROM health_metrics ORDER BY dataset_id LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT h.dataset_id FROM health_metrics h WHERE h.dataset_id > ids.dataset_id"
    "  ORDER BY h.dataset_id LIMIT 1) FROM ids WHERE ids.dataset_id IS NOT NULL)"
    " SELECT latest.level, count(*) AS n FROM ids CROSS JOIN LATERAL"
    " (SELECT h.level FROM health_metrics h WHERE h.dataset_id = ids.dataset_id"
    "  ORDER BY h.timestamp DESC LIMIT 1) latest"
    " WHERE ids.dataset_id IS NOT NULL GROUP BY latest.level"
)


async def health_summary(resources: Resources) -> dict[str, Any]:
    """Datasets by health level, from each dataset's latest health metrics."""
    async with resources.pg.connection() as conn:
        cursor = await conn.execute(_LATEST_LEVELS)
        counts = {row["level"]: int(row["n"]) for row in await cursor.fetchall()}
        cursor = await conn.execute("SELECT count(*) AS n FROM datasets")
        row = await cursor.fetchone()
        retention = await _retention(conn)
    levels = {level: counts.get(level, 0) for level in HEALTH_LEVELS}
    return {
        "datasets_total": int(row["n"]) if row else 0,
        "datasets_scored": sum(counts.values()),
        "levels": levels,
        "retention": retention,
    }


async def _retention(conn: AsyncConnection[DictRow]) -> dict[str, Any]:
    """The latest retention run, the latest complete one, and what the last day deleted
    (``retention_runs`` is indexed by ``started_at``: three bounded reads)."""
    cursor = await conn.execute(
        "SELECT started_at, finished_at, duration_seconds, status, deleted, error"
        " FROM retention_runs ORDER BY started_at DESC LIMIT 1"
    )
    last_run = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT max(finished_at) AS at FROM retention_runs"
        " WHERE status = 'completed' AND started_at > now() - interval '30 days'"
    )
    completed = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT coalesce(sum(deleted), 0) AS n FROM retention_runs"
        " WHERE started_at > now() - interval '1 day'"
    )
    deleted = await cursor.fetchone()
    return {
        "last_run": last_run,
        "last_completed_at": completed["at"] if completed else None,
        "deleted_last_24h": int(deleted["n"]) if deleted else 0,
    }


async def dataset_health(resources: Resources, pair: str, period: str) -> dict[str, Any] | None:
    """Latest quality metrics of candles ``pair``/``period``; ``None`` if the dataset is unknown.

    A catalogued dataset the auditor has not scored yet has ``metrics: null``.
    """
    dataset_id = f"candles_{pair}_{period}"
    async with resources.pg.connection() as conn:
        cursor = await conn.execute(
            "SELECT timestamp, completeness, freshness, consistency, quality, level, gaps,"
            " duplicates, record_count, details FROM health_metrics"
            " WHERE symbol = %s AND timeframe = %s ORDER BY timestamp DESC LIMIT 1",
            (pair, period),
        )
        metrics = await cursor.fetchone()
        cursor = await conn.execute("SELECT 1 FROM datasets WHERE id = %s", (dataset_id,))
        known = await cursor.fetchone()
    if metrics is None and known is None:
        return None
    return {
        "pair": pair,
        "period": period,
        "dataset_id": dataset_id,
        "metrics": metrics,
    }


async def leases(resources: Resources) -> list[dict[str, Any]]:
    """Every leader lease: role, holder, term, last heartbeat, expiry."""
    now = datetime.now(UTC)
    return [
        {
            "role": lease.role,
            "holder": lease.holder,
            "status": lease.status,
            "term": lease.term,
            "elected_at": lease.elected_at,
            "last_heartbeat": lease.last_heartbeat,
            "expires_at": lease.expires_at,
            "expired": lease.expired(now),
        }
        for lease in await read_leases(resources.db)
    ]


async def last_audit_cycle(resources: Resources) -> dict[str, Any] | None:
    """The auditor's latest cycle record, if any."""
    async with resources.pg.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, started_at, finished_at, duration_seconds, datasets_audited, gaps,"
            " duplicates, errors, leader_term, pod_id, details"
            " FROM audit_cycles ORDER BY started_at DESC LIMIT 1"
        )
        row = await cursor.fetchone()
    return row
