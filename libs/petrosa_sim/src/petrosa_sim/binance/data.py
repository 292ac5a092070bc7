"""Deterministic Binance USDⓈ-M market history, computable for any time range.

The fake Binance server (and tests that check what a backfill wrote) read the same history
from here. Nothing is generated from the epoch forward: every number is a pure function of
``(seed, symbol, time)``, built from a counter-based hash, so any window can be computed on
its own and two windows always agree where they overlap.

The model, per symbol (levels, decimals and volatility from :mod:`petrosa_sim.walk`):

- The log price at every minute boundary is a Brownian bridge between *anchors* placed every
  :data:`SPAN_MINUTES` minutes (~22.8 days). Anchors scatter around the symbol's reference
  price, so prices wander realistically but never drift off over the years; inside a span the
  path is an exact random walk with ~3.5 %/day volatility, modulated by an hourly volatility
  regime, an intraday season and quieter weekends.
- 1m candle: open and close are the path at the minute's boundaries (so every open equals the
  previous close), wicks, volume, trade and aggregate-trade counts and the taker share are
  seeded draws that follow the volatility. Prices are integer ticks and quantities integer
  lots, so every larger interval aggregates its 1m candles *exactly*: open = first open,
  close = last close, high/low = max/min, volumes and counts = sums.
- Aggregate trades of a minute reproduce its candle: first price = open, last = close, the
  extremes hit high and low, quantities sum to the volume (taker buys to the taker-buy
  volume) and fills to the trade count. Ids are contiguous from the listing on. The quote
  volumes of a candle use its typical price, so they match the trades only approximately.
- Mark price = last price times a tiny basis; funding every 8 h at 00/08/16 UTC, often the
  0.01 % baseline, otherwise drifting with a multi-day regime.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from petrosa_common.time import WEEK_ORIGIN_MS, candle_open_ms, candles_back, next_open_ms
from petrosa_common.timeframes import TIMEFRAME_SECONDS

from petrosa_sim.walk import DAILY_VOLATILITY, SymbolSpec, symbol_spec

MINUTE_MS = 60_000
SPAN_MINUTES = 1 << 15
"""Minutes between two anchors of the price path."""
DEFAULT_LISTING_MS = 1_578_268_800_000
"""2020-01-06T00:00:00Z, a Monday on every interval's grid: nothing exists before it."""
FUNDING_PERIOD_MS = 8 * 3_600_000
MARK_DECIMALS = 8
KLINE_INTERVALS: tuple[str, ...] = tuple(TIMEFRAME_SECONDS)
"""Every interval Binance serves, the calendar month ``1M`` included."""

_SIGMA_MINUTE = DAILY_VOLATILITY / math.sqrt(1440.0)
_ANCHOR_SIGMA = 0.12
_MEAN_FILLS_PER_AGG = 1.67
_CHUNK_MINUTES = 1 << 18  # bounds the memory of one aggregation step (~25 MB)
_SEASON = np.array([0.75 + 0.5 * math.exp(-(((h - 14.0) / 3.5) ** 2)) for h in range(24)])
_WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.7])  # Monday first

Int64Array = NDArray[np.int64]
FloatArray = NDArray[np.float64]
KlineRow = list[Any]
"""``[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
takerBuyBase, takerBuyQuote, "0"]`` exactly as Binance sends it (numbers as strings)."""

# -- counter-based random numbers -------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32, _S11 = (np.uint64(n) for n in (30, 27, 31, 32, 11))
_LOW32 = np.uint64(0xFFFFFFFF)


def _stream_key(seed: int, symbol: str, name: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}:{symbol}:{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _hash(key: np.uint64, index: Int64Array) -> NDArray[np.uint64]:
    """SplitMix64 of ``key + index * golden``: independent 64-bit words per index."""
    z = index.astype(np.uint64) * _GOLDEN + key
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    result: NDArray[np.uint64] = z ^ (z >> _S31)
    return result


def _normal(key: np.uint64, index: Int64Array) -> FloatArray:
    """Standard normal draws (Box-Muller on the two halves of one hash)."""
    h = _hash(key, index)
    u1 = ((h >> _S32).astype(np.float64) + 0.5) / 4_294_967_296.0
    u2 = (h & _LOW32).astype(np.float64) / 4_294_967_296.0
    result: FloatArray = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)
    return result


