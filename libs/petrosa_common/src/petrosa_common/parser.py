"""Parse what the socket client publishes into typed market events.

Accepts the envelope ``{"stream", "data", "timestamp", "message_id", "source", "version"}``
(optionally with ``_otel_trace_context`` / ``_otel_trace_headers``) and bare Binance events.
Anything that can never be stored raises :class:`MessageRejected` with a short reason code
(used as a metric label) and a human-readable detail.

This is the ingestor's hot path: plain functions and direct conversions, no reflection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from math import isfinite
from typing import Any

import orjson

from petrosa_common.events import (
    AggTrade,
    Depth,
    EventType,
    Kline,
    MarketEvent,
    MarkPrice,
    Ticker,
    Trade,
)
from petrosa_common.naming import is_symbol
from petrosa_common.timeframes import is_timeframe


class MessageRejected(ValueError):
    """A message that can never be stored; ``reason`` is a stable code for metrics."""

    def __init__(self, reason: str, detail: str, event_type: str = "unknown") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_type = event_type


# Stream name suffix (after "@", before any further "@" or "_") -> event type, for frames
# whose payload carries no "e".
_STREAM_EVENT_TYPES: dict[str, EventType] = {
    "trade": EventType.TRADE,
    "aggTrade": EventType.AGG_TRADE,
    "kline": EventType.KLINE,
    "depth": EventType.PARTIAL_DEPTH,
    "depth5": EventType.PARTIAL_DEPTH,
    "depth10": EventType.PARTIAL_DEPTH,
    "depth20": EventType.PARTIAL_DEPTH,
    "markPrice": EventType.MARK_PRICE,
    "ticker": EventType.TICKER,
    "miniTicker": EventType.MINI_TICKER,
}
_EVENT_TYPES: dict[str, EventType] = {member.value: member for member in EventType}
# Raw symbols already seen to be valid *and upper-case* (the common case: "BTCUSDT").
_VALID_SYMBOLS: dict[str, None] = {}


_fromtimestamp = datetime.fromtimestamp


def _at(epoch_ms: int) -> datetime:
    return _fromtimestamp(epoch_ms / 1000, UTC)


def _finite(*values: float) -> None:
    for value in values:
        if not isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")


def _num(value: Any) -> float:
    number = float(value)
    if not isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _opt_num(value: Any) -> float | None:
    return None if value is None or value == "" else _num(value)


def _levels(raw: Any) -> list[tuple[float, float]]:
    levels = [(float(level[0]), float(level[1])) for level in raw]
    for price, quantity in levels:
        if not (isfinite(price) and isfinite(quantity)):
            raise ValueError(f"not a finite level: {[price, quantity]!r}")
    return levels


def _stream_event_type(stream: str) -> EventType | None:
    _, _, channel = stream.partition("@")
    name = channel.split("@", 1)[0].split("_", 1)[0]
    return _STREAM_EVENT_TYPES.get(name)


def _stream_interval(stream: str) -> str | None:
    _, _, channel = stream.partition("@")
    _, sep, interval = channel.split("@", 1)[0].partition("_")
    return interval if sep else None


def unwrap(payload: Any) -> tuple[dict[str, Any], str]:
    """Split a decoded frame into (Binance event, stream name); bare events have no stream."""
    if not isinstance(payload, dict):
        raise MessageRejected(
            "not_an_object", f"expected a JSON object, got {type(payload).__name__}"
        )
    if "data" in payload:
        data = payload["data"]
        if not isinstance(data, dict):
            raise MessageRejected("no_data", "envelope 'data' is not an object")
        stream = payload.get("stream")
        return data, stream if isinstance(stream, str) else ""
    return payload, ""


def resolve_event_type(data: dict[str, Any], stream: str) -> EventType:
    """Event type from ``data.e``; a partial book has none; else from the stream name."""
    name = data.get("e")
    if isinstance(name, str):
        event_type = _EVENT_TYPES.get(name)
        if event_type is None or event_type is EventType.PARTIAL_DEPTH:
            raise MessageRejected("unknown_event", f"unsupported event type {name!r}", name)
        return event_type
    if "lastUpdateId" in data and ("bids" in data or "b" in data):
        return EventType.PARTIAL_DEPTH
    from_stream = _stream_event_type(stream)
    if from_stream is None:
        raise MessageRejected("unknown_event", f"no event type in data and stream {stream!r}")
    return from_stream


def resolve_symbol(data: dict[str, Any], stream: str, event_type: str) -> str:
    """Symbol from ``data.s``, else the stream name before ``@``, upper-cased."""
    symbol = data.get("s")
    if not isinstance(symbol, str) or not symbol:
        symbol = stream.partition("@")[0]
    if symbol in _VALID_SYMBOLS:
        return symbol
    upper = symbol.upper()
    if not is_symbol(upper):
        raise MessageRejected("no_symbol", f"no usable symbol (got {symbol!r})", event_type)
    if upper == symbol and len(_VALID_SYMBOLS) < 100_000:  # bounded against garbage symbols
        _VALID_SYMBOLS[symbol] = None
    return upper


def parse_frame(raw: bytes | str) -> MarketEvent:
    """Parse one NATS message body into a market event or raise :class:`MessageRejected`."""
    return parse_typed_frame(raw)[1]


def parse_typed_frame(raw: bytes | str) -> tuple[EventType, MarketEvent]:
    """Like :func:`parse_frame`, also returning the event type (a metric label)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MessageRejected("invalid_json", str(exc)) from None
    data, stream = unwrap(payload)
    event_type = resolve_event_type(data, stream)
    symbol = resolve_symbol(data, stream, event_type)
    try:
        return event_type, _BUILDERS[event_type](data, symbol, stream)
    except MessageRejected:
        raise
    except KeyError as exc:
        raise MessageRejected("bad_field", f"missing field {exc}", event_type) from None
    except (TypeError, ValueError, IndexError) as exc:
        raise MessageRejected("bad_field", str(exc), event_type) from None


