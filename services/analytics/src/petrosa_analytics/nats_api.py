"""On-demand results over NATS request/reply: ``data_manager.analytics.compute``.

Every replica answers (queue group ``data-manager-analytics``, leader or not): a window or a
method the leader does not precompute is computed here from a bounded read (the window, the
warm-up and the slow crossover average) and kept in memory for ``ANALYTICS_CACHE_SECONDS``.
Nothing is written to the database: only the leader writes, fenced by its term. Bad requests
get an error reply, never silence (see :class:`~petrosa_common.analytics.ComputeRequest`).
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from petrosa_common.analytics import (
    AnalyticsResult,
    ComputeRequest,
    MetricFamily,
    WindowError,
    result_id,
)
from petrosa_common.logging import get_logger
from petrosa_common.metrics.analytics import ANALYTICS_ERRORS, ANALYTICS_SERIES_COMPUTED
from petrosa_common.mongo import Document
from petrosa_common.naming import ANALYTICS_COMPUTE_SUBJECT, DatasetKind, collection_name
from petrosa_common.nats import json_bytes, sync_with_server
from petrosa_common.timeframes import is_timeframe
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from petrosa_analytics.books import NO_BOOK, latest_book
from petrosa_analytics.compute import (
    candle_family,
    correlation_result,
    regime_result,
    spread_result,
)
from petrosa_analytics.cycle import parameters_of
from petrosa_analytics.frames import read_latest
from petrosa_analytics.indicators import BadData, Bars, InsufficientData
from petrosa_analytics.settings import AnalyticsSettings

log = get_logger(__name__)
QUEUE_GROUP = "data-manager-analytics"


class _Refused(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class OnDemand:
    """Computes one requested result (with a small time-bounded cache)."""

    def __init__(self, db: AsyncDatabase[Document], settings: AnalyticsSettings) -> None:
        self._db = db
        self._settings = settings
        self._parameters = parameters_of(settings)
        self._cache: dict[str, tuple[float, AnalyticsResult]] = {}

    async def compute(self, request: ComputeRequest) -> AnalyticsResult:
        """The result ``request`` asks for; raises ``_Refused`` with an error code."""
        try:
            symbols = request.symbols()
        except ValueError as exc:
            raise _Refused("invalid_request", str(exc)) from None
        if request.metric is MetricFamily.SPREAD:
            return await self._spread(symbols[0])
        timeframe = request.period or ""
        if not is_timeframe(timeframe):
            raise _Refused("invalid_request", f"period {request.period!r} is not a timeframe")
        family = (
            MetricFamily.VOLATILITY if request.metric is MetricFamily.REGIME else request.metric
        )
        try:
            window = self._settings.window_for(family, timeframe, request.window)
        except WindowError as exc:
            raise _Refused("invalid_request", str(exc)) from None
        key = result_id(request.metric, ",".join(sorted(symbols)), timeframe, window)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        result = await self._fresh(request.metric, symbols, timeframe, window)
        ANALYTICS_SERIES_COMPUTED.labels(request.metric.value, "on_demand").inc()
        self._cache[key] = (time.monotonic() + self._settings.analytics_cache_seconds, result)
        if len(self._cache) > 10_000:  # bounded: drop the entries that expire first
            for stale in sorted(self._cache, key=lambda k: self._cache[k][0])[:5_000]:
                del self._cache[stale]
        return result

    async def _fresh(
        self, metric: MetricFamily, symbols: list[str], timeframe: str, window: int
    ) -> AnalyticsResult:
        settings = self._settings
        plan = {metric: window}
        if metric is MetricFamily.REGIME:  # from volatility at this window, the rest as usual
            plan = {
                MetricFamily.VOLATILITY: window,
                MetricFamily.VOLUME: settings.window_for(MetricFamily.VOLUME, timeframe),
                MetricFamily.TREND: settings.window_for(MetricFamily.TREND, timeframe),
            }
        keep = (
            max(plan.values()) + settings.analytics_warmup_bars + settings.analytics_crossover_slow
        )
        frames = {
            symbol: await read_latest(
                self._db, collection_name(DatasetKind.CANDLES, symbol, timeframe), keep
            )
            for symbol in symbols
        }
        now = datetime.now(UTC)
        try:
            if metric is MetricFamily.CORRELATION:
                return correlation_result(
                    frames, timeframe=timeframe, window=window, computed_at=now, term=0
                )
            series = Bars.from_frame(frames[symbols[0]])
            results = [
                candle_family(
                    family,
                    series,
                    symbol=symbols[0],
                    timeframe=timeframe,
                    window=bars,
                    parameters=self._parameters,
                    computed_at=now,
                    term=0,
                )
                for family, bars in plan.items()
            ]
        except (InsufficientData, BadData) as exc:
            ANALYTICS_ERRORS.labels(metric.value, type(exc).__name__).inc()
            raise _Refused("insufficient_data", str(exc)) from None
        if metric is MetricFamily.REGIME:
            regime = regime_result(results, self._parameters)
            if regime is None:
                raise _Refused("insufficient_data", "volatility, volume or trend not computable")
            return regime
        return results[0]

    async def _spread(self, symbol: str) -> AnalyticsResult:
        book = await latest_book(self._db, symbol)
        if book is None:
            raise _Refused("insufficient_data", f"{symbol}: {NO_BOOK}")
        try:
            return spread_result(
                symbol, book, parameters=self._parameters, computed_at=datetime.now(UTC), term=0
            )
        except (InsufficientData, BadData) as exc:
            raise _Refused("insufficient_data", str(exc)) from None


async def serve(nc: NatsClient, on_demand: OnDemand) -> None:
    """Answer ``data_manager.analytics.compute`` (queue group: any replica answers)."""

    async def on_request(msg: Msg) -> None:
        reply: dict[str, Any]
        try:
            request = ComputeRequest.model_validate_json(msg.data)
            result = await on_demand.compute(request)
            reply = {"result": result.model_dump(mode="json")}
        except ValidationError as exc:
            reply = {"error": "invalid_request", "detail": _first_error(exc)}
        except _Refused as refused:
            reply = {"error": refused.code, "detail": refused.detail}
        except PyMongoError as exc:
            reply = {"error": "unavailable", "detail": f"the database cannot be read: {exc}"}
        except Exception as exc:  # the caller must never wait in vain
            log.exception("analytics_compute_failed")
            reply = {"error": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(json_bytes(reply))

    await nc.subscribe(ANALYTICS_COMPUTE_SUBJECT, queue=QUEUE_GROUP, cb=on_request)
    await sync_with_server(nc)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"
