"""Row parsing, request weights and the paging arithmetic of the Binance client."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from petrosa_backfiller.binance import (
    AggTrade,
    BinanceResponseError,
    ExchangeInfo,
    FundingRate,
    Kline,
    KlineChunk,
    MarkPriceKline,
    align_open_time,
    kline_chunks,
    kline_weight,
)
from petrosa_backfiller.binance.paging import advance_open_time, count_candles


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


MINUTE = 60_000


@pytest.mark.parametrize(
    ("limit", "weight"),
    [(1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10), (1500, 10)],
)
def test_kline_weight_follows_binance_limit_brackets(limit: int, weight: int) -> None:
    assert kline_weight(limit) == weight


@pytest.mark.parametrize("limit", [0, 1501])
def test_kline_weight_refuses_limits_binance_refuses(limit: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.1500"):
        kline_weight(limit)


def test_kline_row_strings_become_floats() -> None:
    row = [
        1704067200000,
        "42283.58",
        "42298.62",
        "42261.02",
        "42289.60",
        "213.542",
        1704067259999,
        "9029962.09",
        2137,
        "104.117",
        "4402793.69",
        "0",
    ]
    assert Kline.from_row(row) == Kline(
        open_time_ms=1704067200000,
        open=42283.58,
        high=42298.62,
        low=42261.02,
        close=42289.60,
        volume=213.542,
        close_time_ms=1704067259999,
        quote_volume=9029962.09,
        trades=2137,
        taker_buy_base=104.117,
        taker_buy_quote=4402793.69,
    )


def test_mark_price_kline_row_ignores_blank_volumes() -> None:
    row = [1704067200000, "42280.1", "42300.0", "42250.5", "42290.0", "0", 1704067259999, "0"]
    row += ["60", "0", "0", "0"]
    assert MarkPriceKline.from_row(row) == MarkPriceKline(
        1704067200000, 42280.1, 42300.0, 42250.5, 42290.0, 1704067259999
    )


def test_agg_trade_row() -> None:
    row = {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27783}
    row |= {"T": 1498793709153, "m": True}
    assert AggTrade.from_row(row) == AggTrade(
        agg_id=26129,
        price=0.01633102,
        quantity=4.70443515,
        first_trade_id=27781,
        last_trade_id=27783,
        timestamp_ms=1498793709153,
        is_buyer_maker=True,
    )


def test_funding_rate_row_with_and_without_mark_price() -> None:
    full = {"symbol": "BTCUSDT", "fundingRate": "-0.00037500", "fundingTime": 1570608000000}
    assert FundingRate.from_row(full | {"markPrice": "34287.54"}).mark_price == 34287.54
    old = FundingRate.from_row(full | {"markPrice": ""})
    assert old == FundingRate("BTCUSDT", -0.000375, 1570608000000, None)


@pytest.mark.parametrize(
    ("parse", "row"),
    [
        (Kline.from_row, [1, "2"]),
        (Kline.from_row, [1, "x", "1", "1", "1", "1", 2, "1", 3, "1", "1"]),
        (Kline.from_row, {"open": 1}),
        (AggTrade.from_row, {"a": 1}),
        (AggTrade.from_row, [1, 2]),
        (FundingRate.from_row, {"symbol": "BTCUSDT", "fundingRate": "nan?"}),
    ],
)
def test_malformed_rows_raise_response_error(parse: object, row: object) -> None:
    assert callable(parse)
    with pytest.raises(BinanceResponseError):
        parse(row)


def test_exchange_info_keeps_limits_and_symbols() -> None:
    info = ExchangeInfo.from_payload(
        {
            "timezone": "UTC",
            "serverTime": 1704067200123,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1}
                | {"limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "symbols": [
                {
                    "symbol": "BTCUSDT",
                    "pair": "BTCUSDT",
                    "contractType": "PERPETUAL",
                    "status": "TRADING",
                    "baseAsset": "BTC",
                    "quoteAsset": "USDT",
                    "marginAsset": "USDT",
                    "onboardDate": 1569398400000,
                }
            ],
        }
    )
    assert info.request_weight_per_minute == 2400
    btc = info.symbol("btcusdt")
    assert btc is not None
    assert (btc.status, btc.contract_type, btc.onboard_date_ms) == (
        "TRADING",
        "PERPETUAL",
        1569398400000,
    )
    assert info.symbol("NOPEUSDT") is None


# ------------------------------------------------------------------------------ paging


def test_3000_minutes_are_two_chunks_of_1500() -> None:
    start = ms("2024-01-01T00:00:00")
    chunks = kline_chunks("1m", start, start + 3000 * MINUTE)
    assert chunks == [
        KlineChunk(start, start + 1500 * MINUTE, 1500),
        KlineChunk(start + 1500 * MINUTE, start + 3000 * MINUTE, 1500),
    ]


def test_thirty_days_of_minutes_is_43200_candles_end_exclusive() -> None:
    chunks = kline_chunks("1m", ms("2024-01-01T00:00:00"), ms("2024-01-31T00:00:00"))
    assert sum(chunk.candles for chunk in chunks) == 43_200
    assert len(chunks) == 29  # 28 full chunks of 1500 + 1200
    assert chunks[-1].end_ms == ms("2024-01-31T00:00:00")
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(chunks))


def test_unaligned_start_begins_at_next_open_and_last_chunk_is_short() -> None:
    start = ms("2024-01-01T00:00:30")  # inside the 00:00 candle: that one is not in range
    end = ms("2024-01-01T00:10:30")  # the 00:10 candle opens before end: it is in range
    assert kline_chunks("1m", start, end, limit=4) == [
        KlineChunk(ms("2024-01-01T00:01:00"), ms("2024-01-01T00:05:00"), 4),
        KlineChunk(ms("2024-01-01T00:05:00"), ms("2024-01-01T00:09:00"), 4),
        KlineChunk(ms("2024-01-01T00:09:00"), end, 2),
    ]


def test_empty_or_inverted_range_has_no_chunks() -> None:
    start = ms("2024-01-01T00:00:00")
    assert kline_chunks("1m", start, start) == []
    assert kline_chunks("1h", start + 1, start + 3_600_000) == []  # no open time inside
    assert kline_chunks("1m", start, start - MINUTE) == []


def test_weekly_candles_open_on_mondays() -> None:
    # 2024-01-03 is a Wednesday; the next weekly open is Monday 2024-01-08.
    assert align_open_time(ms("2024-01-03T12:00:00"), "1w") == ms("2024-01-08T00:00:00")
    assert align_open_time(ms("2024-01-08T00:00:00"), "1w") == ms("2024-01-08T00:00:00")


def test_monthly_candles_follow_the_calendar() -> None:
    assert align_open_time(ms("2024-01-15T00:00:00"), "1M") == ms("2024-02-01T00:00:00")
    assert advance_open_time(ms("2024-11-01T00:00:00"), "1M", 3) == ms("2025-02-01T00:00:00")
    assert count_candles(ms("2024-01-01T00:00:00"), ms("2024-12-31T00:00:00"), "1M") == 12
    chunks = kline_chunks("1M", ms("2024-01-01T00:00:00"), ms("2025-01-01T00:00:00"), limit=5)
    assert [c.candles for c in chunks] == [5, 5, 2]
    assert chunks[1].start_ms == ms("2024-06-01T00:00:00")


def test_hour_grid_counts() -> None:
    start = ms("2024-01-01T00:00:00")
    assert count_candles(start, start + 3_600_000 * 5, "1h") == 5
    assert count_candles(start - 1, start + 1, "1h") == 1
