"""Closed candles as numpy columns, oldest first: the input of every candle kernel.

Invariants, each enforced when a :class:`Bars` is built (a violation raises :class:`BadData`,
so no kernel ever computes over refused data):

* every column is one-dimensional and all columns have the same length;
* ``open_time`` is int64 epoch milliseconds, strictly increasing (sorted, no duplicates);
* prices are finite and positive, and each candle is consistent:
  ``low <= min(open, close)`` and ``max(open, close) <= high``;
* volumes, taker buy volumes and trade counts are finite and non-negative, and a bar's taker
  buy volume never exceeds its volume.

Columns are read-only arrays (copied when the caller's were writable), so a frozen ``Bars``
really cannot change under a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from petrosa_analytics.indicators.errors import BadData, InsufficientData

PRICE_COLUMNS = ("open", "high", "low", "close")
QUANTITY_COLUMNS = ("volume", "quote_volume", "taker_buy_base_volume", "trades_count")
COLUMNS = ("open_time", *PRICE_COLUMNS, *QUANTITY_COLUMNS)
"""Column names of :meth:`Bars.from_frame` (the candle documents' field names)."""


@dataclass(frozen=True, slots=True)
class Bars:
    """Closed candles, oldest first (invariants in the module docstring)."""

    open_time: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    quote_volume: NDArray[np.float64]
    taker_buy_base_volume: NDArray[np.float64]
    trades_count: NDArray[np.float64]

    def __post_init__(self) -> None:
        for field in fields(self):
            dtype = np.int64 if field.name == "open_time" else np.float64
            object.__setattr__(self, field.name, _read_only(getattr(self, field.name), dtype))
        _check(self)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Bars:
        """Bars from a frame with the :data:`COLUMNS`; ``open_time`` is a time-zone aware
        ``Datetime`` or integer epoch milliseconds. Nulls are refused (:class:`BadData`)."""
        missing = [name for name in COLUMNS if name not in frame.columns]
        if missing:
            raise BadData(f"candle frame lacks columns {', '.join(missing)}")
        with_nulls = [name for name in COLUMNS if frame[name].null_count()]
        if with_nulls:
            raise BadData(f"candle frame has nulls in {', '.join(with_nulls)}")
        columns: dict[str, Any] = {name: frame[name].to_numpy() for name in COLUMNS[1:]}
        return cls(open_time=_epoch_ms(frame["open_time"]), **columns)

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    def tail(self, n: int) -> Bars:
        """The last ``n`` bars (all of them when there are fewer), like ``polars`` ``tail``."""
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        start = max(len(self) - n, 0)
        # A slice of checked bars is checked bars: skip __post_init__'s copies and checks.
        part = object.__new__(Bars)
        for field in fields(self):
            object.__setattr__(part, field.name, getattr(self, field.name)[start:])
        return part

    def window(self, n: int) -> Bars:
        """The last ``n`` bars of a metric's window: ``n`` is at least 2, and fewer bars than
        ``n`` raise :class:`InsufficientData`."""
        if n < 2:
            raise ValueError(f"a window is at least 2 bars, got {n}")
        if len(self) < n:
            raise InsufficientData(f"window of {n} bars needs {n} bars, got {len(self)}")
        return self.tail(n)


def _epoch_ms(column: pl.Series) -> NDArray[np.int64]:
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            raise BadData("open_time is a naive Datetime; its zone is unknown (use UTC)")
        return column.dt.epoch("ms").to_numpy().astype(np.int64)
    if dtype.is_integer():
        return column.cast(pl.Int64).to_numpy()
    raise BadData(f"open_time must be a Datetime or integer milliseconds, got {dtype}")


def _read_only(values: ArrayLike, dtype: type[np.generic]) -> Any:
    array = np.asarray(values, dtype=dtype)
    if array.flags.writeable:
        array = array.copy()
        array.flags.writeable = False
    return array


def _check(bars: Bars) -> None:
    length = len(bars)
    for field in fields(bars):
        column = getattr(bars, field.name)
        if column.ndim != 1 or column.shape[0] != length:
            raise BadData(f"{field.name} has shape {column.shape}, expected ({length},)")
    if length > 1 and not bool(np.all(np.diff(bars.open_time) > 0)):
        raise BadData("open_time must be strictly increasing (oldest first, no duplicates)")
    for name in PRICE_COLUMNS:
        column = getattr(bars, name)
        if not bool(np.all(np.isfinite(column) & (column > 0))):
            raise BadData(f"{name} has non-finite or non-positive prices")
    for name in QUANTITY_COLUMNS:
        column = getattr(bars, name)
        if not bool(np.all(np.isfinite(column) & (column >= 0))):
            raise BadData(f"{name} has non-finite or negative values")
    body_low = np.minimum(bars.open, bars.close)
    body_high = np.maximum(bars.open, bars.close)
    if not bool(np.all((bars.low <= body_low) & (body_high <= bars.high))):
        raise BadData("a candle's low/high does not enclose its open and close")
    if not bool(np.all(bars.taker_buy_base_volume <= bars.volume)):
        raise BadData("taker_buy_base_volume exceeds volume")


__all__ = ["COLUMNS", "Bars"]
