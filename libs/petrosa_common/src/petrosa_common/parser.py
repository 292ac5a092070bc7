"""Parse what the socket client publishes into typed market events.

Accepts the envelope ``{"stream", "data", "timestamp", "message_id", "source", "version"}``
(optionally with ``_otel_trace_context`` / ``_otel_trace_headers``) and bare Binance events.
Every field is read through the rules of :mod:`petrosa_common.frame_rules`. Anything that
can never be stored raises :class:`MessageRejected` with a :class:`RejectReason` (a metric
label) and a human-readable detail; nothing else escapes :func:`parse_typed_frame`.

This is the ingestor's hot path: plain functions and direct conversions, no reflection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from petrosa_common import frame_rules as rules
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
from petrosa_common.frame_rules import FieldError, OutOfRange, latest_ms, utc
from petrosa_common.naming import is_symbol
from petrosa_common.timeframes import is_timeframe


class RejectReason(StrEnum):
    """Why a frame can never be stored (the dead-letter reason and a metric label)."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    NO_DATA = "no_data"
    UNKNOWN_EVENT = "unknown_event"
    NO_SYMBOL = "no_symbol"
    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_FIELD = "bad_field"
    OUT_OF_RANGE = "out_of_range"
    BAD_INTERVAL = "bad_interval"


UNKNOWN_EVENT_TYPE = "unknown"
"""The event-type label of a frame whose type is not one of :class:`EventType`."""


class MessageRejected(ValueError):
    """A message that can never be stored; ``reason`` and ``event_type`` are metric labels
    from closed sets (an :class:`EventType` value or ``"unknown"``)."""

    def __init__(
        self, reason: RejectReason, detail: str, event_type: str = UNKNOWN_EVENT_TYPE
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_type = event_type


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """Deployment-specific rules: which symbols may be stored, how deep a book may be."""

    symbols: frozenset[str] | None = None
    """The allow-list (``INGEST_SYMBOLS``); ``None`` takes every well-formed symbol."""
    max_book_levels: int = 1000
    """Most levels per side of a depth frame (``INGEST_MAX_BOOK_LEVELS``)."""


DEFAULT_LIMITS = FrameLimits()

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
            RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(payload).__name__}"
        )
    if "data" in payload:
        data = payload["data"]
        if not isinstance(data, dict):
            raise MessageRejected(RejectReason.NO_DATA, "envelope 'data' is not an object")
        stream = payload.get("stream")
        return data, stream if isinstance(stream, str) else ""
    return payload, ""


def resolve_event_type(data: dict[str, Any], stream: str) -> EventType:
    """Event type from ``data.e``; a partial book has none; else from the stream name."""
    name = data.get("e")
    if name is not None:
        event_type = _EVENT_TYPES.get(name) if isinstance(name, str) else None
        if event_type is None or event_type is EventType.PARTIAL_DEPTH:
            raise MessageRejected(
                RejectReason.UNKNOWN_EVENT, f"unsupported event type {_excerpt(name)}"
            )
        return event_type
    if "lastUpdateId" in data and ("bids" in data or "b" in data):
        return EventType.PARTIAL_DEPTH
    from_stream = _stream_event_type(stream)
    if from_stream is None:
        raise MessageRejected(
            RejectReason.UNKNOWN_EVENT, f"no event type in data and stream {_excerpt(stream)}"
        )
    return from_stream


def resolve_symbol(
    data: dict[str, Any], stream: str, event_type: EventType, limits: FrameLimits
) -> str:
    """Symbol from ``data.s``, else the stream name before ``@``, upper-cased; it must look
    like a Binance symbol and, with an allow-list, be on it."""
    symbol = data.get("s")
    if symbol is None and "@" in stream:
        symbol = stream.partition("@")[0].upper()
    if not isinstance(symbol, str) or (symbol not in _VALID_SYMBOLS and not is_symbol(symbol)):
        raise MessageRejected(
            RejectReason.NO_SYMBOL, f"no usable symbol (got {_excerpt(symbol)})", event_type
        )
    if len(_VALID_SYMBOLS) < 10_000:  # bounded against floods of well-formed junk
        _VALID_SYMBOLS[symbol] = None
    if limits.symbols is not None and symbol not in limits.symbols:
        raise MessageRejected(
            RejectReason.UNKNOWN_SYMBOL, f"{symbol} is not in INGEST_SYMBOLS", event_type
        )
    return symbol


