"""The Binance client against a small in-test Binance (``httpx.MockTransport``), virtual time.

``FakeBinance`` counts weight per UTC minute of the shared :class:`ManualClock` like Binance
(with its own weight table, not the client's), answers with ``X-MBX-USED-WEIGHT-1M``, answers
429 with ``Retry-After`` above its limit, validates parameters with Binance's error JSON, and
plays injected failures first.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from petrosa_backfiller.binance import (
    BinanceClient,
    BinanceRequestError,
    BinanceUnavailable,
    Kline,
    ManualClock,
    RequestRecord,
    RetryPolicy,
)
from petrosa_common.timeframes import timeframe_ms

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z
T0_MS = int(T0 * 1000)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000

Injected = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def error(status: int, code: int, msg: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


def binance_weight(request: httpx.Request) -> int:
    path = request.url.path
    if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
        limit = int(request.url.params.get("limit", "500"))
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    return 20 if path == "/fapi/v1/aggTrades" else 1


def kline_row(open_ms: int, interval_ms: int) -> list[Any]:
    step = open_ms // interval_ms
    base = 40_000 + step % 97
    return [
        open_ms,
        f"{base:.2f}",
        f"{base + 5:.2f}",
        f"{base - 5:.2f}",
        f"{base + 1:.2f}",
        f"{step % 13 + 0.5}",
        open_ms + interval_ms - 1,
        f"{(step % 13 + 0.5) * base:.2f}",
        step % 31,
        "0.25",
        f"{0.25 * base:.2f}",
        "0",
    ]


@dataclass
class FakeBinance:
    """Just enough of Binance USDⓈ-M futures for the client's tests."""

    clock: ManualClock
    weight_limit: int = 2400
    symbols: frozenset[str] = frozenset({"BTCUSDT", "ETHUSDT"})
    external_weight: int = 0  # weight "another process on the same IP" used each minute
    latency: float = 0.0
    agg_trade_times: list[int] = field(default_factory=list)
    funding_times: list[int] = field(default_factory=list)
    injected: deque[Injected] = field(default_factory=deque)
    log: list[tuple[float, httpx.Request, int]] = field(default_factory=list)
    used: dict[int, int] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def paths(self) -> list[str]:
        return [request.url.path for _, request, _ in self.log]

    def params(self) -> list[dict[str, str]]:
        return [dict(request.url.params) for _, request, _ in self.log]

    def times(self) -> list[float]:
        return [moment for moment, _, _ in self.log]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            await self.clock.sleep(self.latency)
        now = self.clock.time()
        minute = int(now // 60)
        self.used.setdefault(minute, self.external_weight)
        self.used[minute] += binance_weight(request)
        used = self.used[minute]
        response = self._respond(request, used, now)
        self.log.append((now, request, response.status_code))
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return response

    def _respond(self, request: httpx.Request, used: int, now: float) -> httpx.Response:
        if self.injected:
            item = self.injected.popleft()
            if isinstance(item, Exception):
                raise item
            return item(request) if callable(item) else item
        if used > self.weight_limit:
            retry_after = int(60 - now % 60) + 1
            return error(
                429,
                -1003,
                "Too many requests; current limit of IP is 2400 requests per minute.",
                **{"Retry-After": str(retry_after)},
            )
        params = request.url.params
        path = request.url.path
        if path == "/fapi/v1/time":
            return httpx.Response(200, json={"serverTime": int(now * 1000)})
        if path == "/fapi/v1/exchangeInfo":
            return httpx.Response(200, json=self._exchange_info(now))
        if params.get("symbol") not in self.symbols:
            return error(400, -1121, "Invalid symbol.")
        if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
            return self._klines(params)
        if path == "/fapi/v1/aggTrades":
            return self._agg_trades(params)
        if path == "/fapi/v1/fundingRate":
            return self._funding(params)
        return error(404, -1000, "Unknown path")

    def _klines(self, params: httpx.QueryParams) -> httpx.Response:
        interval = params["interval"]
        if interval not in ("1m", "5m", "1h"):
            return error(400, -1120, "Invalid interval.")
        limit = int(params.get("limit", "500"))
        if not 1 <= limit <= 1500:
            return error(400, -1130, "Data sent for paramter 'limit' is not valid.")
        length = timeframe_ms(interval)
        start = int(params["startTime"])
        end = int(params.get("endTime", str(start + limit * length)))
        first = -(-start // length) * length
        rows = [kline_row(t, length) for t in range(first, end + 1, length)][:limit]
        return httpx.Response(200, json=rows)

    def _agg_trades(self, params: httpx.QueryParams) -> httpx.Response:
        limit = int(params.get("limit", "500"))
        has_time = "startTime" in params or "endTime" in params
        if "fromId" in params and has_time:
            return error(400, -1128, "Combination of optional parameters invalid.")
        if "fromId" in params:
            chosen = [i for i in range(len(self.agg_trade_times)) if i + 1 >= int(params["fromId"])]
        else:
            start, end = int(params["startTime"]), int(params["endTime"])
            if end - start >= HOUR_MS:
                return error(400, -1127, "More than 1 hours between startTime and endTime.")
            chosen = [i for i, moment in enumerate(self.agg_trade_times) if start <= moment <= end]
        rows = [
            {"a": i + 1, "p": "42000.5", "q": "0.010", "f": 10 * i, "l": 10 * i + 3}
            | {"T": self.agg_trade_times[i], "m": i % 2 == 0}
            for i in chosen[:limit]
        ]
        return httpx.Response(200, json=rows)

    def _funding(self, params: httpx.QueryParams) -> httpx.Response:
        limit = int(params.get("limit", "100"))
        start, end = int(params["startTime"]), int(params["endTime"])
        rows = [
            {"symbol": params["symbol"], "fundingRate": "0.00010000", "fundingTime": moment}
            | {"markPrice": "42000.00000000"}
            for moment in self.funding_times
            if start <= moment <= end
        ]
        return httpx.Response(200, json=rows[:limit])

    def _exchange_info(self, now: float) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": int(now * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1}
                | {"limit": self.weight_limit}
            ],
            "symbols": [{"symbol": s, "status": "TRADING"} for s in sorted(self.symbols)],
        }


