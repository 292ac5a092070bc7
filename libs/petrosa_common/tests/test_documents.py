"""Events become idempotent writes keyed by their natural keys."""

from __future__ import annotations

from datetime import UTC, datetime

from petrosa_common.documents import event_writes, newer_update, supersedes, to_document
from petrosa_common.events import Depth, Kline, MarkPrice, Trade
from petrosa_common.naming import DatasetKind

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def kline(event_ms: int, closed: bool, close: float = 1.0) -> Kline:
    return Kline(
        symbol="BTCUSDT",
        interval="1m",
        open_time=NOW,
        close_time=NOW,
        open=1,
        high=2,
        low=0.5,
        close=close,
        volume=1,
        quote_volume=1,
        trades_count=1,
        taker_buy_base_volume=0,
        taker_buy_quote_volume=0,
        is_closed=closed,
        event_time_ms=event_ms,
        open_time_ms=1_704_067_200_000,
    )


def test_candle_id_is_symbol_and_open_ms() -> None:
    (op,) = event_writes(kline(5, False))
    assert op.collection == "candles_BTCUSDT_1m"
    assert op.doc_id == "BTCUSDT_1704067200000"
    assert op.version == (5, False)
    assert op.fields["timestamp"] == NOW
    assert op.fields["source"] == "websocket"


def test_trade_id_is_the_natural_key() -> None:
    trade = Trade("ETHUSDT", 77, 10.0, 2.0, False, NOW, NOW)
    (op,) = event_writes(trade, source="backfill")
    assert (op.kind, op.collection, op.doc_id, op.version) == (
        DatasetKind.TRADES,
        "trades_ETHUSDT",
        77,
        None,
    )
    assert op.fields["quote_quantity"] == 20.0
    assert op.fields["source"] == "backfill"


def test_mark_price_yields_price_and_funding_writes() -> None:
    mark = MarkPrice("BTCUSDT", NOW, 1000, 1.0, 1.0, 1.0, 0.0001, NOW, 28_800_000)
    ops = list(event_writes(mark))
    assert [op.collection for op in ops] == ["mark_prices_BTCUSDT", "funding_rates_BTCUSDT"]
    assert [op.doc_id for op in ops] == ["BTCUSDT_1000", "BTCUSDT_28800000"]
    no_funding = MarkPrice("BTCUSDT", NOW, 1000, 1.0, None, None, None, None, None)
    assert len(list(event_writes(no_funding))) == 1


def test_newest_version_supersedes_and_insert_once_keeps_the_first() -> None:
    def op(event_ms: int, closed: bool) -> object:
        return event_writes(kline(event_ms, closed))[0]

    assert supersedes(op(30, True), op(10, False))
    assert supersedes(op(30, True), op(30, False))  # closed beats open at the same time
    assert not supersedes(op(20, False), op(30, True))
    assert not supersedes(op(30, False), op(30, True))
    first = Depth("BTCUSDT", 5, 1, 0, [(1.0, 1.0)], [], NOW, None, False)
    second = Depth("BTCUSDT", 5, 1, 0, [(2.0, 2.0)], [], NOW, None, False)
    assert not supersedes(event_writes(second)[0], event_writes(first)[0])


def test_documents_carry_the_natural_key_and_ingestion_time() -> None:
    trade_op = event_writes(Trade("ETHUSDT", 1, 1.0, 1.0, False, NOW, NOW))[0]
    assert to_document(trade_op, NOW) == {"_id": 1, **trade_op.fields, "ingested_at": NOW}


def test_newer_update_only_applies_to_older_versions() -> None:
    closed = event_writes(kline(7, True))[0]
    query, update = newer_update(closed, to_document(closed, NOW))
    assert query == {
        "_id": "BTCUSDT_1704067200000",
        "$or": [{"event_time_ms": {"$lt": 7}}, {"event_time_ms": 7, "is_closed": False}],
    }
    assert "_id" not in update["$set"]
    assert update["$set"]["is_closed"] is True
    forming = event_writes(kline(8, False))[0]
    query, _ = newer_update(forming, to_document(forming, NOW))
    assert query == {"_id": "BTCUSDT_1704067200000", "event_time_ms": {"$lt": 8}}


def test_missing_timestamp_is_filled_with_ingestion_time() -> None:
    snapshot = Depth("BTCUSDT", 9, None, None, [], [], None, None, True)
    (op,) = event_writes(snapshot)
    assert to_document(op, NOW)["timestamp"] == NOW


def test_inline_collection_names_match_the_naming_module() -> None:
    from petrosa_common.events import AggTrade, Ticker
    from petrosa_common.naming import collection_name

    events = [
        Trade("ETHUSDT", 1, 1.0, 1.0, False, NOW, NOW),
        AggTrade("ETHUSDT", 1, 1.0, 1.0, 1, 2, False, NOW, NOW),
        kline(1, False),
        Depth("ETHUSDT", 9, None, None, [], [], NOW, None, True),
        MarkPrice("ETHUSDT", NOW, 1000, 1.0, 1.0, 1.0, 0.0001, NOW, 28_800_000),
        Ticker("ETHUSDT", NOW, 5, True, 1, 1, 1, 1, 1, 1, None, None, None, None),
    ]
    ops = [op for event in events for op in event_writes(event)]
    assert {op.kind for op in ops} == set(DatasetKind)
    for op in ops:
        assert op.collection == collection_name(op.kind, op.symbol, op.timeframe)
