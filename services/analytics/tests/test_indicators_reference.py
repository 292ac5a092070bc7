"""Independent reference arithmetic for the indicator tests, and checks of it by hand.

Every function here is a plain Python loop written from the definition in
``docs/analytics.md`` (TA-Lib's seeding rules included), never a call to TA-Lib or to the
kernels under test; the tests at the bottom pin the loops themselves to hand arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from petrosa_analytics.indicators import Bars

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday
MINUTE = 60_000
REL = 1e-9


def approx(value: float) -> object:
    """``pytest.approx`` at the suite's relative tolerance (1e-9)."""
    return pytest.approx(value, rel=REL, abs=1e-300)


def wave(n: int, *, base: float = 100.0, seed: float = 0.0) -> list[float]:
    """Deterministic, irregular closes (no random generator, so the data never changes)."""
    return [
        base * math.exp(0.01 * math.sin(1.3 * i + seed) + 0.006 * math.cos(0.37 * i * i + seed))
        for i in range(n)
    ]


def make_bars(
    closes: Sequence[float],
    *,
    times: Sequence[int] | None = None,
    step: int = MINUTE,
    start: int = T0,
    volumes: Sequence[float] | None = None,
) -> Bars:
    """Consistent candles around ``closes``: open = previous close nudged, high/low beyond the
    body by an irregular margin, volumes irregular, taker buys a varying share of volume."""
    n = len(closes)
    opens = [closes[0] * 0.999] + [closes[i - 1] * (1 + 0.0007 * math.sin(i)) for i in range(1, n)]
    bodies = list(zip(opens, closes, strict=True))
    highs = [max(o, c) * (1 + 0.002 + 0.001 * math.sin(2.1 * i)) for i, (o, c) in enumerate(bodies)]
    lows = [min(o, c) * (1 - 0.0015 - 0.001 * math.cos(1.7 * i)) for i, (o, c) in enumerate(bodies)]
    vols = (
        list(volumes)
        if volumes is not None
        else [10 + 5 * math.sin(0.9 * i) + i % 4 for i in range(n)]
    )
    taker = [v * (0.5 + 0.4 * math.sin(1.1 * i)) for i, v in enumerate(vols)]
    stamps = list(times) if times is not None else [start + i * step for i in range(n)]
    return Bars(
        open_time=np.array(stamps, dtype=np.int64),
        open=np.array(opens),
        high=np.array(highs),
        low=np.array(lows),
        close=np.array(closes, dtype=np.float64),
        volume=np.array(vols),
        quote_volume=np.array(
            [v * (hi + lo) / 2 for v, hi, lo in zip(vols, highs, lows, strict=True)]
        ),
        taker_buy_base_volume=np.array(taker),
        trades_count=np.array([float(3 + i % 5) for i in range(n)]),
    )


def flat_bars(n: int, price: float = 100.1) -> Bars:
    """``n`` bars at one price, with volume."""
    closes = [price] * n
    bars = make_bars(closes)
    same = np.full(n, price)
    return Bars(
        open_time=bars.open_time,
        open=same,
        high=same,
        low=same,
        close=same,
        volume=bars.volume,
        quote_volume=bars.volume * price,
        taker_buy_base_volume=bars.taker_buy_base_volume,
        trades_count=bars.trades_count,
    )


# --- statistics ------------------------------------------------------------------------------


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def sample_variance(xs: Sequence[float]) -> float:
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def population_variance(xs: Sequence[float]) -> float:
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = mean(xs), mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


# --- classic indicators (TA-Lib's definitions, as loops) --------------------------------------


def sma(xs: Sequence[float], period: int) -> float:
    return sum(xs[-period:]) / period


def ema(xs: Sequence[float], period: int) -> float:
    """Seeded with the SMA of the first ``period`` values, then alpha = 2 / (period + 1)."""
    value = sum(xs[:period]) / period
    alpha = 2 / (period + 1)
    for x in xs[period:]:
        value = alpha * x + (1 - alpha) * value
    return value


def wma(xs: Sequence[float], period: int) -> float:
    window = xs[-period:]
    return sum((i + 1) * x for i, x in enumerate(window)) / (period * (period + 1) / 2)


def roc(xs: Sequence[float], period: int) -> float:
    return (xs[-1] / xs[-1 - period] - 1) * 100


def linreg_slope(ys: Sequence[float]) -> float:
    xs = list(range(len(ys)))
    mx, my = mean(xs), mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def true_range(h: Sequence[float], low: Sequence[float], c: Sequence[float], i: int) -> float:
    return max(h[i] - low[i], abs(h[i] - c[i - 1]), abs(low[i] - c[i - 1]))