def make(
    *,
    start: float = T0 + 10,
    budget: int = 2000,
    retry: RetryPolicy | None = None,
    api_key: str | None = None,
    on_response: Callable[[RequestRecord], None] | None = None,
    klines_limit: int = 1500,
    **fake_options: Any,
) -> tuple[BinanceClient, FakeBinance, ManualClock]:
    clock = ManualClock(start)
    fake = FakeBinance(clock, **fake_options)
    client = BinanceClient(
        "https://fapi.example.test",
        api_key=api_key,
        weight_budget=budget,
        retry=retry,
        clock=clock,
        transport=fake.transport(),
        rng=random.Random(7),
        on_response=on_response,
        klines_limit=klines_limit,
    )
    return client, fake, clock


# ------------------------------------------------------------------ plain requests


async def test_klines_request_sends_binance_params_and_parses_rows() -> None:
    client, fake, _ = make()
    async with client:
        rows = await client.get_klines(
            "BTCUSDT", "1m", start_time_ms=T0_MS, end_time_ms=T0_MS + 2 * MINUTE_MS, limit=1500
        )
    assert fake.params() == [
        {
            "symbol": "BTCUSDT",
            "interval": "1m",
            "limit": "1500",
            "startTime": str(T0_MS),
            "endTime": str(T0_MS + 2 * MINUTE_MS),
        }
    ]
    assert [k.open_time_ms for k in rows] == [T0_MS, T0_MS + MINUTE_MS, T0_MS + 2 * MINUTE_MS]
    assert rows[0] == Kline.from_row(kline_row(T0_MS, MINUTE_MS))
    assert isinstance(rows[0].open, float)
    assert client.counters.weight_sent == 10  # limit 1500 costs 10
    assert client.counters.last_used_weight == 10


async def test_api_key_header_sent_only_when_configured() -> None:
    client, fake, _ = make(api_key="k-123")
    async with client:
        await client.get_server_time()
    assert fake.log[0][1].headers["X-MBX-APIKEY"] == "k-123"
    client, fake, _ = make()
    async with client:
        await client.get_server_time()
    assert "X-MBX-APIKEY" not in fake.log[0][1].headers