def _uniform(key: np.uint64, index: Int64Array) -> FloatArray:
    """Uniform draws in (0, 1)."""
    result: FloatArray = ((_hash(key, index) >> _S11).astype(np.float64) + 0.5) / 2.0**53
    return result


def _scalar_hash(key: np.uint64, index: int) -> int:
    return int(_hash(key, np.array([index], dtype=np.int64))[0])


def _rint(values: FloatArray) -> Int64Array:
    result: Int64Array = np.rint(values).astype(np.int64)
    return result


def fixed_point(decimals: int) -> Callable[[int], str]:
    """Formatter of non-negative integers in units of ``10**-decimals`` (exact, no floats)."""
    if decimals == 0:
        return str
    unit = 10**decimals

    def fmt(value: int) -> str:
        whole, frac = divmod(value, unit)
        return f"{whole}.{frac:0{decimals}d}"

    return fmt


# -- interval grids ----------------------------------------------------------------------------


class Grid:
    """Open times of one kline interval (or of funding events), in epoch milliseconds."""

    def floor(self, time_ms: int) -> int:
        """Open time of the period containing ``time_ms``."""
        raise NotImplementedError

    def next(self, open_ms: int) -> int:
        """Open time of the period after the one opening at ``open_ms``."""
        raise NotImplementedError

    def prev(self, open_ms: int) -> int:
        """Open time of the period before the one opening at ``open_ms``."""
        raise NotImplementedError

    def ceil(self, time_ms: int) -> int:
        """First open time at or after ``time_ms``."""
        floor = self.floor(time_ms)
        return floor if floor == time_ms else self.next(floor)

    def opens(
        self, first_ms: int, last_ms: int, *, limit: int | None, from_start: bool
    ) -> list[int]:
        """Open times in ``[first_ms, last_ms]`` (both on the grid), at most ``limit`` of them:
        the earliest when ``from_start``, else the latest."""
        out: list[int] = []
        if first_ms > last_ms:
            return out
        if from_start:
            t = first_ms
            while t <= last_ms and (limit is None or len(out) < limit):
                out.append(t)
                t = self.next(t)
            return out
        t = last_ms
        while t >= first_ms and (limit is None or len(out) < limit):
            out.append(t)
            t = self.prev(t)
        out.reverse()
        return out


@dataclass(frozen=True, slots=True)
class FixedGrid(Grid):
    """Periods of ``length_ms`` aligned to ``origin_ms``."""

    length_ms: int
    origin_ms: int = 0

    def floor(self, time_ms: int) -> int:
        length, origin = self.length_ms, self.origin_ms
        return (time_ms - origin) // length * length + origin

    def next(self, open_ms: int) -> int:
        return open_ms + self.length_ms

    def prev(self, open_ms: int) -> int:
        return open_ms - self.length_ms

    def opens(
        self, first_ms: int, last_ms: int, *, limit: int | None, from_start: bool
    ) -> list[int]:
        if first_ms > last_ms:
            return []
        length = self.length_ms
        if limit is not None and (last_ms - first_ms) // length + 1 > limit:
            if from_start:
                last_ms = first_ms + (limit - 1) * length
            else:
                first_ms = last_ms - (limit - 1) * length
        return list(range(first_ms, last_ms + 1, length))


class MonthGrid(Grid):
    """Calendar months (UTC), Binance's ``1M`` (the grid of :mod:`petrosa_common.time`)."""

    def floor(self, time_ms: int) -> int:
        return candle_open_ms(time_ms, "1M")

    def next(self, open_ms: int) -> int:
        return next_open_ms(open_ms, "1M")

    def prev(self, open_ms: int) -> int:
        return candles_back(open_ms, "1M", 1)


FUNDING_GRID = FixedGrid(FUNDING_PERIOD_MS)


def kline_grid(interval: str) -> Grid:
    """The open-time grid of a Binance kline interval (``KeyError`` for unknown ones)."""
    if interval == "1M":
        return MonthGrid()
    length = TIMEFRAME_SECONDS[interval] * 1000
    return FixedGrid(length, WEEK_ORIGIN_MS if interval == "1w" else 0)


# -- per-minute bars ---------------------------------------------------------------------------


class MinuteBars(NamedTuple):
    """Candles (one per minute, or aggregated) in integer ticks and lots."""

    open: Int64Array
    high: Int64Array
    low: Int64Array
    close: Int64Array
    volume: Int64Array
    """Base volume in lots."""
    quote: Int64Array
    """Quote volume in units of ``tick * lot``."""
    trades: Int64Array
    aggs: Int64Array
    """Aggregate trades (taker orders)."""
    buy_aggs: Int64Array
    buy_volume: Int64Array
    buy_quote: Int64Array


