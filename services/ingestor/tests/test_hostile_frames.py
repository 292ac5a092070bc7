"""Hostile frames against the routing step (no servers): nothing raises, every frame is either
stored whole or rejected with a reason, and what would be stored obeys the frame rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import bson
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from petrosa_common.documents import to_document
from petrosa_common.frame_rules import EARLIEST_MS, MAX_AMOUNT, MAX_PRICE, latest_ms
from petrosa_common.naming import is_symbol
from petrosa_common.parser import FrameLimits, RejectReason
from petrosa_ingestor.router import RoutedBatch, route_batch
from petrosa_sim.frames import FrameGenerator
from petrosa_sim.hostile import hostile_frames

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
LIMITS = FrameLimits(symbols=frozenset(SYMBOLS), max_book_levels=50)
BASES = [
    frame
    for frame in FrameGenerator(SYMBOLS, seed=17, start_ms=1_704_067_200_000).take(400)
    if not frame.malformed
]
PRICE_FIELDS = frozenset(
    {"price", "open", "high", "low", "close", "mark_price", "index_price"}
    | {"last_price", "open_price", "high_price", "low_price"}
)
SIGNED_FIELDS = frozenset({"funding_rate", "price_change", "price_change_percent"})
MAX_TIME = datetime.fromtimestamp((latest_ms() + 32 * 86_400_000) / 1000, UTC)
MIN_TIME = datetime.fromtimestamp(EARLIEST_MS / 1000, UTC)


def test_every_hostile_case_is_rejected_with_its_reason() -> None:
    cases = list(hostile_frames(BASES))
    assert len(cases) >= 40
    routed = route_batch([case.payload for case in cases], LIMITS)
    got = {
        case.case: routed.rejected.get(index, ("stored", ""))[0] for index, case in enumerate(cases)
    }
    assert got == {case.case: case.reason for case in cases}
    assert routed.ops_by_collection == {}
    assert set(routed.event_types) <= {
        "unknown",
        "trade",
        "aggTrade",
        "kline",
        "depthUpdate",
        "depth",
    }


# Values a producer could put anywhere: wrong JSON types, edge numbers, text that is almost a
# number, nested junk.
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0", "-0", "1e308", "1e-320", "NaN", "inf", "1_0", " 1", "0x10", "१"]),
    st.from_regex(r"-?\d{1,25}(\.\d{0,12})?(e-?\d{1,3})?", fullmatch=True),
    st.text(max_size=12),
    st.lists(st.lists(st.sampled_from(["1", "0", "-1", "1e400", 2, None]), max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2),
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from(BASES))
    message = orjson.loads(base.payload)
    data = message.get("data", message)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = data
        if isinstance(data.get("k"), dict) and draw(st.booleans()):
            target = data["k"]
        keys = sorted(target)
        key = draw(st.sampled_from([*keys, "s", "e", "m", "x"]))
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(HOSTILE_VALUES)
    if draw(st.booleans()) and "stream" in message:
        message["stream"] = draw(st.sampled_from(["", "HACKED", "btcusdt", "x@y", "@trade"]))
    return orjson.dumps(message)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_frames(), min_size=1, max_size=8))
def test_mutated_frames_never_raise_and_stored_documents_obey_the_rules(
    payloads: list[bytes],
) -> None:
    routed = route_batch(payloads, LIMITS)
    reasons = {reason.value for reason in RejectReason}
    for index in range(len(payloads)):
        if index in routed.rejected:
            assert routed.rejected[index][0] in reasons  # never the catch-all for bugs
            assert routed.message_keys[index] == ()
        else:
            assert routed.message_keys[index], "accepted but stores nothing"
    _assert_documents_obey_rules(routed)


def _assert_documents_obey_rules(routed: RoutedBatch) -> None:
    now = datetime.now(UTC)
    for collection, ops in routed.ops_by_collection.items():
        for op in ops.values():
            document = to_document(op, now)
            bson.encode(document)  # BSON can hold every value
            assert is_symbol(document["symbol"])
            assert document["symbol"] in SYMBOLS
            assert collection.endswith(document["symbol"]) or document.get("timeframe")
            for key, value in document.items():
                _assert_value_obeys_rules(key, value)


def _assert_value_obeys_rules(key: str, value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        assert 0 <= value < 2**63, (key, value)
    elif isinstance(value, float):
        assert math.isfinite(value), (key, value)
        if key in PRICE_FIELDS:
            assert 0 < value <= MAX_PRICE, (key, value)
        elif key in SIGNED_FIELDS:
            assert abs(value) <= MAX_AMOUNT, (key, value)
        elif key != "quote_quantity":  # price x quantity may exceed either bound
            assert 0 <= value <= MAX_AMOUNT, (key, value)
    elif isinstance(value, datetime):
        assert MIN_TIME <= value <= MAX_TIME, (key, value)
    elif isinstance(value, list):
        assert len(value) <= LIMITS.max_book_levels, key
        for level in value:
            assert set(level) == {"price", "quantity"}, level
            assert 0 < level["price"] <= MAX_PRICE
            assert 0 <= level["quantity"] <= MAX_AMOUNT


def test_string_false_never_closes_a_candle_nor_flips_a_trade() -> None:
    kline = next(frame for frame in BASES if frame.kind == "kline")
    message = orjson.loads(kline.payload)
    data = message.get("data", message)
    data["k"]["x"] = "false"
    trade = next(frame for frame in BASES if frame.kind == "trade")
    spoiled = orjson.loads(trade.payload)
    spoiled.get("data", spoiled)["m"] = "false"
    routed = route_batch([orjson.dumps(message), orjson.dumps(spoiled)], LIMITS)
    assert routed.rejected == {0: routed.rejected[0], 1: routed.rejected[1]}
    assert {reason for reason, _ in routed.rejected.values()} == {"bad_field"}