async def test_exchange_info_and_server_time() -> None:
    client, _, clock = make()
    async with client:
        info = await client.get_exchange_info()
        server_ms = await client.get_server_time()
    assert info.request_weight_per_minute == 2400
    assert info.symbol("ETHUSDT") is not None
    assert server_ms == int(clock.time() * 1000)


async def test_sync_server_time_moves_the_minute_window_to_the_server_clock() -> None:
    client, fake, clock = make()
    fake.injected.append(lambda _: httpx.Response(200, json={"serverTime": T0_MS + 12_500}))
    async with client:
        offset = await client.sync_server_time()
    assert offset == pytest.approx(2.5)
    assert client.limiter.now() == pytest.approx(clock.time() + 2.5)


async def test_invalid_symbol_fails_at_once_with_binance_message() -> None:
    client, fake, _ = make()
    async with client:
        with pytest.raises(BinanceRequestError) as caught:
            await client.get_klines("NOPEUSDT", "1m", start_time_ms=T0_MS, limit=10)
    assert (caught.value.code, caught.value.msg, caught.value.status) == (
        -1121,
        "Invalid symbol.",
        400,
    )
    assert str(caught.value) == "Binance error -1121: Invalid symbol."
    assert len(fake.log) == 1
    assert client.counters.retries == 0
    assert client.counters.request_errors == 1


async def test_4xx_without_binance_json_keeps_the_text() -> None:
    client, fake, _ = make()
    fake.injected.append(httpx.Response(451, text="<html>restricted location</html>"))
    async with client:
        with pytest.raises(BinanceRequestError) as caught:
            await client.get_server_time()
    assert (caught.value.code, caught.value.status) == (None, 451)
    assert "restricted location" in caught.value.msg


async def test_arguments_binance_would_refuse_are_refused_before_sending() -> None:
    client, fake, _ = make()
    async with client:
        with pytest.raises(ValueError, match=r"1\.\.1500"):
            await client.get_klines("BTCUSDT", "1m", limit=1501)
        with pytest.raises(ValueError, match="interval"):
            await client.get_klines("BTCUSDT", "7m")
        with pytest.raises(ValueError, match="one hour"):
            await client.get_agg_trades("BTCUSDT", start_time_ms=T0_MS, end_time_ms=T0_MS + HOUR_MS)
        with pytest.raises(ValueError, match="not both"):
            await client.get_agg_trades("BTCUSDT", from_id=5, start_time_ms=T0_MS)
        with pytest.raises(ValueError, match=r"1\.\.1000"):
            await client.get_funding_rates("BTCUSDT", limit=1001)
    assert fake.log == []


# ------------------------------------------------------------ failures and retries


async def test_5xx_is_retried_with_jittered_backoff_then_succeeds() -> None:
    client, fake, clock = make()
    fake.injected.extend([httpx.Response(502, text="Bad Gateway"), error(503, -1001, "busy")])
    async with client:
        server_ms = await client.get_server_time()
    assert server_ms == int(clock.time() * 1000)
    assert [status for _, _, status in fake.log] == [502, 503, 200]
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5  # ceiling 0.5 s, jittered in its upper half
    assert 0.5 <= second <= 1.0  # ceiling doubled
    assert (client.counters.server_errors, client.counters.retries) == (2, 2)


async def test_a_waf_403_is_retried_at_a_slower_pace() -> None:
    client, fake, _ = make(budget=2000)
    fake.injected.append(httpx.Response(403, text="Forbidden"))
    async with client:
        await client.get_server_time()
        assert client.limiter.effective_budget == 1000  # halved, recovering step by step
    assert [status for _, _, status in fake.log] == [403, 200]


async def test_timeouts_and_connection_errors_are_retried() -> None:
    client, fake, _ = make()
    request = httpx.Request("GET", "https://fapi.example.test/fapi/v1/time")
    fake.injected.extend(
        [httpx.ReadTimeout("slow", request=request), httpx.ConnectError("refused")]
    )
    async with client:
        await client.get_server_time()
    assert client.counters.transport_errors == 2
    assert client.counters.responses_ok == 1


