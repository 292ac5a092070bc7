"""Market events to MongoDB writes keyed by their natural keys.

Every write is idempotent: the document ``_id`` *is* the natural key, so a redelivered or
re-published event can never create a second document.

* Immutable events (trades, agg trades, depth, mark prices, tickers) are inserted; a
  duplicate-key error means the document is already stored, and the first copy wins.
* Evolving records (a candle while it forms, the predicted funding rate for a funding time)
  are "latest wins": inserted when new, and otherwise brought up to date by a conditional
  update that applies only when its ``event_time_ms`` is newer than the stored one (a closed
  candle beats an open one of the same event time). Deliveries may arrive in any order; the
  stored document converges to the newest.

Why insert + targeted update rather than a bulk of upserts: an unordered bulk insert is the
fastest idempotent write on MongoDB, and MongoDB-wire servers such as FerretDB 1.x take
minutes over a bulk ``update`` command matching existing documents (measured: 200 upserts
of existing ``_id`` values > 60 s, versus 30,000 inserts/s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from petrosa_common.events import AggTrade, Depth, Kline, MarketEvent, MarkPrice, Ticker, Trade
from petrosa_common.naming import DatasetKind
from petrosa_common.time import from_epoch_ms

Source = Literal["websocket", "backfill", "api"]
DocumentId = int | str

DUPLICATE_KEY_ERROR = 11000
"""MongoDB's error code for a unique-index violation (a concurrent upsert of the same key)."""


@dataclass(slots=True)
class WriteOp:
    """One idempotent document write.

    ``version`` is ``None`` for insert-once documents, else ``(event_time_ms, closed)``:
    the higher version wins. The document body is built from ``event`` only when asked for
    (:attr:`fields`): within a batch most candle updates are superseded before being written.
    Treat as immutable (not ``frozen`` only to keep creation cheap on the hot path).
    """

    kind: DatasetKind
    symbol: str
    timeframe: str | None
    collection: str
    doc_id: DocumentId
    event: MarketEvent | None
    """The event the body is built from; ``None`` when ``body`` is given."""
    source: Source
    version: tuple[int, bool] | None = None
    body: dict[str, Any] | None = None
    """An explicit document body (overrides the one built from ``event``)."""

    @property
    def fields(self) -> dict[str, Any]:
        """The document's fields (without ``_id`` and ``ingested_at``)."""
        if self.body is not None:
            return self.body
        if self.event is None:
            raise ValueError("a WriteOp needs an event or an explicit body")
        return _BODIES[self.kind](self.event, self.source)


def time_key(symbol: str, epoch_ms: int) -> str:
    """``_id`` of a time-keyed document: ``"{SYMBOL}_{epoch_ms}"``."""
    return f"{symbol}_{epoch_ms}"


def event_writes(event: MarketEvent, *, source: Source = "websocket") -> tuple[WriteOp, ...]:
    """The writes that store ``event`` (a mark price update yields two: price and funding)."""
    return _WRITES[type(event)](event, source)


def settled_funding_write(
    symbol: str,
    funding_time_ms: int,
    funding_rate: float,
    mark_price: float | None,
    source: Source,
) -> WriteOp:
    """A settled funding rate (Binance REST ``/fapi/v1/fundingRate``): same ``_id`` as the
    predictions of live mark price updates, and a version (closed) that outranks them all."""
    body = {
        "symbol": symbol,
        "timestamp": from_epoch_ms(funding_time_ms),
        "funding_rate": funding_rate,
        "mark_price": mark_price,
        "index_price": None,
        "event_time_ms": funding_time_ms,
        "is_closed": True,
        "source": source,
    }
    kind = DatasetKind.FUNDING_RATES
    return WriteOp(
        kind,
        symbol,
        None,
        f"funding_rates_{symbol}",
        time_key(symbol, funding_time_ms),
        None,
        source,
        (funding_time_ms, True),
        body,
    )


