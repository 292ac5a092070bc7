"""Envelope, wire formats and determinism of the generated frames."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import orjson
import pytest
from petrosa_sim import (
    EVENT_KINDS,
    NO_FAULTS,
    FaultConfig,
    Frame,
    FrameGenerator,
    GapWindow,
    trade_rate_for,
)
from petrosa_sim.market import expected_frames_per_second

START_MS = 1_700_000_000_000
ENVELOPE_KEYS = ["stream", "data", "timestamp", "message_id", "source", "version"]
TRACE_KEYS = {"_otel_trace_context", "_otel_trace_headers"}
FIELDS: dict[str, list[str]] = {
    "trade": ["e", "E", "T", "s", "t", "p", "q", "X", "m"],
    "aggTrade": ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m"],
    "kline": ["e", "E", "s", "k"],
    "depthUpdate": ["e", "E", "T", "s", "U", "u", "pu", "b", "a"],
    "depth": ["lastUpdateId", "E", "T", "bids", "asks"],
    "markPriceUpdate": ["e", "E", "s", "p", "i", "P", "r", "T"],
    "24hrTicker": [
        *["e", "E", "s", "p", "P", "w", "c", "Q", "o", "h", "l", "v", "q", "O", "C", "F"],
        *["L", "n"],
    ],
    "24hrMiniTicker": ["e", "E", "s", "c", "o", "h", "l", "v", "q"],
}
KLINE_FIELDS = ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]
STRING_NUMBERS: dict[str, list[str]] = {
    "trade": ["p", "q"],
    "aggTrade": ["p", "q"],
    "markPriceUpdate": ["p", "i", "P", "r"],
    "24hrTicker": ["p", "P", "w", "c", "Q", "o", "h", "l", "v", "q"],
    "24hrMiniTicker": ["c", "o", "h", "l", "v", "q"],
}
INT_FIELDS: dict[str, list[str]] = {
    "trade": ["E", "T", "t"],
    "aggTrade": ["E", "a", "f", "l", "T"],
    "kline": ["E"],
    "depthUpdate": ["E", "T", "U", "u", "pu"],
    "depth": ["lastUpdateId", "E", "T"],
    "markPriceUpdate": ["E", "T"],
    "24hrTicker": ["E", "O", "C", "F", "L", "n"],
    "24hrMiniTicker": ["E"],
}


def decode(frame: Frame) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(envelope or None for a bare frame, Binance event)."""
    message = orjson.loads(frame.payload)
    if frame.bare:
        return None, message
    return message, message["data"]


def iso_to_ms(text: str) -> int:
    assert text.endswith("Z")
    return round(datetime.fromisoformat(text[:-1] + "+00:00").timestamp() * 1000)


def test_same_arguments_give_byte_identical_payloads(faulty_frames: list[Frame]) -> None:
    faults = FaultConfig(
        gap_rate=0.05,
        duplicate_rate=0.05,
        malformed_rate=0.04,
        bare_rate=0.1,
        partial_book_rate=0.2,
        trace_rate=0.3,
        missing_interval_rate=0.1,
    )
    again = FrameGenerator(
        ["BTCUSDT", "ETHUSDT", "ABCUSDT"], seed=5, start_ms=START_MS, faults=faults
    ).take(len(faulty_frames))
    assert again == faulty_frames


def test_another_seed_gives_other_data() -> None:
    one = FrameGenerator(["BTCUSDT"], seed=1, start_ms=START_MS).take(500)
    two = FrameGenerator(["BTCUSDT"], seed=2, start_ms=START_MS).take(500)
    assert [f.payload for f in one] != [f.payload for f in two]


def test_a_symbols_market_does_not_depend_on_the_other_symbols() -> None:
    def btc_events(symbols: list[str]) -> list[dict[str, Any]]:
        generator = FrameGenerator(symbols, seed=9, start_ms=START_MS, faults=NO_FAULTS)
        frames: list[Frame] = []
        while generator.now_ms < START_MS + 120_000:
            frames.append(generator.next_frame())
        # The last tick may be cut anywhere: compare the first 100 virtual seconds.
        return [
            decode(f)[1] for f in frames if f.symbol == "BTCUSDT" and f.time_ms < START_MS + 100_000
        ]

    assert btc_events(["BTCUSDT"]) == btc_events(["ETHUSDT", "BTCUSDT", "SOLUSDT"])


