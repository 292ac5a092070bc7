"""Every family on 30 days of 1m candles gives JSON-ready values (no NaN, no infinity).

How fast is bench/analytics.py's to show (8 symbols x 2 timeframes, goal under 3 s).
"""

from __future__ import annotations

import json
import math

import numpy as np
from petrosa_analytics.indicators import (
    Bars,
    Book,
    correlation,
    deviation,
    regime,
    seasonality,
    spread,
    trend,
    volatility,
    volume,
)

from .test_indicators_reference import MINUTE, T0

BARS = 43_200


def _month(seed: int) -> Bars:
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, BARS)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 5e-4, BARS)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 5e-4, BARS)))
    vol = rng.gamma(2.0, 10.0, BARS)
    return Bars(
        open_time=T0 + np.arange(BARS, dtype=np.int64) * MINUTE,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=vol,
        quote_volume=vol * close,
        taker_buy_base_volume=vol * rng.uniform(0, 1, BARS),
        trades_count=rng.integers(1, 100, BARS).astype(np.float64),
    )


def test_all_families_on_a_month_of_minutes_are_json_ready() -> None:
    bars = _month(1)
    others = {f"S{i}": _month(10 + i) for i in range(7)}
    book = Book(
        bids=tuple((30_000 - 0.5 * i, 0.1 + i % 3) for i in range(1, 1000)),
        asks=tuple((30_000 + 0.5 * i, 0.1 + i % 5) for i in range(1, 1000)),
    )
    vol = volatility(bars, window=BARS, timeframe="1m")
    flow = volume(bars, window=BARS)
    direction = trend(bars, window=BARS)
    results = [
        vol,
        flow,
        direction,
        deviation(bars, window=BARS),
        seasonality(bars),
        correlation(
            {"S": (bars.open_time, bars.close)}
            | {name: (b.open_time, b.close) for name, b in others.items()},
            window=BARS,
            timeframe="1m",
        ),
        spread(book),
        regime(
            annualized_volatility=vol["annualized"],
            volume_spike_ratio=flow["volume_spike_ratio"],
            rate_of_change=direction["rate_of_change"],
        ),
    ]
    for result in results:
        json.dumps(result, allow_nan=False)
    assert math.isfinite(vol["annualized"])
    assert len(results[5]["correlation_matrix"]) == 8
    # Speed is bench/analytics.py's to show, not a timed test's.