def wilder_atr(h: Sequence[float], low: Sequence[float], c: Sequence[float], p: int) -> float:
    """First ATR = mean of the first ``p`` true ranges (bars 1..p), then (prev*(p-1)+TR)/p."""
    value = sum(true_range(h, low, c, i) for i in range(1, p + 1)) / p
    for i in range(p + 1, len(c)):
        value = (value * (p - 1) + true_range(h, low, c, i)) / p
    return value


def wilder_rsi(c: Sequence[float], p: int) -> float:
    """Average gain/loss = means of the first ``p`` changes, then Wilder smoothing."""
    gain = sum(max(c[i] - c[i - 1], 0.0) for i in range(1, p + 1)) / p
    loss = sum(max(c[i - 1] - c[i], 0.0) for i in range(1, p + 1)) / p
    for i in range(p + 1, len(c)):
        gain = (gain * (p - 1) + max(c[i] - c[i - 1], 0.0)) / p
        loss = (loss * (p - 1) + max(c[i - 1] - c[i], 0.0)) / p
    return 100 * gain / (gain + loss)


def _directional_move(h: Sequence[float], low: Sequence[float], i: int) -> tuple[float, float]:
    up, down = h[i] - h[i - 1], low[i - 1] - low[i]
    return (up if up > 0 and up > down else 0.0), (down if down > 0 and down > up else 0.0)


def wilder_dmi(
    h: Sequence[float], low: Sequence[float], c: Sequence[float], p: int
) -> tuple[float, float, float]:
    """+DI, -DI and ADX at the last bar, TA-Lib's way: the smoothed +DM, -DM and TR start as
    sums over bars 1..p-1, then ``s = s - s/p + x`` from bar p on (the first DI at bar p);
    ADX = mean of the first ``p`` DX, then ``(adx*(p-1) + dx)/p``."""
    plus = minus = tr = 0.0
    for i in range(1, p):
        up, down = _directional_move(h, low, i)
        plus, minus, tr = plus + up, minus + down, tr + true_range(h, low, c, i)
    dxs: list[float] = []
    adx = math.nan
    plus_di = minus_di = math.nan
    for i in range(p, len(c)):
        up, down = _directional_move(h, low, i)
        plus = plus - plus / p + up
        minus = minus - minus / p + down
        tr = tr - tr / p + true_range(h, low, c, i)
        plus_di, minus_di = 100 * plus / tr, 100 * minus / tr
        dx = 100 * abs(plus_di - minus_di) / (plus_di + minus_di)
        dxs.append(dx)
        if len(dxs) == p:
            adx = sum(dxs) / p
        elif len(dxs) > p:
            adx = (adx * (p - 1) + dx) / p
    return plus_di, minus_di, adx


def bollinger(xs: Sequence[float], period: int, k: float) -> tuple[float, float, float]:
    window = xs[-period:]
    middle = mean(window)
    std = math.sqrt(population_variance(window))
    return middle + k * std, middle, middle - k * std


# --- the references checked by hand ----------------------------------------------------------


def test_ema_is_seeded_with_the_sma_then_smoothed() -> None:
    # period 3: seed (1+2+3)/3 = 2; alpha 0.5: 0.5*4 + 0.5*2 = 3; 0.5*10 + 0.5*3 = 6.5
    assert ema([1, 2, 3, 4, 10], 3) == 6.5


def test_wma_and_slope_by_hand() -> None:
    assert wma([5, 1, 2, 3], 3) == (1 * 1 + 2 * 2 + 3 * 3) / 6
    assert linreg_slope([1, 3, 5, 7]) == 2.0


def test_wilder_rsi_by_hand() -> None:
    # p = 2: changes +2, -1 -> gain 1, loss 0.5; next change +3 -> gain 2, loss 0.25
    assert wilder_rsi([10, 12, 11, 14], 2) == 100 * 2 / 2.25


def test_wilder_atr_by_hand() -> None:
    h, low, c = [11, 12, 13, 15], [9, 10, 11, 12], [10, 11, 12, 14]
    # TR1 = max(2, 2, 0) = 2; TR2 = 2; first ATR(2) = 2; TR3 = max(3, 3, 0) = 3 -> (2 + 3) / 2
    assert wilder_atr(h, low, c, 2) == 2.5


def test_bollinger_uses_the_population_deviation() -> None:
    upper, middle, lower = bollinger([1, 2, 3, 4], 4, 2.0)
    assert middle == 2.5
    assert upper - middle == pytest.approx(2 * math.sqrt(1.25), rel=1e-15)
    assert lower == 2 * middle - upper


def test_wave_data_is_valid_candles() -> None:
    bars = make_bars(wave(40))
    assert len(bars) == 40
    assert bool(np.all(bars.low < bars.high))
