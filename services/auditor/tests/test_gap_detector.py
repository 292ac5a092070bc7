"""Gap detection: exact gaps for candle open times, merge with known gaps, agg-trade id holes."""

from __future__ import annotations

import numpy as np
import pytest
from petrosa_auditor.gap_detector import (
    Gap,
    IdGap,
    detect_gaps,
    detect_id_gaps,
    merge_known,
    severity_for,
)

MINUTE = 60_000
HOUR = 3_600_000
DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> int:
    """Epoch ms of a time on DAY0."""
    return DAY0 + int(hours * HOUR + minutes * MINUTE + seconds * 1000)


def hourly(*hours: int) -> np.ndarray:
    return np.asarray([at(h) for h in hours], dtype=np.int64)


def gap(start: int, end: int, kind: str = "internal", interval: int = HOUR) -> Gap:
    """A gap built by hand with the documented missing-candle and severity rules."""
    duration = end - start
    return Gap(
        start_ms=start,
        end_ms=end,
        duration_seconds=duration / 1000,
        missing_candles=(2 * duration + interval) // (2 * interval),
        kind=kind,  # type: ignore[arg-type]
        severity=severity_for(duration / 1000),
    )


# --- the example ----------------------------------------------------------------------


def test_hourly_hole_is_one_internal_gap_and_no_trailing_gap() -> None:
    gaps = detect_gaps(hourly(0, 1, 4), interval_ms=HOUR, start_ms=at(0), end_ms=at(5))
    assert gaps == [
        Gap(
            start_ms=at(2),
            end_ms=at(4),
            duration_seconds=7200.0,
            missing_candles=2,
            kind="internal",
            severity="high",
        )
    ]


def test_hourly_hole_with_longer_window_adds_trailing_gap() -> None:
    gaps = detect_gaps(hourly(0, 1, 4), interval_ms=HOUR, start_ms=at(0), end_ms=at(7))
    assert gaps == [
        Gap(at(2), at(4), 7200.0, 2, "internal", "high"),
        Gap(at(5), at(7), 7200.0, 2, "trailing", "high"),
    ]


# --- tolerance, minimum size, window edges ---------------------------------------------------


def test_candle_thirty_seconds_late_is_not_a_gap() -> None:
    minute_late = [at(minutes=0), at(minutes=1, seconds=30), at(minutes=2)]
    assert detect_gaps(minute_late, interval_ms=MINUTE, start_ms=at(0), end_ms=at(minutes=3)) == []
    hour_late = [at(0), at(1, seconds=30), at(2)]
    assert detect_gaps(hour_late, interval_ms=HOUR, start_ms=at(0), end_ms=at(3)) == []


def test_gap_just_beyond_tolerance_is_reported_and_at_tolerance_is_not() -> None:
    # interval + tolerance = 2 min: exactly 2 min apart is fine, 2 min + 1 ms is a gap.
    on_limit = [at(minutes=0), at(minutes=2)]
    assert (
        detect_gaps(
            on_limit, interval_ms=MINUTE, start_ms=at(0), end_ms=at(minutes=3), min_gap_ms=0
        )
        == []
    )
    beyond = [at(minutes=0), at(minutes=2) + 1]
    assert detect_gaps(
        beyond, interval_ms=MINUTE, start_ms=at(0), end_ms=at(minutes=2) + 1 + MINUTE, min_gap_ms=0
    ) == [Gap(at(minutes=1), at(minutes=2) + 1, 60.001, 1, "internal", "low")]


def test_gaps_shorter_than_min_gap_are_not_reported() -> None:
    # Two single-minute holes (60 s each) and one of three minutes (180 s).
    times = [at(minutes=m) for m in range(20) if m not in (3, 7, 12, 13, 14)]
    window = {"interval_ms": MINUTE, "start_ms": at(0), "end_ms": at(minutes=20)}
    assert detect_gaps(times, tolerance_ms=0, min_gap_ms=180_000, **window) == [
        Gap(at(minutes=12), at(minutes=15), 180.0, 3, "internal", "low")
    ]
    assert [g.key for g in detect_gaps(times, tolerance_ms=0, min_gap_ms=60_000, **window)] == [
        (at(minutes=3), at(minutes=4)),
        (at(minutes=7), at(minutes=8)),
        (at(minutes=12), at(minutes=15)),
    ]