def _excerpt(value: object) -> str:
    """``repr`` of untrusted input, cut short (a detail is read by people, not stored whole)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def parse_frame(raw: bytes | str, limits: FrameLimits = DEFAULT_LIMITS) -> MarketEvent:
    """Parse one NATS message body into a market event or raise :class:`MessageRejected`."""
    return parse_typed_frame(raw, limits)[1]


def parse_typed_frame(
    raw: bytes | str, limits: FrameLimits = DEFAULT_LIMITS
) -> tuple[EventType, MarketEvent]:
    """Like :func:`parse_frame`, also returning the event type (a metric label)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MessageRejected(RejectReason.INVALID_JSON, str(exc)) from None
    data, stream = unwrap(payload)
    event_type = resolve_event_type(data, stream)
    symbol = resolve_symbol(data, stream, event_type, limits)
    try:
        return event_type, _BUILDERS[event_type](_Fields(data, limits), symbol, stream)
    except MessageRejected:
        raise
    except OutOfRange as exc:
        raise MessageRejected(RejectReason.OUT_OF_RANGE, str(exc), event_type) from None
    except KeyError as exc:
        raise MessageRejected(RejectReason.BAD_FIELD, f"missing field {exc}", event_type) from None
    except (TypeError, ValueError) as exc:
        raise MessageRejected(RejectReason.BAD_FIELD, str(exc), event_type) from None