async def test_persistent_timeouts_raise_unavailable_after_bounded_attempts() -> None:
    client, fake, clock = make(retry=RetryPolicy(max_attempts=5, backoff_cap=4.0))
    fake.injected.extend(httpx.ReadTimeout("slow") for _ in range(10))
    async with client:
        with pytest.raises(BinanceUnavailable) as caught:
            await client.get_klines("BTCUSDT", "1m", start_time_ms=T0_MS, limit=10)
    assert caught.value.attempts == 5
    assert "ReadTimeout" in caught.value.last_error
    assert client.counters.requests == 5
    assert len(clock.sleeps) == 4
    assert max(clock.sleeps) <= 4.0


async def test_truncated_json_body_is_retried() -> None:
    client, fake, _ = make()
    fake.injected.append(httpx.Response(200, content=b'[[1704067200000, "1'))
    async with client:
        rows = await client.get_klines("BTCUSDT", "1m", start_time_ms=T0_MS, end_time_ms=T0_MS)
    assert len(rows) == 1
    assert client.counters.transport_errors == 1


async def test_429_pauses_all_traffic_for_retry_after_and_slows_down() -> None:
    client, fake, _ = make()
    fake.injected.append(error(429, -1003, "Too many requests.", **{"Retry-After": "7"}))
    async with client:
        await asyncio.gather(
            client.get_funding_rates("BTCUSDT", start_time_ms=0, end_time_ms=T0_MS),
            client.get_server_time(),
        )
    first, *rest = fake.times()
    assert len(rest) == 2
    assert all(moment >= first + 7 for moment in rest)  # nobody sent during the pause
    assert client.counters.rate_limited == 1
    assert client.limiter.budget_factor == 0.5
    assert client.limiter.effective_budget == 1000


async def test_418_stops_all_traffic_until_the_ban_ends_then_recovers() -> None:
    client, fake, clock = make()
    fake.injected.append(
        error(
            418,
            -1003,
            f"Way too many requests; IP(1.2.3.4) banned until {T0_MS + 190_000}.",
            **{"Retry-After": "180"},
        )
    )
    async with client:
        results = await asyncio.gather(*(client.get_server_time() for _ in range(3)))
    ban_time, *after = fake.times()
    assert ban_time == T0 + 10
    assert len(after) == 3
    assert min(after) >= T0 + 190  # Retry-After 180 s from T0+10, as the message says
    assert all(result >= (T0 + 190) * 1000 for result in results)
    assert client.counters.banned == 1
    assert client.stats().pause_wait_seconds >= 180
    assert clock.time() >= T0 + 190


async def test_418_without_retry_after_uses_the_ban_end_in_the_message() -> None:
    client, fake, _ = make()
    fake.injected.append(error(418, -1003, f"IP banned until {T0_MS + 70_000}. Please use WS."))
    async with client:
        await client.get_server_time()
    assert fake.times()[1] >= T0 + 70


async def test_rate_limit_retries_are_bounded() -> None:
    client, fake, _ = make(retry=RetryPolicy(max_rate_limited=3))
    fake.injected.extend(error(429, -1003, "Too many.", **{"Retry-After": "1"}) for _ in range(9))
    async with client:
        with pytest.raises(BinanceUnavailable, match="HTTP 429"):
            await client.get_server_time()
    assert len(fake.log) == 4


async def test_server_limit_below_budget_gets_429_and_client_honours_retry_after() -> None:
    # The client believes it may spend 2,000 a minute; this server allows 100.
    client, fake, _ = make(weight_limit=100)
    async with client:
        pages = [
            page
            async for page in client.iter_klines(
                "BTCUSDT", "1m", T0_MS, T0_MS + 40 * 500 * MINUTE_MS, limit=500
            )
        ]
    assert sum(len(page) for page in pages) == 20_000
    statuses = [status for _, _, status in fake.log]
    assert statuses.count(429) == client.counters.rate_limited >= 1
    for (moment, _, status), (following, _, _) in itertools.pairwise(fake.log):
        if status == 429:
            assert following >= moment + (60 - moment % 60)  # Retry-After: next minute
    # After the first 429 the halved budget keeps the client under the server's limit.
    assert statuses.count(429) <= 2


