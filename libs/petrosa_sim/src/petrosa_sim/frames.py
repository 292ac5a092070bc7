"""A deterministic stream of socket-client frames: Binance events in the NATS envelope.

:class:`FrameGenerator` runs one :class:`~petrosa_sim.market.SymbolMarket` per symbol over
virtual time, wraps each event exactly as the socket client does, and mixes in the faults of
its :class:`~petrosa_sim.faults.FaultConfig`. Every output is a :class:`Frame` that carries
the published bytes together with the truth a test needs (kind, symbol, natural key, flags).
Given the same arguments, two generators yield byte-identical payloads (``message_id`` and
trace ids included).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from petrosa_common.naming import is_symbol
from petrosa_common.time import now_ms

from petrosa_sim.faults import (
    BAD_NUMBER,
    INVALID_JSON,
    KLINE_WITHOUT_K,
    MALFORMED_REASONS,
    NO_SYMBOL,
    NOT_AN_OBJECT,
    FaultConfig,
)
from petrosa_sim.intervals import DEFAULT_INTERVALS, check_interval
from petrosa_sim.kinds import (
    AGG_TRADE,
    EVENT_KINDS,
    KLINE,
    MALFORMED,
    MARK_PRICE,
    MINI_TICKER,
    PARTIAL_DEPTH,
    TICKER,
    TRADE,
)
from petrosa_sim.market import Event, SymbolMarket, expected_frames_per_second
from petrosa_sim.walk import symbol_spec

SOURCE = "binance-websocket"
VERSION = "1.0"
DEFAULT_STEP_MS = 100
DEFAULT_TRADE_RATE = 10.0
"""Mean trades (fills) per virtual second and symbol."""

_HISTORY = 1024  # how far back a duplicate may reach (frames)
_dumps = orjson.dumps
_event_time = itemgetter(0)
# Version 4 and RFC 4122 variant bits of a UUID held as a 128-bit int.
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)

# Events whose data has a top-level ``s`` and a numeric string field to spoil.
_SPOILABLE: dict[str, str] = {
    TRADE: "p",
    AGG_TRADE: "p",
    MARK_PRICE: "p",
    TICKER: "c",
    MINI_TICKER: "c",
}
_NOT_OBJECTS: tuple[bytes, ...] = (b"[]", b'["btcusdt@trade"]', b"42", b'"trade"', b"null")


class Frame(NamedTuple):
    """One published message and what it means (a named tuple: cheap to make by the million).

    ``key`` is the natural key of the event (``None`` for malformed frames):

    ============================  ==========================================
    kind                          key
    ============================  ==========================================
    ``trade``                     trade id ``t``
    ``aggTrade``                  agg id ``a``
    ``kline``                     ``(interval, open_ms)``
    ``depthUpdate`` / ``depth``   final update id ``u`` / ``lastUpdateId``
    ``markPriceUpdate``           ``(E, T)``: mark price event time, funding time
    ``24hrTicker`` / mini         event time ``E``
    ============================  ==========================================

    :func:`petrosa_sim.truth.documents` maps it to the MongoDB documents it should produce.
    """

    payload: bytes
    kind: str
    symbol: str
    key: object | None
    malformed: bool = False
    duplicate: bool = False
    reason: str = ""
    """Why a malformed frame is malformed (one of ``faults.MALFORMED_REASONS``)."""
    bare: bool = False
    """The Binance event was published without the envelope."""
    time_ms: int = 0
    """Virtual time the frame stands for (the event time of its event)."""


class FrameGenerator:
    """Infinite, deterministic, mixed stream of frames for ``symbols``.

    Virtual time starts at ``start_ms`` (default: now) and advances ``step_ms`` per tick;
    each tick yields whatever the markets did in it, in time order. ``trade_rate`` is the
    mean number of trades per virtual second and symbol; ``kinds`` restricts the output to
    some frame kinds (the markets still evolve identically).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        seed: int = 0,
        start_ms: int | None = None,
        intervals: Sequence[str] = DEFAULT_INTERVALS,
        step_ms: int = DEFAULT_STEP_MS,
        trade_rate: float = DEFAULT_TRADE_RATE,
        faults: FaultConfig | None = None,
        kinds: Collection[str] | None = None,
    ) -> None:
        names = [s.strip().upper() for s in symbols]
        if not names or not all(map(is_symbol, names)) or len(set(names)) != len(names):
            raise ValueError(f"need distinct Binance symbols, got {list(symbols)!r}")
        if step_ms <= 0:
            raise ValueError("step_ms must be positive")
        if trade_rate < 0:
            raise ValueError("trade_rate must not be negative")
        self.symbols: tuple[str, ...] = tuple(names)
        self.intervals: tuple[str, ...] = tuple(check_interval(i) for i in intervals)
        self.seed = seed
        self.start_ms: int = now_ms() if start_ms is None else start_ms
        self.step_ms = step_ms
        self.trade_rate = trade_rate
        self.faults = faults = FaultConfig() if faults is None else faults
        emit = frozenset(EVENT_KINDS if kinds is None else kinds)
        if not emit <= set(EVENT_KINDS):
            raise ValueError(f"unknown frame kinds {sorted(emit - set(EVENT_KINDS))!r}")
        self.markets = [
            SymbolMarket(
                symbol_spec(symbol),
                seed=seed,
                start_ms=self.start_ms,
                intervals=self.intervals,
                trade_rate=trade_rate,
                partial_book_rate=faults.partial_book_rate,
                gap_rate=faults.gap_rate,
                gaps=faults.gaps,
                emit=emit,
            )
            for symbol in self.symbols
        ]
        self.now_ms: int = self.start_ms
        """End of the last simulated tick (virtual time)."""

        self._env_rng = random.Random(f"{seed}:envelope")
        self._fault_rng = random.Random(f"{seed}:faults")
        self._queue: list[Event] = []
        self._pos = 0
        self._clock_ms = self.start_ms  # time of the last fresh frame
        self._iso_second = -1
        self._iso_prefix = ""
        self._history: list[tuple[Frame, dict[str, Any] | None]] = []
        self._history_pos = 0
        self._last_spoilable: Event | None = None
        self._last_kline: Event | None = None

    # -- public API ------------------------------------------------------------------------

    def iter_frames(self) -> Iterator[Frame]:
        """The endless stream of frames (continues where the previous call stopped)."""
        while True:
            yield self.next_frame()

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_frames()

    def iter_payloads(self) -> Iterator[bytes]:
        """The endless stream of message bodies, as they go to NATS."""
        while True:
            yield self.next_frame().payload

    def take(self, n: int) -> list[Frame]:
        """The next ``n`` frames."""
        return list(islice(self.iter_frames(), n))

    @property
    def suppressed_candles(self) -> list[tuple[str, str, int]]:
        """Candles ``(symbol, interval, open_ms)`` never published so far (gaps)."""
        return sorted(c for market in self.markets for c in market.suppressed_candles)

    def expected_rate(self) -> float:
        """Mean frames per virtual second (all symbols, faults included)."""
        fresh = expected_frames_per_second(self.trade_rate, self.intervals) * len(self.symbols)
        return fresh / (1.0 - self.faults.injected_share)

    def next_frame(self) -> Frame:
        """The next frame: fresh market data, or an injected duplicate / malformed frame."""
        faults = self.faults
        if faults.duplicate_rate or faults.malformed_rate:
            draw = self._fault_rng.random()
            if draw < faults.duplicate_rate:
                if self._history:
                    return self._duplicate()
            elif draw < faults.duplicate_rate + faults.malformed_rate:
                return self._malformed()
        return self._fresh(self._next_event())

    # -- fresh frames ----------------------------------------------------------------------

    def _next_event(self) -> Event:
        while self._pos >= len(self._queue):
            events: list[Event] = []
            end_ms = self.now_ms + self.step_ms
            for market in self.markets:
                market.advance(self.now_ms, end_ms, events)
            self.now_ms = end_ms
            events.sort(key=_event_time)
            self._queue = events
            self._pos = 0
        event = self._queue[self._pos]
        self._pos += 1
        return event

    def _fresh(self, event: Event) -> Frame:
        time_ms, kind, symbol, stream, data, key = event
        self._clock_ms = time_ms
        faults = self.faults
        if kind in _SPOILABLE:
            self._last_spoilable = event
        elif kind == KLINE:
            self._last_kline = event
            rate = faults.missing_interval_rate
            if rate and self._fault_rng.random() < rate:
                stream = stream.rsplit("_", 1)[0]
        rate = faults.bare_rate
        # A partial book has no symbol of its own: without the envelope it would be unusable.
        if rate and kind != PARTIAL_DEPTH and self._fault_rng.random() < rate:
            envelope = None
            frame = Frame(_dumps(data), kind, symbol, key, False, False, "", True, time_ms)
        else:
            envelope = self._envelope(stream, data, time_ms)
            frame = Frame(_dumps(envelope), kind, symbol, key, False, False, "", False, time_ms)
        if faults.duplicate_rate:
            self._remember(frame, envelope)
        return frame

    def _envelope(self, stream: str, data: dict[str, Any], time_ms: int) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "stream": stream,
            "data": data,
            "timestamp": self._iso(time_ms),
            "message_id": self._message_id(),
            "source": SOURCE,
            "version": VERSION,
        }
        rate = self.faults.trace_rate
        if rate and self._fault_rng.random() < rate:
            rng = self._env_rng
            parent = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
            if rng.random() < 0.5:
                envelope["_otel_trace_context"] = {"traceparent": parent}
            else:
                envelope["_otel_trace_headers"] = {"traceparent": parent, "tracestate": ""}
        return envelope

    def _iso(self, time_ms: int) -> str:
        """``datetime.isoformat()`` of ``time_ms`` plus ``Z``, as a Python socket client
        writes it (so no fraction at all on whole seconds)."""
        second, milli = divmod(time_ms, 1000)
        if second != self._iso_second:
            self._iso_second = second
            moment = datetime.fromtimestamp(second, UTC)
            self._iso_prefix = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if milli:
            return f"{self._iso_prefix}.{milli:03d}000Z"
        return f"{self._iso_prefix}Z"

    def _message_id(self) -> str:
        """A random version-4 UUID from the seeded stream (same as ``str(uuid.UUID(int=n,
        version=4))`` for the drawn ``n``)."""
        h = f"{self._env_rng.getrandbits(128) & _UUID_KEEP | _UUID_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _remember(self, frame: Frame, envelope: dict[str, Any] | None) -> None:
        if len(self._history) < _HISTORY:
            self._history.append((frame, envelope))
        else:
            self._history[self._history_pos] = (frame, envelope)
            self._history_pos = (self._history_pos + 1) % _HISTORY

    # -- injected frames -------------------------------------------------------------------

    def _duplicate(self) -> Frame:
        """Re-publish an earlier valid frame: same data and timestamp, new ``message_id``."""
        original, envelope = self._fault_rng.choice(self._history)
        if envelope is None:
            payload = original.payload
        else:
            payload = _dumps({**envelope, "message_id": self._message_id()})
        return Frame(
            payload,
            original.kind,
            original.symbol,
            original.key,
            duplicate=True,
            bare=original.bare,
            time_ms=original.time_ms,
        )

    def _malformed(self) -> Frame:
        """A frame no consumer can store, built from recent real data where it can be."""
        reason = self._fault_rng.choice(MALFORMED_REASONS)
        spoilable, kline = self._last_spoilable, self._last_kline
        if reason == NO_SYMBOL and spoilable is not None:
            data = dict(spoilable.data)
            del data["s"]
            return self._bad(reason, "", "", data)
        if reason == BAD_NUMBER and spoilable is not None:
            data = {**spoilable.data, _SPOILABLE[spoilable.kind]: "abc"}
            return self._bad(reason, spoilable.symbol, spoilable.stream, data)
        if reason == KLINE_WITHOUT_K and kline is not None:
            data = {k: v for k, v in kline.data.items() if k != "k"}
            return self._bad(reason, kline.symbol, kline.stream, data)
        if reason == NOT_AN_OBJECT or spoilable is None:
            payload = self._fault_rng.choice(_NOT_OBJECTS)
            return self._frame_of(payload, NOT_AN_OBJECT, "")
        # Invalid JSON: a real envelope cut short, as a torn write would leave it.
        envelope = self._envelope(spoilable.stream, spoilable.data, self._clock_ms)
        whole = _dumps(envelope)
        cut = self._fault_rng.randrange(1, len(whole) - 1)
        return self._frame_of(whole[:cut], INVALID_JSON, spoilable.symbol)

    def _bad(self, reason: str, symbol: str, stream: str, data: dict[str, Any]) -> Frame:
        payload = _dumps(self._envelope(stream, data, self._clock_ms))
        return self._frame_of(payload, reason, symbol)

    def _frame_of(self, payload: bytes, reason: str, symbol: str) -> Frame:
        return Frame(
            payload,
            MALFORMED,
            symbol,
            None,
            malformed=True,
            reason=reason,
            time_ms=self._clock_ms,
        )


def trade_rate_for(
    rate: float,
    symbols: int,
    intervals: Sequence[str] = DEFAULT_INTERVALS,
    faults: FaultConfig | None = None,
) -> float:
    """The ``trade_rate`` at which ``symbols`` symbols produce ``rate`` frames per virtual
    second, so that publishing at ``rate`` msgs/s keeps virtual time in step with real time.

    Returns 0 when even a market without trades emits more than ``rate`` frames per second
    (its periodic depth, kline, mark price and ticker pushes); virtual time then lags.
    """
    faults = FaultConfig() if faults is None else faults
    target = rate * (1.0 - faults.injected_share) / max(1, symbols)
    if expected_frames_per_second(0.0, intervals) >= target:
        return 0.0
    low, high = 0.0, max(1.0, target)
    for _ in range(60):
        middle = (low + high) / 2
        if expected_frames_per_second(middle, intervals) < target:
            low = middle
        else:
            high = middle
    return low