def test_envelope_has_exactly_the_socket_client_shape(mixed_frames: list[Frame]) -> None:
    enveloped = [f for f in mixed_frames if not f.bare and not f.malformed]
    assert len(enveloped) > 5_000
    for frame in enveloped:
        envelope, data = decode(frame)
        assert envelope is not None
        assert list(envelope)[:6] == ENVELOPE_KEYS
        assert set(envelope) - set(ENVELOPE_KEYS) <= TRACE_KEYS
        assert envelope["source"] == "binance-websocket"
        assert envelope["version"] == "1.0"
        assert envelope["stream"].startswith(frame.symbol.lower() + "@")
        assert uuid.UUID(envelope["message_id"]).version == 4
        # The envelope timestamp is the virtual time of the event.
        assert iso_to_ms(envelope["timestamp"]) == data["E"] == frame.time_ms


def test_message_ids_are_unique_random_uuid4(mixed_frames: list[Frame]) -> None:
    ids = [decode(f)[0]["message_id"] for f in mixed_frames if not f.bare]  # type: ignore[index]
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_timestamps_look_like_python_isoformat_with_z(mixed_frames: list[Frame]) -> None:
    stamps = [decode(f)[0]["timestamp"] for f in mixed_frames if not f.bare]  # type: ignore[index]
    for text in stamps:
        assert text.endswith("Z")
        assert len(text) in (20, 27)  # whole seconds carry no fraction, like isoformat()


def test_every_event_kind_appears_in_a_mixed_stream(mixed_frames: list[Frame]) -> None:
    kinds = Counter(f.kind for f in mixed_frames)
    assert set(EVENT_KINDS) <= set(kinds)


def test_events_have_exactly_binance_fields_in_binance_order(mixed_frames: list[Frame]) -> None:
    seen: set[str] = set()
    for frame in mixed_frames:
        if frame.malformed:
            continue
        _, data = decode(frame)
        assert list(data) == FIELDS[frame.kind], frame.kind
        if frame.kind == "kline":
            assert list(data["k"]) == KLINE_FIELDS
        if "e" in data:
            assert data["e"] == frame.kind
            assert data["s"] == frame.symbol
        seen.add(frame.kind)
    assert seen == set(EVENT_KINDS)


def test_numbers_are_strings_and_times_and_ids_are_ints(mixed_frames: list[Frame]) -> None:
    for frame in mixed_frames:
        if frame.malformed:
            continue
        _, data = decode(frame)
        for name in STRING_NUMBERS.get(frame.kind, []):
            assert isinstance(data[name], str), (frame.kind, name)
            float(data[name])
        for name in INT_FIELDS[frame.kind]:
            assert type(data[name]) is int, (frame.kind, name)
        if frame.kind == "kline":
            k = data["k"]
            for name in ("o", "c", "h", "l", "v", "q", "V", "Q", "B"):
                assert isinstance(k[name], str)
                float(k[name])
            for name in ("t", "T", "f", "L", "n"):
                assert type(k[name]) is int
            assert type(k["x"]) is bool
        if frame.kind in ("trade", "aggTrade"):
            assert type(data["m"]) is bool
            assert float(data["p"]) > 0
            assert float(data["q"]) > 0
        if frame.kind == "trade":
            assert data["X"] == "MARKET"
            assert data["E"] >= data["T"]
        if frame.kind not in ("depth", "depthUpdate"):
            continue
        sides = ("bids", "asks") if frame.kind == "depth" else ("b", "a")
        for level in data[sides[0]] + data[sides[1]]:
            assert len(level) == 2
            assert all(isinstance(x, str) for x in level)
            float(level[0])
            float(level[1])


def test_streams_follow_binance_names(mixed_frames: list[Frame]) -> None:
    suffixes = {
        "trade": {"@trade"},
        "aggTrade": {"@aggTrade"},
        "depthUpdate": {"@depth@100ms"},
        "depth": {"@depth5", "@depth20"},
        "markPriceUpdate": {"@markPrice@1s"},
        "24hrTicker": {"@ticker"},
        "24hrMiniTicker": {"@miniTicker"},
    }
    for frame in mixed_frames:
        if frame.malformed or frame.bare:
            continue
        envelope, data = decode(frame)
        assert envelope is not None
        prefix, _, channel = envelope["stream"].partition("@")
        assert prefix == frame.symbol.lower()
        if frame.kind == "kline":
            assert channel in ("kline", f"kline_{data['k']['i']}")
        else:
            assert "@" + channel in suffixes[frame.kind]


