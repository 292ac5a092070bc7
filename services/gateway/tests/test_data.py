"""/data/* and data_manager.query.* against real MongoDB-wire data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from petrosa_common.documents import event_writes, to_document
from petrosa_common.events import Kline
from petrosa_common.parser import MessageRejected, parse_frame
from petrosa_sim.frames import FrameGenerator
from pymongo.asynchronous.database import AsyncDatabase

from .conftest import Gateway
from .test_health import wait_nats

pytestmark = pytest.mark.integration
T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_MS = 1_704_067_200_000
CANDLE_KEYS = {
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades_count",
}


async def store_candles(db: AsyncDatabase[dict[str, Any]], count: int = 120) -> None:
    docs = []
    for i in range(count):
        open_ms = T0_MS + i * 60_000
        kline = Kline(
            symbol="BTCUSDT",
            interval="1m",
            open_time=T0 + timedelta(minutes=i),
            close_time=T0 + timedelta(minutes=i, seconds=59.999),
            open=100 + i,
            high=101 + i,
            low=99 + i,
            close=100.5 + i,
            volume=10,
            quote_volume=1000,
            trades_count=5,
            taker_buy_base_volume=4,
            taker_buy_quote_volume=400,
            is_closed=True,
            event_time_ms=open_ms + 60_000,
            open_time_ms=open_ms,
        )
        docs.extend(to_document(op, T0) for op in event_writes(kline))
    await db["candles_BTCUSDT_1m"].insert_many(docs)


async def store_stream(db: AsyncDatabase[dict[str, Any]], count: int = 3000) -> None:
    by_collection: dict[str, dict[object, dict[str, Any]]] = {}
    for frame in FrameGenerator(["ETHUSDT"], seed=5, start_ms=T0_MS).take(count):
        try:
            event = parse_frame(frame.payload)
        except MessageRejected:
            continue
        for op in event_writes(event):
            by_collection.setdefault(op.collection, {})[op.doc_id] = to_document(op, T0)
    for name, docs in by_collection.items():
        await db[name].insert_many(list(docs.values()))


async def test_candles_page_through_the_database_with_exact_pagination(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    params: dict[str, Any] = {
        "pair": "BTCUSDT",
        "period": "1m",
        "limit": 50,
        "offset": 100,
        "sort_order": "asc",
    }
    body = (await gateway.client.get("/data/candles", params=params)).json()
    assert (body["pair"], body["period"]) == ("BTCUSDT", "1m")
    assert len(body["data"]) == 20
    assert set(body["data"][0]) == CANDLE_KEYS
    assert body["data"][0]["timestamp"] == "2024-01-01T01:40:00Z"
    assert body["data"][0]["open"] == 200
    assert body["pagination"] == {
        "total": 120,
        "limit": 50,
        "offset": 100,
        "page": 3,
        "pages": 3,
        "has_next": False,
        "has_previous": True,
    }
    first = (await gateway.client.get("/data/candles", params={**params, "offset": 0})).json()
    assert first["pagination"]["has_next"] is True
    assert first["pagination"]["has_previous"] is False
    newest = (
        await gateway.client.get(
            "/data/candles", params={"pair": "btcusdt", "period": "1m", "limit": 1}
        )
    ).json()
    assert newest["data"][0]["timestamp"] == "2024-01-01T01:59:00Z"
    beyond = (await gateway.client.get("/data/candles", params={**params, "offset": 500})).json()
    assert beyond["data"] == []
    assert beyond["pagination"]["total"] == 120


async def test_candles_time_range_is_start_inclusive_end_exclusive(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    params = {
        "pair": "BTCUSDT",
        "period": "1m",
        "sort_order": "asc",
        "start": "2024-01-01T00:10:00Z",
        "end": "2024-01-01T00:20:00Z",
    }
    body = (await gateway.client.get("/data/candles", params=params)).json()
    stamps = [item["timestamp"] for item in body["data"]]
    assert len(stamps) == 10
    assert stamps[0] == "2024-01-01T00:10:00Z"
    assert stamps[-1] == "2024-01-01T00:19:00Z"
    assert body["pagination"]["total"] == 10


@pytest.mark.parametrize(
    "params",
    [
        {"pair": "BTCUSDT", "period": "1m", "limit": 1001},
        {"pair": "BTCUSDT", "period": "1m", "limit": 0},
        {"pair": "BTCUSDT", "period": "1m", "offset": -1},
        {"pair": "BTC-USDT", "period": "1m"},
        {"pair": "BTCUSDT", "period": "7m"},
        {"pair": "BTCUSDT"},
        {"pair": "BTCUSDT", "period": "1m", "start": "yesterday"},
        {"pair": "BTCUSDT", "period": "1m", "start": "2024-01-02", "end": "2024-01-01"},
        {"pair": "BTCUSDT", "period": "1m", "sort_order": "sideways"},
    ],
)
async def test_bad_parameters_are_422(gateway: Gateway, params: dict[str, Any]) -> None:
    response = await gateway.client.get("/data/candles", params=params)
    assert response.status_code == 422, response.text


async def test_unknown_series_is_404(gateway: Gateway) -> None:
    response = await gateway.client.get("/data/candles", params={"pair": "ZZZUSDT", "period": "1m"})
    assert response.status_code == 404
    assert "ZZZUSDT" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/data/trades", {"trade_id", "price", "quantity", "quote_quantity", "is_buyer_maker"}),
        ("/data/depth", {"final_update_id", "bids", "asks", "is_snapshot"}),
        ("/data/funding", {"funding_rate", "mark_price", "index_price"}),
        ("/data/mark-prices", {"mark_price", "index_price", "funding_rate", "next_funding_time"}),
        (
            "/data/tickers",
            {
                "last_price",
                "open_price",
                "high_price",
                "low_price",
                "volume",
                "quote_volume",
                "is_mini",
            },
        ),
    ],
)
async def test_other_series_serve_their_fields(gateway: Gateway, path: str, keys: set[str]) -> None:
    await store_stream(gateway.resources.db)
    body = (await gateway.client.get(path, params={"pair": "ETHUSDT", "limit": 5})).json()
    assert 1 <= len(body["data"]) <= 5
    assert set(body["data"][0]) == keys | {"timestamp"}
    stamps = [item["timestamp"] for item in body["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert body["pagination"]["total"] >= len(body["data"])


async def test_nats_query_answers_with_the_rest_payload(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    await wait_nats(gateway)
    nc = gateway.resources.nats
    assert nc is not None
    request = {"pair": "BTCUSDT", "period": "1m", "limit": 3, "offset": 2, "sort_order": "asc"}
    reply = await nc.request("data_manager.query.candles", orjson.dumps(request), timeout=5)
    rest = await gateway.client.get("/data/candles", params=request)
    assert orjson.loads(reply.data) == rest.json()

    bad = await nc.request("data_manager.query.candles", b'{"pair": "BTCUSDT", "limit": 5000}')
    assert bad.headers is not None
    assert bad.headers.get("Nats-Service-Error-Code") == "422"
    assert orjson.loads(bad.data)["error"] == "invalid_parameter"
    garbage = await nc.request("data_manager.query.trades", b"{not json", timeout=5)
    assert garbage.headers is not None
    assert garbage.headers.get("Nats-Service-Error-Code") == "400"
