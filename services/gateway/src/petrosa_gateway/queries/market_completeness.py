"""``metadata.data_completeness`` of a market page: the stored share of the requested window.

Pure arithmetic on integer epoch milliseconds (UTC), no I/O. Candles stand on Binance's grid
(:mod:`petrosa_common.time`: fixed lengths from the epoch, Monday weeks, calendar months):

* **start and end given**: the window is ``[start, end)``. expected = candles of the grid
  opening in it; stored = the range's documents (the page's ``pagination.total``).
* **otherwise** (the latest items, or items from ``start`` on): the window runs from the
  page's oldest to its newest candle on the grid, both included. expected = grid opens in
  it; stored = the page's distinct timestamps on the grid (a document off the grid is not a
  candle and does not count). A page with no candle on the grid is 0.0: none of the items
  asked for is stored.
* share = stored / expected, capped at 1.0 (documents off the grid inside a counted range
  could push it over); 1.0 when the window expects no candle (nothing can be missing).
  Not rounded: the nearest float to the exact ratio.

A window reaching into the future expects its future candles too: it is the share of what
was asked for, not of what could exist yet.

Series without a grid (trades, depth, funding, mark prices, tickers) have no expected count
to measure against: their completeness is ``None``, never a made-up 1.0.
"""

from __future__ import annotations

from collections.abc import Iterable

from petrosa_common.time import candle_open_ms, count_opens


def completeness_share(*, stored: int, expected: int) -> float:
    """stored / expected capped to [0, 1]; 1.0 when nothing was expected."""
    if stored < 0 or expected < 0:
        raise ValueError(f"counts must not be negative: stored={stored}, expected={expected}")
    if expected == 0:
        return 1.0
    return min(stored / expected, 1.0)


def expected_candles(start_ms: int, end_ms: int, timeframe: str) -> int:
    """How many ``timeframe`` candles of the grid open in ``[start_ms, end_ms)``."""
    return count_opens(start_ms, end_ms, timeframe)


def range_completeness(*, start_ms: int, end_ms: int, timeframe: str, stored: int) -> float:
    """Share of the candles opening in ``[start_ms, end_ms)`` that ``stored`` accounts for."""
    return completeness_share(stored=stored, expected=expected_candles(start_ms, end_ms, timeframe))


def span_completeness(opens_ms: Iterable[int], timeframe: str) -> float:
    """Share of the grid from a page's oldest to its newest candle (both included) that the
    page holds; 0.0 when it holds no candle on the grid."""
    on_grid = {moment for moment in opens_ms if candle_open_ms(moment, timeframe) == moment}
    if not on_grid:
        return 0.0
    expected = count_opens(min(on_grid), max(on_grid), timeframe) + 1
    return completeness_share(stored=len(on_grid), expected=expected)


__all__ = [
    "completeness_share",
    "expected_candles",
    "range_completeness",
    "span_completeness",
]
