"""Volatility kernel against loops written from the definitions (tolerance 1e-9)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from petrosa_analytics.indicators import Bars, InsufficientData, volatility

from .test_indicators_reference import (
    MINUTE,
    T0,
    approx,
    flat_bars,
    make_bars,
    mean,
    sample_variance,
    wave,
    wilder_atr,
)

WINDOW = 20


def _lists(bars: Bars) -> tuple[list[float], list[float], list[float], list[float]]:
    return bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist()


def _returns(bars: Bars, step: int = MINUTE) -> list[tuple[int, float]]:
    """(bar index, return) for each bar whose previous bar is adjacent."""
    t, c = bars.open_time.tolist(), bars.close.tolist()
    return [(i, math.log(c[i] / c[i - 1])) for i in range(1, len(c)) if t[i] - t[i - 1] == step]


def _reference(bars: Bars, decay: float = 0.94) -> dict[str, float]:
    o, h, low, c = _lists(bars)
    n = len(c)
    four_ln2 = 4 * math.log(2)
    returns = [r for _, r in _returns(bars)]
    park = sum(math.log(h[i] / low[i]) ** 2 for i in range(n)) / n / four_ln2
    gk = (
        sum(
            0.5 * math.log(h[i] / low[i]) ** 2 - (2 * math.log(2) - 1) * math.log(c[i] / o[i]) ** 2
            for i in range(n)
        )
        / n
    )

    def rs(i: int) -> float:
        return math.log(h[i] / c[i]) * math.log(h[i] / o[i]) + math.log(low[i] / c[i]) * math.log(
            low[i] / o[i]
        )

    linked = [i for i, _ in _returns(bars)]
    m = len(linked)
    overnight = [math.log(o[i] / c[i - 1]) for i in linked]
    open_close = [math.log(c[i] / o[i]) for i in linked]
    k = 0.34 / (1.34 + (m + 1) / (m - 1))
    yz = (
        sample_variance(overnight)
        + k * sample_variance(open_close)
        + (1 - k) * mean([rs(i) for i in linked])
    )
    s = mean([r * r for r in returns])
    for r in returns:
        s = decay * s + (1 - decay) * r * r
    per_bar = [math.log(h[i] / low[i]) / math.sqrt(four_ln2) for i in range(n)]
    return {
        "rolling_stddev": math.sqrt(sample_variance(returns)),
        "parkinson": math.sqrt(park),
        "garman_klass": math.sqrt(gk),
        "rogers_satchell": math.sqrt(mean([rs(i) for i in range(n)])),
        "yang_zhang": math.sqrt(yz),
        "ewma": math.sqrt(s),
        "vov": math.sqrt(sample_variance(per_bar)),
    }


def test_every_estimator_matches_its_definition() -> None:
    bars = make_bars(wave(60))
    result = volatility(bars, window=WINDOW, timeframe="1m")
    expected = _reference(bars.tail(WINDOW))
    for name, value in expected.items():
        assert result[name] == approx(value), name
    root = math.sqrt(525_600)
    assert result["bars_per_year"] == 525_600.0
    assert result["annualized"] == approx(expected["rolling_stddev"] * root)
    for name in ("parkinson", "garman_klass", "rogers_satchell", "yang_zhang", "ewma"):
        assert result[f"annualized_{name}"] == approx(expected[name] * root), name
    assert result["returns_used"] == WINDOW - 1


def test_atr_runs_over_the_whole_series_with_wilder_smoothing() -> None:
    bars = make_bars(wave(60))
    result = volatility(bars, window=WINDOW, timeframe="1m", atr_period=14)
    _, h, low, c = _lists(bars)
    assert result["atr"] == approx(wilder_atr(h, low, c, 14))


def test_only_the_window_moves_the_window_estimators() -> None:
    closes = wave(60)
    changed = [*closes[:10], closes[10] * 1.2, *closes[11:]]  # bar 10 is outside the last 20
    before = volatility(make_bars(closes), window=WINDOW, timeframe="1m")
    after = volatility(make_bars(changed), window=WINDOW, timeframe="1m")
    assert after["rolling_stddev"] == before["rolling_stddev"]
    assert after["yang_zhang"] == before["yang_zhang"]
    assert after["atr"] != before["atr"]  # recursive: the whole series


def test_bars_per_year_follows_the_timeframe_for_a_market_open_every_day() -> None:
    hourly = make_bars(wave(30), step=3_600_000)
    result = volatility(hourly, window=WINDOW, timeframe="1h")
    assert result["bars_per_year"] == 8_760.0
    assert result["annualized"] == approx(result["rolling_stddev"] * math.sqrt(8_760))
    daily = make_bars(wave(30), step=86_400_000)
    assert volatility(daily, window=WINDOW, timeframe="1d")["bars_per_year"] == 365.0


def test_returns_across_a_missing_candle_are_dropped() -> None:
    closes = wave(40)
    times = [T0 + i * MINUTE for i in range(41) if i != 30]  # candle 30 never stored
    bars = make_bars(closes, times=times)
    result = volatility(bars, window=WINDOW, timeframe="1m")
    window = bars.tail(WINDOW)
    assert result["returns_used"] == WINDOW - 2
    expected = _reference(window)
    for name, value in expected.items():
        assert result[name] == approx(value), name
    # Stretching the return over the gap would give another number.
    stretched = np.diff(np.log(window.close))
    assert result["rolling_stddev"] != pytest.approx(float(np.std(stretched, ddof=1)), rel=1e-6)


def test_a_flat_market_has_zero_volatility() -> None:
    result = volatility(flat_bars(30), window=WINDOW, timeframe="1m")
    for name in (
        "rolling_stddev",
        "annualized",
        "parkinson",
        "garman_klass",
        "rogers_satchell",
        "yang_zhang",
        "ewma",
        "vov",
        "atr",
    ):
        assert result[name] == 0.0, name


def test_return_estimators_need_two_adjacent_returns() -> None:
    times = [T0, T0 + 5 * MINUTE, T0 + 9 * MINUTE]  # no two bars adjacent
    result = volatility(make_bars(wave(3), times=times), window=3, timeframe="1m")
    assert result["returns_used"] == 0
    assert result["rolling_stddev"] is None
    assert result["annualized"] is None
    assert result["yang_zhang"] is None
    assert result["ewma"] is None
    assert result["parkinson"] is not None  # a per-bar range estimator needs no return
    json.dumps(result, allow_nan=False)


def test_too_few_bars_are_insufficient() -> None:
    with pytest.raises(InsufficientData):
        volatility(make_bars(wave(1)), window=2, timeframe="1m")
    with pytest.raises(InsufficientData):
        volatility(make_bars(wave(10)), window=WINDOW, timeframe="1m")
    with pytest.raises(ValueError, match="at least 2"):
        volatility(make_bars(wave(10)), window=1, timeframe="1m")


def test_atr_is_none_before_its_warm_up() -> None:
    result = volatility(make_bars(wave(10)), window=10, timeframe="1m", atr_period=14)
    assert result["atr"] is None
    json.dumps(result, allow_nan=False)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="ewma_lambda"):
        volatility(make_bars(wave(30)), window=WINDOW, timeframe="1m", ewma_lambda=1.0)
    with pytest.raises(ValueError, match="atr_period"):
        volatility(make_bars(wave(30)), window=WINDOW, timeframe="1m", atr_period=0)


def test_parkinson_by_hand_for_a_constant_range() -> None:
    n = 5
    closes = np.full(n, 100.0)
    bars = Bars(
        open_time=np.arange(n, dtype=np.int64) * MINUTE + T0,
        open=closes,
        high=np.full(n, 100.0 * math.exp(0.01)),
        low=np.full(n, 100.0 * math.exp(-0.01)),
        close=closes,
        volume=np.ones(n),
        quote_volume=np.full(n, 100.0),
        taker_buy_base_volume=np.zeros(n),
        trades_count=np.ones(n),
    )
    result = volatility(bars, window=n, timeframe="1m")
    # ln(H/L) = 0.02 on every bar: variance 0.0004 / (4 ln 2); no close-to-close move.
    assert result["parkinson"] == approx(0.02 / math.sqrt(4 * math.log(2)))
    assert result["rolling_stddev"] == 0.0
    assert result["vov"] == approx(0.0)
