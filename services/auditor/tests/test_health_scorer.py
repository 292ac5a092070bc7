"""Health scores: the spec's formulas with exact numbers, level boundaries, time handling."""

from __future__ import annotations

import pytest
from petrosa_auditor.health_scorer import (
    HealthScore,
    age_seconds,
    completeness_score,
    consistency_score,
    freshness_score,
    freshness_window_seconds,
    health_level,
    quality_score,
    score,
)

NOW = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def test_issue_example_two_gaps_one_duplicate_150_seconds_old() -> None:
    newest_open = NOW - 150_000 - 60_000  # closed 150 s ago
    result = score(
        actual_records=1440,
        expected_records=1440,
        gaps=2,
        duplicates=1,
        newest_open_ms=newest_open,
        interval_seconds=60,
        now_ms=NOW,
    )
    assert result == HealthScore(
        completeness=100.0,
        freshness=50.0,
        consistency=75.0,
        quality=80.0,
        level="degraded",
        age_seconds=150.0,
    )


# --- completeness ----------------------------------------------------------------------------


def test_completeness_ratio_and_caps() -> None:
    assert completeness_score(720, 1440) == 50.0
    assert completeness_score(0, 1440) == 0.0
    assert completeness_score(1500, 1440) == 100.0  # extra records cannot exceed 100
    assert completeness_score(1, 3) == pytest.approx(33.333333333)


def test_completeness_when_nothing_was_expected_is_full() -> None:
    assert completeness_score(0, 0) == 100.0
    assert completeness_score(5, 0) == 100.0


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="actual_records"):
        completeness_score(-1, 10)
    with pytest.raises(ValueError, match="gaps"):
        consistency_score(-1, 0)


# --- freshness -------------------------------------------------------------------------------


def test_freshness_window_is_at_least_five_minutes_and_two_intervals() -> None:
    assert freshness_window_seconds(60) == 300
    assert freshness_window_seconds(180) == 360
    assert freshness_window_seconds(300) == 600
    assert freshness_window_seconds(3600) == 7200
    assert freshness_window_seconds(86_400) == 172_800
    with pytest.raises(ValueError, match="interval_seconds"):
        freshness_window_seconds(0)


def test_hourly_data_thirty_minutes_old_is_three_quarters_fresh() -> None:
    newest_open = NOW - 30 * 60_000 - 3_600_000  # the last hourly candle closed 30 min ago
    result = score(
        actual_records=24,
        expected_records=24,
        gaps=0,
        duplicates=0,
        newest_open_ms=newest_open,
        interval_seconds=3600,
        now_ms=NOW,
    )
    assert result.age_seconds == 1800.0
    assert result.freshness == 75.0
    assert result.quality == 95.0
    assert result.level == "healthy"


@pytest.mark.parametrize("interval_seconds", [300, 900, 3600, 14_400, 86_400])
def test_a_complete_series_stays_healthy_until_its_next_candle_closes(
    interval_seconds: int,
) -> None:
    # The newest closed candle of a complete series closed at the last grid boundary; just
    # before the next one closes it is one interval old, minus a millisecond.
    interval_ms = interval_seconds * 1000
    result = score(
        actual_records=24,
        expected_records=24,
        gaps=0,
        duplicates=0,
        newest_open_ms=NOW - 2 * interval_ms + 1,
        interval_seconds=interval_seconds,
        now_ms=NOW,
    )
    assert result.freshness > 50.0
    assert result.level == "healthy"
    # A candle behind, its freshness is at most half.
    late = freshness_score(interval_seconds, interval_seconds=interval_seconds)
    assert late == 50.0


def test_daily_candle_closed_six_hours_ago_is_still_fresh() -> None:
    assert freshness_score(6 * 3600, interval_seconds=86_400) == 87.5


def test_freshness_drops_to_zero_and_stays_there() -> None:
    assert freshness_score(0, interval_seconds=60) == 100.0
    assert freshness_score(300, interval_seconds=60) == 0.0
    assert freshness_score(10_000, interval_seconds=60) == 0.0


