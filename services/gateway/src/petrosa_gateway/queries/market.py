"""Market data reads (candles, trades, depth, funding, mark prices, tickers).

Used by the REST routes and the NATS handlers alike, so both answer the same payload:
``{pair, period?, data, pagination, sort, metadata, parameters}``. Filtering, sorting and
pagination happen in the database (a ``timestamp`` range, ``skip``/``limit``); documents are
projected to the published fields.

Which items a page holds (the clients feed them straight into indicators):

* **without** ``start``: the latest ones. ``offset`` skips the newest ``offset`` items (before
  ``end`` when given), the page is the next ``limit`` older ones, ordered by ``sort_order``:
  ``asc`` (the default) oldest first, ``desc`` newest first. The read is always newest
  first; an ``asc`` page is that read reversed.
* **with** ``start``: the range ``[start, end)`` sorted by ``sort_order`` (``asc`` by
  default: from ``start`` on), then ``offset``/``limit``.

A series with nothing stored is an empty page (200), never a 404: a pair not traded yet is
not a missing route. ``pagination.total`` never costs a scan of the whole collection on
MongoDB (see :func:`settled_total`):

* with ``start`` or ``end``: ``count_documents`` of the requested ``timestamp`` range, an
  index range count on the ``timestamp`` index;
* with neither: the collection's metadata count
  (:func:`petrosa_common.mongo.estimated_count`), which also counts documents that are not
  part of the series (no date ``timestamp``);
* a page that ends before ``limit`` has reached the end of the range: its total is exact
  (``offset`` + documents read), whichever count was asked for.

On FerretDB (the local stand-in, which uses no index for ranges) a range count costs a
collection scan and the metadata count is the planner's estimate, which lags behind writes
until the next ``ANALYZE``; on MongoDB they are index and metadata reads.

A series holds only documents whose ``timestamp`` is a date: the selector always carries a
date range (1970-9999 unless ``start``/``end`` narrow it), and MongoDB compares a date only
with dates, so a document without one is never paged (nor counted by a range count). A
dated document whose fields do not fit the published item (:mod:`.market_items`) is left
out of its page and counted in ``data_manager_gateway_skipped_documents_total``; it still
counts in ``pagination.total``, so such a page holds fewer items than ``limit`` (and
``metadata.records_returned`` says how many it holds).

``metadata``: ``data_completeness`` (:mod:`.market_completeness`: candles only, ``None``
for series without a grid), ``last_updated`` (when the page's data was last written: the
latest ``ingested_at`` of its documents, which the ingestor and the backfiller stamp on
every write and update; ``None`` for an empty page or documents without one), ``source``
(``mongodb``), ``collection``, ``records_returned`` (items in ``data``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from petrosa_common.mongo import Document, estimated_count
from petrosa_common.naming import DatasetKind, collection_name
from petrosa_common.time import to_epoch_ms
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.errors import InvalidParameter
from petrosa_gateway.inputs import MAX_DATETIME, MIN_DATETIME, Offset, Pair, Period, UtcDateTime
from petrosa_gateway.metrics import SKIPPED_DOCUMENTS
from petrosa_gateway.queries.common import Pagination
from petrosa_gateway.queries.market_completeness import range_completeness, span_completeness
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
from petrosa_gateway.store.models import settled_total

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


SortOrder = Literal["asc", "desc"]
SOURCE = "mongodb"
"""The store every series is read from (``metadata.source``)."""


class SeriesQuery(BaseModel):
    """A validated market data request (REST query parameters or a NATS request body)."""

    pair: Pair = Field(description="Binance symbol, e.g. BTCUSDT (case-insensitive)")
    period: Period | None = Field(None, description="Candle timeframe (candles only), e.g. 1m")
    start: UtcDateTime | None = Field(None, description="Inclusive start (ISO-8601)")
    end: UtcDateTime | None = Field(None, description="Exclusive end (ISO-8601)")
    limit: int = Field(100, ge=1, le=MAX_DATA_LIMIT)
    offset: Offset = 0
    sort_order: SortOrder = Field(
        "asc", description="Order of the page: asc (oldest first, the default) or desc"
    )

    @model_validator(mode="after")
    def _range(self) -> SeriesQuery:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @property
    def read_order(self) -> SortOrder:
        """The database's order: without ``start`` the page counts back from the newest."""
        return self.sort_order if self.start else "desc"


class SortEcho(BaseModel):
    """How the page's items are ordered."""

    by: Literal["timestamp"] = "timestamp"
    order: SortOrder


class PageMetadata(BaseModel):
    """What a page says about itself and its series."""

    data_completeness: float | None = Field(
        ge=0,
        le=1,
        description="Stored share of the requested window (candles, on Binance's grid); "
        "null for series without a grid",
    )
    last_updated: datetime | None = Field(
        description="When the page's data was last written (its latest ingested_at); null "
        "when the page is empty or its documents carry no write time"
    )
    source: Literal["mongodb"]
    collection: str
    records_returned: int = Field(ge=0, description="Items in data")