def test_leading_gap_runs_from_window_start_to_first_candle() -> None:
    gaps = detect_gaps(hourly(3, 4), interval_ms=HOUR, start_ms=at(0), end_ms=at(5))
    assert gaps == [Gap(at(0), at(3), 10_800.0, 3, "leading", "high")]


def test_first_candle_late_within_tolerance_is_not_a_leading_gap() -> None:
    times = [at(seconds=45), at(1), at(2)]
    assert detect_gaps(times, interval_ms=HOUR, start_ms=at(0), end_ms=at(3)) == []


def test_trailing_gap_within_tolerance_is_not_reported() -> None:
    # Window ends 60 s after the last candle closed: exactly the tolerance.
    assert (
        detect_gaps(hourly(0, 1), interval_ms=HOUR, start_ms=at(0), end_ms=at(2, seconds=60)) == []
    )


def test_times_outside_the_window_are_ignored() -> None:
    times = [at(-5), at(-1), at(0), at(1), at(4), at(5), at(9)]
    gaps = detect_gaps(times, interval_ms=HOUR, start_ms=at(0), end_ms=at(5))
    assert [g.key for g in gaps] == [(at(2), at(4))]


def test_unordered_input_with_repeats_gives_the_same_gaps() -> None:
    ordered = detect_gaps(hourly(0, 1, 4, 5, 9), interval_ms=HOUR, start_ms=at(0), end_ms=at(12))
    shuffled = hourly(9, 1, 4, 0, 9, 5, 1, 1, 0, 4)
    assert (
        detect_gaps(shuffled, interval_ms=HOUR, start_ms=at(0), end_ms=at(12))
        == ordered
        == [
            Gap(at(2), at(4), 7200.0, 2, "internal", "high"),
            Gap(at(6), at(9), 10_800.0, 3, "internal", "high"),
            Gap(at(10), at(12), 7200.0, 2, "trailing", "high"),
        ]
    )


def test_one_minute_day_with_holes_reports_exactly_the_holes() -> None:
    slots = np.arange(1440, dtype=np.int64)
    holes = {*range(0, 5), 10, *range(100, 103), *range(700, 760), *range(1437, 1440)}
    present = np.setdiff1d(slots, np.fromiter(holes, dtype=np.int64))
    times = DAY0 + present * MINUTE
    np.random.default_rng(7).shuffle(times)
    gaps = detect_gaps(times, interval_ms=MINUTE, start_ms=DAY0, end_ms=DAY0 + 1440 * MINUTE)
    # The single missing minute (slot 10) is 60 s long: below the default 120 s minimum.
    assert gaps == [
        Gap(at(0), at(minutes=5), 300.0, 5, "leading", "medium"),
        Gap(at(minutes=100), at(minutes=103), 180.0, 3, "internal", "low"),
        Gap(at(minutes=700), at(minutes=760), 3600.0, 60, "internal", "high"),
        Gap(at(minutes=1437), at(minutes=1440), 180.0, 3, "trailing", "low"),
    ]
    every = detect_gaps(
        times,
        interval_ms=MINUTE,
        start_ms=DAY0,
        end_ms=DAY0 + 1440 * MINUTE,
        tolerance_ms=0,
        min_gap_ms=0,
    )
    assert sum(g.missing_candles for g in every) == len(holes)
    assert (at(minutes=10), at(minutes=11)) in [g.key for g in every]


def test_complete_series_has_no_gaps() -> None:
    times = DAY0 + np.arange(1440, dtype=np.int64) * MINUTE
    assert detect_gaps(times, interval_ms=MINUTE, start_ms=DAY0, end_ms=at(24)) == []


def test_no_candle_in_window_is_one_empty_gap() -> None:
    assert detect_gaps(
        np.empty(0, dtype=np.int64), interval_ms=HOUR, start_ms=at(0), end_ms=at(6)
    ) == [Gap(at(0), at(6), 21_600.0, 6, "empty", "critical")]
    # Candles that all lie outside the window count as none.
    assert detect_gaps(hourly(7, 8), interval_ms=HOUR, start_ms=at(0), end_ms=at(6))[0].kind == (
        "empty"
    )


