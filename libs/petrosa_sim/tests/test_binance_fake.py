"""The fake Binance USD-M futures REST server (``petrosa-sim binance``)."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from petrosa_sim.__main__ import build_parser
from petrosa_sim.binance import (
    DEFAULT_LISTING_MS,
    WEIGHT_HEADER,
    BinanceConfig,
    BinanceFaults,
    ManualClock,
    create_binance_app,
    expected_agg_trades,
    expected_funding_rates,
    expected_klines,
    expected_mark_price_klines,
    run_binance_fake,
)
from starlette.applications import Starlette

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday
NOW_MS = JAN_1 + 60 * DAY_MS + 30_000  # 2024-03-01T00:00:30Z
KLINES = "/fapi/v1/klines"
AGG_TRADES = "/fapi/v1/aggTrades"


@asynccontextmanager
async def client_for(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        yield client


@pytest.fixture(scope="module")
def data_app() -> Starlette:
    """A fake with a frozen clock and no practical weight limit, shared by read-only tests."""
    return create_binance_app(
        BinanceConfig(seed=0, clock=ManualClock(NOW_MS), weight_limit=10_000_000)
    )


@pytest.fixture
async def data(data_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(data_app) as client:
        yield client


async def get_ok(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def get_error(client: httpx.AsyncClient, path: str, **params: Any) -> tuple[int, int]:
    response = await client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "msg"}
    return body["code"], response.status_code


def limited_app(clock: ManualClock, weight_limit: int = 20, **faults: Any) -> Starlette:
    return create_binance_app(
        BinanceConfig(clock=clock, weight_limit=weight_limit, faults=BinanceFaults(**faults))
    )


# -- data: determinism, shape, aggregation ----------------------------------------------------


async def test_klines_have_binance_shape_and_string_numbers(data: httpx.AsyncClient) -> None:
    rows = await get_ok(data, KLINES, symbol="BTCUSDT", interval="1m", startTime=JAN_1, limit=3)
    assert len(rows) == 3
    for i, row in enumerate(rows):
        assert len(row) == 12
        open_ms, *prices = row[:5]
        assert open_ms == JAN_1 + i * MINUTE_MS
        assert row[6] == open_ms + MINUTE_MS - 1
        assert all(isinstance(p, str) for p in [*prices, row[5], row[7], row[9], row[10]])
        assert isinstance(row[8], int)
        assert row[8] > 0
        assert row[11] == "0"
        low, high = Decimal(row[3]), Decimal(row[2])
        assert low <= min(Decimal(row[1]), Decimal(row[4]))
        assert high >= max(Decimal(row[1]), Decimal(row[4]))
        assert Decimal(row[9]) <= Decimal(row[5])  # taker buy volume within the volume
        assert 20_000 < Decimal(row[4]) < 200_000  # a believable BTC price
    assert rows[1][1] == rows[0][4]  # each open is the previous close


async def test_same_seed_same_data_and_the_pure_function_agrees(data: httpx.AsyncClient) -> None:
    start, end = JAN_1 + 5 * DAY_MS, JAN_1 + 5 * DAY_MS + 99 * MINUTE_MS
    served = await get_ok(
        data, KLINES, symbol="ETHUSDT", interval="1m", startTime=start, endTime=end
    )
    other_app = create_binance_app(BinanceConfig(seed=0, clock=ManualClock(NOW_MS)))
    async with client_for(other_app) as other:
        again = await get_ok(
            other, KLINES, symbol="ETHUSDT", interval="1m", startTime=start, endTime=end
        )
    assert served == again == expected_klines("ETHUSDT", "1m", start, end, seed=0)
    assert len(served) == 100
    assert expected_klines("ETHUSDT", "1m", start, end, seed=1) != served
    assert expected_klines("SOLUSDT", "1m", start, end, seed=0) != served


def test_any_window_agrees_with_any_other_where_they_overlap() -> None:
    whole = expected_klines("BTCUSDT", "5m", JAN_1, JAN_1 + 2 * DAY_MS)
    part = expected_klines("BTCUSDT", "5m", JAN_1 + DAY_MS + 7 * 300_000, JAN_1 + 2 * DAY_MS)
    assert whole[-len(part) :] == part
    # Far apart windows are computed on their own: no generation from the listing.
    later = expected_klines("BTCUSDT", "1m", JAN_1 + 400 * DAY_MS, JAN_1 + 400 * DAY_MS)
    assert later[0][0] == JAN_1 + 400 * DAY_MS


def _aggregate(rows: list[list[Any]]) -> list[Any]:
    def total(i: int) -> str:
        return str(sum(Decimal(r[i]) for r in rows))

    return [
        rows[0][0],
        rows[0][1],
        str(max(Decimal(r[2]) for r in rows)),
        str(min(Decimal(r[3]) for r in rows)),
        rows[-1][4],
        total(5),
        rows[-1][6],
        total(7),
        sum(r[8] for r in rows),
        total(9),
        total(10),
        "0",
    ]


def _normalised(row: list[Any]) -> list[Any]:
    return [str(Decimal(v).normalize()) if isinstance(v, str) else v for v in row]


@pytest.mark.parametrize(("interval", "parts", "part_ms"), [("1h", "1m", 60), ("1d", "1h", 24)])
async def test_larger_intervals_aggregate_the_smaller_ones_exactly(
    data: httpx.AsyncClient, interval: str, parts: str, part_ms: int
) -> None:
    start = JAN_1 + 3 * DAY_MS
    big = await get_ok(data, KLINES, symbol="BTCUSDT", interval=interval, startTime=start, limit=2)
    for candle in big:
        small = await get_ok(
            data, KLINES, symbol="BTCUSDT", interval=parts, startTime=candle[0], endTime=candle[6]
        )
        assert len(small) == part_ms
        assert _normalised(_aggregate(small)) == _normalised(candle)


def test_weekly_and_monthly_candles_follow_binance_alignment() -> None:
    weeks = expected_klines("BTCUSDT", "1w", JAN_1, JAN_1 + 20 * DAY_MS)
    assert [w[0] for w in weeks] == [JAN_1, JAN_1 + 7 * DAY_MS, JAN_1 + 14 * DAY_MS]  # Mondays
    months = expected_klines("BTCUSDT", "1M", JAN_1, JAN_1 + 40 * DAY_MS)
    assert [m[0] for m in months] == [JAN_1, JAN_1 + 31 * DAY_MS]
    assert months[0][6] == JAN_1 + 31 * DAY_MS - 1
    days = expected_klines("BTCUSDT", "1d", JAN_1, JAN_1 + 30 * DAY_MS)
    assert _normalised(_aggregate(days)) == _normalised(months[0])


# -- klines paging semantics ------------------------------------------------------------------


async def test_window_bounds_are_inclusive_on_open_time(data: httpx.AsyncClient) -> None:
    rows = await get_ok(
        data,
        KLINES,
        symbol="BTCUSDT",
        interval="15m",
        startTime=JAN_1 + 1,  # not on the grid: the first candle opens after it
        endTime=JAN_1 + HOUR_MS,  # on the grid: included
    )
    assert [r[0] for r in rows] == [JAN_1 + i * 900_000 for i in range(1, 5)]


async def test_limit_defaults_to_500_and_caps_at_1500(data: httpx.AsyncClient) -> None:
    assert len(await get_ok(data, KLINES, symbol="BTCUSDT", interval="1m", startTime=JAN_1)) == 500
    full = await get_ok(data, KLINES, symbol="BTCUSDT", interval="1m", startTime=JAN_1, limit=1500)
    assert len(full) == 1500
    assert full[-1][0] == JAN_1 + 1499 * MINUTE_MS
    code, _ = await get_error(data, KLINES, symbol="BTCUSDT", interval="1m", limit=1501)
    assert code == -1130
    code, _ = await get_error(data, KLINES, symbol="BTCUSDT", interval="1m", limit=0)
    assert code == -1130


async def test_paging_by_last_open_time_reassembles_the_range(data: httpx.AsyncClient) -> None:
    start, end = JAN_1 + 10 * DAY_MS, JAN_1 + 12 * DAY_MS + 17 * MINUTE_MS
    pages, cursor = [], start
    while cursor <= end:
        page = await get_ok(
            data,
            KLINES,
            symbol="BNBUSDT",
            interval="1m",
            startTime=cursor,
            endTime=end,
            limit=1500,
        )
        if not page:
            break
        pages.extend(page)
        cursor = page[-1][0] + 1
    assert len(pages) == 2 * 1440 + 18
    assert pages == expected_klines("BNBUSDT", "1m", start, end)


async def test_only_closed_candles_exist_and_latest_come_without_start(
    data: httpx.AsyncClient,
) -> None:
    latest = await get_ok(data, KLINES, symbol="BTCUSDT", interval="1h", limit=5)
    last_closed = NOW_MS - NOW_MS % HOUR_MS - HOUR_MS
    assert [r[0] for r in latest] == [last_closed - i * HOUR_MS for i in range(4, -1, -1)]
    future = await get_ok(data, KLINES, symbol="BTCUSDT", interval="1m", startTime=NOW_MS)
    assert future == []
    far = await get_ok(data, KLINES, symbol="BTCUSDT", interval="1M", startTime=10**19)
    assert far == []
    before = await get_ok(
        data, KLINES, symbol="BTCUSDT", interval="1m", endTime=JAN_1 + 10 * MINUTE_MS, limit=3
    )
    assert [r[0] for r in before] == [JAN_1 + i * MINUTE_MS for i in (8, 9, 10)]


async def test_nothing_exists_before_the_listing(data: httpx.AsyncClient) -> None:
    rows = await get_ok(
        data, KLINES, symbol="BTCUSDT", interval="1d", startTime=0, endTime=DEFAULT_LISTING_MS
    )
    assert [r[0] for r in rows] == [DEFAULT_LISTING_MS]
    info = await get_ok(data, "/fapi/v1/exchangeInfo")
    assert {s["onboardDate"] for s in info["symbols"]} == {DEFAULT_LISTING_MS}


async def test_mark_price_klines_share_the_kline_row_shape(data: httpx.AsyncClient) -> None:
    rows = await get_ok(
        data, "/fapi/v1/markPriceKlines", symbol="BTCUSDT", interval="5m", startTime=JAN_1, limit=4
    )
    assert rows == expected_mark_price_klines("BTCUSDT", "5m", JAN_1, JAN_1 + 15 * MINUTE_MS)
    trade = expected_klines("BTCUSDT", "5m", JAN_1, JAN_1)[0]
    for row in rows:
        assert len(row) == 12
        assert row[5] == row[7] == "0"
        assert row[8] == 300
        assert len(row[1].split(".")[1]) == 8
    assert abs(Decimal(rows[0][1]) / Decimal(trade[1]) - 1) < Decimal("0.001")
    assert rows[1][1] == rows[0][4]


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (KLINES, {"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        (KLINES, {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        (KLINES, {"interval": "1m"}, -1102),
        (KLINES, {"symbol": "", "interval": "1m"}, -1102),
        (KLINES, {"symbol": "BTCUSDT"}, -1102),
        (KLINES, {"symbol": "BTCUSDT", "interval": "1m", "startTime": "yesterday"}, -1100),
        (KLINES, {"symbol": "BTCUSDT", "interval": "1m", "startTime": 2, "endTime": 1}, -1023),
        ("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "interval": "1y"}, -1120),
        (AGG_TRADES, {"symbol": "BTCUSDT", "limit": 1001}, -1130),
        (AGG_TRADES, {"symbol": "BTCUSDT", "startTime": 0, "endTime": HOUR_MS + 1}, -1127),
        (AGG_TRADES, {}, -1102),
        ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "limit": 1001}, -1130),
        ("/fapi/v1/fundingRate", {"symbol": "DOGEUSDT"}, -1121),
    ],
)
async def test_bad_requests_get_binance_error_codes(
    data: httpx.AsyncClient, path: str, params: dict[str, Any], code: int
) -> None:
    assert (await get_error(data, path, **params))[0] == code


async def test_error_messages_are_binances(data: httpx.AsyncClient) -> None:
    response = await data.get(KLINES, params={"symbol": "NOPE", "interval": "1m"})
    assert response.json() == {"code": -1121, "msg": "Invalid symbol."}
    response = await data.get(KLINES, params={"symbol": "BTCUSDT", "interval": "2m"})
    assert response.json() == {"code": -1120, "msg": "Invalid interval."}
    response = await data.get(KLINES, params={"interval": "1m"})
    assert response.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    }


# -- aggTrades and funding --------------------------------------------------------------------


async def test_agg_trades_reproduce_their_minute_candle(data: httpx.AsyncClient) -> None:
    minute = JAN_1 + 2 * DAY_MS + 13 * HOUR_MS
    trades = expected_agg_trades("ETHUSDT", minute, minute + MINUTE_MS - 1)
    candle = expected_klines("ETHUSDT", "1m", minute, minute)[0]
    assert len(trades) >= 4
    assert [t["a"] for t in trades] == list(range(trades[0]["a"], trades[0]["a"] + len(trades)))
    assert all(nxt["f"] == cur["l"] + 1 for cur, nxt in itertools.pairwise(trades))
    assert all(t["f"] <= t["l"] for t in trades)
    assert trades[-1]["l"] - trades[0]["f"] + 1 == candle[8]  # trade count
    prices = [Decimal(t["p"]) for t in trades]
    assert (prices[0], max(prices), min(prices), prices[-1]) == tuple(
        Decimal(p) for p in candle[1:5]
    )
    assert sum(Decimal(t["q"]) for t in trades) == Decimal(candle[5])
    assert sum(Decimal(t["q"]) for t in trades if not t["m"]) == Decimal(candle[9])
    assert all(minute <= t["T"] < minute + MINUTE_MS for t in trades)
    assert [t["T"] for t in trades] == sorted(t["T"] for t in trades)
    following = expected_agg_trades("ETHUSDT", minute + MINUTE_MS, minute + 2 * MINUTE_MS - 1)
    assert following[0]["a"] == trades[-1]["a"] + 1
    assert following[0]["f"] == trades[-1]["l"] + 1


async def test_agg_trades_page_by_time_and_by_id(data: httpx.AsyncClient) -> None:
    start = JAN_1 + 20 * DAY_MS
    first = await get_ok(
        data, AGG_TRADES, symbol="BTCUSDT", startTime=start, endTime=start + HOUR_MS
    )
    assert len(first) == 500  # the default limit
    assert set(first[0]) == {"a", "p", "q", "f", "l", "T", "m"}
    assert first == expected_agg_trades("BTCUSDT", start, start + HOUR_MS)[:500]
    by_id = await get_ok(data, AGG_TRADES, symbol="BTCUSDT", fromId=first[250]["a"], limit=1000)
    assert len(by_id) == 1000
    assert by_id[:250] == first[250:]
    assert [t["a"] for t in by_id] == list(range(first[250]["a"], first[250]["a"] + 1000))
    recent = await get_ok(data, AGG_TRADES, symbol="BTCUSDT", limit=10)
    assert len(recent) == 10
    assert recent[-1]["T"] <= NOW_MS
    assert NOW_MS - recent[-1]["T"] < MINUTE_MS


async def test_funding_every_8_hours_with_mark_price(data: httpx.AsyncClient) -> None:
    rows = await get_ok(data, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=JAN_1, limit=6)
    assert [r["fundingTime"] for r in rows] == [JAN_1 + i * 8 * HOUR_MS for i in range(6)]
    assert set(rows[0]) == {"symbol", "fundingTime", "fundingRate", "markPrice"}
    assert all(abs(Decimal(r["fundingRate"])) < Decimal("0.003") for r in rows)
    assert rows == expected_funding_rates("BTCUSDT", JAN_1, JAN_1 + 40 * HOUR_MS)
    mark = expected_mark_price_klines("BTCUSDT", "1m", JAN_1 + 8 * HOUR_MS, JAN_1 + 8 * HOUR_MS)
    assert rows[1]["markPrice"] == mark[0][1]
    latest = await get_ok(data, "/fapi/v1/fundingRate", symbol="BTCUSDT")
    assert len(latest) == 100
    assert latest[-1]["fundingTime"] == NOW_MS - NOW_MS % (8 * HOUR_MS)
    everyone = await get_ok(data, "/fapi/v1/fundingRate", startTime=JAN_1, endTime=JAN_1)
    assert sorted(r["symbol"] for r in everyone) == sorted(
        ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
    )


async def test_exchange_info_ping_and_time(data: httpx.AsyncClient) -> None:
    assert await get_ok(data, "/fapi/v1/ping") == {}
    assert await get_ok(data, "/fapi/v1/time") == {"serverTime": NOW_MS}
    info = await get_ok(data, "/fapi/v1/exchangeInfo")
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["status"] == "TRADING"
    assert btc["contractType"] == "PERPETUAL"
    assert btc["baseAsset"] == "BTC"
    assert btc["quoteAsset"] == "USDT"
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 10_000_000,
    }


# -- weights and rate limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "weight"),
    [(1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10), (1500, 10)],
)
async def test_kline_weight_follows_the_limit(limit: int, weight: int) -> None:
    app = limited_app(ManualClock(NOW_MS), weight_limit=2400)
    async with client_for(app) as client:
        for path in (KLINES, "/fapi/v1/markPriceKlines"):
            response = await client.get(
                path, params={"symbol": "BTCUSDT", "interval": "1m", "limit": limit}
            )
            assert response.status_code == 200
        assert response.headers[WEIGHT_HEADER] == str(2 * weight)


async def test_every_response_carries_the_used_weight_of_the_minute() -> None:
    clock = ManualClock(NOW_MS)
    app = limited_app(clock, weight_limit=2400)
    async with client_for(app) as client:
        seen = []
        requests: list[tuple[str, dict[str, Any]]] = [
            ("/fapi/v1/ping", {}),
            ("/fapi/v1/time", {}),
            ("/fapi/v1/exchangeInfo", {}),
            ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT"}),
            (AGG_TRADES, {"symbol": "BTCUSDT", "limit": 5}),
            (KLINES, {"symbol": "BTCUSDT", "interval": "1m"}),  # default limit 500: weight 5
            (KLINES, {"symbol": "NOPE", "interval": "1m"}),  # errors cost their weight too
        ]
        for path, params in requests:
            response = await client.get(path, params=params)
            seen.append(int(response.headers[WEIGHT_HEADER]))
        assert seen == [1, 2, 3, 4, 24, 29, 34]
        clock.advance(MINUTE_MS)  # a new minute window
        response = await client.get("/fapi/v1/ping")
        assert response.headers[WEIGHT_HEADER] == "1"


async def test_over_the_limit_gets_429_then_418_when_it_keeps_going() -> None:
    clock = ManualClock(NOW_MS - 30_000 + 15_000)  # 15 s into a minute
    app = limited_app(clock, weight_limit=20, ban_after_429s=2, ban_seconds=90)
    async with client_for(app) as client:
        ok = await client.get(AGG_TRADES, params={"symbol": "BTCUSDT", "limit": 1})
        assert ok.status_code == 200
        assert ok.headers[WEIGHT_HEADER] == "20"
        for _ in range(2):
            refused = await client.get("/fapi/v1/ping")
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "45"  # until the window ends
            assert refused.headers[WEIGHT_HEADER] == "20"
            assert refused.json()["code"] == -1003
            assert "20 request weight per 1 MINUTE" in refused.json()["msg"]
        banned = await client.get("/fapi/v1/ping")
        assert banned.status_code == 418
        assert banned.headers["Retry-After"] == "90"
        assert banned.json()["code"] == -1003
        assert "banned until" in banned.json()["msg"]
        clock.advance(60_000)  # a new window does not lift a ban
        still = await client.get("/fapi/v1/ping")
        assert still.status_code == 418
        assert still.headers["Retry-After"] == "30"
        clock.advance(30_000)
        assert (await client.get("/fapi/v1/ping")).status_code == 200
        stats = (await client.get("/_fake/stats")).json()
    assert stats["status_429"] == 2
    assert stats["status_418"] == 2
    assert stats["bans"] == 1
    assert stats["max_weight_per_minute"] == 20
    assert [m["weight"] for m in stats["weight_per_minute"]] == [20, 1]


async def test_a_client_within_the_limit_never_sees_429() -> None:
    clock = ManualClock(NOW_MS)
    app = limited_app(clock, weight_limit=100)
    async with client_for(app) as client:
        for _ in range(3):
            for _ in range(10):  # 10 x weight 10 = exactly the limit
                response = await client.get(
                    KLINES, params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1500}
                )
                assert response.status_code == 200
            assert response.headers[WEIGHT_HEADER] == "100"
            clock.advance(MINUTE_MS)
        stats = (await client.get("/_fake/stats")).json()
    assert stats["status_429"] == 0
    assert [m["weight"] for m in stats["weight_per_minute"]] == [100, 100, 100]


async def test_funding_rate_has_its_own_limit_per_5_minutes() -> None:
    clock = ManualClock(NOW_MS)  # 30 s into a 5-minute window
    app = create_binance_app(BinanceConfig(clock=clock, funding_rate_limit=3))
    async with client_for(app) as client:
        params = {"symbol": "BTCUSDT", "limit": 10}
        statuses = [
            (await client.get("/fapi/v1/fundingRate", params=params)).status_code for _ in range(4)
        ]
        refused = await client.get("/fapi/v1/fundingRate", params=params)
        # Klines count against the weight, not against the funding-rate limit.
        klines = await client.get(KLINES, params={"symbol": "BTCUSDT", "interval": "1m"})
        clock.advance(270_000)  # the next 5-minute window
        again = await client.get("/fapi/v1/fundingRate", params=params)
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "270"
    assert refused.json()["msg"] == "Too many requests; current limit is 3 requests per 5 MINUTE."
    assert (klines.status_code, again.status_code) == (200, 200)


async def test_the_request_log_keeps_arrival_time_path_params_and_status() -> None:
    clock = ManualClock(NOW_MS)
    app = limited_app(clock, weight_limit=2400, status_429_every=2)
    async with client_for(app) as client:
        await client.get(KLINES, params={"symbol": "BTCUSDT", "interval": "1m", "limit": 5})
        clock.advance(1_500)
        await client.get("/fapi/v1/time")
        await client.get("/_fake/stats")  # admin requests are not logged
        log = (await client.get("/_fake/requests")).json()
    assert log == [
        {
            "at_ms": NOW_MS,
            "path": KLINES,
            "params": {"symbol": "BTCUSDT", "interval": "1m", "limit": "5"},
            "status": 200,
        },
        {"at_ms": NOW_MS + 1_500, "path": "/fapi/v1/time", "params": {}, "status": 429},
    ]


# -- fault injection --------------------------------------------------------------------------


async def test_injected_429_every_n_requests() -> None:
    app = limited_app(ManualClock(NOW_MS), weight_limit=2400, status_429_every=3)
    async with client_for(app) as client:
        codes = [(await client.get("/fapi/v1/time")).status_code for _ in range(7)]
        assert codes == [200, 200, 429, 200, 200, 429, 200]
        stats = (await client.get("/_fake/stats")).json()
    assert stats["injected"]["429"] == 2
    assert stats["bans"] == 0


async def test_injected_418_once_bans_for_ban_seconds() -> None:
    clock = ManualClock(NOW_MS)
    app = limited_app(clock, weight_limit=2400, status_418_once=True, ban_seconds=2)
    async with client_for(app) as client:
        banned = await client.get("/fapi/v1/time")
        assert banned.status_code == 418
        assert banned.headers["Retry-After"] == "2"
        assert (await client.get("/fapi/v1/time")).status_code == 418  # still banned
        clock.advance(2_000)
        assert (await client.get("/fapi/v1/time")).status_code == 200  # once only
        faults = (await client.get("/_fake/faults")).json()
    assert faults["status_418_once"] is False


async def test_injected_5xx_every_n_and_at_a_seeded_rate() -> None:
    app = limited_app(ManualClock(NOW_MS), weight_limit=100_000, status_5xx_every=4)
    async with client_for(app) as client:
        codes = [(await client.get("/fapi/v1/ping")).status_code for _ in range(8)]
        assert codes == [200, 200, 200, 503, 200, 200, 200, 503]

    runs = []
    for _ in range(2):
        app = limited_app(ManualClock(NOW_MS), weight_limit=100_000, status_5xx_rate=0.3)
        async with client_for(app) as client:
            runs.append([(await client.get("/fapi/v1/ping")).status_code for _ in range(100)])
    assert runs[0] == runs[1]  # seeded: the same failures every run
    assert 15 <= runs[0].count(503) <= 45
    assert set(runs[0]) == {200, 503}


async def test_5xx_body_and_code_are_configurable() -> None:
    app = limited_app(ManualClock(NOW_MS), status_5xx_every=1, status_5xx_code=502)
    async with client_for(app) as client:
        response = await client.get("/fapi/v1/time")
    assert response.status_code == 502
    assert response.json()["code"] == -1001


async def test_latency_is_added_before_answering() -> None:
    app = limited_app(ManualClock(NOW_MS), latency_ms=60)
    async with client_for(app) as client:
        started = time.perf_counter()
        assert (await client.get("/fapi/v1/ping")).status_code == 200
        assert time.perf_counter() - started >= 0.055


async def test_faults_switch_at_runtime_and_reset_restores_them() -> None:
    app = limited_app(ManualClock(NOW_MS), weight_limit=2400)
    async with client_for(app) as client:
        changed = await client.post("/_fake/faults", json={"status_5xx_every": 1, "latency_ms": 1})
        assert changed.status_code == 200
        assert changed.json()["status_5xx_every"] == 1
        assert changed.json()["latency_ms"] == 1.0
        assert (await client.get("/fapi/v1/ping")).status_code == 503
        for bad in ({"nope": 1}, {"status_5xx_rate": 2}, {"status_418_once": 1}, [1]):
            refused = await client.post("/_fake/faults", json=bad)
            assert refused.status_code == 400
            assert "error" in refused.json()
        stats = (await client.get("/_fake/stats")).json()
        assert stats["requests"] == 1
        assert stats["status_5xx"] == 1
        assert (await client.post("/_fake/reset")).status_code == 200
        assert (await client.get("/fapi/v1/ping")).status_code == 200
        stats = (await client.get("/_fake/stats")).json()
    assert stats["requests"] == 1
    assert stats["status_5xx"] == 0


# -- command line and real server -------------------------------------------------------------


def test_cli_binance_subcommand_parses() -> None:
    args = build_parser().parse_args(["binance", "--port", "0"])
    assert (args.host, args.port, args.seed, args.weight_limit) == ("127.0.0.1", 0, 0, 2400)
    assert args.symbols == ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
    args = build_parser().parse_args(
        ["binance", "--symbols", "btcusdt,dogeusdt", "--status-5xx-rate", "0.1", "--seed", "3"]
    )
    assert args.symbols == ["BTCUSDT", "DOGEUSDT"]
    assert args.status_5xx_rate == 0.1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["binance", "--port", "70000"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_real_server_answers_over_http() -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "petrosa_sim",
            "binance",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--symbols",
            "BTCUSDT",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/fapi/v1/time", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    errors = server.stderr.read().decode() if server.stderr else ""
                    pytest.fail(f"petrosa-sim binance did not start: {errors}")
                time.sleep(0.05)
        assert response.status_code == 200
        assert abs(response.json()["serverTime"] - time.time() * 1000) < 5_000
        assert response.headers[WEIGHT_HEADER] == "1"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


def test_run_binance_fake_serves_in_a_thread() -> None:
    start = JAN_1 + 30 * DAY_MS
    with run_binance_fake(BinanceConfig(seed=5)) as running:
        rows = httpx.get(
            f"{running.url}{KLINES}",
            params={"symbol": "ETHUSDT", "interval": "1m", "startTime": start, "limit": 10},
        ).json()
        assert running.fake.stats.requests == 1
    assert rows == expected_klines("ETHUSDT", "1m", start, start + 9 * MINUTE_MS, seed=5)
