"""Regime classifier: every rule reachable, the vocabulary closed, confidence by hand."""

from __future__ import annotations

import itertools

import pytest
from petrosa_analytics.indicators import RegimeThresholds, regime

REGIMES = {
    "turbulent_illiquidity",
    "stable_accumulation",
    "breakout_phase",
    "bullish_acceleration",
    "bearish_acceleration",
    "consolidation",
    "balanced_market",
    "transitional",
}


@pytest.mark.parametrize(
    ("vol", "spike", "roc", "expected"),
    [
        (0.9, 0.3, 0.0, "turbulent_illiquidity"),
        (0.9, 0.3, 9.0, "turbulent_illiquidity"),  # the trend does not matter here
        (0.1, 2.5, 0.0, "stable_accumulation"),
        (0.9, 2.5, 5.0, "bullish_acceleration"),
        (0.9, 2.5, -5.0, "bearish_acceleration"),
        (0.9, 2.5, 1.0, "breakout_phase"),
        (0.1, 0.3, 0.0, "consolidation"),
        (0.35, 1.1, 0.0, "balanced_market"),
        (0.9, 1.1, 0.0, "transitional"),
        (0.1, 1.1, 0.0, "transitional"),
        (0.35, 2.5, 0.0, "transitional"),
        (0.35, 0.3, 0.0, "transitional"),
    ],
)
def test_every_rule_is_reachable(vol: float, spike: float, roc: float, expected: str) -> None:
    result = regime(annualized_volatility=vol, volume_spike_ratio=spike, rate_of_change=roc)
    assert result["regime"] == expected


def test_levels_use_strict_comparisons() -> None:
    on = regime(annualized_volatility=0.5, volume_spike_ratio=1.5, rate_of_change=2.0)
    assert (on["volatility_level"], on["volume_level"], on["trend_direction"]) == (
        "medium",
        "medium",
        "neutral",
    )
    low = regime(annualized_volatility=0.2, volume_spike_ratio=0.7, rate_of_change=-2.0)
    assert (low["volatility_level"], low["volume_level"], low["trend_direction"]) == (
        "medium",
        "medium",
        "neutral",
    )


def test_confidence_by_hand() -> None:
    # vol 0.65: high, (0.65 - 0.5) / 0.3 = 0.5; spike 0.3: low, (0.7 - 0.3) / 0.8 = 0.5
    result = regime(annualized_volatility=0.65, volume_spike_ratio=0.3, rate_of_change=0.0)
    assert result["regime"] == "turbulent_illiquidity"
    assert result["confidence"] == 0.75
    # medium: distance to the nearer threshold over half the band; 0.35 is the centre -> 1
    centre = regime(annualized_volatility=0.35, volume_spike_ratio=1.1, rate_of_change=0.0)
    assert centre["regime"] == "balanced_market"
    assert centre["confidence"] == 1.0
    # vol 0.26: (0.26 - 0.2) / 0.15 = 0.4 -> 0.5 + 0.5 * 0.4
    near = regime(annualized_volatility=0.26, volume_spike_ratio=1.1, rate_of_change=0.0)
    assert near["confidence"] == 0.7


def test_acceleration_confidence_reads_the_trend() -> None:
    # vol, volume clear (1.0); roc 2.5: (2.5 - 2) / 2 = 0.25 -> 0.625
    result = regime(annualized_volatility=0.9, volume_spike_ratio=2.5, rate_of_change=2.5)
    assert result["regime"] == "bullish_acceleration"
    assert result["confidence"] == 0.625
    # breakout with a nearly-bullish trend: neutral clarity (2 - 1.5) / 2 = 0.25
    breakout = regime(annualized_volatility=0.9, volume_spike_ratio=2.5, rate_of_change=1.5)
    assert breakout["regime"] == "breakout_phase"
    assert breakout["confidence"] == 0.625


def test_inputs_on_a_threshold_give_a_coin_flip() -> None:
    result = regime(annualized_volatility=0.5, volume_spike_ratio=1.1, rate_of_change=0.0)
    assert result["confidence"] == 0.5


def test_missing_inputs_are_medium_and_neutral_never_unknown() -> None:
    result = regime(annualized_volatility=None, volume_spike_ratio=None, rate_of_change=None)
    assert result["volatility_level"] == "medium"
    assert result["volume_level"] == "medium"
    assert result["trend_direction"] == "neutral"
    assert result["regime"] == "balanced_market"
    assert result["confidence"] == 0.5


def test_inputs_and_thresholds_are_echoed() -> None:
    thresholds = RegimeThresholds(
        vol_high=0.8, vol_low=0.3, volume_high=2.0, volume_low=0.5, trend=1.0
    )
    result = regime(
        annualized_volatility=0.9, volume_spike_ratio=1.0, rate_of_change=1.5, thresholds=thresholds
    )
    inputs = result["inputs"]
    assert inputs["annualized_volatility"] == 0.9
    assert inputs["volume_spike_ratio"] == 1.0
    assert inputs["rate_of_change"] == 1.5
    assert inputs["thresholds"] == {
        "vol_high": 0.8,
        "vol_low": 0.3,
        "volume_high": 2.0,
        "volume_low": 0.5,
        "trend": 1.0,
    }
    assert set(inputs["clarity"]) == {"volatility", "volume", "trend"}
    assert "min(clarity" in inputs["confidence_basis"]
    assert result["trend_direction"] == "bullish"  # 1.5 > the custom 1.0


def test_the_vocabulary_is_closed_over_a_sweep_of_inputs() -> None:
    values = [None, 0.0, 0.1, 0.2, 0.35, 0.5, 0.7, 1.1, 1.5, 3.0]
    rocs = [None, -10.0, -2.0, -1.0, 0.0, 1.0, 2.0, 10.0]
    for vol, spike, roc in itertools.product(values, values, rocs):
        result = regime(annualized_volatility=vol, volume_spike_ratio=spike, rate_of_change=roc)
        assert result["regime"] in REGIMES
        assert result["volatility_level"] in {"low", "medium", "high"}
        assert result["volume_level"] in {"low", "medium", "high"}
        assert result["trend_direction"] in {"bullish", "bearish", "neutral"}
        assert 0.5 <= result["confidence"] <= 1.0


def test_bad_thresholds_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="below"):
        RegimeThresholds(vol_high=0.1, vol_low=0.2)
    with pytest.raises(ValueError, match="trend"):
        RegimeThresholds(trend=0.0)
    with pytest.raises(ValueError, match="finite"):
        RegimeThresholds(volume_high=float("inf"))
    with pytest.raises(ValueError, match="finite"):
        regime(annualized_volatility=float("nan"), volume_spike_ratio=1.0, rate_of_change=0.0)
