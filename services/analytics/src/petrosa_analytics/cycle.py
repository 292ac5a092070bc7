"""One analytics cycle of the leader: read new bars, compute every family, write, announce.

For each timeframe: every symbol's frame is topped up (:class:`CandleCache`), its candle
families and its regime computed, then the correlation of all symbols; for each symbol the
spread of its latest book snapshot. Results are written fenced by the lease's term; a series
that fails is logged and counted, the others go on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from petrosa_common.analytics import (
    ANALYTICS_LATEST_COLLECTION,
    AnalyticsResult,
    MetricFamily,
)
from petrosa_common.catalog import LineageEdge, record_lineage_edges, register_derived_dataset
from petrosa_common.logging import get_logger
from petrosa_common.metrics.analytics import (
    ANALYTICS_CYCLE_SECONDS,
    ANALYTICS_ERRORS,
    ANALYTICS_SERIES_COMPUTED,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import ANALYTICS_UPDATED_SUBJECT
from petrosa_common.openlineage_emitter import RunEmitter, RunState
from petrosa_common.postgres import PgPool
from psycopg import Error as PgError
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_analytics import store
from petrosa_analytics.books import NO_BOOK, latest_book
from petrosa_analytics.compute import Computed, Parameters, spread_result, timeframe_results
from petrosa_analytics.frames import CandleCache
from petrosa_analytics.indicators import RegimeThresholds
from petrosa_analytics.settings import CANDLE_FAMILIES, AnalyticsSettings

log = get_logger(__name__)
Verify = Callable[[], Awaitable[int]]
Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


def parameters_of(settings: AnalyticsSettings) -> Parameters:
    """Kernel parameters from the settings."""
    return Parameters(
        di_period=settings.analytics_di_period,
        crossover_fast=settings.analytics_crossover_fast,
        crossover_slow=settings.analytics_crossover_slow,
        slippage_notionals=tuple(settings.analytics_slippage_notionals),
        warmup=settings.analytics_warmup_bars + settings.analytics_crossover_slow,
        thresholds=RegimeThresholds(
            vol_high=settings.analytics_regime_vol_high,
            vol_low=settings.analytics_regime_vol_low,
            volume_high=settings.analytics_regime_volume_high,
            volume_low=settings.analytics_regime_volume_low,
            trend=settings.analytics_regime_trend,
        ),
    )


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What a cycle did (logged, and published on ``data_manager.analytics.updated``)."""

    started_at: datetime
    duration_seconds: float
    compute_seconds: float
    results: int
    failures: int
    candles_read: int
    term: int
    history_trimmed: int


