"""Market data reads (candles, trades, depth, funding, mark prices, tickers).

Used by the REST routes and the NATS handlers alike. Filtering, sorting and pagination happen
in the database (a ``timestamp`` range, ``skip``/``limit``); documents are projected to the
published fields.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from petrosa_common.mongo import Document
from petrosa_common.naming import DatasetKind, collection_name, is_symbol
from petrosa_common.timeframes import TIMEFRAME_SECONDS, ensure_utc
from pydantic import BaseModel, Field, field_validator, model_validator
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.errors import NotFound
from petrosa_gateway.queries.common import Pagination

MAX_DATA_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Series:
    """A published market series: its kind and the fields of its items."""

    kind: DatasetKind
    fields: tuple[str, ...]
    needs_period: bool = False


CANDLES = Series(
    DatasetKind.CANDLES,
    ("open", "high", "low", "close", "volume", "quote_volume", "trades_count"),
    needs_period=True,
)
TRADES = Series(
    DatasetKind.TRADES, ("trade_id", "price", "quantity", "quote_quantity", "is_buyer_maker")
)
DEPTH = Series(DatasetKind.DEPTH, ("final_update_id", "bids", "asks", "is_snapshot"))
FUNDING = Series(DatasetKind.FUNDING_RATES, ("funding_rate", "mark_price", "index_price"))
MARK_PRICES = Series(
    DatasetKind.MARK_PRICES, ("mark_price", "index_price", "funding_rate", "next_funding_time")
)
TICKERS = Series(
    DatasetKind.TICKERS,
    ("last_price", "open_price", "high_price", "low_price", "volume", "quote_volume", "is_mini"),
)
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

    pair: str = Field(description="Binance symbol, e.g. BTCUSDT")
    period: str | None = Field(None, description="Candle timeframe (candles only), e.g. 1m")
    start: datetime | None = Field(None, description="Inclusive start (ISO-8601)")
    end: datetime | None = Field(None, description="Exclusive end (ISO-8601)")
    limit: int = Field(100, ge=1, le=MAX_DATA_LIMIT)
    offset: int = Field(0, ge=0)
    sort_order: Literal["asc", "desc"] = "desc"

    @field_validator("pair")
    @classmethod
    def _pair(cls, pair: str) -> str:
        upper = pair.upper()
        if not is_symbol(upper):
            raise ValueError("pair must be a Binance symbol such as BTCUSDT")
        return upper

    @field_validator("period")
    @classmethod
    def _period(cls, period: str | None) -> str | None:
        if period is not None and period not in TIMEFRAME_SECONDS:
            raise ValueError(f"period must be one of {', '.join(TIMEFRAME_SECONDS)}")
        return period

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        return None if moment is None else ensure_utc(moment)

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
    time_range: dict[str, datetime] = {}
    if query.start:
        time_range["$gte"] = query.start
    if query.end:
        time_range["$lt"] = query.end
    selector: Document = {"timestamp": time_range} if time_range else {}
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
    data = [{"timestamp": doc.get("timestamp"), **{f: doc.get(f) for f in fields}} for doc in docs]
    result: dict[str, Any] = {"pair": query.pair}
    if series.needs_period:
        result["period"] = query.period
    result["data"] = data
    result["pagination"] = Pagination.of(
        total=total, limit=query.limit, offset=query.offset
    ).model_dump()
    return result
