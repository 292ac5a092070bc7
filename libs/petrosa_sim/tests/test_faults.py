"""Injected faults: duplicates, malformed frames, bare events, trace keys, short streams."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from petrosa_sim import MALFORMED_REASONS, FaultConfig, Frame, FrameGenerator

START_MS = 1_700_000_000_000
# conftest's faulty_frames configuration
DUPLICATE_RATE, MALFORMED_RATE, BARE_RATE, TRACE_RATE, MISSING_INTERVAL_RATE = (
    0.05,
    0.04,
    0.1,
    0.3,
    0.1,
)


def data_of(frame: Frame) -> dict[str, Any]:
    message = orjson.loads(frame.payload)
    return message if frame.bare else message["data"]  # type: ignore[no-any-return]


def test_duplicate_share_follows_the_config(faulty_frames: list[Frame]) -> None:
    share = sum(f.duplicate for f in faulty_frames) / len(faulty_frames)
    assert share == pytest.approx(DUPLICATE_RATE, abs=0.01)


def test_duplicates_republish_an_earlier_frame_with_a_new_message_id(
    faulty_frames: list[Frame],
) -> None:
    originals: dict[bytes, Frame] = {}
    duplicates = 0
    for frame in faulty_frames:
        if frame.malformed:
            continue
        identity = orjson.dumps(data_of(frame))
        if not frame.duplicate:
            originals.setdefault(identity, frame)
            continue
        duplicates += 1
        original = originals[identity]  # the same event was published before
        assert (frame.kind, frame.symbol, frame.key) == (
            original.kind,
            original.symbol,
            original.key,
        )
        assert frame.bare == original.bare
        assert frame.time_ms == original.time_ms
        if frame.bare:
            assert frame.payload == original.payload
        else:
            again, first = orjson.loads(frame.payload), orjson.loads(original.payload)
            assert again["message_id"] != first["message_id"]
            assert {k: v for k, v in again.items() if k != "message_id"} == {
                k: v for k, v in first.items() if k != "message_id"
            }
    assert duplicates > 1_000


def test_malformed_share_follows_the_config(faulty_frames: list[Frame]) -> None:
    share = sum(f.malformed for f in faulty_frames) / len(faulty_frames)
    assert share == pytest.approx(MALFORMED_RATE, abs=0.01)


def test_malformed_frames_cover_every_reason_and_are_really_broken(
    faulty_frames: list[Frame],
) -> None:
    malformed = [f for f in faulty_frames if f.malformed]
    assert Counter(f.reason for f in malformed).keys() == set(MALFORMED_REASONS)
    for frame in malformed:
        assert frame.kind == "malformed"
        assert frame.key is None
        assert not frame.duplicate
        if frame.reason == "invalid_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(frame.payload)
            continue
        message = orjson.loads(frame.payload)
        if frame.reason == "not_an_object":
            assert not isinstance(message, dict)
            continue
        assert isinstance(message, dict)
        data = message["data"]
        if frame.reason == "no_symbol":
            assert message["stream"] == ""
            assert "s" not in data
            assert frame.symbol == ""
        elif frame.reason == "bad_number":
            assert "abc" in (data.get("p"), data.get("c"))
            assert data["s"] == frame.symbol
        elif frame.reason == "kline_without_k":
            assert data["e"] == "kline"
            assert "k" not in data
        else:
            pytest.fail(f"unknown reason {frame.reason}")


def test_bare_frames_are_binance_events_without_envelope(faulty_frames: list[Frame]) -> None:
    fresh = [f for f in faulty_frames if not f.duplicate and not f.malformed]
    bare = [f for f in fresh if f.bare]
    eligible = [f for f in fresh if f.kind != "depth"]
    assert len(bare) / len(eligible) == pytest.approx(BARE_RATE, abs=0.015)
    for frame in bare:
        event = orjson.loads(frame.payload)
        assert "stream" not in event
        assert "data" not in event
        assert event["e"] == frame.kind
        assert event["s"] == frame.symbol
    assert not [f for f in faulty_frames if f.bare and f.kind == "depth"]


def test_trace_keys_appear_at_the_configured_share(faulty_frames: list[Frame]) -> None:
    envelopes = [
        orjson.loads(f.payload)
        for f in faulty_frames
        if not f.bare and not f.malformed and not f.duplicate
    ]
    traced = [e for e in envelopes if "_otel_trace_context" in e or "_otel_trace_headers" in e]
    assert len(traced) / len(envelopes) == pytest.approx(TRACE_RATE, abs=0.02)
    kinds = Counter("_otel_trace_context" in e for e in traced)
    assert kinds[True] > 0
    assert kinds[False] > 0
    for envelope in traced:
        carrier = envelope.get("_otel_trace_context") or envelope["_otel_trace_headers"]
        assert isinstance(carrier, dict)
        version, trace_id, span_id, flags = carrier["traceparent"].split("-")
        assert (version, flags, len(trace_id), len(span_id)) == ("00", "01", 32, 16)


def test_some_kline_streams_lack_the_interval(faulty_frames: list[Frame]) -> None:
    klines = [
        orjson.loads(f.payload)
        for f in faulty_frames
        if f.kind == "kline" and not f.bare and not f.duplicate
    ]
    short = [k for k in klines if k["stream"].endswith("@kline")]
    assert len(short) / len(klines) == pytest.approx(MISSING_INTERVAL_RATE, abs=0.02)
    for kline in short:
        assert kline["data"]["k"]["i"] in ("1m", "5m", "15m", "1h")


def test_default_config_injects_no_duplicates_or_malformed_frames(
    mixed_frames: list[Frame],
) -> None:
    assert not [f for f in mixed_frames if f.duplicate or f.malformed or f.bare]


def test_malformed_frames_can_come_before_any_real_data() -> None:
    generator = FrameGenerator(
        ["BTCUSDT"], seed=1, start_ms=START_MS, faults=FaultConfig(malformed_rate=0.9)
    )
    frames = generator.take(50)
    assert frames[0].malformed
    assert sum(f.malformed for f in frames) > 30
