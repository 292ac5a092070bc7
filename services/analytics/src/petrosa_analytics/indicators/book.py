"""An order book snapshot: the input of the spread kernel.

Invariants, enforced when a :class:`Book` is built (violations raise :class:`BadData`):

* levels are ``(price, quantity)`` with a finite positive price and a finite non-negative
  quantity; levels of quantity 0 (a level the exchange removed) are dropped;
* bids are best first (strictly decreasing prices), asks best first (strictly increasing);
* the book is not crossed: the best bid is not above the best ask.

A side may be empty (a thin or partial snapshot); the kernel then reports ``None`` for what
needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from petrosa_analytics.indicators.errors import BadData

Level = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Book:
    """Bids and asks as ``(price, quantity)`` levels, best first (module docstring)."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "bids", _levels(self.bids, "bids"))
        object.__setattr__(self, "asks", _levels(self.asks, "asks"))
        _check_order(self.bids, "bids", descending=True)
        _check_order(self.asks, "asks", descending=False)
        if self.bids and self.asks and self.bids[0][0] > self.asks[0][0]:
            raise BadData(f"crossed book: best bid {self.bids[0][0]} > best ask {self.asks[0][0]}")

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Book:
        """A book from a stored depth document (``bids``/``asks``: lists of
        ``{"price", "quantity"}`` objects, best first)."""
        return cls(bids=_document_side(document, "bids"), asks=_document_side(document, "asks"))

    def side(self, name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Prices and quantities of ``"bids"`` or ``"asks"`` as arrays, best first."""
        levels = self.bids if name == "bids" else self.asks
        table = np.array(levels, dtype=np.float64).reshape(-1, 2)
        return table[:, 0], table[:, 1]


def _levels(levels: Iterable[Level], name: str) -> tuple[Level, ...]:
    kept: list[Level] = []
    for price, quantity in levels:
        p, q = _number(price, name), _number(quantity, name)
        if p <= 0 or q < 0:
            raise BadData(f"{name} level ({p}, {q}) needs price > 0 and quantity >= 0")
        if q > 0:
            kept.append((p, q))
    return tuple(kept)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadData(f"{name} level holds {value!r}, not a number")
    as_float = float(value)
    if not np.isfinite(as_float):
        raise BadData(f"{name} level holds {as_float}")
    return as_float


def _check_order(levels: tuple[Level, ...], name: str, *, descending: bool) -> None:
    prices = np.array([price for price, _ in levels], dtype=np.float64)
    steps = np.diff(prices)
    if not bool(np.all(steps < 0 if descending else steps > 0)):
        order = "decreasing" if descending else "increasing"
        raise BadData(f"{name} prices must be strictly {order} (best first)")


def _document_side(document: Mapping[str, Any], name: str) -> tuple[Level, ...]:
    levels = document.get(name)
    if not isinstance(levels, list):
        raise BadData(f"depth document has no {name} list")
    try:
        return tuple((level["price"], level["quantity"]) for level in levels)
    except (KeyError, TypeError) as exc:
        raise BadData(f"a {name} level is not a {{price, quantity}} object") from exc


__all__ = ["Book", "Level"]
