"""Binance REST traffic (the backfiller's client): requests, latency, request weight.

Labels: ``endpoint`` is a path the client calls (``/fapi/v1/klines``, ``/fapi/v1/aggTrades``,
``/fapi/v1/fundingRate``, ``/fapi/v1/markPriceKlines``, ``/fapi/v1/exchangeInfo``,
``/fapi/v1/time``); ``status`` the HTTP status Binance answered, or ``error`` (no response).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BINANCE_REQUESTS = Counter(
    "data_manager_binance_requests_total",
    "Requests sent to Binance REST, by endpoint and HTTP status (error = no response)",
    ["endpoint", "status"],
)
BINANCE_REQUEST_SECONDS = Histogram(
    "data_manager_binance_request_seconds",
    "Binance REST request latency",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BINANCE_WEIGHT = Counter(
    "data_manager_binance_request_weight_total", "Request weight sent to Binance"
)
BINANCE_USED_WEIGHT = Gauge(
    "data_manager_binance_used_weight_1m",
    "The latest X-MBX-USED-WEIGHT-1M Binance reported (weight used this minute by our IP)",
)
BINANCE_BUDGET = Gauge(
    "data_manager_binance_weight_budget",
    "Weight per minute the client allows itself now (lowered for a while after 429/418)",
)