async def test_server_header_counts_weight_of_other_processes() -> None:
    client, fake, _ = make(budget=1000, external_weight=900)
    async with client:
        async for _ in client.iter_klines(
            "BTCUSDT", "1m", T0_MS, T0_MS + 200 * 99 * MINUTE_MS, limit=99
        ):
            pass
    # Each minute "someone else" spends 900 of our 1,000; the header makes us yield to it:
    # 200 requests of weight 1 take two minutes of 100, and the IP never passes the budget.
    assert list(fake.used.values()) == [1000, 1000]
    assert client.counters.requests == 200
    assert [m.server_used for m in client.stats().minutes] == [1000, 1000]


# ----------------------------------------------------------------- budget and stats


async def test_concurrent_jobs_share_the_budget_and_use_it_fully() -> None:
    client, fake, clock = make(start=T0 + 5, budget=60)

    async def job(symbol: str) -> int:
        total = 0
        async for page in client.iter_klines(
            symbol, "1m", T0_MS, T0_MS + 30 * 1000 * MINUTE_MS, limit=1000
        ):
            total += len(page)
        return total

    async with client:
        totals = await asyncio.gather(job("BTCUSDT"), job("ETHUSDT"), job("BTCUSDT"))
    assert list(totals) == [30_000, 30_000, 30_000]
    # 90 requests of weight 5 = 450 weight at 60 a minute: 12 requests a minute, 7.5 minutes.
    per_minute = [fake.used[m] for m in sorted(fake.used)]
    assert per_minute == [60] * 7 + [30]
    assert client.counters.rate_limited == 0
    stats = client.stats()
    assert [m.weight_used for m in stats.minutes] == per_minute
    assert [m.server_used for m in stats.minutes] == per_minute
    assert all(m.budget == 60 for m in stats.minutes)
    assert stats.counters.requests == 90
    assert stats.counters.weight_sent == 450
    assert stats.budget_wait_seconds > 0
    assert clock.time() < T0 + 8 * 60


async def test_funding_rate_requests_keep_to_their_own_5_minute_budget() -> None:
    clock = ManualClock(T0 + 10)
    fake = FakeBinance(clock)
    client = BinanceClient(
        "https://fapi.example.test",
        funding_rate_budget_5m=2,
        clock=clock,
        transport=fake.transport(),
    )
    async with client:
        for _ in range(3):
            await client.get_funding_rates(
                "BTCUSDT", start_time_ms=T0_MS, end_time_ms=T0_MS + 86_400_000, limit=10
            )
    times = [at for at, request, _ in fake.log if request.url.path == "/fapi/v1/fundingRate"]
    assert times == [T0 + 10, T0 + 10, T0 + 300]  # the third waited for the next window


async def test_stats_is_a_snapshot() -> None:
    client, _, _ = make()
    async with client:
        await client.get_server_time()
        stats = client.stats()
        await client.get_server_time()
    assert stats.counters.requests == 1
    assert client.counters.requests == 2
    assert stats.minutes[0].requests == 1


async def test_on_response_hook_sees_every_exchange() -> None:
    records: list[RequestRecord] = []
    client, fake, _ = make(on_response=records.append, latency=0.25)
    fake.injected.append(httpx.Response(500))
    async with client:
        await client.get_agg_trades("BTCUSDT", from_id=1)
    assert [(r.endpoint, r.status, r.weight) for r in records] == [
        ("/fapi/v1/aggTrades", 500, 20),
        ("/fapi/v1/aggTrades", 200, 20),
    ]
    assert records[0].seconds == pytest.approx(0.25)
    assert records[1].used_weight == 40


# ------------------------------------------------------------------------- paging


async def test_3000_candles_come_in_two_requests_of_1500() -> None:
    client, fake, _ = make()
    async with client:
        pages = [p async for p in client.iter_klines("BTCUSDT", "1m", T0_MS, T0_MS + 3000 * 60_000)]
    assert [len(page) for page in pages] == [1500, 1500]
    assert fake.params() == [
        {
            "symbol": "BTCUSDT",
            "interval": "1m",
            "limit": "1500",
            "startTime": str(T0_MS),
            "endTime": str(T0_MS + 1500 * MINUTE_MS - 1),
        },
        {
            "symbol": "BTCUSDT",
            "interval": "1m",
            "limit": "1500",
            "startTime": str(T0_MS + 1500 * MINUTE_MS),
            "endTime": str(T0_MS + 3000 * MINUTE_MS - 1),
        },
    ]
    opens = [k.open_time_ms for page in pages for k in page]
    assert opens == list(range(T0_MS, T0_MS + 3000 * MINUTE_MS, MINUTE_MS))
    assert client.counters.weight_sent == 20


