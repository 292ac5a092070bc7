"""/data/* and data_manager.query.* against real MongoDB-wire data."""

from __future__ import annotations

from collections.abc import Iterable
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


async def store_candles(
    db: AsyncDatabase[dict[str, Any]], count: int = 120, *, missing: Iterable[int] = ()
) -> None:
    """``count`` closed 1m BTCUSDT candles from T0 (candle i opens at T0 + i minutes, its
    ``open`` is 100 + i, it was written when it closed), except the ``missing`` ones."""
    docs = []
    left_out = set(missing)
    for i in range(count):
        if i in left_out:
            continue
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
        closed = T0 + timedelta(minutes=i + 1)
        docs.extend(to_document(op, closed) for op in event_writes(kline))
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


def minute(i: int) -> str:
    """The JSON timestamp of candle ``i``."""
    return (T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def candles(gateway: Gateway, **params: Any) -> dict[str, Any]:
    """A 200 page of BTCUSDT 1m candles, requested as the clients do."""
    response = await gateway.client.get(
        "/data/candles", params={"pair": "BTCUSDT", "period": "1m", **params}
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def stamps(page: dict[str, Any]) -> list[str]:
    return [item["timestamp"] for item in page["data"]]


EMPTY_SERIES = [
    ("/data/candles", {"period": "1h"}, "candles_NEWUSDT_1h", 0.0),
    ("/data/trades", {}, "trades_NEWUSDT", None),
    ("/data/depth", {}, "depth_NEWUSDT", None),
    ("/data/funding", {}, "funding_rates_NEWUSDT", None),
    ("/data/mark-prices", {}, "mark_prices_NEWUSDT", None),
    ("/data/tickers", {}, "tickers_NEWUSDT", None),
]


@pytest.mark.parametrize(("path", "extra", "collection", "completeness"), EMPTY_SERIES)
async def test_a_pair_with_nothing_stored_is_an_empty_200_page(
    gateway: Gateway,
    path: str,
    extra: dict[str, str],
    collection: str,
    completeness: float | None,
) -> None:
    response = await gateway.client.get(path, params={"pair": "NEWUSDT", **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == []
    assert body["pagination"] == {
        "total": 0,
        "limit": 100,
        "offset": 0,
        "page": 1,
        "pages": 0,
        "has_next": False,
        "has_previous": False,
    }
    assert body["metadata"] == {
        "data_completeness": completeness,
        "last_updated": None,
        "source": "mongodb",
        "collection": collection,
        "records_returned": 0,
    }
    assert body["sort"] == {"by": "timestamp", "order": "asc"}


async def test_default_page_is_the_latest_candles_oldest_first(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    page = await candles(gateway, limit=5)
    assert stamps(page) == [minute(i) for i in range(115, 120)]
    assert set(page["data"][0]) == CANDLE_KEYS
    assert page["data"][0]["open"] == 215
    assert page["pagination"] == {
        "total": 120,
        "limit": 5,
        "offset": 0,
        "page": 1,
        "pages": 24,
        "has_next": True,
        "has_previous": False,
    }


async def test_sort_order_desc_is_the_same_latest_window_newest_first(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    # The TA bot's request.
    page = await candles(gateway, limit=5, offset=0, sort_order="desc")
    assert stamps(page) == [minute(i) for i in range(119, 114, -1)]
    assert page["sort"] == {"by": "timestamp", "order": "desc"}
    assert page["pagination"]["total"] == 120


async def test_offset_without_start_pages_back_from_the_newest(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    older = await candles(gateway, limit=50, offset=50)
    assert stamps(older) == [minute(i) for i in range(20, 70)]
    oldest = await candles(gateway, limit=50, offset=100)
    assert stamps(oldest) == [minute(i) for i in range(20)]
    assert oldest["pagination"] == {
        "total": 120,
        "limit": 50,
        "offset": 100,
        "page": 3,
        "pages": 3,
        "has_next": False,
        "has_previous": True,
    }
    beyond = await candles(gateway, limit=50, offset=500)
    assert beyond["data"] == []
    assert beyond["pagination"]["total"] == 120
    newest_before_end = await candles(gateway, limit=3, end="2024-01-01T00:10:00Z")
    assert stamps(newest_before_end) == [minute(7), minute(8), minute(9)]


async def test_start_pages_forward_from_start_oldest_first(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    first = await candles(gateway, start="2024-01-01T00:10:00Z", limit=3)
    assert stamps(first) == [minute(10), minute(11), minute(12)]
    assert first["pagination"]["total"] == 110
    assert first["pagination"]["has_next"] is True
    second = await candles(gateway, start="2024-01-01T00:10:00Z", limit=3, offset=3)
    assert stamps(second) == [minute(13), minute(14), minute(15)]
    newest_first = await candles(gateway, start="2024-01-01T00:10:00Z", limit=3, sort_order="desc")
    assert stamps(newest_first) == [minute(119), minute(118), minute(117)]


async def test_candles_time_range_is_start_inclusive_end_exclusive(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    page = await candles(gateway, start="2024-01-01T00:10:00Z", end="2024-01-01T00:20:00Z")
    assert stamps(page) == [minute(i) for i in range(10, 20)]
    assert page["pagination"]["total"] == 10


async def test_page_echoes_its_sort_metadata_and_parameters(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    page = await candles(
        gateway,
        pair="btcusdt",
        start="2024-01-01T01:00:00+01:00",
        end="2024-01-01T00:30:00Z",
        limit=10,
        offset=5,
        sort_order="desc",
    )
    assert (page["pair"], page["period"]) == ("BTCUSDT", "1m")
    assert stamps(page) == [minute(i) for i in range(24, 14, -1)]
    assert page["sort"] == {"by": "timestamp", "order": "desc"}
    assert page["metadata"] == {
        "data_completeness": 1.0,
        "last_updated": minute(25),  # candle 24 closed last
        "source": "mongodb",
        "collection": "candles_BTCUSDT_1m",
        "records_returned": 10,
    }
    assert page["parameters"] == {
        "pair": "BTCUSDT",
        "period": "1m",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-01T00:30:00Z",
        "limit": 10,
        "offset": 5,
        "sort_order": "desc",
    }
    defaults = await candles(gateway)
    assert defaults["parameters"] == {
        "pair": "BTCUSDT",
        "period": "1m",
        "start": None,
        "end": None,
        "limit": 100,
        "offset": 0,
        "sort_order": "asc",
    }
    assert defaults["metadata"]["last_updated"] == minute(120)
    assert defaults["metadata"]["records_returned"] == 100


async def test_last_updated_is_when_the_pages_data_was_last_written(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    oldest = await candles(gateway, limit=20, offset=100)
    assert oldest["metadata"]["last_updated"] == minute(20)  # candle 19 closed at 00:20
    # A late rewrite of an old candle (a backfill) moves its page's last_updated only.
    rewritten = T0 + timedelta(days=1)
    await gateway.resources.db["candles_BTCUSDT_1m"].update_one(
        {"timestamp": T0 + timedelta(minutes=5)}, {"$set": {"ingested_at": rewritten}}
    )
    oldest = await candles(gateway, limit=20, offset=100)
    assert oldest["metadata"]["last_updated"] == "2024-01-02T00:00:00Z"
    latest = await candles(gateway, limit=20)
    assert latest["metadata"]["last_updated"] == minute(120)


async def test_completeness_of_the_latest_window_counts_a_hole_on_the_grid(
    gateway: Gateway,
) -> None:
    await store_candles(gateway.resources.db, missing=[60])
    page = await candles(gateway)
    # The latest 100 stored candles are 19..119 without 60: 101 opens of the grid, 100 stored.
    assert stamps(page)[0] == minute(19)
    assert minute(60) not in stamps(page)
    assert page["metadata"]["data_completeness"] == 100 / 101
    whole = await candles(gateway, limit=50)
    assert whole["metadata"]["data_completeness"] == 1.0  # 70..119: no hole


async def test_completeness_of_a_start_end_window_is_stored_over_expected_candles(
    gateway: Gateway,
) -> None:
    await store_candles(gateway.resources.db, missing=[60])
    two_hours = await candles(gateway, start="2024-01-01T00:00:00Z", end="2024-01-01T02:00:00Z")
    assert two_hours["metadata"]["data_completeness"] == 119 / 120
    # Only the page is served, the share is of the whole window.
    one_item = await candles(
        gateway, start="2024-01-01T00:00:00Z", end="2024-01-01T02:00:00Z", limit=1
    )
    assert one_item["metadata"]["data_completeness"] == 119 / 120
    # Beyond what is stored: 119 of the 180 candles opening in three hours.
    three_hours = await candles(gateway, start="2024-01-01T00:00:00Z", end="2024-01-01T03:00:00Z")
    assert three_hours["metadata"]["data_completeness"] == 119 / 180
    # Bounds off the grid: 00:00:30 .. 00:05:30 expects the opens 00:01 .. 00:05.
    off_grid = await candles(gateway, start="2024-01-01T00:00:30Z", end="2024-01-01T00:05:30Z")
    assert stamps(off_grid) == [minute(i) for i in range(1, 6)]
    assert off_grid["metadata"]["data_completeness"] == 1.0


async def test_totals_count_the_requested_range(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db)
    since = await candles(gateway, start="2024-01-01T01:00:00Z", limit=1)
    assert since["pagination"]["total"] == 60
    until = await candles(gateway, end="2024-01-01T00:45:00Z", limit=1)
    assert until["pagination"]["total"] == 45
    assert stamps(until) == [minute(44)]
    window = await candles(
        gateway, start="2024-01-01T00:30:00Z", end="2024-01-01T00:45:00Z", limit=1
    )
    assert window["pagination"]["total"] == 15
    assert window["pagination"]["pages"] == 15


async def test_total_without_a_range_is_the_collection_count_until_the_last_page(
    gateway: Gateway,
) -> None:
    await store_candles(gateway.resources.db)
    # A document without a date timestamp is not part of the series (never paged), but the
    # collection's metadata count includes it.
    await gateway.resources.db["candles_BTCUSDT_1m"].insert_one({"timestamp": "not a date"})
    first = await candles(gateway, limit=100)
    assert first["pagination"]["total"] == 121
    assert first["pagination"]["has_next"] is True
    # The last page reads fewer than limit: it reached the end, so its total is exact.
    last = await candles(gateway, limit=100, offset=100)
    assert stamps(last) == [minute(i) for i in range(20)]
    assert last["pagination"]["total"] == 120
    assert last["pagination"]["has_next"] is False


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
async def test_other_series_serve_their_latest_items_oldest_first(
    gateway: Gateway, path: str, keys: set[str]
) -> None:
    await store_stream(gateway.resources.db)
    body = (await gateway.client.get(path, params={"pair": "ETHUSDT", "limit": 5})).json()
    assert 1 <= len(body["data"]) <= 5
    assert set(body["data"][0]) == keys | {"timestamp"}
    assert stamps(body) == sorted(stamps(body))
    newest_first = (
        await gateway.client.get(path, params={"pair": "ETHUSDT", "limit": 5, "sort_order": "desc"})
    ).json()
    assert stamps(newest_first) == stamps(body)[::-1]
    assert body["pagination"]["total"] >= len(body["data"])
    assert body["metadata"]["data_completeness"] is None
    assert body["metadata"]["records_returned"] == len(body["data"])
    assert body["metadata"]["last_updated"] == "2024-01-01T00:00:00Z"  # stored at T0
    assert "period" not in body["parameters"]


async def test_nats_query_answers_with_the_rest_payload(gateway: Gateway) -> None:
    await store_candles(gateway.resources.db, missing=[100])
    await wait_nats(gateway)
    nc = gateway.resources.nats
    assert nc is not None
    for request in (
        {"pair": "BTCUSDT", "period": "1m", "limit": 3, "offset": 2, "sort_order": "desc"},
        {"pair": "BTCUSDT", "period": "1m"},
        {"pair": "BTCUSDT", "period": "1m", "start": "2024-01-01T01:00:00Z", "limit": 5},
    ):
        reply = await nc.request("data_manager.query.candles", orjson.dumps(request), timeout=5)
        rest = await gateway.client.get("/data/candles", params=request)
        assert orjson.loads(reply.data) == rest.json()
    empty = await nc.request(
        "data_manager.query.trades", orjson.dumps({"pair": "NEWUSDT"}), timeout=5
    )
    assert empty.headers is None or "Nats-Service-Error-Code" not in empty.headers
    assert orjson.loads(empty.data)["data"] == []

    bad = await nc.request("data_manager.query.candles", b'{"pair": "BTCUSDT", "limit": 5000}')
    assert bad.headers is not None
    assert bad.headers.get("Nats-Service-Error-Code") == "422"
    assert orjson.loads(bad.data)["error"] == "invalid_parameter"
    no_period = await nc.request("data_manager.query.candles", b'{"pair": "BTCUSDT"}', timeout=5)
    assert no_period.headers is not None
    assert no_period.headers.get("Nats-Service-Error-Code") == "422"
    garbage = await nc.request("data_manager.query.trades", b"{not json", timeout=5)
    assert garbage.headers is not None
    assert garbage.headers.get("Nats-Service-Error-Code") == "400"
