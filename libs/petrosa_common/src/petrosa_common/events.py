"""Typed market events, one class per Binance futures websocket event type.

Prices and quantities are floats (the wire sends strings), times are aware UTC datetimes
(the wire sends epoch milliseconds). The parser (:mod:`petrosa_common.parser`) builds them;
:mod:`petrosa_common.documents` turns them into MongoDB writes.

Treat them as immutable. They are not ``frozen`` dataclasses only because a frozen
dataclass costs about 1.2 µs more to create, and the ingestor creates one per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EventType(StrEnum):
    """Binance's event type names (``data.e``), plus ``depth`` for partial book frames."""

    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    KLINE = "kline"
    DEPTH_UPDATE = "depthUpdate"
    PARTIAL_DEPTH = "depth"
    MARK_PRICE = "markPriceUpdate"
    TICKER = "24hrTicker"
    MINI_TICKER = "24hrMiniTicker"


@dataclass(slots=True)
class Trade:
    """One trade (``<symbol>@trade``)."""

    symbol: str
    trade_id: int
    price: float
    quantity: float
    is_buyer_maker: bool
    trade_time: datetime
    event_time: datetime


@dataclass(slots=True)
class AggTrade:
    """One aggregate trade (``<symbol>@aggTrade``)."""

    symbol: str
    agg_trade_id: int
    price: float
    quantity: float
    first_trade_id: int
    last_trade_id: int
    is_buyer_maker: bool
    trade_time: datetime
    event_time: datetime


@dataclass(slots=True)
class Kline:
    """One update of a candle (``<symbol>@kline_<interval>``); ``is_closed`` on the last one."""

    symbol: str
    interval: str
    open_time: datetime
    close_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades_count: int
    taker_buy_base_volume: float
    taker_buy_quote_volume: float
    is_closed: bool
    event_time_ms: int
    open_time_ms: int


@dataclass(slots=True)
class Depth:
    """An order book diff (``depthUpdate``) or a partial book snapshot (no ``e``)."""

    symbol: str
    final_update_id: int
    first_update_id: int | None
    previous_final_update_id: int | None
    bids: list[tuple[float, float]]
    """``(price, quantity)`` levels; quantity 0 removes a level in a diff."""
    asks: list[tuple[float, float]]
    event_time: datetime | None
    transaction_time: datetime | None
    is_snapshot: bool


@dataclass(slots=True)
class MarkPrice:
    """A mark price update; it also carries the predicted funding rate for ``next_funding_time``."""

    symbol: str
    event_time: datetime
    event_time_ms: int
    mark_price: float
    index_price: float | None
    estimated_settle_price: float | None
    funding_rate: float | None
    next_funding_time: datetime | None
    next_funding_time_ms: int | None


@dataclass(slots=True)
class Ticker:
    """A 24 h rolling ticker; ``is_mini`` for ``24hrMiniTicker`` (fewer fields)."""

    symbol: str
    event_time: datetime
    event_time_ms: int
    is_mini: bool
    last_price: float
    open_price: float
    high_price: float
    low_price: float
    volume: float
    quote_volume: float
    price_change: float | None
    price_change_percent: float | None
    weighted_avg_price: float | None
    trades_count: int | None


MarketEvent = Trade | AggTrade | Kline | Depth | MarkPrice | Ticker
"""Any parsed market event."""