class MarkBars(NamedTuple):
    """Mark price candles in units of 1e-8; ``samples`` is Binance's "number of basic data"
    (one mark price per second)."""

    open: Int64Array
    high: Int64Array
    low: Int64Array
    close: Int64Array
    samples: Int64Array


def _aggregate(bars: MinuteBars, starts: NDArray[np.intp]) -> MinuteBars:
    ends = np.append(starts[1:], len(bars.open)) - 1
    add = np.add.reduceat
    return MinuteBars(
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        add(bars.volume, starts),
        add(bars.quote, starts),
        add(bars.trades, starts),
        add(bars.aggs, starts),
        add(bars.buy_aggs, starts),
        add(bars.buy_volume, starts),
        add(bars.buy_quote, starts),
    )


def _aggregate_mark(bars: MarkBars, starts: NDArray[np.intp]) -> MarkBars:
    ends = np.append(starts[1:], len(bars.open)) - 1
    return MarkBars(
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        np.add.reduceat(bars.samples, starts),
    )


class AggTrade(NamedTuple):
    """One aggregate trade; ``price`` in ticks, ``qty`` in lots."""

    id: int
    price: int
    qty: int
    first_trade_id: int
    last_trade_id: int
    time_ms: int
    buyer_maker: bool


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``parts`` positive integers summing to ``total`` (>= parts), heavy-tailed."""
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    out = [1 + int(w * scale) for w in weights]
    for i in rng.sample(range(parts), total - sum(out)):
        out[i] += 1
    return out


class SymbolHistory:
    """The whole deterministic history of one symbol (see the module docstring)."""

    _SPAN_CACHE = 16  # ~1 year of minutes, ~4 MB

    def __init__(self, spec: SymbolSpec, *, seed: int, listing_ms: int) -> None:
        symbol = spec.symbol
        self.spec = spec
        self.seed = seed
        self.listing_ms = listing_ms
        self.listing_minute = -(-listing_ms // MINUTE_MS)
        self.price_fmt = fixed_point(spec.price_decimals)
        self.qty_fmt = fixed_point(spec.qty_decimals)
        self.quote_fmt = fixed_point(spec.price_decimals + spec.qty_decimals)
        self.mark_fmt = fixed_point(MARK_DECIMALS)
        self._price_scale = 10.0**spec.price_decimals
        self._log_base = math.log(spec.base_price)
        self._base_aggs = 120.0 * math.sqrt(spec.mean_notional / 1000.0)
        self._mean_lots = max(
            1.0, spec.mean_notional * _MEAN_FILLS_PER_AGG / spec.base_price / spec.qty_step
        )
        names = (
            "anchor path vol high low act fills qty side buy basis markhi marklo aggs "
            "fund fundflat fundregime ids"
        )
        self._k = {name: _stream_key(seed, symbol, name) for name in names.split()}
        ids = _scalar_hash(self._k["ids"], 0)
        self.agg_id_base = 100_000_000 + ids % 1_000_000_000
        self.trade_id_base = 1_000_000_000 + (ids >> 32) % 4_000_000_000
        self._spans: OrderedDict[int, FloatArray] = OrderedDict()
        self._span_totals: dict[int, tuple[int, int]] = {}
        # Aggregate and trade counts before each span, from the listing span on.
        self._first_span = self.listing_minute // SPAN_MINUTES
        self._agg_prefix: list[int] = [0]
        self._trade_prefix: list[int] = [0]

    # -- the price path -----------------------------------------------------------------------

    def _vol(self, minutes: Int64Array) -> FloatArray:
        """Volatility multiplier of each minute: hourly regime x intraday season x weekday."""
        hours = minutes // 60
        regime = np.exp(0.25 * _normal(self._k["vol"], hours) - 0.03125)
        result: FloatArray = regime * _SEASON[hours % 24] * _WEEKDAY[(hours // 24 + 3) % 7]
        return result

    def _anchor(self, span: int) -> float:
        draw = _normal(self._k["anchor"], np.array([span], dtype=np.int64))[0]
        return self._log_base + _ANCHOR_SIGMA * float(draw)

    def _span_path(self, span: int) -> FloatArray:
        """Log price at the ``SPAN_MINUTES + 1`` minute boundaries of ``span``."""
        cached = self._spans.get(span)
        if cached is not None:
            self._spans.move_to_end(span)
            return cached
        minutes = np.arange(span * SPAN_MINUTES, (span + 1) * SPAN_MINUTES, dtype=np.int64)
        steps = _normal(self._k["path"], minutes) * (_SIGMA_MINUTE * self._vol(minutes))
        walk = np.zeros(SPAN_MINUTES + 1)
        np.cumsum(steps, out=walk[1:])
        share = np.arange(SPAN_MINUTES + 1, dtype=np.float64) / SPAN_MINUTES
        start, end = self._anchor(span), self._anchor(span + 1)
        path: FloatArray = start + (end - start) * share + (walk - share * walk[-1])
        self._spans[span] = path
        if len(self._spans) > self._SPAN_CACHE:
            self._spans.popitem(last=False)
        return path

    def log_path(self, first_minute: int, last_minute: int) -> FloatArray:
        """Log price at the start of every minute in ``[first_minute, last_minute]``."""
        pieces = []
        minute = first_minute
        while minute <= last_minute:
            span = minute // SPAN_MINUTES
            origin = span * SPAN_MINUTES
            upto = min(last_minute, origin + SPAN_MINUTES - 1)
            pieces.append(self._span_path(span)[minute - origin : upto - origin + 1])
            minute = upto + 1
        return np.concatenate(pieces)

    # -- 1m candles ---------------------------------------------------------------------------

    def _counts(self, minutes: Int64Array, vol: FloatArray) -> tuple[Int64Array, Int64Array]:
        """Aggregate trades and trades of each minute (independent of the price path, so the
        id prefix sums stay cheap)."""
        activity = np.exp(0.35 * _normal(self._k["act"], minutes) - 0.06125)
        aggs = np.maximum(4, _rint(self._base_aggs * vol * activity))
        extra = np.exp(0.3 * _normal(self._k["fills"], minutes) - 0.045)
        trades = aggs + _rint(aggs * (_MEAN_FILLS_PER_AGG - 1.0) * extra)
        return aggs, trades

    def minute_bars(self, first_minute: int, end_minute: int) -> MinuteBars:
        """1m candles of the minutes in ``[first_minute, end_minute)``."""
        minutes = np.arange(first_minute, end_minute, dtype=np.int64)
        ticks = np.maximum(
            1, _rint(np.exp(self.log_path(first_minute, end_minute)) * self._price_scale)
        )
        open_, close = ticks[:-1], ticks[1:]
        vol = self._vol(minutes)
        sigma = np.maximum(_SIGMA_MINUTE * vol * open_, 1e-9)
        wick = 0.6 * sigma
        high = np.maximum(open_, close) + _rint(np.abs(_normal(self._k["high"], minutes)) * wick)
        low = np.maximum(
            1, np.minimum(open_, close) - _rint(np.abs(_normal(self._k["low"], minutes)) * wick)
        )
        aggs, trades = self._counts(minutes, vol)
        move: FloatArray = (close - open_) / sigma
        size: FloatArray = np.exp(0.5 * _normal(self._k["qty"], minutes) - 0.125)
        size *= 0.7 + 0.3 * np.minimum(np.abs(move), 4.0)
        volume = np.maximum(2 * aggs, _rint(aggs * self._mean_lots * size))
        share = 0.5 + 0.06 * _normal(self._k["side"], minutes) + 0.2 * np.tanh(move)
        share = np.clip(share, 0.05, 0.95)
        buy_aggs = np.clip(_rint(aggs * share), 1, aggs - 1)
        buy_volume = _rint(volume * share * np.exp(0.1 * _normal(self._k["buy"], minutes)))
        buy_volume = np.clip(buy_volume, buy_aggs, volume - (aggs - buy_aggs))
        typical = (open_ + high + low + close) // 4
        return MinuteBars(
            open_,
            high,
            low,
            close,
            volume,
            volume * typical,
            trades,
            aggs,
            buy_aggs,
            buy_volume,
            buy_volume * typical,
        )

    def mark_bars(self, first_minute: int, end_minute: int) -> MarkBars:
        """1m mark price candles of the minutes in ``[first_minute, end_minute)``."""
        minutes = np.arange(first_minute, end_minute, dtype=np.int64)
        boundaries = np.arange(first_minute, end_minute + 1, dtype=np.int64)
        price = np.exp(self.log_path(first_minute, end_minute))
        mark = price * (1.0 + 3e-5 * _normal(self._k["basis"], boundaries))
        units = 10.0**MARK_DECIMALS
        marks = _rint(mark * units)
        open_, close = marks[:-1], marks[1:]
        wick = 0.3 * _SIGMA_MINUTE * self._vol(minutes) * mark[:-1] * units
        high = np.maximum(open_, close) + _rint(np.abs(_normal(self._k["markhi"], minutes)) * wick)
        low = np.maximum(
            1,
            np.minimum(open_, close) - _rint(np.abs(_normal(self._k["marklo"], minutes)) * wick),
        )
        return MarkBars(open_, high, low, close, np.full(len(minutes), 60, dtype=np.int64))

    # -- klines -------------------------------------------------------------------------------

    def _chunks(self, grid: Grid, opens: list[int]) -> Iterator[tuple[list[int], list[int]]]:
        """``opens`` cut into runs of at most ``_CHUNK_MINUTES`` minutes, with close times."""
        run: list[int] = []
        closes: list[int] = []
        for open_ms in opens:
            close_ms = grid.next(open_ms) - 1
            if run and (close_ms + 1 - run[0]) // MINUTE_MS > _CHUNK_MINUTES:
                yield run, closes
                run, closes = [], []
            run.append(open_ms)
            closes.append(close_ms)
        if run:
            yield run, closes

    def _starts(self, run: list[int]) -> tuple[int, NDArray[np.intp]]:
        first = run[0] // MINUTE_MS
        return first, np.array([o // MINUTE_MS - first for o in run], dtype=np.intp)

    def klines(self, grid: Grid, opens: list[int]) -> list[KlineRow]:
        """Kline rows opening at ``opens`` (all on ``grid``, none before the listing)."""
        price, qty, quote = self.price_fmt, self.qty_fmt, self.quote_fmt
        rows: list[KlineRow] = []
        for run, closes in self._chunks(grid, opens):
            first, starts = self._starts(run)
            bars = _aggregate(self.minute_bars(first, (closes[-1] + 1) // MINUTE_MS), starts)
            columns = zip(
                run,
                bars.open.tolist(),
                bars.high.tolist(),
                bars.low.tolist(),
                bars.close.tolist(),
                bars.volume.tolist(),
                closes,
                bars.quote.tolist(),
                bars.trades.tolist(),
                bars.buy_volume.tolist(),
                bars.buy_quote.tolist(),
                strict=True,
            )
            rows.extend(
                [
                    *(o_ms, price(o), price(h), price(lo), price(c), qty(v)),
                    *(c_ms, quote(q), n, qty(bv), quote(bq), "0"),
                ]
                for o_ms, o, h, lo, c, v, c_ms, q, n, bv, bq in columns
            )
        return rows

    def mark_price_klines(self, grid: Grid, opens: list[int]) -> list[KlineRow]:
        """Mark price kline rows opening at ``opens``: Binance's shape, volumes ``"0"`` and the
        trade count replaced by the number of mark prices (one per second)."""
        mark = self.mark_fmt
        rows: list[KlineRow] = []
        for run, closes in self._chunks(grid, opens):
            first, starts = self._starts(run)
            bars = _aggregate_mark(self.mark_bars(first, (closes[-1] + 1) // MINUTE_MS), starts)
            columns = zip(
                run,
                bars.open.tolist(),
                bars.high.tolist(),
                bars.low.tolist(),
                bars.close.tolist(),
                closes,
                bars.samples.tolist(),
                strict=True,
            )
            rows.extend(
                [o_ms, mark(o), mark(h), mark(lo), mark(c), "0", c_ms, "0", n, "0", "0", "0"]
                for o_ms, o, h, lo, c, c_ms, n in columns
            )
        return rows

    # -- funding ------------------------------------------------------------------------------

    def funding_rates(self, times: list[int]) -> list[dict[str, Any]]:
        """Funding rows at ``times`` (multiples of 8 h)."""
        if not times:
            return []
        periods = np.array([t // FUNDING_PERIOD_MS for t in times], dtype=np.int64)
        regime = _normal(self._k["fundregime"], periods // 9)  # ~3-day moods of the market
        noise = _normal(self._k["fund"], periods)
        rate = np.clip(0.0001 + 0.00012 * (0.87 * regime + 0.5 * noise), -0.003, 0.003)
        # Most of the time the premium is small and the rate is the 0.01 % interest baseline.
        rate = np.where(_uniform(self._k["fundflat"], periods) < 0.55, 0.0001, rate)
        rows = []
        for t, r in zip(times, rate.tolist(), strict=True):
            minute = t // MINUTE_MS
            mark = self.mark_bars(minute, minute + 1).open.tolist()[0]
            rows.append(
                {
                    "symbol": self.spec.symbol,
                    "fundingTime": t,
                    "fundingRate": f"{r:.8f}",
                    "markPrice": self.mark_fmt(mark),
                }
            )
        return rows

    # -- aggregate trades ---------------------------------------------------------------------

    def _count_range(self, first_minute: int, end_minute: int) -> tuple[Int64Array, Int64Array]:
        first_minute = max(first_minute, self.listing_minute)
        minutes = np.arange(first_minute, max(first_minute, end_minute), dtype=np.int64)
        return self._counts(minutes, self._vol(minutes))

    def _extend_prefix(self, span: int) -> None:
        """Make the id prefix sums known up to the start of ``span``."""
        while self._first_span + len(self._agg_prefix) - 1 < span:
            s = self._first_span + len(self._agg_prefix) - 1
            aggs, trades = self._count_range(s * SPAN_MINUTES, (s + 1) * SPAN_MINUTES)
            self._agg_prefix.append(self._agg_prefix[-1] + int(aggs.sum()))
            self._trade_prefix.append(self._trade_prefix[-1] + int(trades.sum()))

    def ids_before(self, minute: int) -> tuple[int, int]:
        """First aggregate trade id and first trade id of ``minute``."""
        if minute <= self.listing_minute:
            return self.agg_id_base, self.trade_id_base
        span = minute // SPAN_MINUTES
        self._extend_prefix(span)
        aggs, trades = self._count_range(span * SPAN_MINUTES, minute)
        index = span - self._first_span
        return (
            self.agg_id_base + self._agg_prefix[index] + int(aggs.sum()),
            self.trade_id_base + self._trade_prefix[index] + int(trades.sum()),
        )

    def minute_of_agg_id(self, agg_id: int, last_minute: int) -> int | None:
        """The minute holding aggregate trade ``agg_id`` if it is at most ``last_minute``."""
        position = agg_id - self.agg_id_base
        if position < 0:
            return self.listing_minute
        last_span = last_minute // SPAN_MINUTES
        while self._agg_prefix[-1] <= position:
            if self._first_span + len(self._agg_prefix) - 1 > last_span:
                return None
            self._extend_prefix(self._first_span + len(self._agg_prefix))
        index = bisect.bisect_right(self._agg_prefix, position) - 1
        span = self._first_span + index
        origin = max(span * SPAN_MINUTES, self.listing_minute)
        aggs, _ = self._count_range(origin, (span + 1) * SPAN_MINUTES)
        offset = int(np.searchsorted(np.cumsum(aggs), position - self._agg_prefix[index], "right"))
        minute = origin + offset
        return minute if minute <= last_minute else None

    def agg_trades_of_minutes(self, first_minute: int, end_minute: int) -> Iterator[list[AggTrade]]:
        """The aggregate trades of every minute in ``[first_minute, end_minute)``, minute by
        minute (computed lazily, 60 minutes of candles at a time)."""
        first_minute = max(first_minute, self.listing_minute)
        if first_minute >= end_minute:
            return
        next_agg, next_trade = self.ids_before(first_minute)
        for block in range(first_minute, end_minute, 60):
            bars = self.minute_bars(block, min(block + 60, end_minute))
            for i in range(len(bars.open)):
                trades = self._minute_agg_trades(block + i, bars, i, next_agg, next_trade)
                next_agg += len(trades)
                next_trade = trades[-1].last_trade_id + 1
                yield trades

    def _minute_agg_trades(
        self, minute: int, bars: MinuteBars, i: int, first_agg: int, first_trade: int
    ) -> list[AggTrade]:
        rng = random.Random(_scalar_hash(self._k["aggs"], minute))
        count = int(bars.aggs[i])
        open_, high, low, close = (
            int(bars.open[i]),
            int(bars.high[i]),
            int(bars.low[i]),
            int(bars.close[i]),
        )
        buys = int(bars.buy_aggs[i])
        buy_volume = int(bars.buy_volume[i])
        offsets = sorted(rng.randrange(MINUTE_MS) for _ in range(count))
        is_buy = [False] * count
        for j in rng.sample(range(count), buys):
            is_buy[j] = True
        buy_qty = iter(_split(rng, buy_volume, buys))
        sell_qty = iter(_split(rng, int(bars.volume[i]) - buy_volume, count - buys))
        fills = _split(rng, int(bars.trades[i]), count)
        prices = self._minute_prices(rng, count, open_, high, low, close)
        out = []
        trade_id = first_trade
        start_ms = minute * MINUTE_MS
        for j in range(count):
            qty = next(buy_qty) if is_buy[j] else next(sell_qty)
            last = trade_id + fills[j] - 1
            out.append(
                AggTrade(
                    first_agg + j,
                    prices[j],
                    qty,
                    trade_id,
                    last,
                    start_ms + offsets[j],
                    not is_buy[j],
                )
            )
            trade_id = last + 1
        return out

    @staticmethod
    def _minute_prices(
        rng: random.Random, count: int, open_: int, high: int, low: int, close: int
    ) -> list[int]:
        """``count`` prices from open to close that touch high and low once each at least."""
        at_high, at_low = rng.sample(range(1, count - 1), 2)
        controls = sorted({0: open_, at_high: high, at_low: low, count - 1: close}.items())
        noise = (high - low) / 8.0
        prices = [close] * count
        for (i0, p0), (i1, p1) in itertools.pairwise(controls):
            for j in range(i0, i1):
                base = p0 + (p1 - p0) * (j - i0) / (i1 - i0)
                prices[j] = min(high, max(low, round(base + rng.gauss(0.0, noise))))
        for j, p in controls:
            prices[j] = p
        return prices

    def format_agg_trade(self, trade: AggTrade) -> dict[str, Any]:
        """Binance's JSON object of one aggregate trade."""
        return {
            "a": trade.id,
            "p": self.price_fmt(trade.price),
            "q": self.qty_fmt(trade.qty),
            "f": trade.first_trade_id,
            "l": trade.last_trade_id,
            "T": trade.time_ms,
            "m": trade.buyer_maker,
        }


