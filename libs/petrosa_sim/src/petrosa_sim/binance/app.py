"""The fake Binance USDⓈ-M futures REST server: a Starlette app.

Market-data routes answer like ``https://fapi.binance.com`` (paths, parameters, JSON shapes,
string numbers, error codes, weights and rate limits); ``/_fake/...`` routes let a test read
counters and flip fault switches at run time.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import orjson
from petrosa_common.time import now_ms
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from petrosa_sim.binance import errors
from petrosa_sim.binance.data import (
    DEFAULT_LISTING_MS,
    KLINE_INTERVALS,
    MarketData,
)
from petrosa_sim.binance.errors import BinanceError
from petrosa_sim.binance.faults import BinanceFaults
from petrosa_sim.binance.limits import (
    DEFAULT_FUNDING_RATE_LIMIT,
    DEFAULT_KLINE_LIMIT,
    DEFAULT_WEIGHT_LIMIT,
    FUNDING_RATE_PATH,
    FUNDING_RATE_WINDOW_MS,
    Decision,
    RequestCounter,
    Verdict,
    WeightLimiter,
    request_weight,
)
from petrosa_sim.binance.stats import FakeStats
from petrosa_sim.walk import symbol_spec

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
MAX_KLINE_LIMIT = 1_500
MAX_AGG_TRADES_LIMIT = 1_000
DEFAULT_AGG_TRADES_LIMIT = 500
MAX_FUNDING_LIMIT = 1_000
DEFAULT_FUNDING_LIMIT = 100
AGG_TRADES_WINDOW_MS = 3_600_000


wall_clock_ms = now_ms
"""Current epoch milliseconds (the fake's clock unless a test injects another)."""


class ManualClock:
    """A clock tests move by hand: ``clock()`` returns ``now_ms``."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` and return the new time."""
        self.now_ms += ms
        return self.now_ms


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """How one fake Binance behaves (immutable; faults can change at run time)."""

    seed: int = 0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    weight_limit: int = DEFAULT_WEIGHT_LIMIT
    """Request weight per IP and minute."""
    funding_rate_limit: int = DEFAULT_FUNDING_RATE_LIMIT
    """``/fapi/v1/fundingRate`` requests per IP and 5 minutes."""
    listing_ms: int = DEFAULT_LISTING_MS
    """No data exists before this time (every symbol's ``onboardDate``)."""
    faults: BinanceFaults = field(default_factory=BinanceFaults)
    clock: Callable[[], int] = wall_clock_ms
    """Server time in epoch ms: ``serverTime``, the last closed candle, rate-limit windows."""

    def __post_init__(self) -> None:
        symbols = tuple(s.upper() for s in self.symbols)
        if not symbols:
            raise ValueError("the fake needs at least one symbol")
        object.__setattr__(self, "symbols", symbols)
        if self.weight_limit <= 0:
            raise ValueError("weight_limit must be positive")


Params = Mapping[str, str]
Handler = Callable[["BinanceFake", Params, int], Any]


class BinanceFake:
    """The state behind one app: market data, weight limiter, fault switches, counters."""

    def __init__(self, config: BinanceConfig) -> None:
        self.config = config
        self.market = MarketData(seed=config.seed, listing_ms=config.listing_ms)
        self.limiter = WeightLimiter(config.weight_limit)
        self.funding_counter = RequestCounter(config.funding_rate_limit, FUNDING_RATE_WINDOW_MS)
        self.faults = config.faults
        self.stats = FakeStats()
        self._symbols = frozenset(config.symbols)
        self._fault_rng = random.Random(f"binance-faults:{config.seed}")

    def now_ms(self) -> int:
        """Server time."""
        return self.config.clock()

    def reset(self) -> None:
        """Forget counters, weight windows and bans; restore the configured faults."""
        self.limiter.reset()
        self.funding_counter.reset()
        self.stats = FakeStats()
        self.faults = self.config.faults
        self._fault_rng = random.Random(f"binance-faults:{self.config.seed}")

    # -- the request pipeline ------------------------------------------------------------------

    async def serve(self, request: Request, handler: Handler) -> Response:
        """Faults, then the weight limit, then ``handler``; every answer carries the used
        weight header. Each exchange is kept in ``stats.log`` (arrival time, path, params,
        status)."""
        arrived_ms = self.now_ms()
        response = await self._respond(request, handler)
        self.stats.logged(
            arrived_ms, request.url.path, dict(request.query_params), response.status_code
        )
        return response

    async def _respond(self, request: Request, handler: Handler) -> Response:
        path = request.url.path
        ip = request.client.host if request.client else "unknown"
        params = request.query_params
        self.stats.requests += 1
        number = self.stats.requests
        self.stats.by_endpoint[path] += 1
        faults = self.faults
        if faults.latency_ms > 0:
            await anyio.sleep(faults.latency_ms / 1000)
        now = self.now_ms()
        used = self.limiter.used(ip, now)

        banned = self.limiter.banned(ip, now)
        if banned is not None:
            return self._reply(self._ban_payload(ip, banned), banned, status=418)
        if faults.status_418_once:
            self.faults = replace(self.faults, status_418_once=False)
            self.stats.injected["418"] += 1
            return self._ban(ip, now, faults.ban_seconds)
        if faults.status_429_every and number % faults.status_429_every == 0:
            self.stats.injected["429"] += 1
            decision = Decision(Verdict.TOO_MANY, used, retry_after_s=faults.retry_after_seconds)
            return self._reply(self._too_many_payload(), decision, status=429)
        if (faults.status_5xx_every and number % faults.status_5xx_every == 0) or (
            faults.status_5xx_rate > 0 and self._fault_rng.random() < faults.status_5xx_rate
        ):
            self.stats.injected["5xx"] += 1
            error = {"code": -1001, "msg": errors.INTERNAL_ERROR_MSG}
            return self._reply(error, Decision(Verdict.ALLOWED, used), faults.status_5xx_code)

        if path == FUNDING_RATE_PATH and (wait := self.funding_counter.check(ip, now)):
            decision = Decision(Verdict.TOO_MANY, used, retry_after_s=wait)
            limit = self.funding_counter.limit
            payload = {
                "code": -1003,
                "msg": f"Too many requests; current limit is {limit} requests per 5 MINUTE.",
            }
            return self._reply(payload, decision, status=429)
        decision = self.limiter.check(
            ip,
            request_weight(path, params),
            now,
            ban_after_429s=faults.ban_after_429s,
            ban_seconds=faults.ban_seconds,
        )
        if decision.verdict is Verdict.BANNED:
            self.stats.bans += 1
            return self._reply(self._ban_payload(ip, decision), decision, status=418)
        if decision.verdict is Verdict.TOO_MANY:
            return self._reply(self._too_many_payload(), decision, status=429)
        try:
            body = handler(self, params, now)
        except BinanceError as exc:
            return self._reply(exc.payload(), decision, status=exc.status)
        return self._reply(body, decision)

    def _ban(self, ip: str, now: int, seconds: float) -> Response:
        self.stats.bans += 1
        decision = self.limiter.ban(ip, now, seconds)
        return self._reply(self._ban_payload(ip, decision), decision, status=418)

    def _too_many_payload(self) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Too many requests; current limit is {self.limiter.limit} request weight "
            "per 1 MINUTE. Please use the websocket for live updates to avoid polling the API.",
        }

    @staticmethod
    def _ban_payload(ip: str, decision: Decision) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Way too many requests; IP({ip}) banned until {decision.banned_until_ms}. "
            "Please use the websocket for live updates to avoid bans.",
        }

    def _reply(self, body: Any, decision: Decision, status: int = 200) -> Response:
        self.stats.served(status)
        headers = {WEIGHT_HEADER: str(decision.used_weight)}
        if status in (418, 429):
            headers["Retry-After"] = str(decision.retry_after_s)
        return Response(orjson.dumps(body), status, headers, media_type="application/json")

    # -- market data --------------------------------------------------------------------------

    def symbol(self, params: Params, *, required: bool = True) -> str | None:
        """The checked ``symbol`` parameter."""
        return errors.symbol_param(params, self._symbols, required=required)

    def exchange_info(self, now: int) -> dict[str, Any]:
        """``/fapi/v1/exchangeInfo``: every configured symbol, trading."""
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.limiter.limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [self._symbol_info(symbol) for symbol in self.config.symbols],
        }

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        spec = symbol_spec(symbol)
        tick = f"{spec.tick:.{spec.price_decimals}f}"
        step = f"{spec.qty_step:.{spec.qty_decimals}f}" if spec.qty_decimals else "1"
        base = symbol.removesuffix("USDT") or symbol
        return {
            "symbol": symbol,
            "pair": symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4_133_404_800_000,
            "onboardDate": self.config.listing_ms,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": spec.price_decimals,
            "quantityPrecision": spec.qty_decimals,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": tick,
                    "maxPrice": f"{spec.base_price * 100:.{spec.price_decimals}f}",
                    "tickSize": tick,
                },
                {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000000", "stepSize": step},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": step,
                    "maxQty": "100000",
                    "stepSize": step,
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }


