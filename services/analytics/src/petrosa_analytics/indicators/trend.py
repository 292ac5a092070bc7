"""Trend of one series: moving averages, momentum, regression, Wilder's directional system.

Window ``N`` = the last ``N`` bars. Indicators that exist in TA-Lib are TA-Lib's:

* sma, wma: TA-Lib SMA / WMA of the close over the ``N`` bars.
* ema: TA-Lib EMA of period ``N`` over the whole series passed (seeded with the SMA of the
  first ``N`` closes), last value.
* rate_of_change: TA-Lib ROC of period ``N - 1``: percent change from the window's first close
  to its last.
* regression_slope: TA-Lib LINEARREG_SLOPE over the ``N`` bars, price units per bar;
  r_squared: R^2 of that least-squares line (squared Pearson correlation of close and bar
  index); ``None`` for a flat window.
* adx, plus_di, minus_di (period ``di_period``) and rsi (``rsi_period``): TA-Lib's Wilder
  versions over the whole series passed, last value; rsi is ``None`` when every close passed
  is equal (no gain and no loss: TA-Lib would say 0).
* directional_strength: percent of the window's candles that closed up (close > open) among
  those that moved (close != open); ``None`` when none moved. 50 is balanced.
* crossover_signal / crossover_time / crossover_bars_ago: the most recent bar of the window
  at which the fast SMA (TA-Lib, ``fast``) crossed the slow SMA (``slow``): the first bar on
  the new side, compared with the last bar strictly on the other side (a bar where both are
  equal keeps the previous side). "bullish" when fast moved above slow, "bearish" below;
  ``None`` (and ``None`` time and age) when no cross happened within the window.
  fast_sma / slow_sma are their values at the last bar.

Bars are used in the order given: a missing candle is simply absent, so the window reaches
one bar further back (only return-based metrics drop anything across gaps).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import talib
from numpy.typing import NDArray

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.values import iso_utc, number

Crossover = Literal["bullish", "bearish"]


def r_squared(close: NDArray[np.float64]) -> float | None:
    """R^2 of the least-squares line of ``close`` on its index; ``None`` when flat."""
    if np.ptp(close) == 0:
        return None
    index = np.arange(close.shape[0], dtype=np.float64)
    dx = index - index.mean()
    dy = close - close.mean()
    return float(np.dot(dx, dy) ** 2 / (np.dot(dx, dx) * np.dot(dy, dy)))


def directional_strength(open_: NDArray[np.float64], close: NDArray[np.float64]) -> float | None:
    """100 * up candles / (up + down candles); ``None`` when no candle moved."""
    up = int(np.count_nonzero(close > open_))
    down = int(np.count_nonzero(close < open_))
    return 100.0 * up / (up + down) if up + down else None


def last_crossover(
    fast: NDArray[np.float64], slow: NDArray[np.float64], *, since: int
) -> tuple[int, Crossover] | None:
    """Index (>= ``since``) and direction of the last bar where ``fast - slow`` changed
    strict side; equal or undefined (NaN) bars carry the previous side."""
    side = np.nan_to_num(np.sign(fast - slow), nan=0.0)
    index = np.arange(side.shape[0])
    last_sided = np.maximum.accumulate(np.where(side != 0, index, -1))
    carried = np.where(last_sided >= 0, side[np.maximum(last_sided, 0)], 0.0)
    flips = np.flatnonzero((carried[1:] * carried[:-1] < 0) & (side[1:] != 0)) + 1
    flips = flips[flips >= since]
    if flips.shape[0] == 0:
        return None
    at = int(flips[-1])
    return at, "bullish" if side[at] > 0 else "bearish"


def trend(
    bars: Bars,
    *,
    window: int,
    fast: int = 20,
    slow: int = 50,
    di_period: int = 14,
    rsi_period: int = 14,
) -> dict[str, Any]:
    """Trend metrics of the last ``window`` bars (module docstring).

    Keys: sma, ema, wma, rate_of_change, regression_slope, r_squared, adx, plus_di, minus_di,
    rsi, directional_strength, fast_sma, slow_sma, crossover_signal, crossover_time,
    crossover_bars_ago. Raises InsufficientData for fewer than ``window`` bars.
    """
    if not 2 <= fast < slow:
        raise ValueError(f"need 2 <= fast < slow, got fast={fast}, slow={slow}")
    if di_period < 2 or rsi_period < 2:
        raise ValueError(f"periods are at least 2, got di={di_period}, rsi={rsi_period}")
    w = bars.window(window)
    close = w.close
    flat = bool(np.ptp(close) == 0)
    # Enough bars for the slow SMA at the bar before the window (a cross at its first bar).
    recent = bars.close[-(window + slow) :]
    fast_sma = talib.SMA(recent, timeperiod=fast)
    slow_sma = talib.SMA(recent, timeperiod=slow)
    crossed = last_crossover(fast_sma, slow_sma, since=recent.shape[0] - window)
    high, low, all_close = bars.high, bars.low, bars.close
    values: dict[str, Any] = {
        "sma": number(talib.SMA(close, timeperiod=window)[-1]),
        "ema": number(talib.EMA(all_close, timeperiod=window)[-1]),
        "wma": number(talib.WMA(close, timeperiod=window)[-1]),
        "rate_of_change": number(talib.ROC(close, timeperiod=window - 1)[-1]),
        # TA-Lib leaves float noise (1e-15) on a flat line; its slope is 0.
        "regression_slope": 0.0
        if flat
        else number(talib.LINEARREG_SLOPE(close, timeperiod=window)[-1]),
        "r_squared": r_squared(close),
        "adx": number(talib.ADX(high, low, all_close, timeperiod=di_period)[-1]),
        "plus_di": number(talib.PLUS_DI(high, low, all_close, timeperiod=di_period)[-1]),
        "minus_di": number(talib.MINUS_DI(high, low, all_close, timeperiod=di_period)[-1]),
        "rsi": None
        if np.ptp(all_close) == 0
        else number(talib.RSI(all_close, timeperiod=rsi_period)[-1]),
        "directional_strength": directional_strength(w.open, close),
        "fast_sma": number(fast_sma[-1]),
        "slow_sma": number(slow_sma[-1]),
        "crossover_signal": None,
        "crossover_time": None,
        "crossover_bars_ago": None,
    }
    if crossed is not None:
        at, direction = crossed
        offset = len(bars) - recent.shape[0]
        values["crossover_signal"] = direction
        values["crossover_time"] = iso_utc(int(bars.open_time[offset + at]))
        values["crossover_bars_ago"] = recent.shape[0] - 1 - at
    return values


__all__ = ["Crossover", "directional_strength", "last_crossover", "r_squared", "trend"]