def mark_price_candle_write(
    symbol: str,
    interval: str,
    open_time_ms: int,
    prices: tuple[float, float, float, float],
    source: Source,
) -> WriteOp:
    """One mark price point per closed mark price candle (``/fapi/v1/markPriceKlines``), at
    its open time; ``prices`` are (open, high, low, close), the close being the mark price."""
    open_, high, low, close = prices
    body = {
        "symbol": symbol,
        "timestamp": from_epoch_ms(open_time_ms),
        "mark_price": close,
        "open": open_,
        "high": high,
        "low": low,
        "interval": interval,
        "source": source,
    }
    kind = DatasetKind.MARK_PRICES
    doc_id = time_key(symbol, open_time_ms)
    return WriteOp(kind, symbol, None, f"mark_prices_{symbol}", doc_id, None, source, None, body)


def _trade(e: Trade, source: Source) -> tuple[WriteOp, ...]:
    kind = DatasetKind.TRADES
    return (WriteOp(kind, e.symbol, None, f"trades_{e.symbol}", e.trade_id, e, source),)


def _trade_body(e: Trade, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "trade_id": e.trade_id,
        "timestamp": e.trade_time,
        "price": e.price,
        "quantity": e.quantity,
        "quote_quantity": e.price * e.quantity,
        "is_buyer_maker": e.is_buyer_maker,
        "event_time": e.event_time,
        "source": source,
    }


def _agg_trade(e: AggTrade, source: Source) -> tuple[WriteOp, ...]:
    kind = DatasetKind.AGG_TRADES
    return (WriteOp(kind, e.symbol, None, f"agg_trades_{e.symbol}", e.agg_trade_id, e, source),)


def _agg_trade_body(e: AggTrade, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "agg_trade_id": e.agg_trade_id,
        "timestamp": e.trade_time,
        "price": e.price,
        "quantity": e.quantity,
        "first_trade_id": e.first_trade_id,
        "last_trade_id": e.last_trade_id,
        "is_buyer_maker": e.is_buyer_maker,
        "event_time": e.event_time,
        "source": source,
    }


def _kline(e: Kline, source: Source) -> tuple[WriteOp, ...]:
    return (
        WriteOp(
            DatasetKind.CANDLES,
            e.symbol,
            e.interval,
            f"candles_{e.symbol}_{e.interval}",
            f"{e.symbol}_{e.open_time_ms}",
            e,
            source,
            (e.event_time_ms, e.is_closed),
        ),
    )


def _kline_body(e: Kline, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "timeframe": e.interval,
        "timestamp": e.open_time,
        "close_time": e.close_time,
        "open": e.open,
        "high": e.high,
        "low": e.low,
        "close": e.close,
        "volume": e.volume,
        "quote_volume": e.quote_volume,
        "trades_count": e.trades_count,
        "taker_buy_base_volume": e.taker_buy_base_volume,
        "taker_buy_quote_volume": e.taker_buy_quote_volume,
        "is_closed": e.is_closed,
        "event_time_ms": e.event_time_ms,
        "source": source,
    }


def _depth(e: Depth, source: Source) -> tuple[WriteOp, ...]:
    kind = DatasetKind.DEPTH
    return (WriteOp(kind, e.symbol, None, f"depth_{e.symbol}", e.final_update_id, e, source),)


def _depth_body(e: Depth, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "final_update_id": e.final_update_id,
        "first_update_id": e.first_update_id,
        "previous_final_update_id": e.previous_final_update_id,
        # A partial book frame may carry no time at all: to_document fills ingested_at in.
        "timestamp": e.event_time or e.transaction_time,
        "transaction_time": e.transaction_time,
        "bids": _levels(e.bids),
        "asks": _levels(e.asks),
        "is_snapshot": e.is_snapshot,
        "source": source,
    }


def _levels(levels: list[tuple[float, float]]) -> list[dict[str, float]]:
    # Objects, not [price, qty] pairs: portable to MongoDB-wire servers without nested arrays.
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def _mark_price(e: MarkPrice, source: Source) -> tuple[WriteOp, ...]:
    mark = WriteOp(
        DatasetKind.MARK_PRICES,
        e.symbol,
        None,
        f"mark_prices_{e.symbol}",
        f"{e.symbol}_{e.event_time_ms}",
        e,
        source,
    )
    if e.funding_rate is None or e.next_funding_time_ms is None:
        return (mark,)
    funding = WriteOp(
        DatasetKind.FUNDING_RATES,
        e.symbol,
        None,
        f"funding_rates_{e.symbol}",
        f"{e.symbol}_{e.next_funding_time_ms}",
        e,
        source,
        (e.event_time_ms, False),
    )
    return mark, funding