# -- route handlers (pure: fake, params, server time -> JSON body) -----------------------------


def _ping(fake: BinanceFake, params: Params, now: int) -> Any:
    return {}


def _time(fake: BinanceFake, params: Params, now: int) -> Any:
    return {"serverTime": now}


def _exchange_info(fake: BinanceFake, params: Params, now: int) -> Any:
    return fake.exchange_info(now)


def _kline_params(
    fake: BinanceFake, params: Params
) -> tuple[str, str, int | None, int | None, int]:
    symbol = fake.symbol(params)
    assert symbol is not None  # required
    interval = params.get("interval")
    if not interval:
        raise errors.mandatory_missing("interval")
    if interval not in KLINE_INTERVALS:
        raise errors.invalid_interval()
    start, end = errors.time_window(params)
    limit = errors.limit_param(params, default=DEFAULT_KLINE_LIMIT, maximum=MAX_KLINE_LIMIT)
    return symbol, interval, start, end, limit


def _klines(fake: BinanceFake, params: Params, now: int) -> Any:
    symbol, interval, start, end, limit = _kline_params(fake, params)
    return fake.market.klines(symbol, interval, start, end, limit=limit, now_ms=now)


def _mark_price_klines(fake: BinanceFake, params: Params, now: int) -> Any:
    symbol, interval, start, end, limit = _kline_params(fake, params)
    return fake.market.klines(symbol, interval, start, end, limit=limit, now_ms=now, mark=True)


