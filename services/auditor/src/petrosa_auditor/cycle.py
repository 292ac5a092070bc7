"""One audit cycle: every symbol x timeframe, bounded concurrency, one transaction of results.

Leader-only. The fencing term is verified before the cycle, before every duplicate-removal
batch and before the results are written; a process that lost its lease writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from petrosa_common.logging import get_logger
from petrosa_common.metrics.audit import (
    AUDIT_CYCLE_SECONDS,
    BACKFILLS_TRIGGERED,
    DUPLICATES_DETECTED,
    DUPLICATES_REMOVED,
    GAPS_DETECTED,
    HEALTH_SCORE,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import (
    AUDIT_CYCLE_SUBJECT,
    AUDIT_GAP_SUBJECT,
    BACKFILL_REQUEST_SUBJECT,
    DatasetKind,
)
from petrosa_common.postgres import PgPool
from petrosa_common.time import from_epoch_ms, to_epoch_ms
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_auditor.gap_detector import Gap, merge_known
from petrosa_auditor.series_audit import (
    AGG_TRADES_LABEL,
    SeriesResult,
    Window,
    audit_agg_ids,
    audit_series,
    window_for,
)
from petrosa_auditor.settings import AuditorSettings
from petrosa_auditor.store import (
    KnownGap,
    add_cycle,
    add_health,
    add_logs,
    insert_gap,
    mark_backfill_requested,
    open_gaps,
    resolve_gaps,
    update_datasets,
    update_gap,
)

log = get_logger(__name__)
_PRIORITY = {"low": 1, "medium": 2, "high": 3, "critical": 4}


class Publisher(Protocol):
    """Where events go (NATS in production)."""

    async def publish(self, subject: str, payload: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class _GapEvent:
    result: SeriesResult
    gap: Gap
    status: str
    gap_id: int


class AuditCycle:
    """Runs cycles for ``settings.supported_pairs`` x ``settings.audit_timeframes``."""

    def __init__(
        self,
        *,
        db: AsyncDatabase[Document],
        pool: PgPool,
        publisher: Publisher,
        settings: AuditorSettings,
        verify_leadership: Callable[[], Awaitable[int]],
        pod_id: str,
    ) -> None:
        self._db = db
        self._pool = pool
        self._publisher = publisher
        self._settings = settings
        self._verify = verify_leadership
        self._pod_id = pod_id

    async def run(self, now: datetime | None = None) -> dict[str, Any]:
        """One full cycle; returns the cycle record (also stored and published)."""
        settings = self._settings
        started_at = now or datetime.now(UTC)
        clock = time.perf_counter()
        term = await self._verify()
        now_ms = to_epoch_ms(started_at)
        known = await open_gaps(self._pool)
        limit = asyncio.Semaphore(settings.audit_concurrency)
        strategy = settings.duplicate_resolution_strategy
        removal: Literal["keep_newest", "keep_oldest"] | None = (
            strategy if settings.enable_duplicate_removal and strategy != "manual" else None
        )

        async def one(symbol: str, timeframe: str) -> SeriesResult:
            window = window_for(timeframe, now_ms=now_ms, lookback_seconds=settings.audit_lookback)
            async with limit:
                try:
                    return await audit_series(
                        self._db,
                        symbol=symbol,
                        timeframe=timeframe,
                        window=window,
                        now_ms=now_ms,
                        tolerance_ms=int(settings.gap_tolerance_seconds * 1000),
                        min_gap_ms=int(settings.min_gap_size_seconds * 1000),
                        removal_strategy=removal,
                        before_removal=self._verify,
                    )
                except Exception as exc:  # one broken series must not stop the cycle
                    log.warning(
                        "series_audit_failed",
                        symbol=symbol,
                        timeframe=timeframe,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    return SeriesResult(
                        symbol,
                        timeframe,
                        window,
                        0,
                        None,
                        None,
                        [],
                        [],
                        error=f"{type(exc).__name__}: {exc}",
                    )

        async def agg(symbol: str) -> SeriesResult:
            lookback = int(settings.audit_agg_trades_lookback * 1000)
            window = Window(now_ms - lookback, now_ms)
            async with limit:
                try:
                    return await audit_agg_ids(self._db, symbol=symbol, window=window)
                except Exception as exc:
                    log.warning("agg_id_audit_failed", symbol=symbol, error=str(exc))
                    return SeriesResult(
                        symbol,
                        AGG_TRADES_LABEL,
                        window,
                        0,
                        None,
                        None,
                        [],
                        [],
                        error=f"{type(exc).__name__}: {exc}",
                        kind=DatasetKind.AGG_TRADES,
                    )

        tasks = [one(s, tf) for s in settings.supported_pairs for tf in settings.audit_timeframes]
        if settings.audit_agg_trades_lookback:
            tasks.extend(agg(symbol) for symbol in settings.supported_pairs)
        results = list(await asyncio.gather(*tasks))
        await self._verify()  # fencing: nothing is written by a process that lost its lease
        events, requests, record = await self._persist(
            results, known, started_at=started_at, clock=clock, term=term
        )
        await self._announce(results, events, requests, record)
        return record

    async def _persist(
        self,
        results: list[SeriesResult],
        known: dict[str, list[KnownGap]],
        *,
        started_at: datetime,
        clock: float,
        term: int,
    ) -> tuple[list[_GapEvent], list[_GapEvent], dict[str, Any]]:
        settings = self._settings
        events: list[_GapEvent] = []
        backfill_candidates: list[_GapEvent] = []
        pending = 0
        retry_after = timedelta(seconds=settings.auto_backfill_retry_after)
        logs: list[dict[str, Any]] = []
        health_rows: list[tuple[Any, ...]] = []
        dataset_rows: list[tuple[Any, ...]] = []
        async with self._pool.connection() as conn, conn.transaction():
            for result in results:
                if result.error is not None:
                    continue
                previous = known.get(result.dataset_id, [])
                by_key = {item.gap.key: item for item in previous}
                merge = merge_known(
                    [item.gap for item in previous],
                    result.gaps,
                    window=(result.window.start_ms, result.window.end_ms),
                )
                for gap in merge.new:
                    gap_id = await insert_gap(
                        conn, result.dataset_id, result.symbol, result.timeframe, gap
                    )
                    event = _GapEvent(result, gap, "open", gap_id)
                    events.append(event)
                    backfill_candidates.append(event)
                    logs.append(_gap_log(result, gap, "gap detected"))
                claimed: set[int] = set()
                for update in merge.still_open:
                    owners = [by_key[p.key] for p in update.previous if p.key in by_key]
                    owner = next((o for o in owners if o.id not in claimed), None)
                    if owner is None:
                        gap_id = await insert_gap(
                            conn, result.dataset_id, result.symbol, result.timeframe, update.current
                        )
                        backfill_candidates.append(
                            _GapEvent(result, update.current, "open", gap_id)
                        )
                        continue
                    claimed.add(owner.id)
                    if update.changed:
                        await update_gap(conn, owner.id, update.current)
                    requested = owner.backfill_requested_at
                    if requested is not None and started_at - requested < retry_after:
                        pending += 1
                    else:
                        backfill_candidates.append(
                            _GapEvent(result, update.current, "open", owner.id)
                        )
                resolved_ids = [by_key[g.key].id for g in merge.resolved if g.key in by_key]
                # Known gaps merged into another (claimed by none) are resolved too.
                for update in merge.still_open:
                    resolved_ids.extend(
                        by_key[p.key].id
                        for p in update.previous
                        if p.key in by_key and by_key[p.key].id not in claimed
                    )
                await resolve_gaps(conn, resolved_ids)
                for gap in merge.resolved:
                    if gap.key in by_key:
                        events.append(_GapEvent(result, gap, "resolved", by_key[gap.key].id))
                        logs.append(_gap_log(result, gap, "gap filled", severity="info"))
                if result.duplicate_groups:
                    logs.append(_duplicates_log(result))
                if result.removed:
                    logs.append(_removal_log(result))
                if result.kind is not DatasetKind.CANDLES:
                    continue
                health_rows.append(_health_row(result))
                if result.records_in_window:
                    dataset_rows.append(
                        (
                            result.dataset_id,
                            result.symbol,
                            result.timeframe,
                            result.dataset_id,
                            _dt(result.first_ms),
                            _dt(result.last_ms),
                        )
                    )
            requests = self._choose_backfills(backfill_candidates, pending)
            await mark_backfill_requested(conn, [event.gap_id for event in requests])
            await add_logs(conn, logs)
            await add_health(conn, health_rows)
            await update_datasets(conn, dataset_rows)
            finished_at = datetime.now(UTC)
            record = {
                "started_at": started_at,
                "finished_at": finished_at,
                "duration_seconds": round(time.perf_counter() - clock, 3),
                # An agg-trade audit of a symbol with no agg trades audited nothing.
                "datasets_audited": sum(
                    1
                    for r in results
                    if r.error is None and (r.kind is DatasetKind.CANDLES or r.records_in_window)
                ),
                "gaps": sum(len(r.gaps) for r in results),
                "duplicates": sum(r.duplicates for r in results),
                "errors": sum(1 for r in results if r.error is not None),
                "leader_term": term,
                "pod_id": self._pod_id,
                "details": {
                    "new_gaps": sum(1 for e in events if e.status == "open"),
                    "resolved_gaps": sum(1 for e in events if e.status == "resolved"),
                    "duplicates_removed": sum(
                        len(rm.remove_ids) for r in results for rm in r.removed
                    ),
                    "backfills_requested": len(requests),
                    "failed_series": [
                        f"{r.symbol} {r.timeframe}: {r.error}" for r in results if r.error
                    ],
                },
            }
            record["id"] = await add_cycle(conn, record)
        return events, requests, record

    def _choose_backfills(self, candidates: list[_GapEvent], pending: int) -> list[_GapEvent]:
        settings = self._settings
        if not settings.enable_auto_backfill:
            return []
        eligible = [
            c for c in candidates if c.gap.duration_seconds >= settings.min_auto_backfill_gap
        ]
        eligible.sort(key=lambda c: c.gap.duration_seconds, reverse=True)
        budget = max(0, settings.max_auto_backfill_jobs - pending)
        return eligible[:budget]

    async def _announce(
        self,
        results: list[SeriesResult],
        events: list[_GapEvent],
        requests: list[_GapEvent],
        record: dict[str, Any],
    ) -> None:
        for result in results:
            labels = (result.symbol, result.timeframe)
            if result.health is not None:
                HEALTH_SCORE.labels(*labels).set(result.health.quality)
            if result.duplicates:
                DUPLICATES_DETECTED.labels(*labels).inc(result.duplicates)
            removed = sum(len(rm.remove_ids) for rm in result.removed)
            if removed:
                DUPLICATES_REMOVED.labels(*labels).inc(removed)
        for event in events:
            if event.status == "open":
                GAPS_DETECTED.labels(event.result.symbol, event.result.timeframe).inc()
            await self._safe_publish(AUDIT_GAP_SUBJECT, _gap_payload(event))
        for event in requests:
            BACKFILLS_TRIGGERED.labels(event.result.symbol, event.result.timeframe).inc()
            await self._safe_publish(BACKFILL_REQUEST_SUBJECT, _backfill_payload(event))
        AUDIT_CYCLE_SECONDS.observe(record["duration_seconds"])
        await self._safe_publish(AUDIT_CYCLE_SUBJECT, record)

    async def _safe_publish(self, subject: str, payload: dict[str, Any]) -> None:
        try:
            await self._publisher.publish(subject, payload)
        except Exception as exc:  # events are best effort; PostgreSQL holds the truth
            log.warning("publish_failed", subject=subject, error=str(exc))


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else from_epoch_ms(ms)


def _gap_log(
    result: SeriesResult, gap: Gap, message: str, severity: str | None = None
) -> dict[str, Any]:
    return {
        "dataset_id": result.dataset_id,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "check_type": "gap",
        "severity": severity or gap.severity,
        "message": f"{message}: {from_epoch_ms(gap.start_ms).isoformat()} to "
        f"{from_epoch_ms(gap.end_ms).isoformat()} ({gap.missing_candles} candles)",
        "details": {
            "start_ms": gap.start_ms,
            "end_ms": gap.end_ms,
            "kind": gap.kind,
            "duration_seconds": gap.duration_seconds,
            "missing_candles": gap.missing_candles,
        },
    }


def _duplicates_log(result: SeriesResult) -> dict[str, Any]:
    return {
        "dataset_id": result.dataset_id,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "check_type": "duplicate",
        "severity": "medium",
        "message": f"{result.duplicates} duplicate documents on "
        f"{len(result.duplicate_groups)} natural keys",
        "details": {"keys_ms": [group.key for group in result.duplicate_groups[:100]]},
    }


def _removal_log(result: SeriesResult) -> dict[str, Any]:
    removed = [str(doc_id) for rm in result.removed for doc_id in rm.remove_ids]
    log.info("duplicates_removed", dataset=result.dataset_id, removed_ids=removed)
    return {
        "dataset_id": result.dataset_id,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "check_type": "duplicate_removal",
        "severity": "info",
        "message": f"removed {len(removed)} duplicate documents",
        "details": {"removed_ids": removed, "kept_ids": [str(rm.keep_id) for rm in result.removed]},
    }


def _health_row(result: SeriesResult) -> tuple[Any, ...]:
    from psycopg.types.json import Jsonb

    health = result.health
    assert health is not None
    return (
        result.dataset_id,
        result.symbol,
        result.timeframe,
        health.completeness,
        health.freshness,
        health.consistency,
        health.quality,
        health.level,
        len(result.gaps),
        result.duplicates,
        result.records_in_window,
        Jsonb(
            {
                "window_start_ms": result.window.start_ms,
                "window_end_ms": result.window.end_ms,
                "age_seconds": health.age_seconds,
            }
        ),
    )


def _gap_payload(event: _GapEvent) -> dict[str, Any]:
    gap, result = event.gap, event.result
    return {
        "gap_id": event.gap_id,
        "status": event.status,
        "dataset_id": result.dataset_id,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "start": from_epoch_ms(gap.start_ms),
        "end": from_epoch_ms(gap.end_ms),
        "duration_seconds": gap.duration_seconds,
        "missing_candles": gap.missing_candles,
        "kind": gap.kind,
        "severity": gap.severity,
    }


def _backfill_payload(event: _GapEvent) -> dict[str, Any]:
    gap, result = event.gap, event.result
    candles = result.kind is DatasetKind.CANDLES
    return {
        "symbol": result.symbol,
        "data_type": "candles" if candles else "agg_trades",
        "timeframe": result.timeframe if candles else None,
        "start": from_epoch_ms(gap.start_ms),
        "end": from_epoch_ms(gap.end_ms),
        "priority": _PRIORITY.get(gap.severity, 1),
        "requested_by": "auditor",
        "details": {"gap_id": event.gap_id, "severity": gap.severity},
    }


__all__ = ["AuditCycle", "Publisher", "Window"]
