"""Market invariants: ids, update chains, candles, mark prices and tickers tell one story."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal
from typing import Any

import orjson
import pytest
from petrosa_sim import NO_FAULTS, FaultConfig, Frame, FrameGenerator, GapWindow
from petrosa_sim.intervals import candle_open_ms, interval_length_ms

START_MS = 1_700_000_000_000
EIGHT_HOURS_MS = 8 * 3_600_000


def events(frames: list[Frame], kind: str) -> dict[str, list[dict[str, Any]]]:
    """Binance events of ``kind`` per symbol, in publish order (valid originals only)."""
    by_symbol: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for frame in frames:
        if frame.kind == kind and not frame.duplicate and not frame.malformed:
            message = orjson.loads(frame.payload)
            by_symbol[frame.symbol].append(message if frame.bare else message["data"])
    return by_symbol


def test_trade_ids_are_consecutive_per_symbol(clean_frames: list[Frame]) -> None:
    trades = events(clean_frames, "trade")
    assert set(trades) == {"BTCUSDT", "SOLUSDT"}
    for symbol_trades in trades.values():
        ids = [t["t"] for t in symbol_trades]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        times = [t["T"] for t in symbol_trades]
        assert times == sorted(times)


def test_agg_ids_are_consecutive_and_cover_the_trades_exactly(clean_frames: list[Frame]) -> None:
    trades = events(clean_frames, "trade")
    for symbol, aggs in events(clean_frames, "aggTrade").items():
        by_id = {t["t"]: t for t in trades[symbol]}
        assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
        for previous, agg in itertools.pairwise(aggs):
            assert agg["f"] == previous["l"] + 1
        covered: list[int] = []
        for agg in aggs:
            assert agg["f"] <= agg["l"]
            fills = [by_id[i] for i in range(agg["f"], agg["l"] + 1)]
            covered.extend(range(agg["f"], agg["l"] + 1))
            # One taker order: one price, one side, one time; the quantities add up.
            assert {f["p"] for f in fills} == {agg["p"]}
            assert {f["m"] for f in fills} == {agg["m"]}
            assert {f["T"] for f in fills} == {agg["T"]}
            assert sum(Decimal(f["q"]) for f in fills) == Decimal(agg["q"])
        assert covered == sorted(by_id)


def test_depth_update_ids_increase_and_chain(clean_frames: list[Frame]) -> None:
    for symbol in ("BTCUSDT", "SOLUSDT"):
        chain = [
            orjson.loads(f.payload)["data"]
            for f in clean_frames
            if f.symbol == symbol and f.kind in ("depth", "depthUpdate")
        ]
        assert len(chain) > 20_000
        previous: int | None = None
        for data in chain:
            final = data.get("u", data.get("lastUpdateId"))
            if "u" in data:
                assert data["U"] <= data["u"]
                if previous is not None:
                    assert data["pu"] == previous
                    assert data["U"] == previous + 1
            assert previous is None or final > previous
            previous = final


def _closed_and_updates(
    frames: list[Frame],
) -> tuple[dict[tuple[str, str, int], list[dict[str, Any]]], int]:
    """Kline payloads per candle in publish order, and the last virtual time seen."""
    candles: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for symbol, klines in events(frames, "kline").items():
        for kline in klines:
            k = kline["k"]
            candles[(symbol, k["i"], k["t"])].append(kline)
    return candles, max(f.time_ms for f in frames)


def test_each_candle_closes_exactly_once_and_last(clean_frames: list[Frame]) -> None:
    candles, last_ms = _closed_and_updates(clean_frames)
    for (symbol, interval, open_ms), updates in candles.items():
        closes = [u for u in updates if u["k"]["x"]]
        length = interval_length_ms(interval)
        if open_ms + length + 1_000 <= last_ms:
            assert len(closes) == 1, (symbol, interval, open_ms)
            assert updates[-1]["k"]["x"] is True
            # The close is sent right after the boundary.
            assert open_ms + length <= closes[0]["E"] < open_ms + length + 1_000
        else:
            assert not closes
        counts = [u["k"]["n"] for u in updates]
        assert counts == sorted(counts)
        assert all(u["k"]["T"] == open_ms + length - 1 for u in updates)


def test_candles_follow_each_other_without_holes(clean_frames: list[Frame]) -> None:
    candles, last_ms = _closed_and_updates(clean_frames)
    per_series: dict[tuple[str, str], list[int]] = defaultdict(list)
    for symbol, interval, open_ms in candles:
        per_series[(symbol, interval)].append(open_ms)
    assert len(per_series) == 2 * 4
    for (_, interval), opens in per_series.items():
        length = interval_length_ms(interval)
        opens.sort()
        assert opens[0] == candle_open_ms(START_MS, interval)
        assert opens == list(range(opens[0], opens[-1] + 1, length))
        assert opens[-1] == candle_open_ms(last_ms, interval)


def test_candles_are_exact_aggregates_of_the_trades(clean_frames: list[Frame]) -> None:
    """Every closed candle of every interval equals the trades of its window, so klines of
    different intervals are consistent aggregates of the same walk."""
    candles, _ = _closed_and_updates(clean_frames)
    trades = events(clean_frames, "trade")
    checked: defaultdict[str, int] = defaultdict(int)
    for (symbol, interval, open_ms), updates in candles.items():
        k = updates[-1]["k"]
        if not k["x"]:
            continue
        window = [t for t in trades[symbol] if open_ms <= t["T"] <= k["T"]]
        assert k["n"] == len(window)
        if not window:
            assert k["o"] == k["c"] == k["h"] == k["l"]
            assert Decimal(k["v"]) == 0
            continue
        prices = [Decimal(t["p"]) for t in window]
        assert Decimal(k["o"]) == prices[0]
        assert Decimal(k["c"]) == prices[-1]
        assert Decimal(k["h"]) == max(prices)
        assert Decimal(k["l"]) == min(prices)
        assert (k["f"], k["L"]) == (window[0]["t"], window[-1]["t"])
        assert Decimal(k["v"]) == sum(Decimal(t["q"]) for t in window)
        assert Decimal(k["V"]) == sum(Decimal(t["q"]) for t in window if not t["m"])
        quote = sum(float(t["p"]) * float(t["q"]) for t in window)
        assert float(k["q"]) == pytest.approx(quote, rel=1e-6)
        checked[interval] += 1
    assert checked["1m"] >= 70
    assert checked["5m"] >= 14
    assert checked["15m"] >= 4


def test_every_kline_update_has_consistent_ohlc(faulty_frames: list[Frame]) -> None:
    klines = [k for ks in events(faulty_frames, "kline").values() for k in ks]
    assert len(klines) > 5_000
    for kline in klines:
        k = kline["k"]
        o, c, h, low = (Decimal(k[f]) for f in ("o", "c", "h", "l"))
        assert h >= max(o, c)
        assert low <= min(o, c)
        assert Decimal(k["V"]) <= Decimal(k["v"])
        assert kline["s"] == k["s"]
        if k["n"]:
            assert k["L"] - k["f"] + 1 == k["n"]


def test_mark_price_carries_the_next_funding_time(clean_frames: list[Frame]) -> None:
    for marks in events(clean_frames, "markPriceUpdate").values():
        times = [m["E"] for m in marks]
        assert len(set(times)) == len(times)
        assert all(b - a == 1_000 for a, b in itertools.pairwise(times))
        for mark in marks:
            assert mark["T"] % EIGHT_HOURS_MS == 0
            assert mark["T"] - EIGHT_HOURS_MS <= mark["E"] < mark["T"]
            assert -0.003 <= float(mark["r"]) <= 0.003
            assert float(mark["p"]) == pytest.approx(float(mark["i"]), rel=1e-3)


def test_funding_time_rolls_over_at_00_08_16_utc() -> None:
    # 2024-01-01T07:59:50Z: the funding time moves from 08:00 to 16:00 after 10 s.
    start = 1_704_095_990_000
    generator = FrameGenerator(
        ["ETHUSDT"], seed=1, start_ms=start, faults=NO_FAULTS, kinds={"markPriceUpdate"}
    )
    funding = {orjson.loads(f.payload)["data"]["T"] for f in generator.take(30)}
    assert funding == {1_704_096_000_000, 1_704_124_800_000}


def test_ticker_event_times_never_collide_with_mini_tickers(clean_frames: list[Frame]) -> None:
    tickers, minis = events(clean_frames, "24hrTicker"), events(clean_frames, "24hrMiniTicker")
    for symbol in tickers:
        times = [t["E"] for t in tickers[symbol]] + [m["E"] for m in minis[symbol]]
        assert len(times) > 4_000
        assert len(set(times)) == len(times)


def test_tickers_summarise_the_trades(clean_frames: list[Frame]) -> None:
    trades = events(clean_frames, "trade")
    for symbol, tickers in events(clean_frames, "24hrTicker").items():
        for ticker in tickers[::50]:
            o, c, h, low = (Decimal(ticker[f]) for f in ("o", "c", "h", "l"))
            assert h >= max(o, c)
            assert low <= min(o, c)
            assert Decimal(ticker["p"]) == c - o
            assert ticker["n"] == ticker["L"] - ticker["F"] + 1
            assert ticker["C"] == ticker["E"]
            assert ticker["O"] == ticker["E"] - 86_400_000
            assert low <= Decimal(ticker["w"]) <= h
            before = [t for t in trades[symbol] if t["T"] < ticker["E"]]
            if before:
                assert ticker["L"] == before[-1]["t"]
                assert ticker["c"] == before[-1]["p"]
    for symbol, minis in events(clean_frames, "24hrMiniTicker").items():
        for mini in minis[::50]:
            o, c, h, low = (Decimal(mini[f]) for f in ("o", "c", "h", "l"))
            assert h >= max(o, c)
            assert low <= min(o, c)
            assert mini["s"] == symbol


def test_gap_windows_suppress_exactly_those_candles() -> None:
    start = 1_699_999_200_000  # 2023-11-14T22:00:00Z, an hour boundary
    window = GapWindow("BTCUSDT", "1m", start + 300_000, start + 600_000)
    everywhere = GapWindow("ETHUSDT", None, start + 3_600_000, start + 3_660_000)
    generator = FrameGenerator(
        ["BTCUSDT", "ETHUSDT"],
        seed=3,
        start_ms=start,
        trade_rate=2.0,
        faults=FaultConfig(gaps=(window, everywhere)),
        kinds={"kline"},
    )
    frames: list[Frame] = []
    while generator.now_ms < start + 2 * 3_600_000:
        frames.append(generator.next_frame())
    candles, _ = _closed_and_updates(frames)
    btc_1m = {t for (s, i, t) in candles if (s, i) == ("BTCUSDT", "1m")}
    missing = {start + 60_000 * n for n in range(5, 10)}
    assert not btc_1m & missing
    assert missing | btc_1m >= set(range(start, start + 7_200_000, 60_000))
    assert max(btc_1m) <= start + 7_200_000
    # Other intervals and symbols keep those minutes.
    assert ("BTCUSDT", "5m", start + 300_000) in candles
    assert ("ETHUSDT", "1m", start + 300_000) in candles
    # A window without interval hides every candle opening in it, of every interval.
    assert [key for key in candles if key[0] == "ETHUSDT" and key[2] == start + 3_600_000] == []
    assert ("ETHUSDT", "1m", start + 3_660_000) in candles
    expected = {("BTCUSDT", "1m", t) for t in missing}
    expected |= {("ETHUSDT", i, start + 3_600_000) for i in ("1m", "5m", "15m", "1h")}
    assert set(generator.suppressed_candles) == expected


def test_gap_rate_hides_about_that_share_of_candles() -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    generator = FrameGenerator(
        symbols,
        seed=8,
        start_ms=START_MS,
        trade_rate=5.0,  # every minute has trades, so every published candle shows up
        faults=FaultConfig(gap_rate=0.1),
        kinds={"kline"},
        intervals=["1m"],
    )
    frames: list[Frame] = []
    while generator.now_ms < START_MS + 4 * 3_600_000:
        frames.append(generator.next_frame())
    candles, _ = _closed_and_updates(frames)
    suppressed = set(generator.suppressed_candles)
    total = len(symbols) * (4 * 60 + 1)  # four hours of minutes, plus the forming ones
    assert 0.06 < len(suppressed) / total < 0.14
    assert not suppressed & set(candles)
    assert len(suppressed) + len(candles) == total
