"""Analytics results as the analytics service stores them and the gateway serves them.

One home for the facts both sides need: the metric families, the result key, the two
collections, the window syntax, and the result document's shape.

* ``analytics_latest``: the newest result per (metric, symbol, timeframe, window); its ``_id`` is
  :func:`result_id`, so serving a result is one ``_id`` read.
* ``analytics_history``: every result ever written (until retention removes it), ``_id``
  ``"{result_id}@{computed_at_ms}"``.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from petrosa_common.naming import is_symbol
from petrosa_common.timeframes import timeframe_seconds


class MetricFamily(StrEnum):
    """The families of the spec (``/analysis/<family>``)."""

    VOLATILITY = "volatility"
    VOLUME = "volume"
    TREND = "trend"
    DEVIATION = "deviation"
    SPREAD = "spread"
    SEASONALITY = "seasonality"
    CORRELATION = "correlation"
    REGIME = "regime"


ANALYTICS_LATEST_COLLECTION = "analytics_latest"
ANALYTICS_HISTORY_COLLECTION = "analytics_history"

_WINDOW = re.compile(r"(?P<count>[1-9]\d{0,6})(?P<unit>[mhdw]?)")
_UNIT_SECONDS = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
MAX_WINDOW_BARS = 100_000
"""Longest window served (about 70 days of 1m bars)."""


class WindowError(ValueError):
    """A window that is neither a bar count nor a duration, or is out of range."""


def window_bars(window: str, timeframe: str) -> int:
    """Bars in ``window`` for candles of ``timeframe``: ``"20"`` is 20 bars, ``"30d"`` is 30
    days of bars (rounded down, at least 2)."""
    match = _WINDOW.fullmatch(window.strip())
    if match is None:
        raise WindowError(f"window {window!r} is neither a bar count (20) nor a duration (30d)")
    count, unit = int(match["count"]), match["unit"]
    bars = count if not unit else count * _UNIT_SECONDS[unit] // timeframe_seconds(timeframe)
    if not 2 <= bars <= MAX_WINDOW_BARS:
        raise WindowError(
            f"window {window!r} is {bars} bars of {timeframe}; it must be 2 to {MAX_WINDOW_BARS}"
        )
    return bars


def result_id(metric: MetricFamily, symbol: str, timeframe: str | None, window: int) -> str:
    """Key of a result: ``"{metric}:{symbol}:{timeframe}:{window}"`` (``-`` for no timeframe,
    window 0 for results of no window such as spread; correlation's symbol is the sorted
    pairs joined by ``,``)."""
    return f"{metric}:{symbol}:{timeframe or '-'}:{window}"


class InputRange(BaseModel):
    """The candles a result was computed from."""

    model_config = ConfigDict(frozen=True)

    first_open: datetime | None
    last_open: datetime | None
    bars: int = Field(ge=0)


class AnalyticsResult(BaseModel):
    """One stored result (the document of ``analytics_latest`` without its ``_id``)."""

    model_config = ConfigDict(frozen=True)

    metric: MetricFamily
    symbol: str
    timeframe: str | None
    window: int = Field(ge=0, description="bars (0: no window, e.g. spread)")
    values: dict[str, Any]
    computed_at: datetime
    input_range: InputRange
    data_completeness: float = Field(ge=0, le=1, description="stored share of the window's bars")
    source: str = Field(description="collection the inputs came from")
    term: int = Field(ge=0, description="fencing term of the leader that wrote it (0: on demand)")

    @property
    def key(self) -> str:
        """This result's :func:`result_id`."""
        return result_id(self.metric, self.symbol, self.timeframe, self.window)


class ComputeRequest(BaseModel):
    """Body of ``data_manager.analytics.compute``: a result computed on demand.

    ``pair`` for every family but correlation, which takes ``pairs`` (two or more). The reply
    is ``{"result": <AnalyticsResult>}`` or ``{"error": <code>, "detail": ...}`` with code
    ``invalid_request`` (bad parameters), ``insufficient_data`` (too few stored bars) or
    ``unavailable`` (the database cannot be read now).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: MetricFamily
    period: str | None = Field(None, description="timeframe; none for spread")
    window: str | None = Field(None, description="bars (20) or a duration (30d)")
    pair: str | None = None
    pairs: list[str] | None = None

    def symbols(self) -> list[str]:
        """The symbols requested, upper-cased and checked."""
        names = self.pairs if self.metric is MetricFamily.CORRELATION else [self.pair or ""]
        upper = [name.strip().upper() for name in names or []]
        if self.metric is MetricFamily.CORRELATION and len(set(upper)) < 2:
            raise ValueError("correlation needs at least two distinct pairs")
        bad = [name for name in upper if not is_symbol(name)]
        if bad or not upper:
            raise ValueError(f"not Binance symbols: {', '.join(bad) or '(none)'}")
        return upper
