"""Health scores of one dataset (pure arithmetic, no I/O), exactly as the auditor spec states.

* completeness = actual_records / expected_records * 100, capped to [0, 100]. When nothing
  was expected (``expected_records == 0``) nothing can be missing: completeness is 100.
* freshness = max(0, 100 - age_seconds / window_seconds * 100), window_seconds =
  max(300, 2 * interval_seconds): the spec's 5-minute window, widened to two candle intervals
  for coarse timeframes. age_seconds = now - close time of the newest candle (its open time +
  interval), never negative. No candle at all: freshness 0. Why two intervals: the candle
  forming now is not audited, so the newest closed candle of a complete, live series is up to
  one interval old; over two intervals its freshness stays above 50 and the series stays
  healthy all hour (all day for daily candles). Over one interval, a complete hourly series
  turned "degraded" every half hour. One candle behind costs the other 50.
* consistency = 100 - min(gaps * 10, 50) - min(duplicates * 5, 30), floored at 0.
* quality = completeness * 0.4 + consistency * 0.4 + freshness * 0.2.
* level: quality >= 90 "healthy", >= 70 "degraded", >= 50 "unhealthy", else "critical".

Scores are rounded to 9 decimals so float noise (``75 * 0.4 == 30.000000000000004``) never
moves a dataset across a level boundary.

All times are integer epoch milliseconds (UTC); :mod:`petrosa_common.time` converts aware
datetimes at the edges and refuses naive ones, so aware and naive timestamps are never mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

HealthLevel: TypeAlias = Literal["healthy", "degraded", "unhealthy", "critical"]

MIN_FRESHNESS_WINDOW_SECONDS = 300
"""The spec's freshness window (5 minutes); never shorter than two candle intervals."""
FRESHNESS_WINDOW_INTERVALS = 2
"""Candle intervals in the freshness window: a complete series' newest closed candle is up to
one interval old, so it keeps at least half its freshness."""

LEVEL_THRESHOLDS: tuple[tuple[float, HealthLevel], ...] = (
    (90.0, "healthy"),
    (70.0, "degraded"),
    (50.0, "unhealthy"),
)
"""Lowest quality of each level, best first; anything below the last is "critical"."""

_DECIMALS = 9


@dataclass(frozen=True, slots=True)
class HealthScore:
    """All scores of one dataset (0-100), its level and the age of its newest candle."""

    completeness: float
    freshness: float
    consistency: float
    quality: float
    level: HealthLevel
    age_seconds: float | None
    """Seconds since the newest candle closed, ``None`` when there is no candle."""


def completeness_score(actual_records: int, expected_records: int) -> float:
    """actual / expected * 100 capped to [0, 100]; 100 when nothing was expected."""
    _non_negative(actual_records=actual_records, expected_records=expected_records)
    if expected_records == 0:
        return 100.0
    return round(min(actual_records / expected_records * 100, 100.0), _DECIMALS)


def freshness_window_seconds(interval_seconds: int) -> int:
    """max(300, 2 * interval_seconds): at least the spec's 5 minutes, at least two candles."""
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    return max(MIN_FRESHNESS_WINDOW_SECONDS, FRESHNESS_WINDOW_INTERVALS * interval_seconds)


def age_seconds(newest_open_ms: int, *, interval_seconds: int, now_ms: int) -> float:
    """Seconds from the newest candle's close (open + interval) to ``now_ms``, never negative."""
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    close_ms = newest_open_ms + interval_seconds * 1000
    return max(0, now_ms - close_ms) / 1000


def freshness_score(age: float | None, *, interval_seconds: int) -> float:
    """max(0, 100 - age / max(300, 2 * interval) * 100); 0 when there is no data (``age`` None)."""
    window = freshness_window_seconds(interval_seconds)
    if age is None:
        return 0.0
    age = max(age, 0.0)
    return round(max(0.0, 100.0 - age / window * 100), _DECIMALS)


def consistency_score(gaps: int, duplicates: int) -> float:
    """100 - min(gaps * 10, 50) - min(duplicates * 5, 30), floored at 0."""
    _non_negative(gaps=gaps, duplicates=duplicates)
    return float(max(100 - min(gaps * 10, 50) - min(duplicates * 5, 30), 0))


def quality_score(completeness: float, consistency: float, freshness: float) -> float:
    """completeness * 0.4 + consistency * 0.4 + freshness * 0.2."""
    # Same weights as tenths: integer-valued inputs give an exact result.
    return round((completeness * 4 + consistency * 4 + freshness * 2) / 10, _DECIMALS)


def health_level(quality: float) -> HealthLevel:
    """>= 90 "healthy", >= 70 "degraded", >= 50 "unhealthy", else "critical"."""
    for threshold, level in LEVEL_THRESHOLDS:
        if quality >= threshold:
            return level
    return "critical"


def score(
    *,
    actual_records: int,
    expected_records: int,
    gaps: int,
    duplicates: int,
    newest_open_ms: int | None,
    interval_seconds: int,
    now_ms: int,
) -> HealthScore:
    """All health scores of one dataset (rules in the module docstring).

    ``duplicates`` counts surplus documents (a key stored three times is two duplicates);
    ``newest_open_ms`` is the open time of the newest candle, ``None`` when there is none.
    """
    age = (
        None
        if newest_open_ms is None
        else age_seconds(newest_open_ms, interval_seconds=interval_seconds, now_ms=now_ms)
    )
    completeness = completeness_score(actual_records, expected_records)
    freshness = freshness_score(age, interval_seconds=interval_seconds)
    consistency = consistency_score(gaps, duplicates)
    quality = quality_score(completeness, consistency, freshness)
    return HealthScore(
        completeness=completeness,
        freshness=freshness,
        consistency=consistency,
        quality=quality,
        level=health_level(quality),
        age_seconds=age,
    )


def _non_negative(**counts: int) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


__all__ = [
    "FRESHNESS_WINDOW_INTERVALS",
    "LEVEL_THRESHOLDS",
    "MIN_FRESHNESS_WINDOW_SECONDS",
    "HealthLevel",
    "HealthScore",
    "age_seconds",
    "completeness_score",
    "consistency_score",
    "freshness_score",
    "freshness_window_seconds",
    "health_level",
    "quality_score",
    "score",
]