class _Fields:
    """One event's raw fields read through the rules of :mod:`petrosa_common.frame_rules`."""

    __slots__ = ("_data", "_latest", "_limits")

    def __init__(self, data: dict[str, Any], limits: FrameLimits) -> None:
        self._data = data
        self._limits = limits
        self._latest = latest_ms()

    def nested(self, key: str) -> _Fields:
        inner = self._data[key]
        if type(inner) is not dict:
            raise FieldError(f"{key}: expected an object")
        return _Fields(inner, self._limits)

    def has(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def price(self, key: str) -> float:
        return rules.price(self._data[key], key)

    def quantity(self, key: str, default: float | None = None) -> float:
        if default is not None and key not in self._data:
            return default
        return rules.quantity(self._data[key], key)

    def optional(self, rule: Callable[[Any, str], float], key: str) -> float | None:
        return rules.optional(rule, self._data.get(key), key)

    def id(self, key: str, default: int | None = None) -> int:
        if default is not None and key not in self._data:
            return default
        return rules.identifier(self._data[key], key)

    def flag(self, key: str) -> bool:
        value = self._data.get(key, False)
        return rules.flag(value, key)

    def ms(self, key: str) -> int:
        return rules.epoch_ms(self._data[key], key, self._latest)

    def levels(self, key: str) -> list[tuple[float, float]]:
        return rules.levels(self._data[key], key, self._limits.max_book_levels)


def _trade(d: _Fields, symbol: str, _stream: str) -> Trade:
    return Trade(
        symbol=symbol,
        trade_id=d.id("t"),
        price=d.price("p"),
        quantity=d.quantity("q"),
        is_buyer_maker=d.flag("m"),
        trade_time=utc(d.ms("T")),
        event_time=utc(d.ms("E")),
    )


def _agg_trade(d: _Fields, symbol: str, _stream: str) -> AggTrade:
    first, last = d.id("f"), d.id("l")
    if first > last:
        raise FieldError(f"first trade id f={first} after last trade id l={last}")
    return AggTrade(
        symbol=symbol,
        agg_trade_id=d.id("a"),
        price=d.price("p"),
        quantity=d.quantity("q"),
        first_trade_id=first,
        last_trade_id=last,
        is_buyer_maker=d.flag("m"),
        trade_time=utc(d.ms("T")),
        event_time=utc(d.ms("E")),
    )


def _kline(d: _Fields, symbol: str, stream: str) -> Kline:
    k = d.nested("k")
    interval = k.get("i") or _stream_interval(stream)
    if not isinstance(interval, str) or not is_timeframe(interval):
        raise MessageRejected(
            RejectReason.BAD_INTERVAL,
            f"no valid kline interval ({_excerpt(interval)})",
            EventType.KLINE,
        )
    open_ms, close_ms = k.ms("t"), k.id("T")
    # A month is the longest candle: its close can be 31 days after its open.
    if not open_ms < close_ms < open_ms + 31 * 86_400_000:
        raise OutOfRange(f"k.T: close time {close_ms} not within a candle of k.t={open_ms}")
    open_, high, low, close = k.price("o"), k.price("h"), k.price("l"), k.price("c")
    if not (low <= min(open_, close) and high >= max(open_, close)):
        raise OutOfRange(f"k: low {low} / high {high} do not bound open {open_} and close {close}")
    return Kline(
        symbol=symbol,
        interval=interval,
        open_time=utc(open_ms),
        close_time=utc(close_ms),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=k.quantity("v"),
        quote_volume=k.quantity("q", 0.0),
        trades_count=k.id("n", 0),
        taker_buy_base_volume=k.quantity("V", 0.0),
        taker_buy_quote_volume=k.quantity("Q", 0.0),
        is_closed=k.flag("x"),
        event_time_ms=d.ms("E") if d.has("E") else open_ms,
        open_time_ms=open_ms,
    )


def _depth_update(d: _Fields, symbol: str, _stream: str) -> Depth:
    first, final = d.id("U"), d.id("u")
    if first > final:
        raise FieldError(f"first update id U={first} after final update id u={final}")
    return Depth(
        symbol=symbol,
        final_update_id=final,
        first_update_id=first,
        previous_final_update_id=d.id("pu") if d.has("pu") else None,
        bids=d.levels("b"),
        asks=d.levels("a"),
        event_time=utc(d.ms("E")),
        transaction_time=utc(d.ms("T")) if d.has("T") else None,
        is_snapshot=False,
    )


def _partial_depth(d: _Fields, symbol: str, _stream: str) -> Depth:
    return Depth(
        symbol=symbol,
        final_update_id=d.id("lastUpdateId" if d.has("lastUpdateId") else "u"),
        first_update_id=None,
        previous_final_update_id=None,
        bids=d.levels("bids" if d.has("bids") else "b"),
        asks=d.levels("asks" if d.has("asks") else "a"),
        event_time=utc(d.ms("E")) if d.has("E") else None,
        transaction_time=utc(d.ms("T")) if d.has("T") else None,
        is_snapshot=True,
    )


def _mark_price(d: _Fields, symbol: str, _stream: str) -> MarkPrice:
    event_ms = d.ms("E")
    # Binance sends T = 0 for a symbol without funding (e.g. delivery contracts).
    next_funding_ms = d.ms("T") if d.get("T") not in (None, 0) else None
    return MarkPrice(
        symbol=symbol,
        event_time=utc(event_ms),
        event_time_ms=event_ms,
        mark_price=d.price("p"),
        index_price=d.optional(rules.price, "i"),
        estimated_settle_price=d.optional(rules.quantity, "P"),
        funding_rate=d.optional(rules.signed, "r"),
        next_funding_time=None if next_funding_ms is None else utc(next_funding_ms),
        next_funding_time_ms=next_funding_ms,
    )


def _ticker(d: _Fields, symbol: str, _stream: str, *, mini: bool = False) -> Ticker:
    event_ms = d.ms("E")
    return Ticker(
        symbol=symbol,
        event_time=utc(event_ms),
        event_time_ms=event_ms,
        is_mini=mini,
        last_price=d.price("c"),
        open_price=d.price("o"),
        high_price=d.price("h"),
        low_price=d.price("l"),
        volume=d.quantity("v"),
        quote_volume=d.quantity("q"),
        price_change=d.optional(rules.signed, "p"),
        price_change_percent=d.optional(rules.signed, "P"),
        weighted_avg_price=d.optional(rules.quantity, "w"),
        trades_count=d.id("n") if d.get("n") is not None else None,
    )


def _mini_ticker(d: _Fields, symbol: str, stream: str) -> Ticker:
    return _ticker(d, symbol, stream, mini=True)


_BUILDERS: dict[EventType, Callable[[_Fields, str, str], MarketEvent]] = {
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