async def test_a_klines_limit_of_499_pages_at_the_least_weight_per_candle() -> None:
    client, fake, _ = make(klines_limit=499)
    async with client:
        pages = [p async for p in client.iter_klines("BTCUSDT", "1m", T0_MS, T0_MS + 1000 * 60_000)]
        explicit = [
            p async for p in client.iter_klines("BTCUSDT", "1m", T0_MS, T0_MS + 60_000, limit=1)
        ]
    assert [len(page) for page in pages] == [499, 499, 2]
    assert [params["limit"] for params in fake.params()] == ["499", "499", "2", "1"]
    opens = [k.open_time_ms for page in pages for k in page]
    assert opens == list(range(T0_MS, T0_MS + 1000 * MINUTE_MS, MINUTE_MS))
    assert [len(page) for page in explicit] == [1]
    assert client.counters.weight_sent == 2 + 2 + 1 + 1  # 1,500-candle pages would cost 10


def test_a_klines_limit_binance_would_refuse_is_refused_at_once() -> None:
    for limit in (0, 1501):
        with pytest.raises(ValueError, match="kline limit"):
            BinanceClient("https://fapi.example.test", klines_limit=limit)


async def test_range_end_is_exclusive_and_start_rounds_up_to_an_open() -> None:
    client, fake, _ = make()
    async with client:
        pages = [
            p
            async for p in client.iter_klines(
                "BTCUSDT", "5m", T0_MS + 1, T0_MS + 3_600_000 + 1, limit=10
            )
        ]
    opens = [k.open_time_ms for page in pages for k in page]
    # 00:05 … 01:00: the 00:00 candle began before the range, the 01:00 one opens inside it.
    assert opens == list(range(T0_MS + 300_000, T0_MS + 3_600_000 + 1, 300_000))
    assert [p["limit"] for p in fake.params()] == ["10", "2"]  # the last chunk asks for 2
    assert client.counters.weight_sent == 2


async def test_chunk_without_candles_yields_an_empty_page() -> None:
    client, fake, _ = make()
    fake.injected.append(httpx.Response(200, json=[]))
    async with client:
        pages = [
            p
            async for p in client.iter_klines("BTCUSDT", "1m", T0_MS, T0_MS + 20 * 60_000, limit=10)
        ]
    assert [len(page) for page in pages] == [0, 10]


async def test_rows_outside_the_chunk_are_dropped() -> None:
    client, fake, _ = make()
    rows = [kline_row(T0_MS + i * MINUTE_MS, MINUTE_MS) for i in range(-1, 3)]
    fake.injected.append(httpx.Response(200, json=rows))
    async with client:
        pages = [p async for p in client.iter_klines("BTCUSDT", "1m", T0_MS, T0_MS + 2 * 60_000)]
    assert [k.open_time_ms for k in pages[0]] == [T0_MS, T0_MS + MINUTE_MS]


async def test_mark_price_klines_page_like_klines() -> None:
    client, fake, _ = make()
    async with client:
        pages = [
            p
            async for p in client.iter_mark_price_klines(
                "BTCUSDT", "1h", T0_MS, T0_MS + 48 * HOUR_MS, limit=24
            )
        ]
    assert [len(p) for p in pages] == [24, 24]
    assert set(fake.paths()) == {"/fapi/v1/markPriceKlines"}
    assert pages[1][0].close == pytest.approx(float(kline_row(T0_MS + 24 * HOUR_MS, HOUR_MS)[4]))


async def test_bad_interval_from_binance_fails_the_page() -> None:
    client, _, _ = make()
    async with client:
        with pytest.raises(BinanceRequestError, match="Invalid interval"):
            async for _ in client.iter_klines("BTCUSDT", "15m", T0_MS, T0_MS + HOUR_MS):
                pass


