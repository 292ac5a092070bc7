"""From frames of closed candles (and the latest book) to :class:`AnalyticsResult` values.

Pure: no I/O. Each family of each series is computed on its own: one that fails (too few
bars, refused data) is reported in :attr:`Computed.failures` and the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from petrosa_common.analytics import AnalyticsResult, InputRange, MetricFamily
from petrosa_common.naming import DatasetKind, collection_name
from petrosa_common.time import count_opens, from_epoch_ms

from petrosa_analytics import indicators
from petrosa_analytics.indicators import Bars, Book, RegimeThresholds

CANDLE_KERNELS = (
    MetricFamily.VOLATILITY,
    MetricFamily.VOLUME,
    MetricFamily.TREND,
    MetricFamily.DEVIATION,
    MetricFamily.SEASONALITY,
)
"""Families computed per series from its own candles (correlation spans series)."""


@dataclass(frozen=True, slots=True)
class Parameters:
    """Kernel parameters that are settings, not windows."""

    di_period: int = 14
    crossover_fast: int = 20
    crossover_slow: int = 50
    slippage_notionals: tuple[float, ...] = (1_000.0, 10_000.0, 100_000.0)
    warmup: int = 550
    """Bars before a window given to recursive indicators (warm-up plus the slow average)."""
    thresholds: RegimeThresholds = field(default_factory=RegimeThresholds)


@dataclass(frozen=True, slots=True)
class Failure:
    """A result that could not be computed: ``kind`` is a metric label (the exception's class),
    ``detail`` the message."""

    metric: MetricFamily
    series: str
    kind: str
    detail: str


@dataclass(slots=True)
class Computed:
    """Results of one computation, and what could not be computed."""

    results: list[AnalyticsResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def extend(self, other: Computed) -> None:
        """Add ``other``'s results and failures."""
        self.results.extend(other.results)
        self.failures.extend(other.failures)

    def fail(self, metric: MetricFamily, series: str, error: Exception) -> None:
        """Record that ``metric`` of ``series`` failed with ``error``."""
        self.failures.append(Failure(metric, series, type(error).__name__, str(error)[:300]))


def completeness(open_time: NDArray[np.int64], timeframe: str) -> float:
    """Stored share of the bars between the first and last open time (1.0 without holes)."""
    if len(open_time) < 2:
        return 1.0 if len(open_time) else 0.0
    expected = count_opens(int(open_time[0]), int(open_time[-1]), timeframe) + 1
    return float(min(1.0, len(open_time) / expected))


def input_range(open_time: NDArray[np.int64]) -> InputRange:
    """The first and last open time (epoch ms in) and the bar count of ``open_time``."""
    if not len(open_time):
        return InputRange(first_open=None, last_open=None, bars=0)
    return InputRange(
        first_open=from_epoch_ms(int(open_time[0])),
        last_open=from_epoch_ms(int(open_time[-1])),
        bars=len(open_time),
    )


def candle_family(
    family: MetricFamily,
    bars: Bars,
    *,
    symbol: str,
    timeframe: str,
    window: int,
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """One family of one series over its last ``window`` bars; the ``parameters.warmup`` bars
    before them let recursive indicators converge. Raises the kernel's error when it cannot."""
    recent = bars.tail(window + parameters.warmup)
    values: dict[str, Any]
    if family is MetricFamily.VOLATILITY:
        values = indicators.volatility(recent, window=window, timeframe=timeframe)
    elif family is MetricFamily.VOLUME:
        values = indicators.volume(recent, window=window)
    elif family is MetricFamily.TREND:
        values = indicators.trend(
            recent,
            window=window,
            fast=parameters.crossover_fast,
            slow=parameters.crossover_slow,
            di_period=parameters.di_period,
        )
    elif family is MetricFamily.DEVIATION:
        values = indicators.deviation(recent, window=window, timeframe=timeframe)
    elif family is MetricFamily.SEASONALITY:
        values = indicators.seasonality(bars.window(window), timeframe=timeframe)
    else:
        raise ValueError(f"{family} is not computed from one series' candles")
    used = bars.open_time[-window:]
    return AnalyticsResult(
        metric=family,
        symbol=symbol,
        timeframe=timeframe,
        window=window,
        values=values,
        computed_at=computed_at,
        input_range=input_range(used),
        data_completeness=completeness(used, timeframe),
        source=collection_name(DatasetKind.CANDLES, symbol, timeframe),
        term=term,
    )


def series_results(
    frame: pl.DataFrame,
    *,
    symbol: str,
    timeframe: str,
    windows: Mapping[MetricFamily, int],
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> Computed:
    """Every candle family of one series (at ``windows``), and its regime."""
    computed = Computed()
    series = f"{symbol}/{timeframe}"
    try:
        bars = Bars.from_frame(frame)
    except ValueError as exc:  # BadData: nothing of this series is computed
        for family in CANDLE_KERNELS:
            computed.fail(family, series, exc)
        return computed
    for family in CANDLE_KERNELS:
        try:
            computed.results.append(
                candle_family(
                    family,
                    bars,
                    symbol=symbol,
                    timeframe=timeframe,
                    window=windows[family],
                    parameters=parameters,
                    computed_at=computed_at,
                    term=term,
                )
            )
        except ValueError as exc:  # InsufficientData, BadData
            computed.fail(family, series, exc)
    regime = regime_result(computed.results, parameters)
    if regime is not None:
        computed.results.append(regime)
    return computed


def timeframe_results(
    frames: Mapping[str, pl.DataFrame],
    *,
    timeframe: str,
    windows: Mapping[MetricFamily, int],
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> Computed:
    """Every series of ``timeframe`` (``frames`` by symbol), then their correlation."""
    computed = Computed()
    for symbol, frame in frames.items():
        computed.extend(
            series_results(
                frame,
                symbol=symbol,
                timeframe=timeframe,
                windows=windows,
                parameters=parameters,
                computed_at=computed_at,
                term=term,
            )
        )
    usable = {symbol: frame for symbol, frame in frames.items() if frame.height >= 3}
    if len(usable) >= 2:
        try:
            computed.results.append(
                correlation_result(
                    usable,
                    timeframe=timeframe,
                    window=windows[MetricFamily.CORRELATION],
                    computed_at=computed_at,
                    term=term,
                )
            )
        except ValueError as exc:
            computed.fail(MetricFamily.CORRELATION, timeframe, exc)
    return computed


def regime_result(
    results: Sequence[AnalyticsResult], parameters: Parameters
) -> AnalyticsResult | None:
    """The regime of a series from its volatility, volume and trend results (``None`` when
    one of them is missing or lacks its input value)."""
    by_family = {result.metric: result for result in results}
    volatility = by_family.get(MetricFamily.VOLATILITY)
    volume = by_family.get(MetricFamily.VOLUME)
    trend = by_family.get(MetricFamily.TREND)
    if volatility is None or volume is None or trend is None:
        return None
    annualized = volatility.values.get("annualized")
    spike = volume.values.get("volume_spike_ratio")
    roc = trend.values.get("rate_of_change")
    if annualized is None or spike is None or roc is None:
        return None
    values = indicators.regime(
        annualized_volatility=annualized,
        volume_spike_ratio=spike,
        rate_of_change=roc,
        thresholds=parameters.thresholds,
    )
    return volatility.model_copy(
        update={"metric": MetricFamily.REGIME, "values": values, "window": volatility.window}
    )


def correlation_result(
    frames: Mapping[str, pl.DataFrame],
    *,
    timeframe: str,
    window: int,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """Correlation of the log returns of ``frames``' symbols on their common open times."""
    closes = {
        symbol: (
            frame["open_time"].tail(window).dt.epoch("ms").to_numpy(),
            frame["close"].tail(window).to_numpy(),
        )
        for symbol, frame in frames.items()
    }
    values = indicators.correlation(closes, window=window, timeframe=timeframe)
    common = _common_open_times(closes, window)
    symbols = sorted(frames)
    return AnalyticsResult(
        metric=MetricFamily.CORRELATION,
        symbol=",".join(symbols),
        timeframe=timeframe,
        window=window,
        values=values,
        computed_at=computed_at,
        input_range=input_range(common),
        data_completeness=completeness(common, timeframe),
        source=",".join(collection_name(DatasetKind.CANDLES, s, timeframe) for s in symbols),
        term=term,
    )


def _common_open_times(
    closes: Mapping[str, tuple[NDArray[np.int64], Any]], window: int
) -> NDArray[np.int64]:
    common: NDArray[np.int64] | None = None
    for open_time, _ in closes.values():
        # Each series' open times are sorted and unique (Bars refuses anything else).
        common = open_time if common is None else np.intersect1d(common, open_time, True)
    return np.empty(0, np.int64) if common is None else common[-window:]


def spread_result(
    symbol: str,
    book_document: Mapping[str, Any],
    *,
    parameters: Parameters,
    computed_at: datetime,
    term: int,
) -> AnalyticsResult:
    """Spread and liquidity of ``symbol`` from its latest stored book snapshot."""
    values = indicators.spread(
        Book.from_document(book_document), notionals=parameters.slippage_notionals
    )
    at = book_document.get("timestamp")
    stamp = np.array([int(at.timestamp() * 1000)] if isinstance(at, datetime) else [], np.int64)
    return AnalyticsResult(
        metric=MetricFamily.SPREAD,
        symbol=symbol,
        timeframe=None,
        window=0,
        values=values,
        computed_at=computed_at,
        input_range=input_range(stamp),
        data_completeness=1.0,
        source=collection_name(DatasetKind.DEPTH, symbol),
        term=term,
    )


def finite(values: Any) -> Any:
    """``values`` with every non-finite float replaced by ``None`` (JSON and BSON safe)."""
    if isinstance(values, dict):
        return {key: finite(value) for key, value in values.items()}
    if isinstance(values, list | tuple):
        return [finite(value) for value in values]
    if isinstance(values, float | np.floating):
        return float(values) if np.isfinite(values) else None
    if isinstance(values, np.integer):
        return int(values)
    return values
