"""Gap detection over candle open times and aggregate-trade ids (pure, vectorised, no I/O).

Rules (all times are epoch milliseconds, UTC):

* The audited window is half-open, ``[start_ms, end_ms)``, and should be aligned to the candle
  grid. A candle opening at ``t`` covers ``[t, t + interval_ms)``. Open times outside the window
  are ignored; repeats are counted once; input order does not matter.
* **internal** gap between consecutive distinct open times ``a < b`` when
  ``b - a > interval_ms + tolerance_ms``: the gap is ``[a + interval_ms, b)``.
* **leading** gap when the first open time is later than ``start_ms + tolerance_ms``:
  ``[start_ms, first)``.
* **trailing** gap when ``end_ms - (last + interval_ms) > tolerance_ms``:
  ``[last + interval_ms, end_ms)``. Pass ``end_ms`` = the close time of the last candle that
  should exist (the open time of the candle still forming), so that candle is never "missing".
* **empty**: no open time at all inside the window gives one gap ``[start_ms, end_ms)`` of its
  own kind (not "leading"), so an alert can tell "no data at all" from "data starts late".
  It obeys the same tolerance and minimum-size rules as the others.
* Every gap has ``end_ms`` exclusive (the open time of the next present candle, or the window
  end) and is reported only when its duration is ``>= min_gap_ms``.
* ``missing_candles`` = duration / interval rounded to the nearest whole number (halves up):
  exact for grid-aligned series, and a candle stamped up to half an interval early or late
  still counts as present.
* Severity by duration: ``< 300 s`` "low", ``< 3,600 s`` "medium", ``< 21,600 s`` "high",
  otherwise "critical".

Aggregate trades (:func:`detect_id_gaps`) have consecutive ids, so their holes are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

GapKind: TypeAlias = Literal["leading", "internal", "trailing", "empty"]
Severity: TypeAlias = Literal["low", "medium", "high", "critical"]
Int64Array: TypeAlias = npt.NDArray[np.int64]
IntsLike: TypeAlias = npt.NDArray[np.integer] | Sequence[int]

SEVERITY_THRESHOLDS_SECONDS: tuple[int, int, int] = (300, 3_600, 21_600)
"""Upper bounds (exclusive) of "low", "medium" and "high"; longer gaps are "critical"."""

_SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
_THRESHOLDS_MS = np.asarray([s * 1000 for s in SEVERITY_THRESHOLDS_SECONDS], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Gap:
    """A missing stretch ``[start_ms, end_ms)`` of one candle series."""

    start_ms: int
    end_ms: int
    duration_seconds: float
    missing_candles: int
    kind: GapKind
    severity: Severity

    @property
    def key(self) -> tuple[int, int]:
        """Identity of exactly this gap within its series: ``(start_ms, end_ms)``."""
        return (self.start_ms, self.end_ms)

    def overlaps(self, other: Gap) -> bool:
        """Whether the half-open ranges share at least one millisecond (touching is not)."""
        return self.start_ms < other.end_ms and other.start_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class GapUpdate:
    """A gap seen again: ``current`` overlaps every gap in ``previous`` (one or more)."""

    previous: tuple[Gap, ...]
    current: Gap

    @property
    def changed(self) -> bool:
        """Whether the bounds differ from the single previously known gap (shrunk, grown, split)."""
        return len(self.previous) != 1 or self.previous[0].key != self.current.key


class GapMerge(NamedTuple):
    """Outcome of :func:`merge_known`; unpacks as ``new, still_open, resolved``."""

    new: list[Gap]
    still_open: list[GapUpdate]
    resolved: list[Gap]


@dataclass(frozen=True, slots=True)
class IdGap:
    """Consecutive missing ids ``first_missing..last_missing`` (both inclusive)."""

    first_missing: int
    last_missing: int
    count: int


def severity_for(duration_seconds: float) -> Severity:
    """Severity of a gap lasting ``duration_seconds`` (see the module rules)."""
    low, medium, high = SEVERITY_THRESHOLDS_SECONDS
    if duration_seconds < low:
        return "low"
    if duration_seconds < medium:
        return "medium"
    if duration_seconds < high:
        return "high"
    return "critical"


def _as_int64(values: IntsLike, name: str) -> Int64Array:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers (epoch ms or ids), got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _sorted_distinct(values: Int64Array) -> Int64Array:
    # Sort then drop repeats: np.unique is ~20x slower than this on large int64 arrays here.
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def detect_gaps(
    open_times_ms: IntsLike,
    *,
    interval_ms: int,
    start_ms: int,
    end_ms: int,
    tolerance_ms: int = 60_000,
    min_gap_ms: int = 120_000,
) -> list[Gap]:
    """Gaps of one candle series over the window ``[start_ms, end_ms)``, oldest first.

    ``open_times_ms`` holds candle open times in epoch ms, in any order, repeats allowed. The
    rules (internal / leading / trailing / empty gaps, tolerance, minimum size, missing-candle
    count and severity) are those of the module docstring. Raises ``ValueError`` for a
    non-positive interval, negative tolerance or minimum, or ``end_ms < start_ms``.
    """
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    if tolerance_ms < 0 or min_gap_ms < 0:
        raise ValueError("tolerance_ms and min_gap_ms must not be negative")
    if end_ms < start_ms:
        raise ValueError(f"window end {end_ms} is before its start {start_ms}")

    times = _as_int64(open_times_ms, "open_times_ms")
    times = _sorted_distinct(times[(times >= start_ms) & (times < end_ms)])

    if times.size == 0:
        starts = np.asarray([start_ms], dtype=np.int64)
        ends = np.asarray([end_ms], dtype=np.int64)
        kinds: list[GapKind] = ["empty"]
    else:
        holes = np.flatnonzero(np.diff(times) > interval_ms + tolerance_ms)
        first, last = int(times[0]), int(times[-1])
        leading = first - start_ms > tolerance_ms
        trailing = end_ms - (last + interval_ms) > tolerance_ms
        starts = np.concatenate(
            (
                np.asarray([start_ms] if leading else [], dtype=np.int64),
                times[holes] + interval_ms,
                np.asarray([last + interval_ms] if trailing else [], dtype=np.int64),
            )
        )
        ends = np.concatenate(
            (
                np.asarray([first] if leading else [], dtype=np.int64),
                times[holes + 1],
                np.asarray([end_ms] if trailing else [], dtype=np.int64),
            )
        )
        kinds = ["internal"] * int(holes.size)
        if leading:
            kinds.insert(0, "leading")
        if trailing:
            kinds.append("trailing")

    durations = ends - starts
    reported = np.flatnonzero((durations > tolerance_ms) & (durations >= min_gap_ms))
    if reported.size == 0:
        return []
    durations = durations[reported]
    # Round half up without floats: floor((2d + i) / 2i).
    missing = (2 * durations + interval_ms) // (2 * interval_ms)
    levels = np.searchsorted(_THRESHOLDS_MS, durations, side="right")
    return [
        Gap(
            start_ms=int(starts[i]),
            end_ms=int(ends[i]),
            duration_seconds=int(d) / 1000,
            missing_candles=int(m),
            kind=kinds[i],
            severity=_SEVERITIES[int(level)],
        )
        for i, d, m, level in zip(reported.tolist(), durations, missing, levels, strict=True)
    ]


def merge_known(
    previous: Sequence[Gap],
    current: Sequence[Gap],
    *,
    window: tuple[int, int] | None = None,
) -> GapMerge:
    """Compare the gaps known from an earlier audit of one series with the ones found now.

    Overlap semantics (half-open ranges; gaps that merely touch do not overlap):

    * a current gap overlapping one or more previous gaps is **still open**: it is reported once
      as a :class:`GapUpdate` carrying its new bounds and every previous gap it overlaps. This
      covers a gap seen again unchanged, shrunk (partly filled), grown (a trailing gap as time
      passes) and split (filled in the middle: each piece is still open, none is new);
    * a current gap overlapping no previous gap is **new**;
    * a previous gap overlapped by no current gap is **resolved** (filled).

    ``window=(start_ms, end_ms)``, when given, is the window the current audit covered: previous
    gaps entirely outside it are left out of all three lists (not knowing is not resolved), and
    a previous gap reaching outside is judged on its part inside the window only.

    ``new`` and ``still_open`` follow the order of ``current``; ``resolved`` that of
    ``previous``.
    """
    if window is not None:
        window_start, window_end = window
        previous = [
            gap for gap in previous if gap.start_ms < window_end and window_start < gap.end_ms
        ]
    if not previous or not current:
        return GapMerge(new=list(current), still_open=[], resolved=list(previous))

    prev_start = np.fromiter((g.start_ms for g in previous), dtype=np.int64, count=len(previous))
    prev_end = np.fromiter((g.end_ms for g in previous), dtype=np.int64, count=len(previous))
    cur_start = np.fromiter((g.start_ms for g in current), dtype=np.int64, count=len(current))
    cur_end = np.fromiter((g.end_ms for g in current), dtype=np.int64, count=len(current))
    # overlap[p, c]: previous gap p and current gap c share at least one millisecond.
    overlap = (prev_start[:, None] < cur_end[None, :]) & (cur_start[None, :] < prev_end[:, None])

    new: list[Gap] = []
    still_open: list[GapUpdate] = []
    for c, gap in enumerate(current):
        matches = np.flatnonzero(overlap[:, c])
        if matches.size == 0:
            new.append(gap)
        else:
            still_open.append(
                GapUpdate(previous=tuple(previous[p] for p in matches.tolist()), current=gap)
            )
    resolved = [previous[p] for p in np.flatnonzero(~overlap.any(axis=1)).tolist()]
    return GapMerge(new=new, still_open=still_open, resolved=resolved)


def detect_id_gaps(ids: IntsLike, *, min_missing: int = 1) -> list[IdGap]:
    """Holes in a consecutive id sequence (aggregate trades), lowest first.

    Only ids between the smallest and largest present id are considered (nothing is assumed
    before the first or after the last). ``ids`` may be in any order and contain repeats. A hole
    is reported when it has at least ``min_missing`` (>= 1) consecutive missing ids.
    """
    if min_missing < 1:
        raise ValueError(f"min_missing must be at least 1, got {min_missing}")
    present = _sorted_distinct(_as_int64(ids, "ids"))
    if present.size < 2:
        return []
    missing = np.diff(present) - 1
    holes = np.flatnonzero(missing >= min_missing)
    return [
        IdGap(first_missing=int(before) + 1, last_missing=int(after) - 1, count=int(count))
        for before, after, count in zip(
            present[holes], present[holes + 1], missing[holes], strict=True
        )
    ]


__all__ = [
    "SEVERITY_THRESHOLDS_SECONDS",
    "Gap",
    "GapKind",
    "GapMerge",
    "GapUpdate",
    "IdGap",
    "Severity",
    "detect_gaps",
    "detect_id_gaps",
    "merge_known",
    "severity_for",
]
