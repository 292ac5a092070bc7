"""Analytics results for ``/analysis/*`` and ``data_manager.query.analysis.<metric>``.

A result is read from ``analytics_latest`` (the leader's precomputed results): by its key when
a window is given, else the newest for (metric, pair, period). A window that was not
precomputed is computed on demand by the analytics service over NATS
(``data_manager.analytics.compute``): no responder is 503, a timeout 504. Nothing stored and
nothing to compute on demand is a 200 with ``data: null`` / ``values: []`` and a message: a
404 would read as "route missing" to clients such as the CIO service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import nats.errors
import orjson
from nats.aio.client import Client as NatsClient
from petrosa_common.analytics import (
    ANALYTICS_LATEST_COLLECTION,
    AnalyticsResult,
    ComputeRequest,
    MetricFamily,
    WindowError,
    result_id,
    window_bars,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import ANALYTICS_COMPUTE_SUBJECT, is_symbol
from petrosa_common.nats import json_bytes
from pydantic import BaseModel, Field, field_validator
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.errors import InvalidParameter, QueryTimeout, Unavailable
from petrosa_gateway.inputs import Offset, Pair, Period, check_text

# The method each family answers with; volatility and correlation offer several.
METHODS: dict[MetricFamily, tuple[str, ...]] = {
    MetricFamily.VOLATILITY: (
        "rolling_stddev",
        "annualized",
        "parkinson",
        "garman_klass",
        "rogers_satchell",
        "yang_zhang",
        "ewma",
        "vov",
    ),
    MetricFamily.VOLUME: ("aggregation",),
    MetricFamily.TREND: ("moving_averages",),
    MetricFamily.DEVIATION: ("bollinger",),
    MetricFamily.SEASONALITY: ("calendar",),
    MetricFamily.SPREAD: ("order_book",),
    MetricFamily.CORRELATION: ("pearson", "spearman"),
    MetricFamily.REGIME: ("threshold_classification",),
}
VALUES_FAMILIES = frozenset({MetricFamily.VOLATILITY, MetricFamily.VOLUME, MetricFamily.TREND})
"""Families answered as a ``values`` list (the older clients' shape); the others as ``data``."""


class AnalysisQuery(BaseModel):
    """``pair``, ``period``, ``window`` and ``method`` of a per-pair analysis request."""

    pair: Pair = Field(description="Binance symbol, e.g. BTCUSDT (case-insensitive)")
    period: Period = Field("1h", description="Candle timeframe of the inputs, e.g. 1h")
    window: str | None = Field(
        None,
        max_length=16,
        description="Bars (20) or a duration (30d); default: the precomputed window",
    )
    method: str | None = Field(None, max_length=32, description="Estimator (see the docs)")


class CorrelationQuery(BaseModel):
    """The pairs (two or more, comma-separated) and the window of a correlation matrix."""

    pairs: str = Field(max_length=1000, description="Comma-separated symbols, e.g. BTCUSDT,ETHUSDT")
    period: Period = "1h"
    window: str | None = Field(None, max_length=16)
    method: Literal["pearson", "spearman"] = "pearson"

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, value: str) -> str:
        return check_text(value, what="pairs")

    def symbols(self) -> list[str]:
        """The requested symbols (at least two)."""
        symbols = parse_pairs(self.pairs)
        if len(symbols) < 2:
            raise InvalidParameter("correlation needs at least two distinct pairs")
        return symbols


