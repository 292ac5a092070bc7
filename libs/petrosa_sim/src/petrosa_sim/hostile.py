"""A corpus of hostile frames: what an attacker or a buggy producer could publish.

Each hostile frame is a real frame of the simulator with one thing spoiled, and carries the
dead-letter reason a correct consumer must give it (the categories of issue 10: times and ids
beyond what BSON or a calendar holds, junk symbols, numbers of the wrong type or out of range,
strings for booleans, malformed book levels, oversized books, unbounded event type names, bytes
that are not UTF-8). A consumer stores none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import orjson

from petrosa_sim.frames import Frame
from petrosa_sim.kinds import AGG_TRADE, DEPTH_UPDATE, KLINE, PARTIAL_DEPTH, TRADE


class HostileFrame(NamedTuple):
    """A payload no consumer may store, and the dead-letter reason it must get."""

    payload: bytes
    reason: str
    case: str
    """What was spoiled, for messages."""


Spoil = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Spoil:
    def spoil(data: dict[str, Any]) -> None:
        data[key] = value

    return spoil


def _set_k(key: str, value: Any) -> Spoil:
    def spoil(data: dict[str, Any]) -> None:
        data["k"] = {**data["k"], key: value}

    return spoil


def _levels(value: Any) -> Spoil:
    def spoil(data: dict[str, Any]) -> None:
        data["b" if "b" in data else "bids"] = value

    return spoil


_BIG = 2**63  # one past the largest BSON int64
_CASES: dict[str, list[tuple[str, Spoil, str]]] = {
    TRADE: [
        ("E float 1e20", _set("E", 1e20), "bad_field"),
        ("E year 33 million", _set("E", 10**18), "out_of_range"),
        ("T beyond int64", _set("T", _BIG), "out_of_range"),
        ("t beyond int64", _set("t", _BIG), "out_of_range"),
        ("t negative", _set("t", -5), "out_of_range"),
        ("t float", _set("t", 12.5), "bad_field"),
        ("t JSON true", _set("t", True), "bad_field"),
        ("p JSON true", _set("p", True), "bad_field"),
        ("p -1", _set("p", "-1"), "out_of_range"),
        ("p 1e308", _set("p", "1e308"), "out_of_range"),
        ("q 1e300", _set("q", "1e300"), "out_of_range"),
        ("m string false", _set("m", "false"), "bad_field"),
        ("symbol HACKED", _set("s", "HACKED"), "unknown_symbol"),
        ("symbol 00", _set("s", "00"), "no_symbol"),
        ("symbol of 30 characters", _set("s", "A" * 30), "no_symbol"),
        ("event type of 1,000,000 characters", _set("e", "x" * 1_000_000), "unknown_event"),
        ("event type with NUL", _set("e", "trade\x00"), "unknown_event"),
        ("event type with a space", _set("e", "trade "), "unknown_event"),
    ],
    AGG_TRADE: [
        ("a beyond int64", _set("a", _BIG), "out_of_range"),
        ("f beyond int64", _set("f", _BIG), "out_of_range"),
        ("l beyond int64", _set("l", 2**64 - 1), "out_of_range"),
        ("a float", _set("a", 7.0), "bad_field"),
    ],
    KLINE: [
        ("k.t beyond 1e20 ms", _set_k("t", 10**18), "out_of_range"),
        ("k.T beyond int64", _set_k("T", _BIG), "out_of_range"),
        ("k.x string false", _set_k("x", "false"), "bad_field"),
        ("k.o zero", _set_k("o", "0"), "out_of_range"),
        ("k.v JSON true", _set_k("v", True), "bad_field"),
    ],
    DEPTH_UPDATE: [
        ("U beyond int64", _set("U", _BIG), "out_of_range"),
        ("u beyond int64", _set("u", _BIG), "out_of_range"),
        ("level as a string", _levels(["12"]), "bad_field"),
        ("level of three", _levels([[1, 2, 3]]), "bad_field"),
        ("10,000 levels", _levels([["100.5", "1"]] * 10_000), "out_of_range"),
        ("level price -1", _levels([["-1", "1"]]), "out_of_range"),
    ],
    PARTIAL_DEPTH: [
        ("snapshot of 10,000 levels", _levels([["100.5", "1"]] * 10_000), "out_of_range"),
    ],
}

_RAW: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b'{"stream": "btcusdt@trade", "data": {"e": "trade\xff\xfe"}}', "invalid_json"),
    ("truncated JSON", b'{"stream": "btcusdt@trade", "data": {"e"', "invalid_json"),
    (
        "id beyond 64 bits (JSON reads it as a float)",
        b'{"e": "trade", "E": 1704067200000, "T": 1704067200000, "s": "BTCUSDT", '
        b'"t": 99999999999999999999999, "p": "1", "q": "1", "m": true}',
        "bad_field",
    ),
    ("a JSON array", b"[1, 2, 3]", "not_an_object"),
    ("data not an object", b'{"stream": "btcusdt@trade", "data": 12}', "no_data"),
    ("stream without @ as symbol", b'{"stream": "HACKED", "data": {"e": "trade"}}', "no_symbol"),
]


def hostile_frames(frames: Iterable[Frame]) -> Iterator[HostileFrame]:
    """Every hostile case, each spoiling the first valid frame of its kind in ``frames``
    (kinds absent from ``frames`` are skipped), then the raw byte cases."""
    firsts: dict[str, Frame] = {}
    for frame in frames:
        if not frame.malformed and not frame.duplicate and frame.kind in _CASES:
            firsts.setdefault(frame.kind, frame)
    for kind, cases in _CASES.items():
        base = firsts.get(kind)
        if base is None:
            continue
        for case, spoil, reason in cases:
            yield HostileFrame(_spoiled(base.payload, spoil), reason, f"{kind}: {case}")
    for case, payload, reason in _RAW:
        yield HostileFrame(payload, reason, case)


def _spoiled(payload: bytes, spoil: Spoil) -> bytes:
    message = orjson.loads(payload)
    data = message.get("data", message)
    spoil(data)
    return orjson.dumps(message)
