"""A fake Binance USDⓈ-M futures REST server with deterministic market history.

>>> from petrosa_sim.binance import BinanceConfig, create_binance_app, expected_klines
>>> app = create_binance_app(BinanceConfig(seed=0, weight_limit=2400))
>>> rows = expected_klines("BTCUSDT", "1m", 1_704_067_200_000, 1_704_067_740_000, seed=0)
>>> len(rows)
10
"""

from petrosa_sim.binance.app import (
    DEFAULT_SYMBOLS,
    WEIGHT_HEADER,
    BinanceConfig,
    BinanceFake,
    ManualClock,
    create_binance_app,
    wall_clock_ms,
)
from petrosa_sim.binance.data import (
    DEFAULT_LISTING_MS,
    KLINE_INTERVALS,
    AggTrade,
    MarketData,
    expected_agg_trades,
    expected_funding_rates,
    expected_klines,
    expected_mark_price_klines,
    market_data,
)
from petrosa_sim.binance.errors import BinanceError
from petrosa_sim.binance.faults import BinanceFaults
from petrosa_sim.binance.limits import WeightLimiter, kline_weight, request_weight
from petrosa_sim.binance.serve import RunningFake, run_binance_fake, serve_forever

__all__ = [
    "DEFAULT_LISTING_MS",
    "DEFAULT_SYMBOLS",
    "KLINE_INTERVALS",
    "WEIGHT_HEADER",
    "AggTrade",
    "BinanceConfig",
    "BinanceError",
    "BinanceFake",
    "BinanceFaults",
    "ManualClock",
    "MarketData",
    "RunningFake",
    "WeightLimiter",
    "create_binance_app",
    "expected_agg_trades",
    "expected_funding_rates",
    "expected_klines",
    "expected_mark_price_klines",
    "kline_weight",
    "market_data",
    "request_weight",
    "run_binance_fake",
    "serve_forever",
    "wall_clock_ms",
]