def _mark_price_body(e: MarkPrice, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "timestamp": e.event_time,
        "mark_price": e.mark_price,
        "index_price": e.index_price,
        "estimated_settle_price": e.estimated_settle_price,
        "funding_rate": e.funding_rate,
        "next_funding_time": e.next_funding_time,
        "source": source,
    }


def _funding_body(e: MarkPrice, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "timestamp": e.next_funding_time,
        "funding_rate": e.funding_rate,
        "mark_price": e.mark_price,
        "index_price": e.index_price,
        "event_time_ms": e.event_time_ms,
        "source": source,
    }


def _ticker(e: Ticker, source: Source) -> tuple[WriteOp, ...]:
    kind = DatasetKind.TICKERS
    doc_id = f"{e.symbol}_{e.event_time_ms}"
    return (WriteOp(kind, e.symbol, None, f"tickers_{e.symbol}", doc_id, e, source),)


def _ticker_body(e: Ticker, source: Source) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "timestamp": e.event_time,
        "is_mini": e.is_mini,
        "last_price": e.last_price,
        "open_price": e.open_price,
        "high_price": e.high_price,
        "low_price": e.low_price,
        "volume": e.volume,
        "quote_volume": e.quote_volume,
        "price_change": e.price_change,
        "price_change_percent": e.price_change_percent,
        "weighted_avg_price": e.weighted_avg_price,
        "trades_count": e.trades_count,
        "source": source,
    }


# Collection names are spelled inline above for speed; they must match collection_name()
# (a unit test checks it for every kind).
_WRITES: dict[type, Callable[[Any, Source], tuple[WriteOp, ...]]] = {
    Trade: _trade,
    AggTrade: _agg_trade,
    Kline: _kline,
    Depth: _depth,
    MarkPrice: _mark_price,
    Ticker: _ticker,
}
_BODIES: dict[DatasetKind, Callable[[Any, Source], dict[str, Any]]] = {
    DatasetKind.TRADES: _trade_body,
    DatasetKind.AGG_TRADES: _agg_trade_body,
    DatasetKind.CANDLES: _kline_body,
    DatasetKind.DEPTH: _depth_body,
    DatasetKind.MARK_PRICES: _mark_price_body,
    DatasetKind.FUNDING_RATES: _funding_body,
    DatasetKind.TICKERS: _ticker_body,
}


def supersedes(new: WriteOp, old: WriteOp) -> bool:
    """Whether ``new`` should replace ``old`` for the same document within one batch."""
    if new.version is None or old.version is None:
        return False  # insert-once: the first copy wins
    return new.version > old.version


def to_document(op: WriteOp, ingested_at: datetime) -> dict[str, Any]:
    """The full document of ``op`` (``_id`` first), stamped with ``ingested_at``."""
    document: dict[str, Any] = {"_id": op.doc_id, **op.fields, "ingested_at": ingested_at}
    if document.get("timestamp") is None:
        document["timestamp"] = ingested_at  # a partial book frame may carry no time at all
    return document


def newer_update(op: WriteOp, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(filter, update)`` that brings a stored versioned document up to ``op``'s version."""
    if op.version is None:
        raise ValueError("only versioned writes are updated")
    event_ms, closed = op.version
    older: dict[str, Any] = {"event_time_ms": {"$lt": event_ms}}
    query: dict[str, Any]
    if closed:
        query = {"_id": op.doc_id, "$or": [older, {"event_time_ms": event_ms, "is_closed": False}]}
    else:
        query = {"_id": op.doc_id, **older}
    fields = {key: value for key, value in document.items() if key != "_id"}
    return query, {"$set": fields}