def parse_pairs(text: str) -> list[str]:
    """Comma-separated symbols, upper-cased, in request order, without repeats."""
    symbols = list(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    bad = [symbol for symbol in symbols if not is_symbol(symbol)]
    if bad or not symbols:
        raise InvalidParameter(f"not Binance symbols: {', '.join(bad) or '(none)'}")
    return symbols


class OverviewQuery(BaseModel):
    """A page of the market overview."""

    pairs: str | None = Field(None, max_length=1000, description="Comma-separated symbols")
    period: Period = "1h"
    limit: int = Field(10, ge=1, le=100)
    offset: Offset = 0
    sort_by: Literal["symbol", "volatility", "volume", "trend"] = "symbol"
    sort_order: Literal["asc", "desc"] = "asc"


class Analytics:
    """Reads results and asks the analytics service for the rest."""

    def __init__(
        self, db: AsyncDatabase[Document], nc: NatsClient | None, *, timeout: float
    ) -> None:
        self._latest = db[ANALYTICS_LATEST_COLLECTION]
        self._nc = nc
        self._timeout = timeout

    async def metric(self, metric: MetricFamily, query: AnalysisQuery) -> dict[str, Any]:
        """The REST payload of ``/analysis/<metric>`` for ``query``."""
        method = _method(metric, query.method)
        bars = _bars(query.window, query.period)
        result, message = await self._find(metric, query.pair, query.period, bars, query.window)
        payload: dict[str, Any] = {
            "pair": query.pair,
            "period": query.period,
            "metric": metric.value,
            "method": method,
            "window": query.window or (str(result.window) if result else None),
        }
        if metric in VALUES_FAMILIES:
            item = {"timestamp": result.computed_at, **result.values} if result else None
            if item is not None and metric is MetricFamily.VOLATILITY:
                item["value"] = result.values.get(method) if result else None
            payload["values"] = [item] if item else []
        else:
            payload["data"] = result.values if result else None
        payload["metadata"] = _metadata(result, message)
        return payload

    async def spread(self, pair: str) -> dict[str, Any]:
        """The REST payload of ``/analysis/spread``."""
        stored = await self._latest.find_one({"_id": result_id(MetricFamily.SPREAD, pair, None, 0)})
        result = AnalyticsResult.model_validate(stored) if stored else None
        message = None if result else f"no spread computed for {pair} yet"
        return {
            "pair": pair,
            "metric": MetricFamily.SPREAD.value,
            "method": "order_book",
            "data": result.values if result else None,
            "metadata": _metadata(result, message),
        }

    async def correlation(self, query: CorrelationQuery) -> dict[str, Any]:
        """The REST payload of ``/analysis/correlation``: exactly the requested pairs."""
        symbols = query.symbols()
        bars = _bars(query.window, query.period)
        key = ",".join(sorted(symbols))
        result, message = await self._find(
            MetricFamily.CORRELATION, key, query.period, bars, query.window, pairs=symbols
        )
        if result is None and query.window is None:  # no stored matrix of exactly these pairs
            result, message = await self._compute(
                ComputeRequest(metric=MetricFamily.CORRELATION, period=query.period, pairs=symbols)
            )
        values = result.values if result else None
        matrix_key = "correlation_matrix" if query.method == "pearson" else "spearman_matrix"
        return {
            "pairs": symbols,
            "period": query.period,
            "metric": MetricFamily.CORRELATION.value,
            "method": query.method,
            "window": query.window or (str(result.window) if result else None),
            "correlation_matrix": values.get(matrix_key) if values else {},
            "data": values,
            "metadata": _metadata(result, message),
        }

    async def overview(self, query: OverviewQuery, default_pairs: list[str]) -> dict[str, Any]:
        """The REST payload of ``/analysis/market-overview``."""
        pairs = parse_pairs(query.pairs) if query.pairs else list(default_pairs)
        rows = {pair: await self._overview_row(pair, query.period) for pair in pairs}
        order = _sorted(rows, query.sort_by, descending=query.sort_order == "desc")
        page = order[query.offset : query.offset + query.limit]
        total = len(order)
        pages = (total + query.limit - 1) // query.limit
        return {
            "overview": {pair: rows[pair] for pair in page},
            "pagination": {
                "total": total,
                "limit": query.limit,
                "offset": query.offset,
                "page": query.offset // query.limit + 1,
                "pages": pages,
                "has_next": query.offset + query.limit < total,
                "has_previous": query.offset > 0,
            },
            "sort": {"by": query.sort_by, "order": query.sort_order},
            "period": query.period,
            "timestamp": datetime.now(UTC),
            "pairs_requested": len(pairs),
            "pairs_available": sum(1 for row in rows.values() if row["regime"] is not None),
        }

    async def _overview_row(self, pair: str, period: str) -> dict[str, Any]:
        found = {
            family: await self._newest(family, pair, period)
            for family in (
                MetricFamily.VOLATILITY,
                MetricFamily.VOLUME,
                MetricFamily.TREND,
                MetricFamily.REGIME,
            )
        }
        volatility, volume, trend, regime = found.values()
        return {
            "volatility": {"annualized": volatility.values.get("annualized")}
            if volatility
            else None,
            "volume": {"spike_ratio": volume.values.get("volume_spike_ratio")} if volume else None,
            "trend": {
                "direction": trend.values.get("crossover_signal") or "neutral",
                "roc": trend.values.get("rate_of_change"),
            }
            if trend
            else None,
            "regime": {
                "classification": regime.values.get("regime"),
                "confidence": regime.values.get("confidence"),
            }
            if regime
            else None,
            "computed_at": max(
                (r.computed_at for r in found.values() if r is not None), default=None
            ),
        }

    async def _find(
        self,
        metric: MetricFamily,
        symbol: str,
        period: str,
        bars: int | None,
        window: str | None,
        *,
        pairs: list[str] | None = None,
    ) -> tuple[AnalyticsResult | None, str | None]:
        if bars is None:
            result = await self._newest(metric, symbol, period)
            if result is None:
                return None, f"no {metric.value} computed for {symbol} {period} yet"
            return result, None
        stored = await self._latest.find_one({"_id": result_id(metric, symbol, period, bars)})
        if stored is not None:
            return AnalyticsResult.model_validate(stored), None
        request = ComputeRequest(
            metric=metric,
            period=period,
            window=window,
            pair=None if pairs else symbol,
            pairs=pairs,
        )
        return await self._compute(request)

    async def _newest(
        self, metric: MetricFamily, symbol: str, period: str | None
    ) -> AnalyticsResult | None:
        stored = await self._latest.find_one(
            {"metric": metric.value, "symbol": symbol, "timeframe": period},
            sort=[("computed_at", DESCENDING)],
        )
        return AnalyticsResult.model_validate(stored) if stored else None

    async def _compute(self, request: ComputeRequest) -> tuple[AnalyticsResult | None, str | None]:
        """Ask the analytics service; ``(None, why)`` when there is too little data."""
        if self._nc is None or not self._nc.is_connected:
            raise Unavailable("on-demand analytics need NATS, and the gateway is not connected")
        try:
            reply = await self._nc.request(
                ANALYTICS_COMPUTE_SUBJECT,
                json_bytes(request.model_dump(mode="json", exclude_none=True)),
                timeout=self._timeout,
            )
        except nats.errors.NoRespondersError:
            raise Unavailable("no analytics service answers on-demand requests") from None
        except (nats.errors.TimeoutError, TimeoutError):
            raise QueryTimeout(
                f"the analytics service did not answer within {self._timeout:g} s"
            ) from None
        body = orjson.loads(reply.data)
        if "result" in body:
            return AnalyticsResult.model_validate(body["result"]), None
        code, detail = body.get("error"), str(body.get("detail", ""))
        if code == "invalid_request":
            raise InvalidParameter(detail)
        if code == "insufficient_data":
            return None, detail
        raise Unavailable(f"the analytics service cannot compute now: {detail}")


def _method(metric: MetricFamily, method: str | None) -> str:
    methods = METHODS[metric]
    if method is None:
        return methods[0]
    if method not in methods:
        raise InvalidParameter(f"method must be one of {', '.join(methods)} for {metric.value}")
    return method


def _bars(window: str | None, period: str) -> int | None:
    if window is None:
        return None
    try:
        return window_bars(window, period)
    except WindowError as exc:
        raise InvalidParameter(str(exc)) from None


def _metadata(result: AnalyticsResult | None, message: str | None) -> dict[str, Any]:
    if result is None:
        return {
            "timestamp": datetime.now(UTC),
            "computed_at": None,
            "data_completeness": None,
            "input_range": None,
            "collection": ANALYTICS_LATEST_COLLECTION,
            "message": message,
        }
    return {
        "timestamp": result.computed_at,
        "computed_at": result.computed_at,
        "data_completeness": result.data_completeness,
        "input_range": result.input_range.model_dump(),
        "window_bars": result.window,
        "collection": ANALYTICS_LATEST_COLLECTION,
        "source": result.source,
        "term": result.term,
        "on_demand": result.term == 0,
    }


def _sorted(rows: dict[str, dict[str, Any]], by: str, *, descending: bool) -> list[str]:
    def key(pair: str) -> tuple[bool, Any]:
        row = rows[pair]
        value: Any = pair
        if by == "volatility":
            value = (row["volatility"] or {}).get("annualized")
        elif by == "volume":
            value = (row["volume"] or {}).get("spike_ratio")
        elif by == "trend":
            value = (row["trend"] or {}).get("roc")
        return value is None, value if value is not None else 0

    ordered = sorted(rows, key=key)
    known = [pair for pair in ordered if not key(pair)[0]]
    unknown = [pair for pair in ordered if key(pair)[0]]
    return (known[::-1] if descending else known) + unknown