class SeriesParameters(BaseModel):
    """The request as understood (pair upper-cased, dates in UTC, defaults filled in)."""

    pair: str
    start: datetime | None
    end: datetime | None
    limit: int
    offset: int
    sort_order: SortOrder


class CandleParameters(SeriesParameters):
    """The candle request as understood."""

    period: str


async def read_series(
    db: AsyncDatabase[Document], series: Series, query: SeriesQuery
) -> dict[str, Any]:
    """``{pair, period?, data, pagination, sort, metadata, parameters}``: one page of
    ``series`` (an empty page when nothing is stored)."""
    if series.needs_period and query.period is None:
        raise InvalidParameter("candles need a period, e.g. period=1m")
    period = query.period if series.needs_period else None
    name = collection_name(series.kind, query.pair, period)
    collection = db[name]
    # The total and the page are independent reads: run them together.
    docs, counted = await asyncio.gather(
        _read_page(collection, series, query), _count(collection, query)
    )
    total = settled_total(counted=counted, offset=query.offset, limit=query.limit, read=len(docs))
    if query.read_order != query.sort_order:
        docs.reverse()
    data = _published(series, docs)
    metadata = PageMetadata(
        data_completeness=_completeness(period, query, docs, total),
        last_updated=_last_written(docs),
        source=SOURCE,
        collection=name,
        records_returned=len(data),
    )
    result: dict[str, Any] = {"pair": query.pair}
    if period is not None:
        result["period"] = period
    result["data"] = data
    result["pagination"] = Pagination.of(
        total=total, limit=query.limit, offset=query.offset
    ).model_dump()
    result["sort"] = SortEcho(order=query.sort_order).model_dump()
    result["metadata"] = metadata.model_dump()
    result["parameters"] = query.model_dump(exclude=None if period else {"period"})
    return result


def _time_range(query: SeriesQuery) -> dict[str, datetime]:
    # Always a date range: MongoDB compares dates only with dates, so documents without a
    # date timestamp are outside every page and every range count.
    time_range: dict[str, datetime] = {"$gte": query.start or MIN_DATETIME}
    if query.end:
        time_range["$lt"] = query.end
    else:
        time_range["$lte"] = MAX_DATETIME
    return time_range


async def _read_page(
    collection: AsyncCollection[Document], series: Series, query: SeriesQuery
) -> list[Document]:
    """The page's documents in :attr:`SeriesQuery.read_order`.

    Bounded on MongoDB: the ``timestamp`` index serves both the range and the sort, so the
    server walks ``offset + limit`` index entries (``limit`` <= :data:`MAX_DATA_LIMIT`) and
    fetches ``limit`` documents, whatever the collection holds. ``offset`` is the client's
    to pay; a deep page is cheaper asked as a range (``end`` = the oldest time already seen).
    """
    projection = {"_id": 0, "timestamp": 1, "ingested_at": 1, **dict.fromkeys(series.fields, 1)}
    direction = ASCENDING if query.read_order == "asc" else DESCENDING
    cursor = (
        collection.find({"timestamp": _time_range(query)}, projection)
        .sort("timestamp", direction)
        .skip(query.offset)
        .limit(query.limit)
    )
    return await cursor.to_list()


async def _count(collection: AsyncCollection[Document], query: SeriesQuery) -> int:
    """The range's count when one was asked for, else the collection's metadata count.

    Never a ``count_documents({})`` (an aggregation over every document): without a range
    it is the O(1) metadata count; with one, a count of that ``timestamp`` range, which
    MongoDB answers from the index alone (no document is read).
    """
    if query.start is None and query.end is None:
        return await estimated_count(collection)
    return await collection.count_documents({"timestamp": _time_range(query)})


def _last_written(docs: list[Document]) -> datetime | None:
    """The latest ``ingested_at`` of ``docs`` (the writers stamp every write with it)."""
    written = [doc["ingested_at"] for doc in docs if isinstance(doc.get("ingested_at"), datetime)]
    return max(written, default=None)


def _published(series: Series, docs: list[Document]) -> list[Any]:
    """``docs`` as published items; the unfit ones are dropped and counted."""
    fields = series.fields
    rows = [{"timestamp": doc.get("timestamp"), **{f: doc.get(f) for f in fields}} for doc in docs]
    data, skipped = conforming(series.item, rows)
    if skipped:
        SKIPPED_DOCUMENTS.labels(series.kind.value).inc(skipped)
    return data


def _completeness(
    period: str | None, query: SeriesQuery, docs: list[Document], total: int
) -> float | None:
    """``metadata.data_completeness`` (:mod:`.market_completeness`)."""
    if period is None:
        return None
    if query.start and query.end:
        return range_completeness(
            start_ms=to_epoch_ms(query.start),
            end_ms=to_epoch_ms(query.end),
            timeframe=period,
            stored=total,
        )
    return span_completeness((to_epoch_ms(doc["timestamp"]) for doc in docs), period)