class AnalyticsCycle:
    """The leader's cycle; the candle cache lives as long as this object."""

    def __init__(
        self,
        *,
        db: AsyncDatabase[Document],
        pool: PgPool,
        settings: AnalyticsSettings,
        verify: Verify,
        publish: Publish,
    ) -> None:
        self._db = db
        self._pool = pool
        self._settings = settings
        self._verify = verify
        self._publish = publish
        self._parameters = parameters_of(settings)
        self._cache = CandleCache(db, settings.analytics_full_refresh_cycles)
        self._registered: set[str] = set()
        self._lineage = RunEmitter.from_env()  # OpenLineage RunEvents; off unless configured
        self._edges: list[LineageEdge] = []

    async def run(self) -> CycleReport:
        """One cycle; raises :class:`LostLeadership` if the lease is lost on the way.

        Reported as an OpenLineage run (START, then COMPLETE or FAIL) when configured."""
        run_id, job = str(uuid.uuid4()), "analytics.cycle"
        await self._lineage.emit(RunState.START, run_id=run_id, job=job)
        self._edges = []
        try:
            report = await self._cycle()
        except Exception as exc:
            await self._lineage.emit(RunState.FAIL, run_id=run_id, job=job, error=repr(exc))
            raise
        await self._lineage.emit(
            RunState.COMPLETE,
            run_id=run_id,
            job=job,
            inputs=sorted({(self._lineage.settings.namespace, e.source) for e in self._edges}),
            outputs=sorted({e.target for e in self._edges}),
        )
        return report

    async def _cycle(self) -> CycleReport:
        started, clock = datetime.now(UTC), time.perf_counter()
        term = await self._verify()
        read_before = self._cache.documents_read
        computed = Computed()
        compute_seconds = 0.0
        settings = self._settings
        for timeframe in settings.analytics_timeframes:
            frames = {
                symbol: await self._cache.frame(symbol, timeframe, settings.bars_to_keep(timeframe))
                for symbol in settings.supported_pairs
            }
            tick = time.perf_counter()
            computed.extend(self._timeframe(frames, timeframe, started, term))
            compute_seconds += time.perf_counter() - tick
        for symbol in settings.supported_pairs:
            computed.extend(await self._spread(symbol, started, term))

        await store.write_results(self._db, computed.results, self._verify)
        trimmed = await store.trim_history(
            self._db,
            now=started,
            keep_seconds=settings.analytics_history_retention,
            verify=self._verify,
        )
        await self._catalog(computed.results)
        for failure in computed.failures:
            ANALYTICS_ERRORS.labels(failure.metric.value, failure.kind).inc()
            log.warning(
                "analytics_series_failed",
                metric=failure.metric.value,
                series=failure.series,
                error=failure.detail,
            )
        for result in computed.results:
            ANALYTICS_SERIES_COMPUTED.labels(result.metric.value, "cycle").inc()
        duration = time.perf_counter() - clock
        ANALYTICS_CYCLE_SECONDS.observe(duration)
        report = CycleReport(
            started_at=started,
            duration_seconds=round(duration, 3),
            compute_seconds=round(compute_seconds, 3),
            results=len(computed.results),
            failures=len(computed.failures),
            candles_read=self._cache.documents_read - read_before,
            term=term,
            history_trimmed=trimmed,
        )
        await self._publish(
            ANALYTICS_UPDATED_SUBJECT,
            {
                **{k: getattr(report, k) for k in CycleReport.__slots__},
                "keys": sorted(result.key for result in computed.results),
            },
        )
        return report

    def _timeframe(
        self, frames: dict[str, pl.DataFrame], timeframe: str, at: datetime, term: int
    ) -> Computed:
        """Candle families and regimes of every series of ``timeframe``, then correlation."""
        windows = {
            family: self._settings.window_for(family, timeframe) for family in CANDLE_FAMILIES
        }
        return timeframe_results(
            frames,
            timeframe=timeframe,
            windows=windows,
            parameters=self._parameters,
            computed_at=at,
            term=term,
        )

    async def _spread(self, symbol: str, at: datetime, term: int) -> Computed:
        computed = Computed()
        book = await latest_book(self._db, symbol)
        if book is None:
            computed.fail(MetricFamily.SPREAD, symbol, LookupError(NO_BOOK))
            return computed
        try:
            computed.results.append(
                spread_result(symbol, book, parameters=self._parameters, computed_at=at, term=term)
            )
        except ValueError as exc:
            computed.fail(MetricFamily.SPREAD, symbol, exc)
        return computed

    async def _catalog(self, results: list[AnalyticsResult]) -> None:
        """Each family is a dataset (registered once); its sources are lineage edges, touched
        every cycle (their ``last_seen`` is the latest cycle that used them)."""
        edges = {
            (source, f"analytics_{result.metric.value}")
            for result in results
            for source in result.source.split(",")
        }
        self._edges = [LineageEdge(source, "analytics", target) for source, target in sorted(edges)]
        try:
            for dataset in sorted({target for _, target in edges} - self._registered):
                await register_derived_dataset(
                    self._pool,
                    dataset_id=dataset,
                    kind="analytics",
                    collection=ANALYTICS_LATEST_COLLECTION,
                    update_frequency_seconds=self._settings.analytics_interval,
                    tags=["source:analytics"],
                )
                self._registered.add(dataset)
            await record_lineage_edges(self._pool, self._edges)
        except PgError as exc:  # the catalog never blocks analytics; retried next cycle
            log.warning("analytics_catalog_failed", error=str(exc))
