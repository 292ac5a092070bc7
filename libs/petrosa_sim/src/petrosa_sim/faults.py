"""What can go wrong on the wire, and how often the simulator makes it go wrong."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

# Reasons attached to malformed frames (``Frame.reason``).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
NO_SYMBOL = "no_symbol"
BAD_NUMBER = "bad_number"
KLINE_WITHOUT_K = "kline_without_k"
MALFORMED_REASONS: tuple[str, ...] = (
    INVALID_JSON,
    NOT_AN_OBJECT,
    NO_SYMBOL,
    BAD_NUMBER,
    KLINE_WITHOUT_K,
)


class GapWindow(NamedTuple):
    """Candles of ``symbol`` (and ``interval``, or every interval when ``None``) whose open
    time lies in ``[start_ms, end_ms)`` are never published: no open update, no close."""

    symbol: str
    interval: str | None
    start_ms: int
    end_ms: int

    def covers(self, symbol: str, interval: str, open_ms: int) -> bool:
        """Whether the candle ``(symbol, interval, open_ms)`` falls in this window."""
        return (
            self.symbol == symbol
            and (self.interval is None or self.interval == interval)
            and self.start_ms <= open_ms < self.end_ms
        )


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Shares of imperfect frames in the stream (all rates are probabilities in ``[0, 1]``).

    - ``gap_rate``: chance that a candle (per symbol and interval) is never published.
    - ``duplicate_rate``: share of output frames that re-publish an earlier valid frame
      (same data, new ``message_id``; byte-identical for bare frames).
    - ``malformed_rate``: share of output frames that can never be stored (see
      :data:`MALFORMED_REASONS`).
    - ``bare_rate``: share of valid frames sent as the bare Binance event, without envelope.
    - ``partial_book_rate``: share of depth frames sent as a partial book snapshot
      (``lastUpdateId``/``bids``/``asks``, no ``e`` and no ``s``).
    - ``trace_rate``: share of envelopes carrying ``_otel_trace_context`` or
      ``_otel_trace_headers``.
    - ``missing_interval_rate``: share of kline envelopes whose stream is ``<sym>@kline``.
    - ``gaps``: explicit windows of suppressed candles.
    """

    gap_rate: float = 0.0
    duplicate_rate: float = 0.0
    malformed_rate: float = 0.0
    bare_rate: float = 0.0
    partial_book_rate: float = 0.05
    trace_rate: float = 0.1
    missing_interval_rate: float = 0.02
    gaps: tuple[GapWindow, ...] = ()

    def __post_init__(self) -> None:
        for field in fields(self):
            if field.name == "gaps":
                continue
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be within [0, 1], got {value!r}")
        if self.duplicate_rate + self.malformed_rate >= 1.0:
            raise ValueError("duplicate_rate + malformed_rate must stay below 1")
        object.__setattr__(self, "gaps", tuple(GapWindow(*gap) for gap in self.gaps))

    @property
    def injected_share(self) -> float:
        """Share of output frames that are duplicates or malformed (not fresh market data)."""
        return self.duplicate_rate + self.malformed_rate


NO_FAULTS = FaultConfig(partial_book_rate=0.0, trace_rate=0.0, missing_interval_rate=0.0)
"""A perfectly clean stream: every frame enveloped, valid, unique, with a full stream name."""
