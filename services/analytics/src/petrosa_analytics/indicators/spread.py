"""Spread, depth and liquidity of an order book snapshot.

``mid = (best bid + best ask) / 2``; everything priced against the mid needs both sides.

* bid_ask_spread = best ask - best bid (price units); spread_percentage = spread / mid * 100.
* depth_bands[b] for each band ``b`` (percent): ``bid_base``/``bid_quote`` = base quantity
  and quote notional (sum of price * quantity) of bids priced at or above ``mid * (1 - b/100)``;
  ``ask_base``/``ask_quote`` likewise for asks at or below ``mid * (1 + b/100)`` (a level on
  the limit is inside, with a 1e-12 relative tolerance for float rounding). Keys are the
  band's number (``"0.1"``, ``"0.5"``, ``"1"``).
* market_depth_bid / market_depth_ask: base quantity within +-1 % of mid (the 1 % band,
  always reported as scalars for older clients).
* liquidity_ratio = bid quote notional / ask quote notional within +-1 %: above 1 the book
  holds more buying than selling liquidity near the price; ``None`` if no ask is within 1 %.
* imbalance = (best bid quantity - best ask quantity) / (their sum), in [-1, 1]: top-of-book
  pressure, positive when bids outweigh asks.
* slippage_estimate[n] for each quote notional ``n``: walk the asks (buy) or bids (sell),
  consuming whole levels and part of the last, to trade ``n`` of quote currency; with
  ``vwap = n / base quantity obtained``, buy = ``(vwap / mid - 1) * 10^4`` and sell =
  ``(1 - vwap / mid) * 10^4`` basis points (half the spread included: the cost against the
  mid). ``None`` when the side cannot fill ``n`` in full, never a partial number.

An empty side gives ``None`` for its best price, for the mid and for everything measured
against the mid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from petrosa_analytics.indicators.book import Book
from petrosa_analytics.indicators.values import label, number

DEPTH_BAND = 1.0
"""Band (percent of mid) of market_depth_bid/ask, liquidity_ratio."""
BPS = 10_000.0
BOUNDARY_TOLERANCE = 1e-12
"""Relative slack of a band's limit price, so a level exactly on it is inside."""
_BAND_KEYS = ("bid_base", "bid_quote", "ask_base", "ask_quote")


def band_depth(
    prices: NDArray[np.float64], quantities: NDArray[np.float64], limit: float, *, bids: bool
) -> tuple[float, float]:
    """Base quantity and quote notional of levels at or better than ``limit`` (bids: price
    >= limit; asks: price <= limit), a level on the limit counting even when float rounding
    of ``mid * (1 +- band / 100)`` lands a hair past it (relative tolerance 1e-12)."""
    slack = abs(limit) * BOUNDARY_TOLERANCE
    inside = prices >= limit - slack if bids else prices <= limit + slack
    return float(np.sum(quantities[inside])), float(np.sum(prices[inside] * quantities[inside]))


def fill_vwap(
    prices: NDArray[np.float64], quantities: NDArray[np.float64], notional: float
) -> float | None:
    """Average price paid to trade ``notional`` quote currency walking the levels best
    first; ``None`` when they hold less than ``notional``."""
    quote = np.cumsum(prices * quantities)
    if quote.shape[0] == 0 or quote[-1] < notional:
        return None
    last = int(np.searchsorted(quote, notional, side="left"))
    quote_before = float(quote[last - 1]) if last else 0.0
    base = float(np.sum(quantities[:last])) + (notional - quote_before) / float(prices[last])
    return notional / base


def depth_within(
    bid_side: tuple[NDArray[np.float64], NDArray[np.float64]],
    ask_side: tuple[NDArray[np.float64], NDArray[np.float64]],
    *,
    mid: float,
    band: float,
) -> dict[str, float]:
    """Base and quote depth of both sides within ``band`` percent of ``mid``."""
    bid_base, bid_quote = band_depth(*bid_side, mid * (1 - band / 100), bids=True)
    ask_base, ask_quote = band_depth(*ask_side, mid * (1 + band / 100), bids=False)
    return {
        "bid_base": bid_base,
        "bid_quote": bid_quote,
        "ask_base": ask_base,
        "ask_quote": ask_quote,
    }


def spread(
    book: Book,
    *,
    notionals: Sequence[float] = (1_000.0, 10_000.0, 100_000.0),
    bands: Sequence[float] = (0.1, 0.5, 1.0),
) -> dict[str, Any]:
    """Spread and liquidity of ``book`` (module docstring).

    Keys: best_bid, best_ask, mid, bid_ask_spread, spread_percentage, market_depth_bid,
    market_depth_ask, depth_bands, liquidity_ratio, imbalance, slippage_estimate.
    """
    for notional in notionals:
        if not (np.isfinite(notional) and notional > 0):
            raise ValueError(f"notionals must be positive, got {notional}")
    for band in bands:
        if not (np.isfinite(band) and band > 0):
            raise ValueError(f"bands must be positive percentages, got {band}")
    bid_prices, bid_quantities = book.side("bids")
    ask_prices, ask_quantities = book.side("asks")
    best_bid = float(bid_prices[0]) if bid_prices.shape[0] else None
    best_ask = float(ask_prices[0]) if ask_prices.shape[0] else None
    values: dict[str, Any] = {
        "best_bid": best_bid,
        "best_ask": best_ask,
        "mid": None,
        "bid_ask_spread": None,
        "spread_percentage": None,
        "market_depth_bid": None,
        "market_depth_ask": None,
        "depth_bands": {label(band): dict.fromkeys(_BAND_KEYS) for band in bands},
        "liquidity_ratio": None,
        "imbalance": None,
        "slippage_estimate": {label(n): {"buy": None, "sell": None} for n in notionals},
    }
    if best_bid is None or best_ask is None:
        return values

    mid = (best_bid + best_ask) / 2
    bid_side, ask_side = (bid_prices, bid_quantities), (ask_prices, ask_quantities)
    near = depth_within(bid_side, ask_side, mid=mid, band=DEPTH_BAND)
    top_bid, top_ask = float(bid_quantities[0]), float(ask_quantities[0])
    values.update(
        mid=mid,
        bid_ask_spread=best_ask - best_bid,
        spread_percentage=(best_ask - best_bid) / mid * 100,
        market_depth_bid=near["bid_base"],
        market_depth_ask=near["ask_base"],
        depth_bands={
            label(band): depth_within(bid_side, ask_side, mid=mid, band=band) for band in bands
        },
        liquidity_ratio=near["bid_quote"] / near["ask_quote"] if near["ask_quote"] > 0 else None,
        imbalance=(top_bid - top_ask) / (top_bid + top_ask),
        slippage_estimate={
            label(n): {
                "buy": _bps(fill_vwap(ask_prices, ask_quantities, n), mid, sign=1.0),
                "sell": _bps(fill_vwap(bid_prices, bid_quantities, n), mid, sign=-1.0),
            }
            for n in notionals
        },
    )
    return values


def _bps(vwap: float | None, mid: float, *, sign: float) -> float | None:
    return None if vwap is None else number(sign * (vwap / mid - 1) * BPS)


__all__ = [
    "BOUNDARY_TOLERANCE",
    "BPS",
    "DEPTH_BAND",
    "band_depth",
    "depth_within",
    "fill_vwap",
    "spread",
]