def test_no_data_at_all_has_zero_freshness() -> None:
    assert freshness_score(None, interval_seconds=60) == 0.0
    result = score(
        actual_records=0,
        expected_records=1440,
        gaps=1,
        duplicates=0,
        newest_open_ms=None,
        interval_seconds=60,
        now_ms=NOW,
    )
    assert result == HealthScore(
        completeness=0.0,
        freshness=0.0,
        consistency=90.0,
        quality=36.0,
        level="critical",
        age_seconds=None,
    )


def test_age_is_measured_from_close_and_never_negative() -> None:
    # The candle still forming (opened 20 s ago) is not in the future: age 0, fully fresh.
    assert age_seconds(NOW - 20_000, interval_seconds=60, now_ms=NOW) == 0.0
    assert age_seconds(NOW - 61_500, interval_seconds=60, now_ms=NOW) == 1.5
    result = score(
        actual_records=1,
        expected_records=1,
        gaps=0,
        duplicates=0,
        newest_open_ms=NOW + 3_600_000,  # a clock ahead of ours
        interval_seconds=60,
        now_ms=NOW,
    )
    assert result.age_seconds == 0.0
    assert result.freshness == 100.0


# --- consistency and quality -----------------------------------------------------------------


def test_consistency_penalties_and_their_caps() -> None:
    assert consistency_score(0, 0) == 100.0
    assert consistency_score(3, 0) == 70.0
    assert consistency_score(5, 0) == 50.0
    assert consistency_score(50, 0) == 50.0  # gap penalty capped at 50
    assert consistency_score(0, 4) == 80.0
    assert consistency_score(0, 6) == 70.0
    assert consistency_score(0, 600) == 70.0  # duplicate penalty capped at 30
    assert consistency_score(1000, 1000) == 20.0  # both caps: never below 20


def test_quality_weights() -> None:
    assert quality_score(100.0, 100.0, 100.0) == 100.0
    assert quality_score(100.0, 0.0, 0.0) == 40.0
    assert quality_score(0.0, 100.0, 0.0) == 40.0
    assert quality_score(0.0, 0.0, 100.0) == 20.0
    assert quality_score(75.0, 100.0, 100.0) == 90.0  # not 90.00000000000001 or 89.99...


@pytest.mark.parametrize(
    ("quality", "level"),
    [
        (100.0, "healthy"),
        (90.0, "healthy"),
        (89.999, "degraded"),
        (70.0, "degraded"),
        (69.999, "unhealthy"),
        (50.0, "unhealthy"),
        (49.999, "critical"),
        (0.0, "critical"),
    ],
)
def test_level_boundaries(quality: float, level: str) -> None:
    assert health_level(quality) == level


@pytest.mark.parametrize(
    ("actual", "gaps", "duplicates", "quality", "level"),
    [
        (75, 0, 0, 90.0, "healthy"),  # 30 + 40 + 20
        (100, 5, 0, 80.0, "degraded"),
        (25, 0, 0, 70.0, "degraded"),  # 10 + 40 + 20
        (100, 5, 6, 68.0, "unhealthy"),  # 40 + 8 + 20
        (0, 0, 4, 52.0, "unhealthy"),  # 0 + 32 + 20
        (0, 1, 4, 48.0, "critical"),  # 0 + 28 + 20
    ],
)
def test_score_levels_end_to_end(
    actual: int, gaps: int, duplicates: int, quality: float, level: str
) -> None:
    result = score(
        actual_records=actual,
        expected_records=100,
        gaps=gaps,
        duplicates=duplicates,
        newest_open_ms=NOW - 60_000,  # just closed: freshness 100
        interval_seconds=60,
        now_ms=NOW,
    )
    assert result.freshness == 100.0
    assert result.quality == quality
    assert result.level == level


# --- time conversion at the edges ------------------------------------------------------------
