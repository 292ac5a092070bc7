"""/analysis/* on real MongoDB-wire and NATS servers: stored results, the empty answers clients
rely on, on-demand windows through a NATS peer answering as petrosa-analytics would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from petrosa_common.analytics import (
    ANALYTICS_LATEST_COLLECTION,
    AnalyticsResult,
    InputRange,
    MetricFamily,
)
from petrosa_common.mongo import Document
from petrosa_common.naming import ANALYTICS_COMPUTE_SUBJECT, query_subject
from petrosa_common.nats import connect_nats, json_bytes, sync_with_server
from pymongo.asynchronous.database import AsyncDatabase

from .conftest import Gateway, SettingsFactory, start_gateway
from .test_backfill_api import wait_for_nats

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)
REGIME = {
    "regime": "balanced_market",
    "volatility_level": "medium",
    "volume_level": "medium",
    "trend_direction": "neutral",
    "confidence": 0.73,
    "inputs": {"annualized_volatility": 0.3},
}


def result(
    metric: MetricFamily,
    symbol: str,
    values: dict[str, Any],
    *,
    timeframe: str | None = "1h",
    window: int = 30,
    computed_at: datetime = AT,
) -> AnalyticsResult:
    return AnalyticsResult(
        metric=metric,
        symbol=symbol,
        timeframe=timeframe,
        window=window,
        values=values,
        computed_at=computed_at,
        input_range=InputRange(
            first_open=AT - timedelta(hours=window), last_open=AT - timedelta(hours=1), bars=window
        ),
        data_completeness=1.0,
        source=f"candles_{symbol}_{timeframe}",
        term=3,
    )


async def store(db: AsyncDatabase[Document], *results: AnalyticsResult) -> None:
    for item in results:
        await db[ANALYTICS_LATEST_COLLECTION].replace_one(
            {"_id": item.key}, {"_id": item.key, **item.model_dump()}, upsert=True
        )


@pytest.fixture
async def seeded(gateway: Gateway, mongo_db: AsyncDatabase[Document]) -> Gateway:
    await store(
        mongo_db,
        result(
            MetricFamily.VOLATILITY,
            "BTCUSDT",
            {"rolling_stddev": 0.01, "annualized": 0.94, "parkinson": 0.008},
        ),
        result(
            MetricFamily.VOLUME,
            "BTCUSDT",
            {"total_volume": 12.5, "volume_spike_ratio": 1.7},
            window=24,
        ),
        result(
            MetricFamily.TREND,
            "BTCUSDT",
            {"sma": 100.0, "rate_of_change": 2.5, "crossover_signal": "bullish"},
            window=20,
        ),
        result(MetricFamily.DEVIATION, "BTCUSDT", {"z_score": -0.4}, window=20),
        result(MetricFamily.SEASONALITY, "BTCUSDT", {"dominant_cycle": 24.0}, window=720),
        result(MetricFamily.REGIME, "BTCUSDT", REGIME),
        result(MetricFamily.REGIME, "ETHUSDT", {**REGIME, "confidence": 0.9}),
        result(MetricFamily.VOLATILITY, "ETHUSDT", {"annualized": 0.31}),
        result(MetricFamily.SPREAD, "BTCUSDT", {"bid_ask_spread": 0.1}, timeframe=None, window=0),
        result(
            MetricFamily.CORRELATION,
            "BTCUSDT,ETHUSDT",
            {
                "correlation_matrix": {
                    "BTCUSDT": {"BTCUSDT": 1.0, "ETHUSDT": 0.8},
                    "ETHUSDT": {"BTCUSDT": 0.8, "ETHUSDT": 1.0},
                },
                "spearman_matrix": {
                    "BTCUSDT": {"BTCUSDT": 1.0, "ETHUSDT": 0.7},
                    "ETHUSDT": {"BTCUSDT": 0.7, "ETHUSDT": 1.0},
                },
            },
            window=720,
        ),
    )
    return gateway


async def test_volatility_answers_the_stored_result_in_the_clients_shape(seeded: Gateway) -> None:
    response = await seeded.client.get(
        "/analysis/volatility", params={"pair": "btcusdt", "period": "1h", "method": "parkinson"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["pair"], body["period"], body["metric"], body["method"]) == (
        "BTCUSDT",
        "1h",
        "volatility",
        "parkinson",
    )
    assert body["window"] == "30"
    (item,) = body["values"]
    assert (item["annualized"], item["value"], item["timestamp"]) == (
        0.94,
        0.008,
        "2026-01-01T00:00:00Z",
    )
    metadata = body["metadata"]
    assert metadata["computed_at"] == "2026-01-01T00:00:00Z"
    assert metadata["data_completeness"] == 1.0
    assert metadata["input_range"]["bars"] == 30
    assert metadata["collection"] == ANALYTICS_LATEST_COLLECTION
    assert metadata["term"] == 3


async def test_each_family_is_served_from_its_stored_result(seeded: Gateway) -> None:
    client = seeded.client
    volume = (await client.get("/analysis/volume", params={"pair": "BTCUSDT"})).json()
    assert volume["values"][0]["volume_spike_ratio"] == 1.7
    trend = (await client.get("/analysis/trend", params={"pair": "BTCUSDT"})).json()
    assert trend["values"][0]["crossover_signal"] == "bullish"
    deviation = (await client.get("/analysis/deviation", params={"pair": "BTCUSDT"})).json()
    assert deviation["data"] == {"z_score": -0.4}
    season = (await client.get("/analysis/seasonality", params={"pair": "BTCUSDT"})).json()
    assert season["data"]["dominant_cycle"] == 24.0
    spread = (await client.get("/analysis/spread", params={"pair": "BTCUSDT"})).json()
    assert spread["data"] == {"bid_ask_spread": 0.1}


async def test_regime_keeps_the_cio_contract(seeded: Gateway) -> None:
    response = await seeded.client.get("/analysis/regime", params={"pair": "BTCUSDT"})
    assert response.status_code == 200
    body = response.json()
    assert body["pair"] == "BTCUSDT"
    assert body["metric"] == "regime"
    assert body["data"] == REGIME
    assert datetime.fromisoformat(body["metadata"]["timestamp"]) == AT
    assert isinstance(body["metadata"]["collection"], str)


@pytest.mark.parametrize(
    ("path", "params", "empty"),
    [
        ("/analysis/regime", {"pair": "SOLUSDT"}, {"data": None}),
        ("/analysis/volatility", {"pair": "SOLUSDT", "period": "4h"}, {"values": []}),
        ("/analysis/volume", {"pair": "SOLUSDT"}, {"values": []}),
        ("/analysis/trend", {"pair": "SOLUSDT"}, {"values": []}),
        ("/analysis/deviation", {"pair": "SOLUSDT"}, {"data": None}),
        ("/analysis/seasonality", {"pair": "SOLUSDT"}, {"data": None}),
        ("/analysis/spread", {"pair": "SOLUSDT"}, {"data": None}),
    ],
)
async def test_nothing_computed_yet_is_200_with_an_empty_answer_and_a_message(
    gateway: Gateway, path: str, params: dict[str, str], empty: dict[str, Any]
) -> None:
    response = await gateway.client.get(path, params=params)
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in empty} == empty
    assert "SOLUSDT" in body["metadata"]["message"]
    assert body["metadata"]["timestamp"]


@pytest.mark.parametrize(
    "params",
    [
        {"pair": "BTC-USDT"},
        {"pair": "BTCUSDT", "period": "7m"},
        {"pair": "BTCUSDT", "window": "abc"},
        {"pair": "BTCUSDT", "window": "1"},
        {"pair": "BTCUSDT", "window": "30s"},
        {"pair": "BTCUSDT", "window": "9999999d"},
        {"pair": "BTCUSDT", "method": "magic"},
        {"pair": "BTC\x00USDT"},
    ],
)
async def test_bad_parameters_are_422_with_the_reason(
    gateway: Gateway, params: dict[str, str]
) -> None:
    response = await gateway.client.get("/analysis/volatility", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["detail"]


async def test_correlation_is_a_matrix_of_exactly_the_requested_pairs(seeded: Gateway) -> None:
    response = await seeded.client.get(
        "/analysis/correlation", params={"pairs": "ethusdt,BTCUSDT", "method": "spearman"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["pairs"] == ["ETHUSDT", "BTCUSDT"]
    assert body["correlation_matrix"]["BTCUSDT"]["ETHUSDT"] == 0.7
    one = await seeded.client.get("/analysis/correlation", params={"pairs": "BTCUSDT"})
    assert one.status_code == 422


async def test_market_overview_sorts_and_pages_the_pairs(seeded: Gateway) -> None:
    response = await seeded.client.get(
        "/analysis/market-overview",
        params={
            "pairs": "BTCUSDT,ETHUSDT,SOLUSDT",
            "sort_by": "volatility",
            "sort_order": "desc",
            "limit": 2,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body["overview"]) == ["BTCUSDT", "ETHUSDT"]
    assert body["overview"]["BTCUSDT"]["volatility"] == {"annualized": 0.94}
    assert body["overview"]["BTCUSDT"]["trend"] == {"direction": "bullish", "roc": 2.5}
    assert body["overview"]["ETHUSDT"]["regime"] == {
        "classification": "balanced_market",
        "confidence": 0.9,
    }
    assert body["pagination"]["total"] == 3
    assert body["pagination"]["has_next"] is True
    assert (body["pairs_requested"], body["pairs_available"]) == (3, 2)


@pytest.fixture
async def analytics_peer(gateway: Gateway, nats_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """A NATS peer answering data_manager.analytics.compute as petrosa-analytics does."""
    await wait_for_nats(gateway)
    requests: list[dict[str, Any]] = []
    peer = await connect_nats(nats_url, name="analytics-peer")

    async def answer(msg: Msg) -> None:
        body = orjson.loads(msg.data)
        requests.append(body)
        if body.get("window") == "5000":
            reply: dict[str, Any] = {"error": "insufficient_data", "detail": "only 300 bars"}
        else:
            computed = result(
                MetricFamily(body["metric"]), body["pair"], {"annualized": 0.5}, window=50
            )
            reply = {"result": computed.model_copy(update={"term": 0}).model_dump(mode="json")}
        await msg.respond(json_bytes(reply))

    await peer.subscribe(ANALYTICS_COMPUTE_SUBJECT, queue="data-manager-analytics", cb=answer)
    await sync_with_server(peer)
    try:
        yield requests
    finally:
        await peer.close()


async def test_a_window_not_precomputed_is_computed_on_demand_over_nats(
    seeded: Gateway, analytics_peer: list[dict[str, Any]]
) -> None:
    response = await seeded.client.get(
        "/analysis/volatility", params={"pair": "BTCUSDT", "window": "50"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["values"][0]["annualized"] == 0.5
    assert body["metadata"]["on_demand"] is True
    assert analytics_peer == [
        {"metric": "volatility", "period": "1h", "window": "50", "pair": "BTCUSDT"}
    ]
    # A stored window is read, not requested.
    stored = await seeded.client.get(
        "/analysis/volatility", params={"pair": "BTCUSDT", "window": "30"}
    )
    assert stored.json()["values"][0]["annualized"] == 0.94
    assert len(analytics_peer) == 1
    few = await seeded.client.get(
        "/analysis/volatility", params={"pair": "BTCUSDT", "window": "5000"}
    )
    assert few.status_code == 200
    assert few.json()["values"] == []
    assert few.json()["metadata"]["message"] == "only 300 bars"


async def test_no_analytics_service_is_503_and_a_silent_one_is_504(
    make_gateway_settings: SettingsFactory, nats_url: str
) -> None:
    settings = make_gateway_settings(analytics_request_timeout=0.5)
    async for gateway in start_gateway(settings):
        await wait_for_nats(gateway)
        params = {"pair": "BTCUSDT", "window": "77"}
        missing = await gateway.client.get("/analysis/trend", params=params)
        assert missing.status_code == 503
        assert missing.json()["error"] == "unavailable"
        silent = await connect_nats(nats_url, name="silent-analytics")

        async def ignore(_: Msg) -> None:
            return None

        await silent.subscribe(ANALYTICS_COMPUTE_SUBJECT, queue="data-manager-analytics", cb=ignore)
        await sync_with_server(silent)
        try:
            late = await gateway.client.get("/analysis/trend", params=params)
        finally:
            await silent.close()
        assert late.status_code == 504
        assert late.json()["error"] == "timeout"


async def test_the_same_reads_over_nats(seeded: Gateway, nats_url: str) -> None:
    await wait_for_nats(seeded)
    client: NatsClient = await connect_nats(nats_url, name="analysis-caller")
    try:
        for _ in range(100):  # the query service registers shortly after NATS connects
            try:
                reply = await client.request(
                    query_subject("analysis.regime"), orjson.dumps({"pair": "BTCUSDT"}), timeout=5
                )
                break
            except Exception:
                await asyncio.sleep(0.1)
        body = orjson.loads(reply.data)
        assert body["data"] == REGIME
        bad = await client.request(
            query_subject("analysis.volatility"), orjson.dumps({"pair": "??"}), timeout=5
        )
        assert orjson.loads(bad.data)["error"] == "invalid_parameter"
    finally:
        await client.close()