def _agg_trades(fake: BinanceFake, params: Params, now: int) -> Any:
    symbol = fake.symbol(params)
    assert symbol is not None
    from_id = errors.long_param(params, "fromId")
    start, end = errors.time_window(params)
    limit = errors.limit_param(
        params, default=DEFAULT_AGG_TRADES_LIMIT, maximum=MAX_AGG_TRADES_LIMIT
    )
    if start is not None and end is not None and end - start > AGG_TRADES_WINDOW_MS:
        raise errors.window_too_long(1)
    # One bound alone opens a one-hour window from it.
    if start is not None and end is None:
        end = start + AGG_TRADES_WINDOW_MS
    elif end is not None and start is None:
        start = end - AGG_TRADES_WINDOW_MS
    return fake.market.agg_trades(
        symbol, from_id=from_id, start_ms=start, end_ms=end, limit=limit, now_ms=now
    )


def _funding_rate(fake: BinanceFake, params: Params, now: int) -> Any:
    symbol = fake.symbol(params, required=False)
    start, end = errors.time_window(params)
    limit = errors.limit_param(params, default=DEFAULT_FUNDING_LIMIT, maximum=MAX_FUNDING_LIMIT)
    symbols = [symbol] if symbol is not None else list(fake.config.symbols)
    rows = [
        row
        for s in symbols
        for row in fake.market.funding_rates(s, start, end, limit=limit, now_ms=now)
    ]
    rows.sort(key=lambda row: (row["fundingTime"], row["symbol"]))
    return rows[:limit] if start is not None else rows[-limit:]


def _market_route(path: str, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        fake: BinanceFake = request.app.state.fake
        return await fake.serve(request, handler)

    return Route(path, endpoint, methods=["GET"])


# -- admin routes ------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def _get_stats(request: Request) -> Response:
    fake: BinanceFake = request.app.state.fake
    return _json(fake.stats.as_dict(fake.limiter))


async def _get_requests(request: Request) -> Response:
    fake: BinanceFake = request.app.state.fake
    return _json([entry.as_dict() for entry in fake.stats.log])


async def _get_faults(request: Request) -> Response:
    fake: BinanceFake = request.app.state.fake
    return _json(fake.faults.as_dict())


async def _post_faults(request: Request) -> Response:
    fake: BinanceFake = request.app.state.fake
    try:
        changes = orjson.loads(await request.body())
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of fault switches")
        fake.faults = fake.faults.updated(changes)
    except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        return _json({"error": str(exc)}, 400)
    return _json(fake.faults.as_dict())


async def _post_reset(request: Request) -> Response:
    fake: BinanceFake = request.app.state.fake
    fake.reset()
    return _json({"reset": True, "faults": fake.faults.as_dict()})


_MARKET_ROUTES: dict[str, Handler] = {
    "/fapi/v1/ping": _ping,
    "/fapi/v1/time": _time,
    "/fapi/v1/exchangeInfo": _exchange_info,
    "/fapi/v1/klines": _klines,
    "/fapi/v1/markPriceKlines": _mark_price_klines,
    "/fapi/v1/aggTrades": _agg_trades,
    "/fapi/v1/fundingRate": _funding_rate,
}


def create_binance_app(config: BinanceConfig | None = None) -> Starlette:
    """The fake Binance as an ASGI app; its state is ``app.state.fake`` (a
    :class:`BinanceFake`: ``faults``, ``stats``, ``limiter``, ``market`` can be used directly)."""
    fake = BinanceFake(config or BinanceConfig())
    admin: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
        ("/_fake/stats", _get_stats, "GET"),
        ("/_fake/requests", _get_requests, "GET"),
        ("/_fake/faults", _get_faults, "GET"),
        ("/_fake/faults", _post_faults, "POST"),
        ("/_fake/reset", _post_reset, "POST"),
    ]
    routes = [_market_route(path, handler) for path, handler in _MARKET_ROUTES.items()]
    routes += [Route(path, endpoint, methods=[method]) for path, endpoint, method in admin]
    app = Starlette(routes=routes)
    app.state.fake = fake
    return app