def _trade(d: dict[str, Any], symbol: str, _stream: str) -> Trade:
    price, quantity = float(d["p"]), float(d["q"])
    _finite(price, quantity)
    return Trade(
        symbol=symbol,
        trade_id=int(d["t"]),
        price=price,
        quantity=quantity,
        is_buyer_maker=bool(d.get("m", False)),
        trade_time=_at(int(d["T"])),
        event_time=_at(int(d["E"])),
    )


def _agg_trade(d: dict[str, Any], symbol: str, _stream: str) -> AggTrade:
    price, quantity = float(d["p"]), float(d["q"])
    _finite(price, quantity)
    return AggTrade(
        symbol=symbol,
        agg_trade_id=int(d["a"]),
        price=price,
        quantity=quantity,
        first_trade_id=int(d["f"]),
        last_trade_id=int(d["l"]),
        is_buyer_maker=bool(d.get("m", False)),
        trade_time=_at(int(d["T"])),
        event_time=_at(int(d["E"])),
    )


def _kline(d: dict[str, Any], symbol: str, stream: str) -> Kline:
    k = d["k"]
    if not isinstance(k, dict):
        raise MessageRejected("bad_field", "kline 'k' is not an object", EventType.KLINE)
    interval = k.get("i") or _stream_interval(stream)
    if not isinstance(interval, str) or not is_timeframe(interval):
        raise MessageRejected("bad_interval", f"no valid kline interval ({interval!r})", "kline")
    open_ms = int(k["t"])
    open_, high, low, close = float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"])
    volume, quote_volume = float(k["v"]), float(k.get("q", 0))
    taker_base, taker_quote = float(k.get("V", 0)), float(k.get("Q", 0))
    _finite(open_, high, low, close, volume, quote_volume, taker_base, taker_quote)
    return Kline(
        symbol=symbol,
        interval=interval,
        open_time=_at(open_ms),
        close_time=_at(int(k["T"])),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        quote_volume=quote_volume,
        trades_count=int(k.get("n", 0)),
        taker_buy_base_volume=taker_base,
        taker_buy_quote_volume=taker_quote,
        is_closed=bool(k.get("x", False)),
        event_time_ms=int(d.get("E", open_ms)),
        open_time_ms=open_ms,
    )