# -- the market ----------------------------------------------------------------------------


class MarketData:
    """Deterministic history of any number of symbols, queried the way Binance answers.

    ``limit=None`` means "everything in the window"; ``now_ms=None`` means no clock (every
    candle in the window exists, closed or not).
    """

    def __init__(self, *, seed: int = 0, listing_ms: int = DEFAULT_LISTING_MS) -> None:
        self.seed = seed
        self.listing_ms = listing_ms
        self._histories: dict[str, SymbolHistory] = {}

    def history(self, symbol: str) -> SymbolHistory:
        """The history of ``symbol`` (any name; unknown ones get seeded parameters)."""
        found = self._histories.get(symbol)
        if found is None:
            spec = symbol_spec(symbol)
            found = SymbolHistory(spec, seed=self.seed, listing_ms=self.listing_ms)
            self._histories[symbol] = found
        return found

    def kline_opens(
        self,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        *,
        limit: int | None,
        now_ms: int | None,
    ) -> list[int]:
        """Open times Binance would answer for these parameters: candles opening in
        ``[start_ms, end_ms]``, closed by ``now_ms``, the first ``limit`` from ``start_ms`` or,
        without it, the last ``limit`` before ``end_ms`` (or now)."""
        grid = kline_grid(interval)
        horizon = [t for t in (end_ms, now_ms) if t is not None]
        if not horizon:
            raise ValueError("need end_ms or now_ms to bound the window")
        earliest = max(self.listing_ms, start_ms if start_ms is not None else 0)
        if earliest > min(horizon):  # also keeps absurd times away from the calendar
            return []
        last = grid.floor(min(horizon))
        if now_ms is not None and last == grid.floor(now_ms):
            last = grid.prev(last)  # the candle containing now is still open
        return grid.opens(grid.ceil(earliest), last, limit=limit, from_start=start_ms is not None)

    def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        *,
        limit: int | None = None,
        now_ms: int | None = None,
        mark: bool = False,
    ) -> list[KlineRow]:
        """``/fapi/v1/klines`` (or ``markPriceKlines`` with ``mark``) rows."""
        opens = self.kline_opens(interval, start_ms, end_ms, limit=limit, now_ms=now_ms)
        history, grid = self.history(symbol), kline_grid(interval)
        if mark:
            return history.mark_price_klines(grid, opens)
        return history.klines(grid, opens)

    def funding_rates(
        self,
        symbol: str,
        start_ms: int | None,
        end_ms: int | None,
        *,
        limit: int | None = None,
        now_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """``/fapi/v1/fundingRate`` rows of one symbol."""
        first = FUNDING_GRID.ceil(max(self.listing_ms, start_ms if start_ms is not None else 0))
        bounds = [FUNDING_GRID.floor(t) for t in (end_ms, now_ms) if t is not None]
        if not bounds:
            raise ValueError("need end_ms or now_ms to bound the window")
        times = FUNDING_GRID.opens(first, min(bounds), limit=limit, from_start=start_ms is not None)
        return self.history(symbol).funding_rates(times)

    def agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
        now_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """``/fapi/v1/aggTrades`` rows: from ``from_id`` on, or within ``[start_ms, end_ms]``
        (both inclusive), or the most recent ones; never after ``now_ms``."""
        history = self.history(symbol)
        bounds = [t for t in (end_ms, now_ms) if t is not None]
        if not bounds:
            raise ValueError("need end_ms or now_ms to bound the window")
        horizon = min(bounds)
        last_minute = horizon // MINUTE_MS
        low = start_ms if start_ms is not None else -1
        found: list[AggTrade] = []
        if from_id is None and start_ms is None:
            # The most recent trades: walk back from the horizon one minute at a time.
            minute = last_minute
            while minute >= history.listing_minute and (limit is None or len(found) < limit):
                trades = next(history.agg_trades_of_minutes(minute, minute + 1))
                found[:0] = [t for t in trades if t.time_ms <= horizon]
                minute -= 1
            if limit is not None:
                found = found[-limit:]
            return [history.format_agg_trade(t) for t in found]
        if from_id is not None:
            first_minute = history.minute_of_agg_id(from_id, last_minute)
            if first_minute is None:
                return []
            first_minute = max(first_minute, low // MINUTE_MS)
        else:
            first_minute = low // MINUTE_MS
        for trades in history.agg_trades_of_minutes(first_minute, last_minute + 1):
            for trade in trades:
                if (
                    trade.time_ms >= low
                    and trade.time_ms <= horizon
                    and (from_id is None or trade.id >= from_id)
                ):
                    found.append(trade)
            if limit is not None and len(found) >= limit:
                break
        if limit is not None:
            found = found[:limit]
        return [history.format_agg_trade(t) for t in found]


@lru_cache(maxsize=8)
def market_data(seed: int = 0, listing_ms: int = DEFAULT_LISTING_MS) -> MarketData:
    """A shared :class:`MarketData` per ``(seed, listing_ms)`` (its caches are worth keeping)."""
    return MarketData(seed=seed, listing_ms=listing_ms)


def expected_klines(
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    seed: int = 0,
    *,
    listing_ms: int = DEFAULT_LISTING_MS,
) -> list[KlineRow]:
    """Every kline row the fake serves for candles of ``symbol`` opening in
    ``[start_ms, end_ms]`` (no page limit, no clock): what a complete backfill must hold."""
    return market_data(seed, listing_ms).klines(symbol, interval, start_ms, end_ms)


def expected_mark_price_klines(
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    seed: int = 0,
    *,
    listing_ms: int = DEFAULT_LISTING_MS,
) -> list[KlineRow]:
    """Every ``markPriceKlines`` row for candles opening in ``[start_ms, end_ms]``."""
    return market_data(seed, listing_ms).klines(symbol, interval, start_ms, end_ms, mark=True)


def expected_agg_trades(
    symbol: str,
    start_ms: int,
    end_ms: int,
    seed: int = 0,
    *,
    listing_ms: int = DEFAULT_LISTING_MS,
) -> list[dict[str, Any]]:
    """Every aggregate trade with ``T`` in ``[start_ms, end_ms]`` (any window length)."""
    return market_data(seed, listing_ms).agg_trades(symbol, start_ms=start_ms, end_ms=end_ms)


def expected_funding_rates(
    symbol: str,
    start_ms: int,
    end_ms: int,
    seed: int = 0,
    *,
    listing_ms: int = DEFAULT_LISTING_MS,
) -> list[dict[str, Any]]:
    """Every funding row with ``fundingTime`` in ``[start_ms, end_ms]``."""
    return market_data(seed, listing_ms).funding_rates(symbol, start_ms, end_ms)
