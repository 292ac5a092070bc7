"""Settings of petrosa-analytics."""

from __future__ import annotations

from typing import Annotated

from petrosa_common.analytics import MetricFamily, WindowError, window_bars
from petrosa_common.settings import LeaderElectionSettings, split_csv
from petrosa_common.timeframes import is_timeframe
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

# Families computed from candles, with a precomputed window each (the others are on demand).
CANDLE_FAMILIES = (
    MetricFamily.VOLATILITY,
    MetricFamily.VOLUME,
    MetricFamily.TREND,
    MetricFamily.DEVIATION,
    MetricFamily.SEASONALITY,
    MetricFamily.CORRELATION,
)
DEFAULT_WINDOWS = {
    MetricFamily.VOLATILITY: "30",
    MetricFamily.VOLUME: "24",
    MetricFamily.TREND: "20",
    MetricFamily.DEVIATION: "20",
    MetricFamily.SEASONALITY: "30d",
    MetricFamily.CORRELATION: "30d",
}


class AnalyticsSettings(LeaderElectionSettings):
    """What the analytics leader computes, how often, and how long results are kept."""

    analytics_interval: float = Field(900, gt=0, description="Seconds between analytics cycles")
    analytics_timeframes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1m", "15m", "1h", "4h", "1d"],
        description="Candle timeframes analysed, comma-separated",
    )
    analytics_windows: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {family.value: w for family, w in DEFAULT_WINDOWS.items()},
        description="Precomputed window per family, 'family=window' comma-separated; a window "
        "is a bar count (20) or a duration (30d); other windows are computed on demand",
    )
    analytics_warmup_bars: int = Field(
        500,
        ge=0,
        le=10_000,
        description="Bars read before a window so recursive indicators (EMA, ATR, ADX) converge",
    )
    analytics_di_period: int = Field(
        14, ge=2, le=500, description="Period of ATR, RSI, +DI/-DI and ADX"
    )
    analytics_crossover_fast: int = Field(20, ge=2, description="Fast SMA of crossover_signal")
    analytics_crossover_slow: int = Field(50, ge=3, description="Slow SMA of crossover_signal")
    analytics_slippage_notionals: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [1_000.0, 10_000.0, 100_000.0],
        description="Quote notionals whose slippage is estimated from the book, comma-separated",
    )
    analytics_regime_vol_high: float = Field(
        0.5, gt=0, description="Annualised volatility above which volatility is high"
    )
    analytics_regime_vol_low: float = Field(
        0.2, gt=0, description="Annualised volatility below which volatility is low"
    )
    analytics_regime_volume_high: float = Field(
        1.5, gt=0, description="Volume spike ratio above which volume is high"
    )
    analytics_regime_volume_low: float = Field(
        0.7, gt=0, description="Volume spike ratio below which volume is low"
    )
    analytics_regime_trend: float = Field(
        2.0, gt=0, description="Rate of change (percent) beyond which the trend is directional"
    )
    analytics_history_retention: float = Field(
        30 * 86_400, ge=0, description="Seconds results are kept in analytics_history (0: off)"
    )
    analytics_full_refresh_cycles: int = Field(
        96,
        ge=1,
        description="Every this many cycles the leader re-reads whole windows instead of only "
        "new bars (picks up bars backfilled inside a window)",
    )
    analytics_compute_enabled: bool = Field(
        True, description="Answer on-demand requests on data_manager.analytics.compute"
    )
    analytics_cache_seconds: float = Field(
        900, ge=0, description="Seconds an on-demand result is served from memory"
    )

    @field_validator("analytics_timeframes", "analytics_slippage_notionals", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("analytics_windows", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs = {}
        for item in value.split(","):
            if not item.strip():
                continue
            family, sep, window = item.partition("=")
            if not sep:
                raise ValueError(f"expected family=window, got {item!r}")
            pairs[family.strip()] = window.strip()
        return {**{f.value: w for f, w in DEFAULT_WINDOWS.items()}, **pairs}

    @field_validator("analytics_timeframes")
    @classmethod
    def _check_timeframes(cls, timeframes: list[str]) -> list[str]:
        bad = [tf for tf in timeframes if not is_timeframe(tf)]
        if bad:
            raise ValueError(f"not timeframes: {', '.join(bad)}")
        return timeframes

    @model_validator(mode="after")
    def _check_windows(self) -> AnalyticsSettings:
        unknown = set(self.analytics_windows) - {f.value for f in CANDLE_FAMILIES}
        if unknown:
            raise ValueError(f"no precomputed window for: {', '.join(sorted(unknown))}")
        try:
            for window in self.analytics_windows.values():
                for timeframe in self.analytics_timeframes:
                    window_bars(window, timeframe)
        except WindowError as exc:
            raise ValueError(str(exc)) from exc
        if self.analytics_crossover_fast >= self.analytics_crossover_slow:
            raise ValueError("ANALYTICS_CROSSOVER_FAST must be below ANALYTICS_CROSSOVER_SLOW")
        return self

    def window_for(self, family: MetricFamily, timeframe: str, window: str | None = None) -> int:
        """Bars of ``window`` (default: the family's precomputed window) on ``timeframe``."""
        return window_bars(window or self.analytics_windows[family.value], timeframe)

    def bars_to_keep(self, timeframe: str) -> int:
        """Bars held in memory per series of ``timeframe``: the longest window plus warm-up."""
        longest = max(self.window_for(f, timeframe) for f in CANDLE_FAMILIES)
        return longest + self.analytics_warmup_bars + self.analytics_crossover_slow
