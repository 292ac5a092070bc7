"""Market data reads (candles, trades, depth, funding, mark prices, tickers).

Used by the REST routes and the NATS handlers alike. Filtering, sorting and pagination happen
in the database (a ``timestamp`` range, ``skip``/``limit``); documents are projected to the
published fields.

A series holds only documents whose ``timestamp`` is a date: the selector always carries a
date range (1970-9999 unless ``start``/``end`` narrow it), and MongoDB compares a date only
with dates, so a document without one is neither counted nor paged. A dated document whose
fields do not fit the published item (:mod:`.market_items`) is left out of its page and
counted in ``data_manager_gateway_skipped_documents_total``; it still counts in
``pagination.total``, so such a page holds fewer items than ``limit``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from petrosa_common.mongo import Document
from petrosa_common.naming import DatasetKind, collection_name
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.errors import NotFound
from petrosa_gateway.inputs import MAX_DATETIME, MIN_DATETIME, Offset, Pair, Period, UtcDateTime
from petrosa_gateway.metrics import SKIPPED_DOCUMENTS
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.queries.market_items import (
    Candle,
    DepthSnapshot,
    Funding,
    MarketItem,
    MarkPrice,
    Ticker,
    Trade,
    conforming,
    item_fields,
)

MAX_DATA_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Series:
    """A published market series: its kind and its item model (whose fields are published)."""

    kind: DatasetKind
    item: type[MarketItem]
    needs_period: bool = False
    fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", item_fields(self.item))


CANDLES = Series(DatasetKind.CANDLES, Candle, needs_period=True)
TRADES = Series(DatasetKind.TRADES, Trade)
DEPTH = Series(DatasetKind.DEPTH, DepthSnapshot)
FUNDING = Series(DatasetKind.FUNDING_RATES, Funding)
MARK_PRICES = Series(DatasetKind.MARK_PRICES, MarkPrice)
TICKERS = Series(DatasetKind.TICKERS, Ticker)
SERIES: dict[str, Series] = {
    "candles": CANDLES,
    "trades": TRADES,
    "depth": DEPTH,
    "funding": FUNDING,
    "mark_prices": MARK_PRICES,
    "tickers": TICKERS,
}


class SeriesQuery(BaseModel):
    """A validated market data request (REST query parameters or a NATS request body)."""

    pair: Pair = Field(description="Binance symbol, e.g. BTCUSDT (case-insensitive)")
    period: Period | None = Field(None, description="Candle timeframe (candles only), e.g. 1m")
    start: UtcDateTime | None = Field(None, description="Inclusive start (ISO-8601)")
    end: UtcDateTime | None = Field(None, description="Exclusive end (ISO-8601)")
    limit: int = Field(100, ge=1, le=MAX_DATA_LIMIT)
    offset: Offset = 0
    sort_order: Literal["asc", "desc"] = "desc"

    @model_validator(mode="after")
    def _range(self) -> SeriesQuery:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


async def read_series(
    db: AsyncDatabase[Document], series: Series, query: SeriesQuery
) -> dict[str, Any]:
    """``{pair, period?, data: [...], pagination}`` for one page of ``series``."""
    if series.needs_period and query.period is None:
        raise NotFound("candles need a period, e.g. period=1m")
    name = collection_name(series.kind, query.pair, query.period if series.needs_period else None)
    # Always a date range: MongoDB compares dates only with dates, so documents without a
    # date timestamp are outside every page and every count.
    time_range: dict[str, datetime] = {"$gte": query.start or MIN_DATETIME}
    if query.end:
        time_range["$lt"] = query.end
    else:
        time_range["$lte"] = MAX_DATETIME
    selector: Document = {"timestamp": time_range}
    collection = db[name]
    projection = {"_id": 0, "timestamp": 1, **dict.fromkeys(series.fields, 1)}
    direction = ASCENDING if query.sort_order == "asc" else DESCENDING
    cursor = (
        collection.find(selector, projection)
        .sort("timestamp", direction)
        .skip(query.offset)
        .limit(query.limit)
    )
    # The total and the page are independent reads: run them together.
    total, docs = await asyncio.gather(collection.count_documents(selector), cursor.to_list())
    # Only an empty answer pays for the existence check: unknown series are 404, not [].
    if total == 0 and name not in await db.list_collection_names(filter={"name": name}):
        suffix = f" {query.period}" if series.needs_period else ""
        raise NotFound(f"no {series.kind.value} stored for {query.pair}{suffix}")
    fields = series.fields
    rows = [{"timestamp": doc.get("timestamp"), **{f: doc.get(f) for f in fields}} for doc in docs]
    data, skipped = conforming(series.item, rows)
    if skipped:
        SKIPPED_DOCUMENTS.labels(series.kind.value).inc(skipped)
    result: dict[str, Any] = {"pair": query.pair}
    if series.needs_period:
        result["period"] = query.period
    result["data"] = data
    result["pagination"] = Pagination.of(
        total=total, limit=query.limit, offset=query.offset
    ).model_dump()
    return result
