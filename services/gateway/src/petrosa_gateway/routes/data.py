"""Market data: /data/candles, /data/trades, /data/depth, /data/funding, mark prices, tickers.

Each answers ``{pair, period?, data, pagination, sort, metadata, parameters}``
(:func:`petrosa_gateway.queries.market.read_series`, which the NATS endpoints share).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ValidationError

from petrosa_gateway.deps import MongoDep, ReadAccess, SettingsDep
from petrosa_gateway.errors import InvalidParameter, describe_errors
from petrosa_gateway.inputs import Offset, Pair, Period, UtcDateTime
from petrosa_gateway.metrics import db_operation, within_deadline
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.queries.market import (
    MAX_DATA_LIMIT,
    SERIES,
    CandleParameters,
    PageMetadata,
    SeriesParameters,
    SeriesQuery,
    SortEcho,
    SortOrder,
    read_series,
)
from petrosa_gateway.queries.market_items import (
    Candle,
    DepthSnapshot,
    Funding,
    MarkPrice,
    Ticker,
    Trade,
)
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes.common import AUTH_RESPONSES, ERROR_RESPONSES

router = APIRouter(
    responses={**ERROR_RESPONSES, **AUTH_RESPONSES},
    prefix="/data",
    tags=["data"],
    dependencies=[ReadAccess],
)


class SeriesPage(BaseModel):
    """What every market page carries besides its items (the API compatibility contract)."""

    pair: str
    pagination: Pagination
    sort: SortEcho
    metadata: PageMetadata
    parameters: SeriesParameters


class CandlesPage(SeriesPage):
    period: str
    data: list[Candle]
    parameters: CandleParameters


class TradesPage(SeriesPage):
    data: list[Trade]


class DepthPage(SeriesPage):
    data: list[DepthSnapshot]


class FundingPage(SeriesPage):
    data: list[Funding]


class MarkPricesPage(SeriesPage):
    data: list[MarkPrice]


class TickersPage(SeriesPage):
    data: list[Ticker]


def series_query(
    pair: Annotated[Pair, Query(description="Binance symbol, e.g. BTCUSDT (any case)")],
    start: Annotated[
        UtcDateTime | None, Query(description="Inclusive start, ISO-8601 (years 1970-9999)")
    ] = None,
    end: Annotated[
        UtcDateTime | None, Query(description="Exclusive end, ISO-8601 (years 1970-9999)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DATA_LIMIT, description="Items per page")] = 100,
    offset: Annotated[
        Offset,
        Query(description="Items to skip: from the newest without start, else in sort order"),
    ] = 0,
    sort_order: Annotated[
        SortOrder,
        Query(
            description="Order of the page: asc (oldest first) or desc. Without start the "
            "page holds the latest items either way"
        ),
    ] = "asc",
) -> SeriesQuery:
    """Validated query parameters (422 with the reason on a bad pair or range)."""
    return validated(
        pair=pair, start=start, end=end, limit=limit, offset=offset, sort_order=sort_order
    )


def validated(**values: Any) -> SeriesQuery:
    """A :class:`SeriesQuery`, or :class:`InvalidParameter` with every reason."""
    try:
        return SeriesQuery(**values)
    except ValidationError as exc:
        raise InvalidParameter(describe_errors(exc.errors())) from None


SeriesQueryDep = Annotated[SeriesQuery, Depends(series_query)]


async def _page(db: MongoDep, settings: SettingsDep, resource: str, query: SeriesQuery) -> Any:
    deadline = settings.query_timeout_seconds
    async with db_operation("mongodb", f"read_{resource}"):
        page = await within_deadline(
            read_series(db, SERIES[resource], query), deadline, f"reading {resource}"
        )
        return FastJSONResponse(page)


@router.get("/candles", response_model=CandlesPage, summary="OHLCV candles")
async def candles(
    db: MongoDep,
    settings: SettingsDep,
    query: SeriesQueryDep,
    period: Annotated[Period, Query(description="Timeframe, e.g. 1m, 1h")],
) -> Any:
    """Candles of ``pair`` and ``period``: the latest ``limit`` oldest first by default, or
    from ``start`` on; an empty page when none is stored."""
    return await _page(
        db, settings, "candles", validated(**{**query.model_dump(), "period": period})
    )


@router.get("/trades", response_model=TradesPage, summary="Individual trades")
async def trades(db: MongoDep, settings: SettingsDep, query: SeriesQueryDep) -> Any:
    """Trades of ``pair``, paged as candles are."""
    return await _page(db, settings, "trades", query)


@router.get("/depth", response_model=DepthPage, summary="Order book depth")
async def depth(db: MongoDep, settings: SettingsDep, query: SeriesQueryDep) -> Any:
    """Order book updates and snapshots of ``pair``."""
    return await _page(db, settings, "depth", query)


@router.get("/funding", response_model=FundingPage, summary="Funding rates")
async def funding(db: MongoDep, settings: SettingsDep, query: SeriesQueryDep) -> Any:
    """Funding rates of ``pair`` by funding time."""
    return await _page(db, settings, "funding", query)


@router.get("/mark-prices", response_model=MarkPricesPage, summary="Mark prices")
async def mark_prices(db: MongoDep, settings: SettingsDep, query: SeriesQueryDep) -> Any:
    """Mark price updates of ``pair``."""
    return await _page(db, settings, "mark_prices", query)


@router.get("/tickers", response_model=TickersPage, summary="24 h tickers")
async def tickers(db: MongoDep, settings: SettingsDep, query: SeriesQueryDep) -> Any:
    """24 h rolling ticker updates of ``pair``."""
    return await _page(db, settings, "tickers", query)
