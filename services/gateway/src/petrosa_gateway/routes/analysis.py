"""Analytics: /analysis/volatility, volume, trend, deviation, seasonality, spread, correlation,
regime and market-overview (results of petrosa-analytics; see docs/analytics.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from petrosa_common.analytics import MetricFamily
from pydantic import BaseModel, ValidationError

from petrosa_gateway.deps import MongoDep, NatsDep, ReadAccess, SettingsDep
from petrosa_gateway.errors import InvalidParameter, describe_errors
from petrosa_gateway.inputs import Offset, Pair, Period
from petrosa_gateway.metrics import db_operation, within_deadline
from petrosa_gateway.queries.analysis import (
    AnalysisQuery,
    Analytics,
    CorrelationQuery,
    OverviewQuery,
)
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import AUTH_RESPONSES, ERROR_RESPONSES

QueryModel = TypeVar("QueryModel", bound=BaseModel)
router = APIRouter(
    responses={**ERROR_RESPONSES, **AUTH_RESPONSES},
    prefix="/analysis",
    tags=["analysis"],
    dependencies=[ReadAccess],
)


class Metadata(BaseModel):
    """When and from what a result was computed (``message`` when there is none yet)."""

    timestamp: str | None = None
    computed_at: str | None = None
    data_completeness: float | None = None
    input_range: dict[str, Any] | None = None
    window_bars: int | None = None
    collection: str
    source: str | None = None
    term: int | None = None
    on_demand: bool | None = None
    message: str | None = None


class ValuesResponse(BaseModel):
    """Volatility, volume and trend: the result as a one-item ``values`` list (empty: none)."""

    pair: str
    period: str
    metric: str
    method: str
    window: str | None
    values: list[dict[str, Any]]
    metadata: Metadata


class DataResponse(BaseModel):
    """Deviation, seasonality and regime: the result as ``data`` (``null``: none yet)."""

    pair: str
    period: str
    metric: str
    method: str
    window: str | None
    data: dict[str, Any] | None
    metadata: Metadata


class SpreadResponse(BaseModel):
    """Spread and liquidity of the latest stored book snapshot (``data: null``: none yet)."""

    pair: str
    metric: str
    method: str
    data: dict[str, Any] | None
    metadata: Metadata


class CorrelationResponse(BaseModel):
    """Correlation of log returns: ``correlation_matrix`` of exactly the requested pairs."""

    pairs: list[str]
    period: str
    metric: str
    method: str
    window: str | None
    correlation_matrix: dict[str, dict[str, float | None]]
    data: dict[str, Any] | None
    metadata: Metadata


class OverviewResponse(BaseModel):
    """Volatility, volume, trend and regime of several pairs, paginated."""

    overview: dict[str, dict[str, Any]]
    pagination: dict[str, Any]
    sort: dict[str, str]
    period: str
    timestamp: str
    pairs_requested: int
    pairs_available: int


def _analytics(db: MongoDep, nc: NatsDep, settings: SettingsDep) -> Analytics:
    return Analytics(db, nc, timeout=settings.analytics_request_timeout)


AnalyticsDep = Annotated[Analytics, Depends(_analytics)]
WindowParam = Annotated[
    str | None,
    Query(max_length=16, description="Bars (20) or a duration (30d); default: precomputed"),
]


def analysis_query(
    pair: Annotated[Pair, Query(description="Binance symbol, e.g. BTCUSDT (any case)")],
    period: Annotated[Period, Query(description="Timeframe of the inputs")] = "1h",
    window: WindowParam = None,
    method: Annotated[str | None, Query(max_length=32, description="Estimator")] = None,
) -> AnalysisQuery:
    """Validated query parameters (422 with the reason)."""
    return _validated(AnalysisQuery, pair=pair, period=period, window=window, method=method)


AnalysisQueryDep = Annotated[AnalysisQuery, Depends(analysis_query)]


def _validated(model: type[QueryModel], **values: Any) -> QueryModel:
    try:
        return model(**values)
    except ValidationError as exc:
        raise InvalidParameter(describe_errors(exc.errors())) from None


async def _answer(settings: SettingsDep, what: str, work: Any) -> Any:
    async with db_operation("mongodb", f"read_analysis_{what}"):
        payload = await within_deadline(work, settings.query_timeout_seconds, f"reading {what}")
    return FastJSONResponse(payload)


@router.get("/volatility", response_model=ValuesResponse, summary="Volatility estimators")
async def volatility(
    analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep
) -> Any:
    """Close-to-close, Parkinson, Garman-Klass, Rogers-Satchell, Yang-Zhang, EWMA and
    volatility of volatility, per bar and annualised; ``method`` picks ``value``."""
    return await _answer(settings, "volatility", analytics.metric(MetricFamily.VOLATILITY, query))


@router.get("/volume", response_model=ValuesResponse, summary="Volume metrics")
async def volume(analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep) -> Any:
    """Total, SMA, EMA, taker delta, buy ratio, spike ratio and VWAP over the window."""
    return await _answer(settings, "volume", analytics.metric(MetricFamily.VOLUME, query))


@router.get("/trend", response_model=ValuesResponse, summary="Trend indicators")
async def trend(analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep) -> Any:
    """SMA, EMA, WMA, rate of change, regression slope and R², ADX and ±DI, crossover."""
    return await _answer(settings, "trend", analytics.metric(MetricFamily.TREND, query))


@router.get("/deviation", response_model=DataResponse, summary="Deviation and bands")
async def deviation(analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep) -> Any:
    """Standard deviation, variance, z-score, Bollinger bands, %B, range index, autocorrelation."""
    return await _answer(settings, "deviation", analytics.metric(MetricFamily.DEVIATION, query))


@router.get("/seasonality", response_model=DataResponse, summary="Seasonality")
async def seasonality(
    analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep
) -> Any:
    """Mean return and volume by UTC hour and weekday, dominant cycle, entropy."""
    return await _answer(settings, "seasonality", analytics.metric(MetricFamily.SEASONALITY, query))


@router.get("/regime", response_model=DataResponse, summary="Market regime")
async def regime(analytics: AnalyticsDep, settings: SettingsDep, query: AnalysisQueryDep) -> Any:
    """``{regime, volatility_level, volume_level, trend_direction, confidence}``; ``data: null``
    (200) means "not computed yet", never a missing route."""
    return await _answer(settings, "regime", analytics.metric(MetricFamily.REGIME, query))


@router.get("/spread", response_model=SpreadResponse, summary="Spread and liquidity")
async def spread(
    analytics: AnalyticsDep,
    settings: SettingsDep,
    pair: Annotated[Pair, Query(description="Binance symbol, e.g. BTCUSDT (any case)")],
) -> Any:
    """Spread, depth within ±0.1/0.5/1 % of mid, imbalance and slippage by notional."""
    return await _answer(settings, "spread", analytics.spread(pair))


@router.get("/correlation", response_model=CorrelationResponse, summary="Correlation matrix")
async def correlation(
    analytics: AnalyticsDep,
    settings: SettingsDep,
    pairs: Annotated[str, Query(max_length=1000, description="e.g. BTCUSDT,ETHUSDT,SOLUSDT")],
    period: Annotated[Period, Query()] = "1h",
    window: WindowParam = None,
    method: Annotated[Literal["pearson", "spearman"], Query()] = "pearson",
) -> Any:
    """Pearson or Spearman correlation of log returns on common open times."""
    query = _validated(CorrelationQuery, pairs=pairs, period=period, window=window, method=method)
    return await _answer(settings, "correlation", analytics.correlation(query))


@router.get("/market-overview", response_model=OverviewResponse, summary="Market overview")
async def market_overview(
    analytics: AnalyticsDep,
    settings: SettingsDep,
    pairs: Annotated[str | None, Query(max_length=1000, description="default: all")] = None,
    period: Annotated[Period, Query()] = "1h",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[Offset, Query()] = 0,
    sort_by: Annotated[Literal["symbol", "volatility", "volume", "trend"], Query()] = "symbol",
    sort_order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> Any:
    """Annualised volatility, volume spike ratio, trend and regime of each pair."""
    query = _validated(
        OverviewQuery,
        pairs=pairs,
        period=period,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    return await _answer(
        settings, "market_overview", analytics.overview(query, settings.supported_pairs)
    )
