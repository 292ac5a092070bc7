"""Async client of Binance USDⓈ-M futures market data (REST) with rate-limit discipline.

``BinanceClient`` does the requests (typed rows, paging helpers); ``WeightLimiter`` keeps a
process within its weight budget per UTC minute; ``ManualClock`` makes time virtual in tests.
"""

from petrosa_backfiller.binance.client import (
    DEFAULT_BASE_URL,
    BinanceClient,
    BinanceCounters,
    BinanceStats,
    RequestRecord,
    RetryPolicy,
)
from petrosa_backfiller.binance.clock import Clock, ManualClock, SystemClock
from petrosa_backfiller.binance.errors import (
    BinanceError,
    BinanceRequestError,
    BinanceResponseError,
    BinanceUnavailable,
)
from petrosa_backfiller.binance.limiter import MinuteUsage, WeightLimiter
from petrosa_backfiller.binance.models import (
    AggTrade,
    ExchangeInfo,
    FundingRate,
    Kline,
    MarkPriceKline,
    RateLimit,
    SymbolInfo,
)
from petrosa_backfiller.binance.paging import KlineChunk, align_open_time, kline_chunks
from petrosa_backfiller.binance.weights import BINANCE_WEIGHT_LIMIT_1M, kline_weight

__all__ = [
    "BINANCE_WEIGHT_LIMIT_1M",
    "DEFAULT_BASE_URL",
    "AggTrade",
    "BinanceClient",
    "BinanceCounters",
    "BinanceError",
    "BinanceRequestError",
    "BinanceResponseError",
    "BinanceStats",
    "BinanceUnavailable",
    "Clock",
    "ExchangeInfo",
    "FundingRate",
    "Kline",
    "KlineChunk",
    "ManualClock",
    "MarkPriceKline",
    "MinuteUsage",
    "RateLimit",
    "RequestRecord",
    "RetryPolicy",
    "SymbolInfo",
    "SystemClock",
    "WeightLimiter",
    "align_open_time",
    "kline_chunks",
    "kline_weight",
]