def test_empty_series_over_short_window_obeys_min_gap() -> None:
    assert detect_gaps([], interval_ms=MINUTE, start_ms=at(0), end_ms=at(minutes=1)) == []


def test_zero_length_window_has_no_gap() -> None:
    assert detect_gaps([], interval_ms=HOUR, start_ms=at(3), end_ms=at(3)) == []
    assert detect_gaps(hourly(1, 5), interval_ms=HOUR, start_ms=at(3), end_ms=at(3)) == []


def test_severity_boundaries() -> None:
    assert [severity_for(s) for s in (0, 299.999, 300, 3599, 3600, 21_599, 21_600, 10**7)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    # The vectorised path agrees at the exact boundaries.
    times = [at(minutes=0), at(minutes=6), at(minutes=67), at(minutes=428)]
    gaps = detect_gaps(times, interval_ms=MINUTE, start_ms=at(0), end_ms=at(minutes=429))
    assert [(g.duration_seconds, g.severity) for g in gaps] == [
        (300.0, "medium"),
        (3600.0, "high"),
        (21_600.0, "critical"),
    ]


def test_missing_candles_rounds_to_nearest_slot_for_off_grid_neighbours() -> None:
    early = [at(0), at(2, seconds=-30)]  # next candle 30 s early
    late = [at(0), at(2, seconds=30)]
    window = {"interval_ms": HOUR, "start_ms": at(0), "end_ms": at(3)}
    assert [g.missing_candles for g in detect_gaps(early, **window)] == [1]
    assert [g.missing_candles for g in detect_gaps(late, **window)] == [1]


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="interval_ms"):
        detect_gaps([], interval_ms=0, start_ms=0, end_ms=1)
    with pytest.raises(ValueError, match="before its start"):
        detect_gaps([], interval_ms=MINUTE, start_ms=10, end_ms=0)
    with pytest.raises(ValueError, match="negative"):
        detect_gaps([], interval_ms=MINUTE, start_ms=0, end_ms=1, tolerance_ms=-1)
    with pytest.raises(TypeError, match="integers"):
        detect_gaps(np.asarray([1.5]), interval_ms=MINUTE, start_ms=0, end_ms=10)


def test_many_series_run_through_the_vectorised_path() -> None:
    rng = np.random.default_rng(42)
    full = DAY0 + np.arange(1440, dtype=np.int64) * MINUTE
    for _ in range(48):
        holes = rng.choice(1440, size=20, replace=False)
        times = np.delete(full, holes)
        gaps = detect_gaps(
            times,
            interval_ms=MINUTE,
            start_ms=DAY0,
            end_ms=at(24),
            tolerance_ms=0,
            min_gap_ms=0,
        )
        assert sum(g.missing_candles for g in gaps) == 20


# --- gap identity and merging with previously known gaps --------------------------------------


def test_key_identifies_the_same_gap_seen_again() -> None:
    first = detect_gaps(hourly(0, 1, 4), interval_ms=HOUR, start_ms=at(0), end_ms=at(5))
    again = detect_gaps(hourly(0, 1, 4, 1), interval_ms=HOUR, start_ms=at(0), end_ms=at(5))
    assert [g.key for g in first] == [g.key for g in again] == [(at(2), at(4))]


def test_merge_unchanged_gap_is_still_open_not_new() -> None:
    known = [gap(at(2), at(4))]
    merge = merge_known(known, [gap(at(2), at(4))])
    assert merge.new == []
    assert merge.resolved == []
    assert [(u.previous, u.current, u.changed) for u in merge.still_open] == [
        (tuple(known), gap(at(2), at(4)), False)
    ]


def test_merge_new_and_resolved() -> None:
    new, still_open, resolved = merge_known(
        [gap(at(2), at(4)), gap(at(10), at(12))], [gap(at(10), at(12)), gap(at(20), at(21))]
    )
    assert new == [gap(at(20), at(21))]
    assert [u.current for u in still_open] == [gap(at(10), at(12))]
    assert resolved == [gap(at(2), at(4))]


