"""The published item of each market series, and the check that keeps pages true to it.

The models are the response models of ``/data/*`` (and the NATS replies). They are strict:
a stored value is published only when it already has the published type (an integer for a
float is fine, a string for a number is not), numbers are finite and ``timestamp`` is a
date. :func:`conforming` drops every document that does not fit, so no page ever carries
an item that breaks its own schema (a document written through CRUD can hold anything).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError


class MarketItem(BaseModel):
    """Common shape: every item has a date ``timestamp``."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    timestamp: datetime


class Candle(MarketItem):
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None
    quote_volume: float | None
    trades_count: int | None


class Trade(MarketItem):
    trade_id: int | None
    price: float | None
    quantity: float | None
    quote_quantity: float | None
    is_buyer_maker: bool | None


class BookLevel(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    price: float
    quantity: float


class DepthSnapshot(MarketItem):
    final_update_id: int | None
    bids: list[BookLevel] | None
    asks: list[BookLevel] | None
    is_snapshot: bool | None


class Funding(MarketItem):
    funding_rate: float | None
    mark_price: float | None
    index_price: float | None


class MarkPrice(MarketItem):
    mark_price: float | None
    index_price: float | None
    funding_rate: float | None
    next_funding_time: datetime | None


class Ticker(MarketItem):
    last_price: float | None
    open_price: float | None
    high_price: float | None
    low_price: float | None
    volume: float | None
    quote_volume: float | None
    is_mini: bool | None


def item_fields(item: type[MarketItem]) -> tuple[str, ...]:
    """The published fields of ``item`` besides ``timestamp``, in order."""
    return tuple(name for name in item.model_fields if name != "timestamp")


_adapters: dict[type[MarketItem], TypeAdapter[list[Any]]] = {}


def conforming(item: type[MarketItem], rows: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """``rows`` as published items of ``item`` and how many rows were dropped as unfit.

    One validation of the whole page; only when it fails are the unfit rows (named by the
    errors' first location) dropped and the rest validated again.
    """
    adapter = _adapters.get(item)
    if adapter is None:
        adapter = _adapters[item] = TypeAdapter(list[item])  # type: ignore[valid-type]
    try:
        return adapter.dump_python(adapter.validate_python(rows)), 0
    except ValidationError as exc:
        unfit = {error["loc"][0] for error in exc.errors()}
    kept = [row for index, row in enumerate(rows) if index not in unfit]
    return adapter.dump_python(adapter.validate_python(kept)), len(rows) - len(kept)


__all__ = [
    "BookLevel",
    "Candle",
    "DepthSnapshot",
    "Funding",
    "MarkPrice",
    "MarketItem",
    "Ticker",
    "Trade",
    "conforming",
    "item_fields",
]