async def test_funding_rates_page_by_time_end_exclusive() -> None:
    eight_hours = 8 * HOUR_MS
    times = [T0_MS + i * eight_hours for i in range(2500)]
    client, fake, _ = make(funding_times=times)
    end = times[2400]
    async with client:
        pages = [p async for p in client.iter_funding_rates("BTCUSDT", T0_MS, end)]
    assert [len(p) for p in pages] == [1000, 1000, 400]
    assert [r.funding_time_ms for p in pages for r in p] == times[:2400]
    assert [p["startTime"] for p in fake.params()] == [
        str(T0_MS),
        str(times[999] + 1),
        str(times[1999] + 1),
    ]
    assert all(p["endTime"] == str(end - 1) for p in fake.params())


async def test_agg_trades_find_the_start_by_time_then_page_by_id() -> None:
    # Hour 0: a trade every 2 s (1,800); hour 1: none; hour 2: one every 3 s (1,200).
    times = [T0_MS + i * 2000 for i in range(1800)]
    times += [T0_MS + 2 * HOUR_MS + i * 3000 for i in range(1200)]
    client, fake, _ = make(agg_trade_times=times)
    start, end = T0_MS + 30 * MINUTE_MS, T0_MS + 2 * HOUR_MS + 30 * MINUTE_MS
    async with client:
        pages = [p async for p in client.iter_agg_trades("BTCUSDT", start, end)]
    got = [t.timestamp_ms for p in pages for t in p]
    assert got == [t for t in times if start <= t < end]
    ids = [t.agg_id for p in pages for t in p]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    first, *rest = fake.params()
    assert (first["startTime"], first["endTime"]) == (str(start), str(start + HOUR_MS - 1))
    assert all(set(p) == {"symbol", "limit", "fromId"} for p in rest)
    # One window (900 trades), then one id page whose 1,000 trades reach past the end.
    assert len(fake.log) == 2


async def test_agg_trades_skip_hours_without_trades() -> None:
    times = [T0_MS + 5 * HOUR_MS + i * 1000 for i in range(10)]
    client, fake, _ = make(agg_trade_times=times)
    async with client:
        pages = [p async for p in client.iter_agg_trades("BTCUSDT", T0_MS, T0_MS + 6 * HOUR_MS)]
    assert [t.agg_id for p in pages for t in p] == list(range(1, 11))
    windows = [(int(p["startTime"]), int(p["endTime"])) for p in fake.params() if "startTime" in p]
    assert windows == [(T0_MS + h * HOUR_MS, T0_MS + (h + 1) * HOUR_MS - 1) for h in range(6)]
    assert all(end - start < HOUR_MS for start, end in windows)
    assert fake.params()[-1] == {"symbol": "BTCUSDT", "limit": "1000", "fromId": "11"}


async def test_agg_trades_by_id_range_is_inclusive() -> None:
    times = [T0_MS + i * 100 for i in range(5000)]
    client, fake, _ = make(agg_trade_times=times)
    async with client:
        pages = [p async for p in client.iter_agg_trades_by_id("BTCUSDT", 1200, 3500)]
    assert [t.agg_id for p in pages for t in p] == list(range(1200, 3501))
    assert [p["fromId"] for p in fake.params()] == ["1200", "2200", "3200"]


def test_fake_rows_round_trip_through_json() -> None:
    # Guard for the fake itself: what it serves is what Binance serves (strings for numbers).
    row = orjson.loads(orjson.dumps(kline_row(T0_MS, MINUTE_MS)))
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10))


async def test_default_client_uses_the_real_clock() -> None:
    transport = httpx.MockTransport(
        lambda _: httpx.Response(200, json={"serverTime": 1}, headers={"X-MBX-USED-WEIGHT-1M": "3"})
    )
    async with BinanceClient("https://fapi.example.test/", transport=transport) as client:
        assert await client.get_server_time() == 1
    assert client.stats().minutes[-1].weight_sent == 1


async def test_cancelled_waiter_frees_its_turn() -> None:
    client, fake, clock = make(budget=10)
    async with client:
        await client.get_klines("BTCUSDT", "1m", start_time_ms=T0_MS, limit=500)  # weight 5
        await client.get_klines("BTCUSDT", "1m", start_time_ms=T0_MS, limit=500)  # budget spent
        waiting = asyncio.create_task(client.get_server_time())
        for _ in range(5):
            await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert clock.time() == T0 + 10  # nobody slept through the minute
        await client.get_server_time()
    assert fake.times()[-1] == T0 + 60.5
