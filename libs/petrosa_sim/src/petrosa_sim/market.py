"""One symbol's simulated futures market, producing Binance websocket events in virtual time.

Everything derives from one walk and one ledger of fills: klines of every interval and the
24h tickers aggregate the same trades, aggTrades group consecutive trade ids, and the depth
update ids form one chain. Prices are kept as integer ticks and quantities as integer lots so
aggregates are exact.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Sequence
from typing import Any, NamedTuple

from petrosa_sim import kinds
from petrosa_sim.faults import GapWindow
from petrosa_sim.intervals import candle_open_ms, interval_length_ms
from petrosa_sim.walk import RandomWalk, SymbolSpec

# Binance push cadences (ms).
DEPTH_MS = 100
KLINE_PUSH_MS = 250
MARK_PRICE_MS = 1_000
TICKER_MS = 1_000
FUNDING_PERIOD_MS = 8 * 3_600_000  # funding at 00:00, 08:00 and 16:00 UTC
DAY_MS = 86_400_000
_MINUTE_MS = 60_000  # every interval boundary is a minute boundary

# A taker order fills against 1 + Geometric(_MORE_FILLS) resting orders at one price.
_MORE_FILLS = 0.4
MEAN_FILLS_PER_ORDER = 1.0 / (1.0 - _MORE_FILLS)

PARTIAL_BOOK_LEVELS: tuple[int, ...] = (5, 20)

# Timer codes, in the order they run when due at the same millisecond.
_CLOSE, _DEPTH, _KLINE, _MARK, _TICKER, _MINI, _ORDER = range(7)


class Event(NamedTuple):
    """One Binance event with the truth a test needs about it."""

    time_ms: int
    """Virtual time the event is sent at (its ``E``)."""
    kind: str
    symbol: str
    stream: str
    data: dict[str, Any]
    key: object
    """Natural key: see :func:`petrosa_sim.truth.documents`."""


def expected_frames_per_second(trade_rate: float, intervals: Sequence[str]) -> float:
    """Mean number of events one symbol emits per virtual second at ``trade_rate`` fills/s."""
    orders = trade_rate / MEAN_FILLS_PER_ORDER
    kline_pushes = 1000 / KLINE_PUSH_MS
    # A forming candle is pushed only when a trade changed it since the last push.
    changed = 1.0 - math.exp(-orders * KLINE_PUSH_MS / 1000)
    klines = sum(kline_pushes * changed + 1000 / interval_length_ms(i) for i in intervals)
    periodic = 1000 / DEPTH_MS + 1000 / MARK_PRICE_MS + 2 * 1000 / TICKER_MS
    return trade_rate + orders + klines + periodic


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation for large means)."""
    if mean <= 0.0:
        return 0
    if mean > 30.0:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _first_due(after_ms: int, period_ms: int, phase_ms: int) -> int:
    """First time ``> after_ms`` of the form ``k * period_ms + phase_ms``."""
    return ((after_ms - phase_ms) // period_ms + 1) * period_ms + phase_ms


class _Candle:
    """The forming candle of one interval; prices in ticks, volumes in lots."""

    __slots__ = (
        "buy_lots",
        "buy_quote",
        "close",
        "dirty",
        "end_ms",
        "first_id",
        "high",
        "interval",
        "last_id",
        "length_ms",
        "lots",
        "low",
        "open",
        "open_ms",
        "quote",
        "stream",
        "suppressed",
        "trades",
    )

    def __init__(self, interval: str, stream: str, open_ms: int, price: int) -> None:
        self.interval = interval
        self.stream = stream
        self.length_ms = interval_length_ms(interval)
        self.reset(open_ms, price)

    def reset(self, open_ms: int, price: int) -> None:
        self.open_ms = open_ms
        self.end_ms = open_ms + self.length_ms
        self.open = self.high = self.low = self.close = price
        self.lots = self.buy_lots = 0
        self.quote = self.buy_quote = 0.0
        self.trades = 0
        self.first_id = self.last_id = -1
        self.dirty = False
        self.suppressed = False


class SymbolMarket:
    """The simulated market of one symbol.

    :meth:`advance` runs virtual time forward and appends the events that happened, in time
    order. Randomness comes from streams keyed on ``(seed, symbol)`` only, so a symbol's
    events do not depend on the other symbols or on the fault settings (apart from the depth
    frames that ``partial_book_rate`` turns into snapshots).
    """

    def __init__(
        self,
        spec: SymbolSpec,
        *,
        seed: int,
        start_ms: int,
        intervals: Sequence[str],
        trade_rate: float,
        partial_book_rate: float = 0.0,
        gap_rate: float = 0.0,
        gaps: Sequence[GapWindow] = (),
        emit: Collection[str] = kinds.EVENT_KINDS,
    ) -> None:
        symbol = spec.symbol
        self.spec = spec
        self.symbol = symbol
        self.walk = RandomWalk(spec, seed=seed, start_ms=start_ms)
        self._rng = random.Random(f"{seed}:{symbol}:market")
        # Separate streams for what a ``kinds`` filter may skip, so skipping it changes nothing
        # else: the book (update ids, diff levels), the partial book choice and its levels, and
        # mark price / funding.
        self._depth_rng = random.Random(f"{seed}:{symbol}:depth")
        self._book_rng = random.Random(f"{seed}:{symbol}:book")
        self._partial_rng = random.Random(f"{seed}:{symbol}:partial")
        self._mark_rng = random.Random(f"{seed}:{symbol}:mark")
        self._gap_rng = random.Random(f"{seed}:{symbol}:gaps")
        self._order_rate_per_ms = trade_rate / MEAN_FILLS_PER_ORDER / 1000.0
        self._partial_book_rate = partial_book_rate
        self._gap_rate = gap_rate
        self._gaps = tuple(gap for gap in gaps if gap.symbol == symbol)
        self.suppressed_candles: list[tuple[str, str, int]] = []
        """Every candle ``(symbol, interval, open_ms)`` that was never published."""

        self._emit_trade = kinds.TRADE in emit
        self._emit_agg = kinds.AGG_TRADE in emit
        self._emit_kline = kinds.KLINE in emit
        self._emit_depth = kinds.DEPTH_UPDATE in emit
        self._emit_partial = kinds.PARTIAL_DEPTH in emit
        self._emit_mark = kinds.MARK_PRICE in emit
        self._emit_ticker = kinds.TICKER in emit
        self._emit_mini = kinds.MINI_TICKER in emit

        rng = self._rng
        self._tick = spec.tick
        self._lot = spec.qty_step
        self._price_fmt = f"{{:.{spec.price_decimals}f}}".format
        self._qty_fmt = f"{{:.{spec.qty_decimals}f}}".format
        self._quote_fmt = f"{{:.{min(8, spec.price_decimals + spec.qty_decimals)}f}}".format
        self._mean_lots = max(1.0, spec.mean_notional / spec.base_price / spec.qty_step)

        lower = symbol.lower()
        self._trade_stream = f"{lower}@trade"
        self._agg_stream = f"{lower}@aggTrade"
        self._depth_stream = f"{lower}@depth@100ms"
        self._partial_streams = {n: f"{lower}@depth{n}" for n in PARTIAL_BOOK_LEVELS}
        self._mark_stream = f"{lower}@markPrice@1s"
        self._ticker_stream = f"{lower}@ticker"
        self._mini_stream = f"{lower}@miniTicker"

        # Ids start where a long-listed contract would be.
        self._next_trade_id = rng.randrange(1_000_000_000, 6_000_000_000)
        self._next_agg_id = rng.randrange(100_000_000, 2_000_000_000)
        self._last_update_id = self._depth_rng.randrange(1_000_000_000_000, 9_000_000_000_000)
        self._funding_rate = 0.0001 + self._mark_rng.gauss(0.0, 0.00005)

        # Fixed per-symbol phases: Binance's pushes are periodic but not on round milliseconds.
        # Ticker and mini ticker are half a period apart so their event times never collide.
        self._depth_phase = rng.randrange(0, DEPTH_MS)
        self._kline_phase = rng.randrange(0, KLINE_PUSH_MS)
        self._close_phase = rng.randrange(1, 40)
        self._mark_phase = rng.randrange(0, MARK_PRICE_MS)
        self._ticker_phase = rng.randrange(0, TICKER_MS // 2)
        self._mini_phase = self._ticker_phase + TICKER_MS // 2

        self._next_close = _first_due(start_ms, _MINUTE_MS, self._close_phase)
        self._next_depth = _first_due(start_ms, DEPTH_MS, self._depth_phase)
        self._next_kline = _first_due(start_ms, KLINE_PUSH_MS, self._kline_phase)
        self._next_mark = _first_due(start_ms, MARK_PRICE_MS, self._mark_phase)
        self._next_ticker = _first_due(start_ms, TICKER_MS, self._ticker_phase)
        self._next_mini = _first_due(start_ms, TICKER_MS, self._mini_phase)

        price = self._ticks(self.walk.price)
        self._last_price = price
        self._last_lots = 1
        self._trade_clock = start_ms
        self._candles = [
            _Candle(i, f"{lower}@kline_{i}", candle_open_ms(start_ms, i), price) for i in intervals
        ]
        for candle in self._candles:
            self._decide_gap(candle)
        self._next_boundary = min((c.end_ms for c in self._candles), default=2**62)
        self._init_day_stats(price, trade_rate)

    # -- helpers ---------------------------------------------------------------------------

    def _ticks(self, price: float) -> int:
        return max(1, round(price / self._tick))

    def _price(self, ticks: int) -> str:
        return self._price_fmt(ticks * self._tick)

    def _qty(self, lots: int) -> str:
        return self._qty_fmt(lots * self._lot)

    def _init_day_stats(self, price: int, trade_rate: float) -> None:
        """Synthesise the 24 h before the start so the first ticker looks like a real one."""
        rng = self._rng
        self._day_open = max(1, round(price * math.exp(rng.gauss(0.0, 0.03))))
        self._day_high = round(max(self._day_open, price) * (1 + rng.uniform(0.002, 0.02)))
        self._day_low = max(1, round(min(self._day_open, price) * (1 - rng.uniform(0.002, 0.02))))
        trades = max(10_000, int(trade_rate * 86_400 * rng.uniform(0.5, 1.5)))
        trades = min(trades, self._next_trade_id - 1)  # trade ids stay positive
        self._day_lots = int(trades * self._mean_lots)
        self._day_quote = self._day_lots * self._lot * (self._day_open + price) / 2 * self._tick
        self._day_first_id = self._next_trade_id - trades

    def _decide_gap(self, candle: _Candle) -> None:
        suppressed = any(g.covers(self.symbol, candle.interval, candle.open_ms) for g in self._gaps)
        if self._gap_rate > 0.0 and self._gap_rng.random() < self._gap_rate:
            suppressed = True
        candle.suppressed = suppressed
        if suppressed:
            self.suppressed_candles.append((self.symbol, candle.interval, candle.open_ms))

    # -- the clock -------------------------------------------------------------------------

    def advance(self, start_ms: int, end_ms: int, out: list[Event]) -> None:
        """Run from ``start_ms`` (exclusive) to ``end_ms`` (inclusive), appending to ``out``."""
        due: list[tuple[int, int]] = []
        append = due.append
        # Timers of kinds nobody wants are not run: their randomness has streams of its own.
        while self._next_close <= end_ms:
            append((self._next_close, _CLOSE))
            self._next_close += _MINUTE_MS
        if self._emit_depth or self._emit_partial:
            while self._next_depth <= end_ms:
                append((self._next_depth, _DEPTH))
                self._next_depth += DEPTH_MS
        if self._emit_kline:
            while self._next_kline <= end_ms:
                append((self._next_kline, _KLINE))
                self._next_kline += KLINE_PUSH_MS
        if self._emit_mark:
            while self._next_mark <= end_ms:
                append((self._next_mark, _MARK))
                self._next_mark += MARK_PRICE_MS
        if self._emit_ticker:
            while self._next_ticker <= end_ms:
                append((self._next_ticker, _TICKER))
                self._next_ticker += TICKER_MS
        if self._emit_mini:
            while self._next_mini <= end_ms:
                append((self._next_mini, _MINI))
                self._next_mini += TICKER_MS
        rng = self._rng
        orders = poisson(rng, self._order_rate_per_ms * (end_ms - start_ms))
        for _ in range(orders):
            append((rng.randint(start_ms + 1, end_ms), _ORDER))
        due.sort()

        for time_ms, code in due:
            if time_ms >= self._next_boundary:
                self._roll(time_ms, out)
            if code == _ORDER:
                self._order(time_ms, out)
            elif code == _DEPTH:
                self._depth(time_ms, out)
            elif code == _KLINE:
                self._push_klines(time_ms, out)
            elif code == _MARK:
                self._mark_price(time_ms, out)
            elif code == _TICKER:
                self._ticker(time_ms, out)
            elif code == _MINI:
                self._mini_ticker(time_ms, out)
            # _CLOSE only exists to make the roll above happen without trades.

    # -- klines ----------------------------------------------------------------------------

    def _roll(self, time_ms: int, out: list[Event]) -> None:
        """Close every candle whose interval ended by ``time_ms`` and open the next one."""
        for candle in self._candles:
            while time_ms >= candle.end_ms:
                if self._emit_kline and not candle.suppressed:
                    out.append(self._kline_event(candle, time_ms, closed=True))
                candle.reset(candle.end_ms, self._last_price)
                self._decide_gap(candle)
        self._next_boundary = min(c.end_ms for c in self._candles)

    def _push_klines(self, time_ms: int, out: list[Event]) -> None:
        for candle in self._candles:
            if candle.dirty:
                candle.dirty = False
                if self._emit_kline and not candle.suppressed:
                    out.append(self._kline_event(candle, time_ms, closed=False))

    def _kline_event(self, c: _Candle, time_ms: int, *, closed: bool) -> Event:
        price, tick, qty, lot, quote = (
            self._price_fmt,
            self._tick,
            self._qty_fmt,
            self._lot,
            self._quote_fmt,
        )
        k = {
            "t": c.open_ms,
            "T": c.end_ms - 1,
            "s": self.symbol,
            "i": c.interval,
            "f": c.first_id,
            "L": c.last_id,
            "o": price(c.open * tick),
            "c": price(c.close * tick),
            "h": price(c.high * tick),
            "l": price(c.low * tick),
            "v": qty(c.lots * lot),
            "n": c.trades,
            "x": closed,
            "q": quote(c.quote),
            "V": qty(c.buy_lots * lot),
            "Q": quote(c.buy_quote),
            "B": "0",
        }
        data = {"e": "kline", "E": time_ms, "s": self.symbol, "k": k}
        return Event(time_ms, kinds.KLINE, self.symbol, c.stream, data, (c.interval, c.open_ms))

    # -- trades ----------------------------------------------------------------------------

    def _order(self, time_ms: int, out: list[Event]) -> None:
        """One taker order: fills at one price, then the aggTrade that groups them."""
        draw = self._rng.random
        price = self._ticks(self.walk.advance_to(time_ms))
        # Takers chase the move: buyers lift the ask on upticks, sellers hit the bid on downticks.
        buy_share = 0.5 + 0.15 * ((price > self._last_price) - (price < self._last_price))
        buyer_maker = draw() >= buy_share
        fills = 1
        while draw() < _MORE_FILLS:
            fills += 1
        # Trades reach the socket a few ms after they happen, never out of order.
        event_ms = max(time_ms + int(draw() * 4.0), self._trade_clock)
        self._trade_clock = event_ms
        symbol, price_text = self.symbol, self._price(price)
        qty_fmt, lot, mean_lots = self._qty_fmt, self._lot, self._mean_lots
        unit_quote = price * self._tick * lot
        first_id = self._next_trade_id
        total_lots = 0
        for _ in range(fills):
            # Exponentially distributed fill sizes, at least one lot.
            lots = 1 + int(-math.log(1.0 - draw()) * mean_lots)
            trade_id = self._next_trade_id
            self._next_trade_id = trade_id + 1
            total_lots += lots
            quote = lots * unit_quote
            for candle in self._candles:
                if candle.trades == 0:
                    candle.open = candle.high = candle.low = price
                    candle.first_id = trade_id
                elif price > candle.high:
                    candle.high = price
                elif price < candle.low:
                    candle.low = price
                candle.close = price
                candle.lots += lots
                candle.quote += quote
                candle.trades += 1
                candle.last_id = trade_id
                candle.dirty = True
                if not buyer_maker:
                    candle.buy_lots += lots
                    candle.buy_quote += quote
            if self._emit_trade:
                data = {
                    "e": "trade",
                    "E": event_ms,
                    "T": time_ms,
                    "s": symbol,
                    "t": trade_id,
                    "p": price_text,
                    "q": qty_fmt(lots * lot),
                    "X": "MARKET",
                    "m": buyer_maker,
                }
                out.append(Event(event_ms, kinds.TRADE, symbol, self._trade_stream, data, trade_id))
        self._last_price = price
        self._last_lots = total_lots
        self._day_high = max(self._day_high, price)
        self._day_low = min(self._day_low, price)
        self._day_lots += total_lots
        self._day_quote += total_lots * unit_quote

        agg_id = self._next_agg_id
        self._next_agg_id = agg_id + 1
        if self._emit_agg:
            data = {
                "e": "aggTrade",
                "E": event_ms,
                "s": symbol,
                "a": agg_id,
                "p": price_text,
                "q": self._qty(total_lots),
                "f": first_id,
                "l": self._next_trade_id - 1,
                "T": time_ms,
                "m": buyer_maker,
            }
            out.append(Event(event_ms, kinds.AGG_TRADE, symbol, self._agg_stream, data, agg_id))

    # -- order book ------------------------------------------------------------------------

    def _levels(self, draw: Callable[[], float], best: int, direction: int) -> list[list[str]]:
        """1-4 changed levels on one side, moving away from ``best``; a quarter are removals."""
        price_fmt, tick, qty_fmt, lot = self._price_fmt, self._tick, self._qty_fmt, self._lot
        depth_lots = self._mean_lots * 6.0
        levels = []
        offset = int(draw() * 3.0)
        for _ in range(1 + int(draw() * 4.0)):
            lots = 0 if draw() < 0.25 else 1 + int(draw() * depth_lots)
            levels.append(
                [price_fmt(max(1, best + direction * offset) * tick), qty_fmt(lots * lot)]
            )
            offset += 1 + int(draw() * 10.0)
        return levels

    def _depth(self, time_ms: int, out: list[Event]) -> None:
        draw = self._depth_rng.random
        price = self._ticks(self.walk.advance_to(time_ms))
        previous = self._last_update_id
        final = previous + 3 + int(draw() * 400.0)
        self._last_update_id = final
        transaction_ms = time_ms - int(draw() * 6.0)
        symbol = self.symbol
        rate = self._partial_book_rate
        partial = rate > 0.0 and self._book_rng.random() < rate
        if partial and self._emit_partial:
            book = self._partial_rng.random
            levels = PARTIAL_BOOK_LEVELS[int(book() * len(PARTIAL_BOOK_LEVELS))]
            price_fmt, tick, qty_fmt, lot = self._price_fmt, self._tick, self._qty_fmt, self._lot
            size = self._mean_lots * 3.0
            bids = [
                [price_fmt(max(1, price - i) * tick), qty_fmt((1 + int(book() * size)) * lot)]
                for i in range(levels)
            ]
            asks = [
                [price_fmt((price + 1 + i) * tick), qty_fmt((1 + int(book() * size)) * lot)]
                for i in range(levels)
            ]
            data: dict[str, Any] = {
                "lastUpdateId": final,
                "E": time_ms,
                "T": transaction_ms,
                "bids": bids,
                "asks": asks,
            }
            stream = self._partial_streams[levels]
            out.append(Event(time_ms, kinds.PARTIAL_DEPTH, symbol, stream, data, final))
            return
        if not self._emit_depth:
            return
        data = {
            "e": "depthUpdate",
            "E": time_ms,
            "T": transaction_ms,
            "s": symbol,
            "U": previous + 1,
            "u": final,
            "pu": previous,
            "b": self._levels(draw, price, -1),
            "a": self._levels(draw, price + 1, 1),
        }
        out.append(Event(time_ms, kinds.DEPTH_UPDATE, symbol, self._depth_stream, data, final))

    # -- mark price and funding ------------------------------------------------------------

    def _mark_price(self, time_ms: int, out: list[Event]) -> None:
        rng = self._mark_rng
        price = self.walk.advance_to(time_ms)
        # The funding rate mean-reverts to the 0.01 % baseline.
        rate = self._funding_rate
        rate += 0.01 * (0.0001 - rate) + rng.gauss(0.0, 0.000002)
        self._funding_rate = rate = min(0.003, max(-0.003, rate))
        mark = price * (1.0 + rng.gauss(0.0, 0.00002))
        index = price * (1.0 + rng.gauss(0.0, 0.00002))
        settle = index * (1.0 + rng.gauss(0.0, 0.00001))
        funding_ms = (time_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        data = {
            "e": "markPriceUpdate",
            "E": time_ms,
            "s": self.symbol,
            "p": f"{mark:.8f}",
            "i": f"{index:.8f}",
            "P": f"{settle:.8f}",
            "r": f"{rate:.8f}",
            "T": funding_ms,
        }
        key = (time_ms, funding_ms)
        out.append(Event(time_ms, kinds.MARK_PRICE, self.symbol, self._mark_stream, data, key))

    # -- 24 h tickers ----------------------------------------------------------------------

    def _ticker(self, time_ms: int, out: list[Event]) -> None:
        price, qty = self._price, self._qty
        last, opened = self._last_price, self._day_open
        lots = max(1, self._day_lots)
        last_id = self._next_trade_id - 1
        data = {
            "e": "24hrTicker",
            "E": time_ms,
            "s": self.symbol,
            "p": price(last - opened),
            "P": f"{(last - opened) / opened * 100:.3f}",
            "w": self._price_fmt(self._day_quote / (lots * self._lot)),
            "c": price(last),
            "Q": qty(self._last_lots),
            "o": price(opened),
            "h": price(max(self._day_high, opened, last)),
            "l": price(min(self._day_low, opened, last)),
            "v": qty(self._day_lots),
            "q": self._quote_fmt(self._day_quote),
            "O": time_ms - DAY_MS,
            "C": time_ms,
            "F": self._day_first_id,
            "L": last_id,
            "n": last_id - self._day_first_id + 1,
        }
        out.append(Event(time_ms, kinds.TICKER, self.symbol, self._ticker_stream, data, time_ms))

    def _mini_ticker(self, time_ms: int, out: list[Event]) -> None:
        price = self._price
        last, opened = self._last_price, self._day_open
        data = {
            "e": "24hrMiniTicker",
            "E": time_ms,
            "s": self.symbol,
            "c": price(last),
            "o": price(opened),
            "h": price(max(self._day_high, opened, last)),
            "l": price(min(self._day_low, opened, last)),
            "v": self._qty(self._day_lots),
            "q": self._quote_fmt(self._day_quote),
        }
        out.append(Event(time_ms, kinds.MINI_TICKER, self.symbol, self._mini_stream, data, time_ms))
