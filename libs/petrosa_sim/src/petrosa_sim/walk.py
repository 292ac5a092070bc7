"""Per-symbol price specs and a seeded geometric random walk.

Every symbol gets its own :class:`random.Random` stream keyed on ``(seed, symbol)``, so a
symbol's path does not change when other symbols are added to or removed from a run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Rough real-world levels (price, price decimals, quantity decimals, mean trade notional in
# USDT). Unknown symbols get a deterministic price between 1 and 500.
_KNOWN: dict[str, tuple[float, int, int, float]] = {
    "BTCUSDT": (60_000.0, 1, 3, 6_000.0),
    "ETHUSDT": (3_000.0, 2, 3, 3_000.0),
    "BNBUSDT": (550.0, 2, 2, 1_200.0),
    "SOLUSDT": (150.0, 2, 0, 1_500.0),
    "XRPUSDT": (0.6, 4, 1, 800.0),
    "DOGEUSDT": (0.15, 5, 0, 600.0),
    "ADAUSDT": (0.45, 4, 0, 500.0),
    "LTCUSDT": (80.0, 2, 3, 600.0),
    "LINKUSDT": (15.0, 3, 2, 500.0),
    "AVAXUSDT": (35.0, 3, 0, 500.0),
    "DOTUSDT": (7.0, 3, 1, 400.0),
}

DAILY_VOLATILITY = 0.035
"""Daily volatility of log returns (~3.5 %/day, typical for large-cap perpetuals)."""
_MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Static market parameters of one symbol."""

    symbol: str
    base_price: float
    price_decimals: int
    qty_decimals: int
    mean_notional: float
    """Mean notional (quote asset) of one trade fill."""

    @property
    def tick(self) -> float:
        """Smallest price increment."""
        return 10.0**-self.price_decimals

    @property
    def qty_step(self) -> float:
        """Smallest quantity increment."""
        return 10.0**-self.qty_decimals


def symbol_spec(symbol: str) -> SymbolSpec:
    """Market parameters of ``symbol``: a realistic table for majors, seeded for the rest."""
    symbol = symbol.upper()
    known = _KNOWN.get(symbol)
    if known is not None:
        price, price_decimals, qty_decimals, notional = known
        return SymbolSpec(symbol, price, price_decimals, qty_decimals, notional)
    rng = random.Random(f"spec:{symbol}")
    price = math.exp(rng.uniform(0.0, math.log(500.0)))
    magnitude = math.floor(math.log10(price))
    price_decimals = max(1, 5 - magnitude)
    qty_decimals = max(0, 2 - magnitude)
    price = round(price, price_decimals)
    return SymbolSpec(symbol, price, price_decimals, qty_decimals, rng.uniform(200.0, 1_500.0))


GRID_MS = 100
"""The walk moves in steps of this many milliseconds; prices are constant within a step."""


class RandomWalk:
    """A geometric Brownian motion on a fixed 100 ms grid, deterministic given
    ``(seed, symbol, start_ms)``.

    One normal draw per grid step, whether or not anybody looks at the price in that step, so
    the path does not depend on when (or how often) it is sampled.
    """

    __slots__ = ("_cell", "_log_price", "_rng", "_sigma", "price", "spec", "time_ms")

    def __init__(self, spec: SymbolSpec, *, seed: int, start_ms: int) -> None:
        self.spec = spec
        self._rng = random.Random(f"{seed}:{spec.symbol}")
        # Start within a few percent of the reference price so runs with different seeds differ.
        self._log_price = math.log(spec.base_price) + self._rng.gauss(0.0, 0.02)
        self._sigma = DAILY_VOLATILITY * math.sqrt(GRID_MS / _MS_PER_DAY)
        self._cell = start_ms // GRID_MS
        self.time_ms = start_ms
        self.price = math.exp(self._log_price)

    def advance_to(self, time_ms: int) -> float:
        """Move the walk to ``time_ms`` (no-op for earlier times) and return the price."""
        cell = time_ms // GRID_MS
        steps = cell - self._cell
        if steps > 0:
            gauss, sigma = self._rng.gauss, self._sigma
            log_price = self._log_price
            for _ in range(steps):
                log_price += gauss(0.0, sigma)
            self._log_price = log_price
            self._cell = cell
            self.price = math.exp(log_price)
        if time_ms > self.time_ms:
            self.time_ms = time_ms
        return self.price
