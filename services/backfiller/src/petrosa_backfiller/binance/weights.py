"""Request weights and limits of the USDⓈ-M futures endpoints, per Binance's tables.

Binance counts weight per IP in fixed windows of one UTC minute (``X-MBX-USED-WEIGHT-1M``),
default limit 2,400. Klines cost by the ``limit`` sent, so the most candles per unit of weight
come from ``limit`` 499 (2 weight, ~250 candles/weight), then 1000 (5 weight, 200/weight), then
1500 (10 weight, 150/weight); fewer, larger requests cost more weight but less latency.
"""

from __future__ import annotations

BINANCE_WEIGHT_LIMIT_1M = 2_400
"""Binance's default REQUEST_WEIGHT limit per minute for USDⓈ-M futures (per IP)."""

KLINES_MAX_LIMIT = 1_500
AGG_TRADES_MAX_LIMIT = 1_000
FUNDING_RATE_MAX_LIMIT = 1_000

AGG_TRADES_WEIGHT = 20
FUNDING_RATE_WEIGHT = 1
EXCHANGE_INFO_WEIGHT = 1
SERVER_TIME_WEIGHT = 1

FUNDING_RATE_REQUESTS_PER_5M = 500
"""``/fapi/v1/fundingRate`` has a limit of its own: 500 requests per 5 minutes per IP."""

AGG_TRADES_MAX_WINDOW_MS = 3_600_000
"""``endTime - startTime`` of one aggTrades request must stay below one hour."""


def kline_weight(limit: int) -> int:
    """Weight of one ``/fapi/v1/klines`` or ``/fapi/v1/markPriceKlines`` request with ``limit``.

    ``[1, 100)`` → 1, ``[100, 500)`` → 2, ``[500, 1000]`` → 5, ``(1000, 1500]`` → 10.
    """
    if not 1 <= limit <= KLINES_MAX_LIMIT:
        raise ValueError(f"kline limit must be within 1..{KLINES_MAX_LIMIT}, got {limit}")
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


__all__ = [
    "AGG_TRADES_MAX_LIMIT",
    "AGG_TRADES_MAX_WINDOW_MS",
    "AGG_TRADES_WEIGHT",
    "BINANCE_WEIGHT_LIMIT_1M",
    "EXCHANGE_INFO_WEIGHT",
    "FUNDING_RATE_MAX_LIMIT",
    "FUNDING_RATE_REQUESTS_PER_5M",
    "FUNDING_RATE_WEIGHT",
    "KLINES_MAX_LIMIT",
    "SERVER_TIME_WEIGHT",
    "kline_weight",
]
