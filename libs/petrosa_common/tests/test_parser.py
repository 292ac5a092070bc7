"""The parser accepts every message shape the socket client sends and rejects the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from petrosa_common.events import AggTrade, Depth, EventType, Kline, MarkPrice, Ticker, Trade
from petrosa_common.frame_rules import latest_ms
from petrosa_common.parser import (
    FrameLimits,
    MessageRejected,
    event_type_of,
    parse_frame,
    parse_typed_frame,
)

T0 = 1_700_000_000_000


def envelope(stream: str, data: Any, **extra: Any) -> bytes:
    frame = {
        "stream": stream,
        "data": data,
        "timestamp": "2023-11-14T22:13:20.000Z",
        "message_id": "6f1c1c9e-8d7e-4a55-9a53-0d8f5a0f7e11",
        "source": "binance-websocket",
        "version": "1.0",
        **extra,
    }
    return orjson.dumps(frame)


TRADE = {
    "e": "trade",
    "E": T0 + 5,
    "T": T0 + 4,
    "s": "BTCUSDT",
    "t": 4242,
    "p": "60000.10",
    "q": "0.250",
    "X": "MARKET",
    "m": True,
}
AGG_TRADE = {
    "e": "aggTrade",
    "E": T0 + 7,
    "s": "ETHUSDT",
    "a": 991,
    "p": "3000.5",
    "q": "1.5",
    "f": 100,
    "l": 105,
    "T": T0 + 6,
    "m": False,
}
KLINE = {
    "e": "kline",
    "E": T0 + 30_000,
    "s": "BTCUSDT",
    "k": {
        "t": T0,
        "T": T0 + 59_999,
        "s": "BTCUSDT",
        "i": "1m",
        "f": 1,
        "L": 9,
        "o": "60000",
        "c": "60010",
        "h": "60020",
        "l": "59990",
        "v": "12.5",
        "n": 9,
        "x": False,
        "q": "750000",
        "V": "6",
        "Q": "360000",
        "B": "0",
    },
}
DEPTH_UPDATE = {
    "e": "depthUpdate",
    "E": T0 + 100,
    "T": T0 + 99,
    "s": "BTCUSDT",
    "U": 500,
    "u": 510,
    "pu": 499,
    "b": [["60000.0", "1.5"], ["59999.9", "0"]],
    "a": [["60000.1", "2"]],
}
PARTIAL_BOOK = {
    "lastUpdateId": 777,
    "E": T0 + 200,
    "T": T0 + 199,
    "bids": [["60000.0", "3"]],
    "asks": [["60000.1", "4"]],
}
MARK_PRICE = {
    "e": "markPriceUpdate",
    "E": T0 + 1000,
    "s": "BTCUSDT",
    "p": "60001.5",
    "i": "60000.9",
    "P": "60002.0",
    "r": "0.00010000",
    "T": 1_700_006_400_000,
}
TICKER = {
    "e": "24hrTicker",
    "E": T0 + 2000,
    "s": "BTCUSDT",
    "p": "100.0",
    "P": "0.17",
    "w": "59900.1",
    "c": "60001.0",
    "Q": "0.1",
    "o": "59901.0",
    "h": "60500.0",
    "l": "59000.0",
    "v": "10000",
    "q": "599000000",
    "O": T0 - 86_400_000,
    "C": T0,
    "F": 1,
    "L": 50_000,
    "n": 50_000,
}
MINI_TICKER = {
    "e": "24hrMiniTicker",
    "E": T0 + 3000,
    "s": "ETHUSDT",
    "c": "3001",
    "o": "2990",
    "h": "3050",
    "l": "2950",
    "v": "5000",
    "q": "15000000",
}


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_trade_in_envelope() -> None:
    event = parse_frame(envelope("btcusdt@trade", TRADE))
    assert event == Trade(
        symbol="BTCUSDT",
        trade_id=4242,
        price=60000.10,
        quantity=0.25,
        is_buyer_maker=True,
        trade_time=at(T0 + 4),
        event_time=at(T0 + 5),
    )
    assert event_type_of(event) is EventType.TRADE


def test_agg_trade() -> None:
    event = parse_frame(envelope("ethusdt@aggTrade", AGG_TRADE))
    assert isinstance(event, AggTrade)
    assert (event.symbol, event.agg_trade_id, event.first_trade_id, event.last_trade_id) == (
        "ETHUSDT",
        991,
        100,
        105,
    )
    assert event.price == 3000.5
    assert event.quantity == 1.5
    assert event.trade_time == at(T0 + 6)


def test_kline_open_and_closed() -> None:
    event = parse_frame(envelope("btcusdt@kline_1m", KLINE))
    assert isinstance(event, Kline)
    assert (event.interval, event.open_time, event.is_closed) == ("1m", at(T0), False)
    assert (event.open, event.high, event.low, event.close) == (60000, 60020, 59990, 60010)
    assert (event.volume, event.quote_volume, event.trades_count) == (12.5, 750000, 9)
    closed = parse_frame(envelope("btcusdt@kline_1m", {**KLINE, "k": {**KLINE["k"], "x": True}}))
    assert isinstance(closed, Kline)
    assert closed.is_closed


def test_kline_interval_comes_from_k_i_when_stream_lacks_it() -> None:
    data = {**KLINE, "k": {**KLINE["k"], "i": "15m"}}
    event = parse_frame(envelope("btcusdt@kline", data))
    assert isinstance(event, Kline)
    assert event.interval == "15m"


def test_kline_interval_falls_back_to_stream_name() -> None:
    k = {key: value for key, value in KLINE["k"].items() if key != "i"}
    event = parse_frame(envelope("btcusdt@kline_4h", {**KLINE, "k": k}))
    assert isinstance(event, Kline)
    assert event.interval == "4h"


def test_depth_update() -> None:
    event = parse_frame(envelope("btcusdt@depth@100ms", DEPTH_UPDATE))
    assert isinstance(event, Depth)
    assert (event.final_update_id, event.first_update_id, event.previous_final_update_id) == (
        510,
        500,
        499,
    )
    assert event.bids == [(60000.0, 1.5), (59999.9, 0.0)]
    assert event.asks == [(60000.1, 2.0)]
    assert not event.is_snapshot
    assert event_type_of(event) is EventType.DEPTH_UPDATE


def test_partial_book_frame_without_e_or_s_takes_symbol_from_stream() -> None:
    event = parse_frame(envelope("solusdt@depth20@100ms", PARTIAL_BOOK))
    assert isinstance(event, Depth)
    assert (event.symbol, event.final_update_id, event.is_snapshot) == ("SOLUSDT", 777, True)
    assert event.bids == [(60000.0, 3.0)]
    assert event.event_time == at(T0 + 200)
    assert event_type_of(event) is EventType.PARTIAL_DEPTH


def test_mark_price_carries_funding() -> None:
    event = parse_frame(envelope("btcusdt@markPrice@1s", MARK_PRICE))
    assert isinstance(event, MarkPrice)
    assert event.mark_price == 60001.5
    assert event.index_price == 60000.9
    assert event.funding_rate == 0.0001
    assert event.next_funding_time == datetime(2023, 11, 15, 0, 0, tzinfo=UTC)


def test_ticker_and_mini_ticker() -> None:
    ticker = parse_frame(envelope("btcusdt@ticker", TICKER))
    assert isinstance(ticker, Ticker)
    assert not ticker.is_mini
    assert (ticker.last_price, ticker.trades_count, ticker.price_change_percent) == (
        60001.0,
        50_000,
        0.17,
    )
    mini = parse_frame(envelope("ethusdt@miniTicker", MINI_TICKER))
    assert isinstance(mini, Ticker)
    assert mini.is_mini
    assert mini.symbol == "ETHUSDT"
    assert mini.price_change is None
    assert event_type_of(mini) is EventType.MINI_TICKER


def test_bare_event_without_envelope() -> None:
    event = parse_frame(orjson.dumps(TRADE))
    assert isinstance(event, Trade)
    assert event.symbol == "BTCUSDT"


@pytest.mark.parametrize(
    "trace",
    [
        {"_otel_trace_context": {"traceparent": "00-abc-def-01"}},
        {"_otel_trace_headers": {"traceparent": "00-abc-def-01", "tracestate": "x=y"}},
    ],
)
def test_trace_keys_are_accepted_and_ignored(trace: dict[str, Any]) -> None:
    event = parse_frame(envelope("btcusdt@trade", TRADE, **trace))
    assert isinstance(event, Trade)
    assert event.trade_id == 4242


def test_symbol_from_stream_when_data_has_no_s() -> None:
    data = {key: value for key, value in TRADE.items() if key != "s"}
    event = parse_frame(envelope("xrpusdt@trade", data))
    assert isinstance(event, Trade)
    assert event.symbol == "XRPUSDT"


def test_event_type_from_stream_when_data_has_no_e() -> None:
    data = {key: value for key, value in AGG_TRADE.items() if key != "e"}
    assert isinstance(parse_frame(envelope("ethusdt@aggTrade", data)), AggTrade)


def test_times_are_aware_utc() -> None:
    event = parse_frame(envelope("btcusdt@trade", TRADE))
    assert isinstance(event, Trade)
    assert event.trade_time.tzinfo is UTC


def test_str_input_is_accepted() -> None:
    assert isinstance(parse_frame(envelope("btcusdt@trade", TRADE).decode()), Trade)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (orjson.dumps({"stream": "btcusdt@trade", "data": [1]}), "no_data"),
        (orjson.dumps({"stream": "btcusdt@trade", "data": "x"}), "no_data"),
        (envelope("", {**{k: v for k, v in TRADE.items() if k != "s"}}), "no_symbol"),
        (envelope("@trade", {**TRADE, "s": ""}), "no_symbol"),
        (envelope("btc-usdt@trade", {**TRADE, "s": "btc-usdt"}), "no_symbol"),
        (envelope("btcusdt@trade", {**TRADE, "p": "abc"}), "bad_field"),
        (envelope("btcusdt@trade", {**TRADE, "p": "NaN"}), "bad_field"),
        (envelope("btcusdt@trade", {**TRADE, "t": None}), "bad_field"),
        (envelope("btcusdt@trade", {k: v for k, v in TRADE.items() if k != "q"}), "bad_field"),
        (envelope("btcusdt@kline_1m", {k: v for k, v in KLINE.items() if k != "k"}), "bad_field"),
        (envelope("btcusdt@kline_1m", {**KLINE, "k": "nope"}), "bad_field"),
        (envelope("btcusdt@kline", {**KLINE, "k": {**KLINE["k"], "i": "7m"}}), "bad_interval"),
        (envelope("btcusdt@depth", {**DEPTH_UPDATE, "b": [["1"]]}), "bad_field"),
        (envelope("btcusdt@bookTicker", {"e": "bookTicker", "s": "BTCUSDT"}), "unknown_event"),
        (envelope("btcusdt@forceOrder", {"s": "BTCUSDT", "x": 1}), "unknown_event"),
        (orjson.dumps({"s": "BTCUSDT", "p": "1"}), "unknown_event"),
    ],
)
def test_messages_that_can_never_be_stored_are_rejected_with_a_reason(
    raw: bytes, reason: str
) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_frame(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_rejection_names_the_event_type_when_known() -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_frame(envelope("btcusdt@trade", {**TRADE, "p": "abc"}))
    assert caught.value.event_type == "trade"


@pytest.mark.parametrize(
    ("stream", "data"),
    [
        ("btcusdt@trade", TRADE),
        ("ethusdt@aggTrade", AGG_TRADE),
        ("btcusdt@kline_1m", KLINE),
        ("btcusdt@depth@100ms", DEPTH_UPDATE),
        ("solusdt@depth20", PARTIAL_BOOK),
        ("btcusdt@markPrice@1s", MARK_PRICE),
        ("btcusdt@ticker", TICKER),
        ("ethusdt@miniTicker", MINI_TICKER),
    ],
)
def test_typed_parse_reports_the_same_type_as_the_event(stream: str, data: Any) -> None:
    event_type, event = parse_typed_frame(envelope(stream, data))
    assert event_type is event_type_of(event)


@pytest.mark.parametrize(("quantity", "reason"), [("inf", "bad_field"), ("1e999", "out_of_range")])
def test_non_finite_book_levels_are_rejected(quantity: str, reason: str) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_frame(envelope("btcusdt@depth", {**DEPTH_UPDATE, "a": [["1", quantity]]}))
    assert caught.value.reason == reason


def _kline_with(**k: Any) -> dict[str, Any]:
    return {**KLINE, "k": {**KLINE["k"], **k}}


def _levels(count: int) -> list[list[str]]:
    return [["60000.0", "1"]] * count


@pytest.mark.parametrize(
    ("stream", "data", "reason"),
    [
        # Times: integers of epoch ms within [2017-01-01, now + 1 day].
        ("btcusdt@trade", {**TRADE, "E": 1e20}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "E": 10**18}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "T": 2**64 - 1}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "T": 1_400_000_000_000}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "T": "1700000000004"}, "bad_field"),
        ("btcusdt@kline_1m", _kline_with(t=10**18), "out_of_range"),
        ("btcusdt@kline_1m", _kline_with(T=2**63), "out_of_range"),
        ("btcusdt@kline_1m", _kline_with(T=T0 - 1), "out_of_range"),
        # Ids: JSON integers in [0, 2^63).
        ("btcusdt@trade", {**TRADE, "t": 2**63}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "t": -1}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "t": 4242.7}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "t": True}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "t": "4242"}, "bad_field"),
        ("ethusdt@aggTrade", {**AGG_TRADE, "a": 2**63}, "out_of_range"),
        ("ethusdt@aggTrade", {**AGG_TRADE, "f": 2**63}, "out_of_range"),
        ("ethusdt@aggTrade", {**AGG_TRADE, "l": 2**64 - 1}, "out_of_range"),
        ("ethusdt@aggTrade", {**AGG_TRADE, "f": 106}, "bad_field"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "U": 2**63}, "out_of_range"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "u": 2**63}, "out_of_range"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "U": 511}, "bad_field"),
        # Prices > 0, quantities >= 0, finite and bounded; numbers, never booleans.
        ("btcusdt@trade", {**TRADE, "p": "-1"}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "p": "0"}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "p": "1e308"}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "q": "1e300"}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "q": "-0.5"}, "out_of_range"),
        ("btcusdt@trade", {**TRADE, "p": True}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "p": "1_000"}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "p": " 1"}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "p": "Infinity"}, "bad_field"),
        ("btcusdt@kline_1m", _kline_with(h="59000"), "out_of_range"),
        ("btcusdt@markPrice", {**MARK_PRICE, "r": "1e20"}, "out_of_range"),
        # Flags: JSON booleans only.
        ("btcusdt@trade", {**TRADE, "m": "false"}, "bad_field"),
        ("btcusdt@trade", {**TRADE, "m": 0}, "bad_field"),
        ("btcusdt@kline_1m", _kline_with(x="false"), "bad_field"),
        ("btcusdt@kline_1m", _kline_with(x=1), "bad_field"),
        # Book levels: exactly [price, quantity].
        ("btcusdt@depth", {**DEPTH_UPDATE, "b": ["12"]}, "bad_field"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "b": [["1", "2", "3"]]}, "bad_field"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "b": {"1": "2"}}, "bad_field"),
        ("btcusdt@depth", {**DEPTH_UPDATE, "a": _levels(1001)}, "out_of_range"),
        ("solusdt@depth20", {**PARTIAL_BOOK, "bids": _levels(1001)}, "out_of_range"),
        # Symbols: Binance's pattern, from data.s or a stream name with "@".
        ("00@trade", {k: v for k, v in TRADE.items() if k != "s"}, "no_symbol"),
        ("btcusdt@trade", {**TRADE, "s": "A" * 30}, "no_symbol"),
        ("btcusdt@trade", {**TRADE, "s": "btcusdt"}, "no_symbol"),
        ("btcusdt@trade", {**TRADE, "s": 1}, "no_symbol"),
        ("btcusdt", {k: v for k, v in TRADE.items() if k != "s"}, "no_symbol"),
    ],
)
def test_hostile_fields_are_rejected_with_the_rule_they_break(
    stream: str, data: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_frame(envelope(stream, data))
    assert (caught.value.reason, caught.value.event_type) == (
        reason,
        parse_typed_frame(envelope(stream, _valid_twin(stream)))[0],
    )


def _valid_twin(stream: str) -> dict[str, Any]:
    channel = stream.partition("@")[2].split("@")[0].split("_")[0]
    return {
        "trade": TRADE,
        "aggTrade": AGG_TRADE,
        "kline": KLINE,
        "depth": DEPTH_UPDATE,
        "depth20": PARTIAL_BOOK,
        "markPrice": MARK_PRICE,
    }.get(channel, TRADE)


def test_a_book_at_the_level_limit_is_stored_whole() -> None:
    event = parse_frame(envelope("btcusdt@depth", {**DEPTH_UPDATE, "b": _levels(1000)}))
    assert isinstance(event, Depth)
    assert len(event.bids) == 1000


def test_the_book_limit_is_configurable() -> None:
    raw = envelope("btcusdt@depth", {**DEPTH_UPDATE, "b": _levels(11)})
    with pytest.raises(MessageRejected, match="more than 10"):
        parse_frame(raw, FrameLimits(max_book_levels=10))


def test_symbols_outside_the_allow_list_are_unknown() -> None:
    limits = FrameLimits(symbols=frozenset({"BTCUSDT"}))
    assert isinstance(parse_frame(envelope("btcusdt@trade", TRADE), limits), Trade)
    with pytest.raises(MessageRejected) as caught:
        parse_frame(envelope("hacked@trade", {**TRADE, "s": "HACKED"}), limits)
    assert (caught.value.reason, caught.value.event_type) == ("unknown_symbol", "trade")


def test_a_time_one_day_ahead_is_accepted_and_later_is_not() -> None:
    soon = latest_ms() - 60_000
    assert isinstance(parse_frame(envelope("btcusdt@trade", {**TRADE, "E": soon})), Trade)
    with pytest.raises(MessageRejected, match="now \\+ 1 day"):
        parse_frame(envelope("btcusdt@trade", {**TRADE, "E": soon + 3_600_000}))


@pytest.mark.parametrize("name", ["x" * 1_000_000, "kline\x00", "trade ", 7, ["trade"]])
def test_unknown_event_types_get_the_unknown_label_and_a_short_detail(name: object) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_frame(envelope("btcusdt@trade", {**TRADE, "e": name}))
    assert (caught.value.reason, caught.value.event_type) == ("unknown_event", "unknown")
    assert len(caught.value.detail) < 200