def test_merge_shrunk_gap_is_still_open_with_new_bounds() -> None:
    known = gap(at(2), at(6))
    merge = merge_known([known], [gap(at(3), at(6))])
    assert merge.new == []
    assert merge.resolved == []
    (update,) = merge.still_open
    assert update.previous == (known,)
    assert update.current.key == (at(3), at(6))
    assert update.changed


def test_merge_split_gap_gives_two_still_open_pieces() -> None:
    known = gap(at(2), at(8))
    merge = merge_known([known], [gap(at(2), at(4)), gap(at(6), at(8))])
    assert merge.new == []
    assert merge.resolved == []
    assert [(u.previous, u.current.key) for u in merge.still_open] == [
        ((known,), (at(2), at(4))),
        ((known,), (at(6), at(8))),
    ]


def test_merge_grown_trailing_gap_is_still_open() -> None:
    known = gap(at(5), at(7), "trailing")
    merge = merge_known([known], [gap(at(5), at(9), "trailing")])
    assert merge.new == []
    assert merge.resolved == []
    assert merge.still_open[0].current.end_ms == at(9)


def test_merge_current_gap_spanning_two_known_gaps_updates_both() -> None:
    a, b = gap(at(2), at(3)), gap(at(4), at(5))
    merge = merge_known([a, b], [gap(at(2), at(5))])
    assert merge.new == []
    assert merge.resolved == []
    assert merge.still_open[0].previous == (a, b)
    assert merge.still_open[0].changed


def test_merge_touching_gaps_do_not_overlap() -> None:
    # [02:00, 04:00) filled; a new hole [04:00, 05:00) merely touches it.
    new, still_open, resolved = merge_known([gap(at(2), at(4))], [gap(at(4), at(5))])
    assert new == [gap(at(4), at(5))]
    assert still_open == []
    assert resolved == [gap(at(2), at(4))]


def test_merge_with_nothing_known_or_nothing_current() -> None:
    current = [gap(at(1), at(3))]
    assert merge_known([], current) == (current, [], [])
    assert merge_known(current, []) == ([], [], current)


def test_merge_window_leaves_out_known_gaps_outside_it() -> None:
    old = gap(at(-10), at(-8))  # before the audited window: unknown, not resolved
    straddling = gap(at(-1), at(1))  # judged on its part inside the window: filled
    inside = gap(at(3), at(5))
    new, still_open, resolved = merge_known(
        [old, straddling, inside], [gap(at(3), at(5))], window=(at(0), at(6))
    )
    assert new == []
    assert [u.previous for u in still_open] == [(inside,)]
    assert resolved == [straddling]


# --- aggregate-trade id holes ----------------------------------------------------------------


def test_id_gaps_are_exact() -> None:
    ids = np.asarray([100, 101, 102, 105, 106, 107, 108, 120, 121], dtype=np.int64)
    assert detect_id_gaps(ids) == [
        IdGap(first_missing=103, last_missing=104, count=2),
        IdGap(first_missing=109, last_missing=119, count=11),
    ]


def test_id_gaps_any_order_with_repeats() -> None:
    ids = [121, 100, 105, 100, 102, 101, 120, 106, 106]
    assert detect_id_gaps(ids) == [
        IdGap(103, 104, 2),
        IdGap(107, 119, 13),
    ]


def test_id_gaps_single_missing_id_and_min_missing() -> None:
    ids = [1, 2, 4, 5, 9]
    assert detect_id_gaps(ids) == [IdGap(3, 3, 1), IdGap(6, 8, 3)]
    assert detect_id_gaps(ids, min_missing=2) == [IdGap(6, 8, 3)]
    assert detect_id_gaps(ids, min_missing=4) == []


def test_id_gaps_of_consecutive_short_or_empty_sequences_are_none() -> None:
    assert detect_id_gaps(np.arange(10**6, 10**6 + 5000, dtype=np.int64)) == []
    assert detect_id_gaps([]) == []
    assert detect_id_gaps([42]) == []
    assert detect_id_gaps([42, 42, 42]) == []
    with pytest.raises(ValueError, match="min_missing"):
        detect_id_gaps([1, 3], min_missing=0)
