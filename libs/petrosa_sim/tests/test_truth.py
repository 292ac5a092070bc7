"""The truth a frame carries matches its payload, and tells what a consumer must store."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from petrosa_common.parser import MessageRejected, parse_frame
from petrosa_sim import (
    NO_FAULTS,
    FaultConfig,
    Frame,
    FrameGenerator,
    documents,
    expected_counts,
    expected_documents,
)

START_MS = 1_700_000_000_000


def consumer_view(frames: list[Frame]) -> dict[str, set[int]]:
    """Natural keys per collection, worked out from the payloads alone, the way an ingestor
    that follows the architecture's rules would (so it checks ``Frame`` against the wire)."""
    stored: dict[str, set[int]] = defaultdict(set)
    for frame in frames:
        try:
            message = orjson.loads(frame.payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(message, dict):
            continue
        data, stream = (message["data"], message["stream"]) if "data" in message else (message, "")
        symbol = (data.get("s") or stream.partition("@")[0]).upper()
        if not symbol or frame.malformed:
            continue
        kind = data.get("e", "depth")
        if kind == "trade":
            stored[f"trades_{symbol}"].add(data["t"])
        elif kind == "aggTrade":
            stored[f"agg_trades_{symbol}"].add(data["a"])
        elif kind == "kline":
            stored[f"candles_{symbol}_{data['k']['i']}"].add(data["k"]["t"])
        elif kind == "depthUpdate":
            stored[f"depth_{symbol}"].add(data["u"])
        elif kind == "depth":
            stored[f"depth_{symbol}"].add(data["lastUpdateId"])
        elif kind == "markPriceUpdate":
            stored[f"mark_prices_{symbol}"].add(data["E"])
            stored[f"funding_rates_{symbol}"].add(data["T"])
        else:
            stored[f"tickers_{symbol}"].add(data["E"])
    return dict(stored)


def test_expected_documents_match_the_payloads(faulty_frames: list[Frame]) -> None:
    assert expected_documents(faulty_frames) == consumer_view(faulty_frames)


def test_collections_are_named_as_in_the_architecture(mixed_frames: list[Frame]) -> None:
    names = set(expected_counts(mixed_frames))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert {
            f"trades_{symbol}",
            f"agg_trades_{symbol}",
            f"depth_{symbol}",
            f"mark_prices_{symbol}",
            f"funding_rates_{symbol}",
            f"tickers_{symbol}",
            f"candles_{symbol}_1m",
        } <= names


def test_one_mark_price_update_makes_a_mark_price_and_a_funding_document(
    mixed_frames: list[Frame],
) -> None:
    mark = next(f for f in mixed_frames if f.kind == "markPriceUpdate")
    data = orjson.loads(mark.payload)["data"]
    assert documents(mark) == (
        (f"mark_prices_{mark.symbol}", data["E"]),
        (f"funding_rates_{mark.symbol}", data["T"]),
    )


def test_natural_keys_never_collide_by_accident(faulty_frames: list[Frame]) -> None:
    """Apart from re-publishes, every frame of a per-event series adds a new document."""
    originals = [f for f in faulty_frames if not f.duplicate and not f.malformed]
    frames_per_collection: Counter[str] = Counter()
    for frame in originals:
        if frame.kind in ("kline",):
            continue  # many updates of one candle share its key on purpose
        for collection, _ in documents(frame):
            if not collection.startswith("funding_rates_"):  # one per 8 h on purpose
                frames_per_collection[collection] += 1
    counts = expected_counts(faulty_frames)
    for collection, frames in frames_per_collection.items():
        assert counts[collection] == frames, collection


def test_duplicates_and_malformed_frames_add_no_documents() -> None:
    clean = FrameGenerator(["BTCUSDT"], seed=2, start_ms=START_MS, faults=NO_FAULTS)
    faults = FaultConfig(duplicate_rate=0.2, malformed_rate=0.2, partial_book_rate=0)
    dirty = FrameGenerator(["BTCUSDT"], seed=2, start_ms=START_MS, faults=faults)
    clean_frames = clean.take(3_000)
    dirty_frames = dirty.take(6_000)
    fresh = [f for f in dirty_frames if not (f.duplicate or f.malformed)][:3_000]
    assert len(fresh) == 3_000
    # The injected frames bring no key of their own ...
    assert expected_documents(fresh) == expected_documents(clean_frames)
    # ... and re-publishes only repeat keys already there.
    everything = expected_documents(dirty_frames)
    assert everything == expected_documents([f for f in dirty_frames if not f.duplicate])


def test_every_valid_frame_parses_and_every_malformed_one_is_rejected(
    faulty_frames: list[Frame],
) -> None:
    """Contract with ``petrosa_common.parser``: the simulator speaks the ingestor's language."""
    for frame in faulty_frames:
        if frame.malformed:
            with pytest.raises(MessageRejected):
                parse_frame(frame.payload)
        else:
            event: Any = parse_frame(frame.payload)
            assert event.symbol == frame.symbol
