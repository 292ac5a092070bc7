"""The audited window sits on Binance's candle grid (weekly candles open on Mondays)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from petrosa_auditor.series_audit import Window, window_for
from petrosa_common.time import to_epoch_ms


def ms(*parts: int) -> int:
    return to_epoch_ms(datetime(*parts, tzinfo=UTC))  # type: ignore[misc]


def test_weekly_windows_end_on_the_monday_the_forming_candle_opened() -> None:
    # Thursday 2024-01-11 12:00: the forming weekly candle opened on Monday 2024-01-08.
    window = window_for("1w", now_ms=ms(2024, 1, 11, 12), lookback_seconds=4 * 7 * 86_400)
    assert window == Window(ms(2023, 12, 11), ms(2024, 1, 8))
    # Candles open on Mondays: a window ending on a Thursday would report a 4-day leading gap.
    assert datetime.fromtimestamp(window.end_ms / 1000, UTC).weekday() == 0
    assert datetime.fromtimestamp(window.start_ms / 1000, UTC).weekday() == 0


@pytest.mark.parametrize(
    ("timeframe", "now", "lookback", "expected"),
    [
        ("1m", (2024, 1, 1, 10, 30, 15), 3600, ((2024, 1, 1, 9, 30), (2024, 1, 1, 10, 30))),
        ("1h", (2024, 1, 1, 10, 30), 86_400, ((2023, 12, 31, 10), (2024, 1, 1, 10))),
        ("1d", (2024, 1, 1, 10, 30), 60, ((2023, 12, 31), (2024, 1, 1))),  # at least one candle
    ],
)
def test_windows_are_whole_candles_before_the_forming_one(
    timeframe: str, now: tuple[int, ...], lookback: float, expected: tuple[tuple[int, ...], ...]
) -> None:
    window = window_for(timeframe, now_ms=ms(*now), lookback_seconds=lookback)
    assert window == Window(ms(*expected[0]), ms(*expected[1]))