def test_partial_book_frames_have_no_event_type_and_no_symbol(mixed_frames: list[Frame]) -> None:
    partials = [f for f in mixed_frames if f.kind == "depth"]
    assert partials
    for frame in partials:
        envelope, data = decode(frame)
        assert envelope is not None, "a partial book is never bare: it has no symbol of its own"
        assert "e" not in data
        assert "s" not in data
        levels = int(envelope["stream"].rsplit("depth", 1)[1])
        assert len(data["bids"]) == len(data["asks"]) == levels
        bids = [float(p) for p, _ in data["bids"]]
        asks = [float(p) for p, _ in data["asks"]]
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert bids[0] < asks[0]
        assert frame.key == data["lastUpdateId"]


def test_partial_book_share_follows_the_config(clean_frames: list[Frame]) -> None:
    depth = Counter(f.kind for f in clean_frames if f.kind in ("depth", "depthUpdate"))
    share = depth["depth"] / (depth["depth"] + depth["depthUpdate"])
    assert 0.04 < share < 0.06  # default 5 %


def test_kinds_filter_keeps_only_those_kinds_and_the_same_market() -> None:
    full = FrameGenerator(["ETHUSDT"], seed=4, start_ms=START_MS, faults=NO_FAULTS)
    only = FrameGenerator(
        ["ETHUSDT"], seed=4, start_ms=START_MS, faults=NO_FAULTS, kinds={"trade", "kline"}
    )
    only_frames = only.take(2_000)
    assert {f.kind for f in only_frames} == {"trade", "kline"}
    full_frames = [f for f in full.take(10_000) if f.kind in ("trade", "kline")]
    assert [decode(f)[1] for f in full_frames[:1_000]] == [
        decode(f)[1] for f in only_frames[:1_000]
    ]


def test_default_start_is_now() -> None:
    before = time.time() * 1000
    generator = FrameGenerator(["BTCUSDT"])
    assert before - 1 <= generator.start_ms <= time.time() * 1000 + 1
    frame = generator.take(1)[0]
    assert abs(frame.time_ms - before) < 5_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"symbols": []},
        {"symbols": ["BTCUSDT", "btcusdt"]},
        {"symbols": ["BTC-USDT"]},
        {"symbols": ["BTCUSDT"], "intervals": ["7m"]},
        {"symbols": ["BTCUSDT"], "intervals": ["1M"]},
        {"symbols": ["BTCUSDT"], "step_ms": 0},
        {"symbols": ["BTCUSDT"], "kinds": ["bookTicker"]},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every refusal is a plain ValueError
        FrameGenerator(**kwargs, start_ms=START_MS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duplicate_rate": 1.5},
        {"malformed_rate": -0.1},
        {"duplicate_rate": 0.6, "malformed_rate": 0.5},
    ],
)
def test_bad_fault_rates_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rate"):
        FaultConfig(**kwargs)


def test_gap_windows_accept_plain_tuples() -> None:
    config = FaultConfig(gaps=(("BTCUSDT", "1m", 0, 60_000),))  # type: ignore[arg-type]
    assert config.gaps == (GapWindow("BTCUSDT", "1m", 0, 60_000),)


def test_trade_rate_for_keeps_virtual_time_in_step_with_the_publish_rate() -> None:
    faults = FaultConfig(duplicate_rate=0.02, malformed_rate=0.01)
    rate = 1_500.0
    trade_rate = trade_rate_for(rate, 3, faults=faults)
    generator = FrameGenerator(
        ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        seed=1,
        start_ms=START_MS,
        trade_rate=trade_rate,
        faults=faults,
    )
    assert generator.expected_rate() == pytest.approx(rate, rel=1e-6)
    frames = generator.take(60_000)
    virtual_seconds = (frames[-1].time_ms - START_MS) / 1000
    assert len(frames) / virtual_seconds == pytest.approx(rate, rel=0.08)


def test_trade_rate_for_a_rate_below_the_periodic_pushes_is_zero() -> None:
    assert trade_rate_for(10.0, 2) == 0.0
    assert expected_frames_per_second(0.0, ["1m"]) > 5.0


def test_generation_is_fast() -> None:
    generator = FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=1, start_ms=START_MS)
    started = time.process_time()
    generator.take(100_000)
    elapsed = time.process_time() - started
    # ~80-100k frames/s on an idle core; the bound leaves room for a busy CI machine.
    assert elapsed < 5.0, f"{100_000 / elapsed:,.0f} frames/s"
