"""Auditor settings: retention horizons as people write them, and the rule that retention
never deletes what the audit still checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from petrosa_auditor.settings import AuditorSettings
from pydantic import ValidationError


def test_retention_defaults_keep_days_of_events_and_every_candle() -> None:
    horizons = AuditorSettings().retention_horizons()
    assert horizons == {
        "trades": timedelta(days=7),
        "agg_trades": timedelta(days=7),
        "depth": timedelta(days=2),
        "tickers": timedelta(days=7),
        "mark_prices": timedelta(days=7),
        "funding_rates": None,
        "candles": None,
        "dead_letters": timedelta(days=30),
        "analytics_history": timedelta(days=90),
    }


def test_horizons_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_TRADES", "5m")
    monkeypatch.setenv("RETENTION_DEPTH", "off")
    monkeypatch.setenv("RETENTION_DEAD_LETTERS", "3600")
    monkeypatch.setenv("RETENTION_CANDLES", "0")
    settings = AuditorSettings()
    assert settings.retention_trades == timedelta(minutes=5)
    assert settings.retention_depth is None
    assert settings.retention_dead_letters == timedelta(hours=1)
    assert settings.retention_candles is None


def test_a_bad_horizon_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_TICKERS", "7 days")
    with pytest.raises(ValidationError, match="retention_tickers"):
        AuditorSettings()


def test_candles_are_never_deleted_inside_the_audit_lookback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_LOOKBACK", "86400")
    monkeypatch.setenv("RETENTION_CANDLES", "12h")
    with pytest.raises(
        ValidationError, match=r"RETENTION_CANDLES .* is shorter than AUDIT_LOOKBACK"
    ):
        AuditorSettings()
    monkeypatch.setenv("RETENTION_CANDLES", "1d")
    assert AuditorSettings().retention_candles == timedelta(days=1)


@pytest.mark.parametrize("ratio", ["-0.5", "101", "nan", "inf", "fast", "1\x07"])
def test_a_bad_retention_pause_ratio_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, ratio: str
) -> None:
    monkeypatch.setenv("RETENTION_PAUSE_RATIO", ratio)
    with pytest.raises(ValidationError, match="retention_pause_ratio"):
        AuditorSettings()


def test_retention_pauses_as_long_as_each_query_took_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert AuditorSettings().retention_pause_ratio == 1.0
    monkeypatch.setenv("RETENTION_PAUSE_RATIO", "0")
    assert AuditorSettings().retention_pause_ratio == 0.0
