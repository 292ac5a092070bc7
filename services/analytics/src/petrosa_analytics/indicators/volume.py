"""Traded volume of one series over a window (base-asset units unless stated).

Window ``N`` = the last ``N`` bars; sums and ratios are over those bars.

* total_volume = sum of volume; total_quote_volume = sum of quote volume.
* volume_sma = TA-Lib SMA of volume over ``N`` bars (their mean).
* volume_ema = TA-Lib EMA of period ``N`` over the whole series passed (seeded with the SMA of
  its first ``N`` values, ``alpha = 2 / (N + 1)``), value at the last bar.
* volume_delta = sum(taker buy - taker sell) = sum(2 * taker_buy_base_volume - volume).
* buy_ratio = sum(taker buy) / sum(volume), in [0, 1]; ``None`` when no volume traded.
* volume_spike_ratio = last bar's volume / median volume of the window; ``None`` if the
  median is 0.
* vwap = sum(quote volume) / sum(volume): the exchange's exact traded notional per unit, not a
  typical-price proxy; ``None`` when no volume traded (or no quote volume was recorded).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import talib

from petrosa_analytics.indicators.bars import Bars
from petrosa_analytics.indicators.values import number


def volume(bars: Bars, *, window: int) -> dict[str, Any]:
    """Volume metrics of the last ``window`` bars (module docstring).

    Keys: total_volume, total_quote_volume, volume_sma, volume_ema, volume_delta, buy_ratio,
    volume_spike_ratio, vwap. Raises InsufficientData for fewer than ``window`` bars.
    """
    w = bars.window(window)
    total = float(np.sum(w.volume))
    quote = float(np.sum(w.quote_volume))
    taker_buy = float(np.sum(w.taker_buy_base_volume))
    median = float(np.median(w.volume))
    return {
        "total_volume": total,
        "total_quote_volume": quote,
        "volume_sma": number(talib.SMA(w.volume, timeperiod=window)[-1]),
        "volume_ema": number(talib.EMA(bars.volume, timeperiod=window)[-1]),
        "volume_delta": float(np.sum(2.0 * w.taker_buy_base_volume - w.volume)),
        "buy_ratio": taker_buy / total if total > 0 else None,
        "volume_spike_ratio": float(w.volume[-1]) / median if median > 0 else None,
        "vwap": quote / total if total > 0 and quote > 0 else None,
    }


__all__ = ["volume"]