def _depth_update(d: dict[str, Any], symbol: str, _stream: str) -> Depth:
    previous = d.get("pu")
    return Depth(
        symbol=symbol,
        final_update_id=int(d["u"]),
        first_update_id=int(d["U"]),
        previous_final_update_id=None if previous is None else int(previous),
        bids=_levels(d["b"]),
        asks=_levels(d["a"]),
        event_time=_at(int(d["E"])),
        transaction_time=_at(int(d["T"])) if "T" in d else None,
        is_snapshot=False,
    )


def _partial_depth(d: dict[str, Any], symbol: str, _stream: str) -> Depth:
    event_ms = d.get("E")
    transaction_ms = d.get("T")
    return Depth(
        symbol=symbol,
        final_update_id=int(d["lastUpdateId"] if "lastUpdateId" in d else d["u"]),
        first_update_id=None,
        previous_final_update_id=None,
        bids=_levels(d["bids"] if "bids" in d else d["b"]),
        asks=_levels(d["asks"] if "asks" in d else d["a"]),
        event_time=None if event_ms is None else _at(int(event_ms)),
        transaction_time=None if transaction_ms is None else _at(int(transaction_ms)),
        is_snapshot=True,
    )


def _mark_price(d: dict[str, Any], symbol: str, _stream: str) -> MarkPrice:
    event_ms = int(d["E"])
    funding_ms = d.get("T")
    next_funding_ms = int(funding_ms) if funding_ms not in (None, 0, "0", "") else None
    return MarkPrice(
        symbol=symbol,
        event_time=_at(event_ms),
        event_time_ms=event_ms,
        mark_price=_num(d["p"]),
        index_price=_opt_num(d.get("i")),
        estimated_settle_price=_opt_num(d.get("P")),
        funding_rate=_opt_num(d.get("r")),
        next_funding_time=None if next_funding_ms is None else _at(next_funding_ms),
        next_funding_time_ms=next_funding_ms,
    )


def _ticker(d: dict[str, Any], symbol: str, _stream: str, *, mini: bool = False) -> Ticker:
    event_ms = int(d["E"])
    count = d.get("n")
    return Ticker(
        symbol=symbol,
        event_time=_at(event_ms),
        event_time_ms=event_ms,
        is_mini=mini,
        last_price=_num(d["c"]),
        open_price=_num(d["o"]),
        high_price=_num(d["h"]),
        low_price=_num(d["l"]),
        volume=_num(d["v"]),
        quote_volume=_num(d["q"]),
        price_change=_opt_num(d.get("p")),
        price_change_percent=_opt_num(d.get("P")),
        weighted_avg_price=_opt_num(d.get("w")),
        trades_count=None if count is None else int(count),
    )


def _mini_ticker(d: dict[str, Any], symbol: str, stream: str) -> Ticker:
    return _ticker(d, symbol, stream, mini=True)


_BUILDERS: dict[EventType, Callable[[dict[str, Any], str, str], MarketEvent]] = {
    EventType.TRADE: _trade,
    EventType.AGG_TRADE: _agg_trade,
    EventType.KLINE: _kline,
    EventType.DEPTH_UPDATE: _depth_update,
    EventType.PARTIAL_DEPTH: _partial_depth,
    EventType.MARK_PRICE: _mark_price,
    EventType.TICKER: _ticker,
    EventType.MINI_TICKER: _mini_ticker,
}


def event_type_of(event: MarketEvent) -> EventType:
    """The event type an event was parsed from (the metric label)."""
    match event:
        case Trade():
            return EventType.TRADE
        case AggTrade():
            return EventType.AGG_TRADE
        case Kline():
            return EventType.KLINE
        case Depth(is_snapshot=True):
            return EventType.PARTIAL_DEPTH
        case Depth():
            return EventType.DEPTH_UPDATE
        case MarkPrice():
            return EventType.MARK_PRICE
        case Ticker(is_mini=True):
            return EventType.MINI_TICKER
        case Ticker():
            return EventType.TICKER
